// DARTS end to end through the distributed path: the real controller
// (gRPC server, scheduler, SQLite store) in this process on 127.0.0.1:0 and
// the real nas-worker binary as a child process training on Fashion-MNIST at
// a tiny CPU budget. A two-lambda latency-aware job must run a supernet
// search per lambda, then retrain each derived cell from scratch; the store
// must hold the per-epoch alphas and retrains whose genotypes are the ones
// the searches derived.
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/task/darts_task.h"
#include "common/testing/status_matchers.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/server.h"
#include "controller/strategy/space.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"
#include "tests/child_process.h"

namespace nas {
namespace {

constexpr char kWorker[] = "worker/nas-worker";
constexpr int kSearchEpochs = 2;
// Generous for a loaded 2-core machine; the job takes ~30 s alone.
constexpr absl::Duration kJobTimeout = absl::Seconds(240);
const std::vector<std::string> kOps = {"none", "skip_connect", "sep_conv_3x3",
                                       "max_pool_3x3"};

nas::v1::JobSpec DartsJob() {
  nas::v1::JobSpec spec;
  spec.set_name("e2e-darts");
  nas::v1::DartsCellSpace* space = spec.mutable_search_space()->mutable_darts();
  for (const std::string& op : kOps) space->add_ops(op);
  space->set_nodes(2);
  space->set_cells(3);
  space->set_init_channels(4);
  nas::v1::Darts* darts = spec.mutable_strategy()->mutable_darts();
  darts->set_search_epochs(kSearchEpochs);
  darts->set_arch_learning_rate(3e-3);
  darts->add_latency_weights(0.0);
  darts->add_latency_weights(1.0);
  nas::v1::Objective* accuracy = spec.add_objectives();
  accuracy->set_metric("accuracy");
  accuracy->set_direction(nas::v1::MAXIMIZE);
  nas::v1::Objective* latency = spec.add_objectives();
  latency->set_metric("latency_ms");
  latency->set_direction(nas::v1::MINIMIZE);
  nas::v1::TrainEvaluation* train =
      spec.mutable_evaluation()->mutable_train();
  train->set_dataset("fashion_mnist");
  train->set_epochs(1);
  train->set_batch_size(32);
  train->set_learning_rate(0.1);
  train->set_train_subset(1024);
  train->set_validation_size(256);
  spec.mutable_budget()->set_max_trials(4);
  return spec;
}

class DartsEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dir = std::getenv("TEST_TMPDIR");
    storage::StoreOptions store_options;
    store_options.sqlite_full_sync = false;
    auto store = storage::OpenTrialStore(
        absl::StrCat("sqlite://", dir != nullptr ? dir : "/tmp",
                     "/e2e_darts.db"),
        store_options);
    ASSERT_OK(store);
    store_ = *std::move(store);
    scheduler::SchedulerOptions scheduler_options;
    scheduler_options.store = store_.get();
    scheduler_options.deferred_refill = true;
    scheduler_options.retry_after_ms = 100;
    auto scheduler = scheduler::Scheduler::Create(scheduler_options);
    ASSERT_OK(scheduler);
    scheduler_ = *std::move(scheduler);
    service::ServerOptions server_options;
    server_options.listen = "127.0.0.1:0";
    server_options.scheduler = scheduler_.get();
    server_options.maintenance_interval = absl::Milliseconds(100);
    auto server = service::ControllerServer::Create(server_options);
    ASSERT_OK(server);
    server_ = *std::move(server);
    search_ = nas::v1::SearchService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    worker_.Kill();
    if (server_ != nullptr) server_->Shutdown();
  }

  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<service::ControllerServer> server_;
  std::unique_ptr<nas::v1::SearchService::Stub> search_;
  testing::ChildProcess worker_;
};

