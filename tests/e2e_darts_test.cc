// DARTS end to end through the distributed path: the real controller
// (gRPC server, scheduler, SQLite store) in this process on 127.0.0.1:0 and
// the real nas-worker binary as a child process training on Fashion-MNIST at
// a tiny CPU budget. A two-lambda latency-aware job must run a supernet
// search per lambda, then retrain each derived cell from scratch; the store
// must hold the per-epoch alphas and retrains whose genotypes are the ones
// the searches derived.
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
#include "controller/strategy/space.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "tests/job_cluster.h"

namespace nas {
namespace {

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

TEST(DartsEndToEndTest, SearchesThenRetrainsTheDerivedCells) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::JobCluster> cluster,
                       testing::JobCluster::Create("e2e_darts.db"));
  ASSERT_OK_AND_ASSIGN(
      nas::v1::Job job,
      cluster->RunJob(DartsJob(), "e2e-darts-worker", kJobTimeout));
  ASSERT_EQ(job.state(), nas::v1::JOB_SUCCEEDED) << job.DebugString();
  EXPECT_EQ(job.counts().succeeded(), 4);

  ASSERT_OK_AND_ASSIGN(nas::v1::ListTrialsResponse trials,
                       cluster->ListTrials(job.id(), true));
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
  ASSERT_TRUE(cluster->search().GetParetoFront(&context, pareto, &front).ok());
  ASSERT_GE(front.trials_size(), 1);
  for (const nas::v1::Trial& trial : front.trials()) {
    EXPECT_TRUE(trial.architecture().has_cell());  // never a supernet
  }
}

}  // namespace
}  // namespace nas