TEST_F(DartsEndToEndTest, SearchesThenRetrainsTheDerivedCells) {
  nas::v1::CreateJobRequest create;
  *create.mutable_spec() = DartsJob();
  nas::v1::Job job;
  {
    grpc::ClientContext context;
    const grpc::Status status = search_->CreateJob(&context, create, &job);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  ASSERT_OK(worker_
                .Start({kWorker,
                        absl::StrCat("--controller=127.0.0.1:", server_->port()),
                        "--threads=1", "--name=e2e-darts-worker",
                        "--latency_batch_size=8"})
                .status());

  const absl::Time deadline = absl::Now() + kJobTimeout;
  const absl::Time start = absl::Now();
  while (job.state() == nas::v1::JOB_RUNNING && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
    grpc::ClientContext context;
    nas::v1::GetJobRequest get;
    get.set_job_id(job.id());
    ASSERT_TRUE(search_->GetJob(&context, get, &job).ok());
  }
  LOG(INFO) << "DARTS job ended in " << absl::Now() - start;
  ASSERT_EQ(job.state(), nas::v1::JOB_SUCCEEDED) << job.DebugString();
  EXPECT_EQ(job.counts().succeeded(), 4);

  nas::v1::ListTrialsRequest list;
  list.set_job_id(job.id());
  list.set_with_measurements(true);
  nas::v1::ListTrialsResponse trials;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(search_->ListTrials(&context, list, &trials).ok());
  }
  ASSERT_EQ(trials.trials_size(), 4);
  std::set<std::string> derived_hashes, retrained_hashes;
  std::set<double> lambdas;
  double best_retrain = 0;
  for (const nas::v1::Trial& trial : trials.trials()) {
    ASSERT_EQ(trial.state(), nas::v1::SUCCEEDED) << trial.DebugString();
    const std::map<std::string, double> metrics(trial.metrics().begin(),
                                                trial.metrics().end());
    if (absl::StartsWith(trial.architecture().canonical(), "darts_search:")) {
      // A supernet search: alphas every epoch, a decodable derived cell.
      // Every epoch ran, unless the skip guard stopped the search (the
      // latency term pushes toward cheap skips).
      const double epochs = metrics.at("search_epochs");
      EXPECT_TRUE(epochs == kSearchEpochs ||
                  (epochs >= 1 && metrics.at("skip_stop_epoch") == epochs))
          << "search_epochs " << epochs;
      EXPECT_EQ(metrics.count("accuracy"), 0u);  // not an objective value
      lambdas.insert(metrics.at("latency_weight"));
      LOG(INFO) << "search lambda=" << metrics.at("latency_weight")
                << " epochs=" << epochs
                << " supernet_accuracy=" << metrics.at("supernet_accuracy")
                << " expected_latency_ms=" << metrics.at("expected_latency_ms")
                << " normal_skips=" << metrics.at("normal_skips");
      ASSERT_EQ(trial.measurements_size(), epochs);
      for (const nas::v1::Measurement& m : trial.measurements()) {
        EXPECT_EQ(m.metrics().count(
                      nas::task::AlphaMetric("normal", 1, 2, "sep_conv_3x3")),
                  1u);
      }
      ASSERT_OK_AND_ASSIGN(nas::v1::CellGenotype genotype,
                           nas::task::DecodeDerivedGenotype(metrics, kOps));
      nas::v1::Architecture arch;
      *arch.mutable_cell() = genotype;
      ASSERT_OK_AND_ASSIGN(
          nas::v1::Architecture canonical,
          strategy::Canonicalize(DartsJob().search_space(), arch));
      derived_hashes.insert(canonical.hash());
    } else {
      // A retrain of a derived cell from scratch with the job's recipe.
      ASSERT_TRUE(trial.architecture().has_cell());
      retrained_hashes.insert(trial.architecture().hash());
      EXPECT_GT(metrics.at("accuracy"), 0.25);  // 10 classes: chance is 0.1
      EXPECT_GT(metrics.at("latency_ms"), 0);
      best_retrain = std::max(best_retrain, metrics.at("accuracy"));
      LOG(INFO) << "retrain " << trial.architecture().canonical()
                << " accuracy=" << metrics.at("accuracy")
                << " latency_ms=" << metrics.at("latency_ms")
                << " macs=" << trial.macs();
    }
  }
  EXPECT_EQ(lambdas, (std::set<double>{0.0, 1.0}));
  EXPECT_EQ(retrained_hashes, derived_hashes);
  EXPECT_EQ(job.best_objective(), best_retrain);

  nas::v1::GetParetoFrontRequest pareto;
  pareto.set_job_id(job.id());
  nas::v1::ListTrialsResponse front;
  grpc::ClientContext context;
  ASSERT_TRUE(search_->GetParetoFront(&context, pareto, &front).ok());
  ASSERT_GE(front.trials_size(), 1);
  for (const nas::v1::Trial& trial : front.trials()) {
    EXPECT_TRUE(trial.architecture().has_cell());  // never a supernet
  }
}

}  // namespace
}  // namespace nas
