#include "worker/service/worker_loop.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "worker/eval/table_evaluator.h"
#include "worker/model/test_architectures.h"
#include "prometheus/registry.h"
#include "worker/service/fake_worker_service.h"
#include "worker/service/worker_metrics.h"

namespace nas::worker {
namespace {

using ::testing::DoubleEq;
using ::testing::Each;
using ::testing::Eq;
using ::testing::SizeIs;

nas::v1::TrialLease TableLease(int64_t trial_id, double simulated_seconds = 0) {
  nas::v1::TrialLease lease;
  lease.set_trial_id(trial_id);
  lease.set_job_id("job");
  lease.set_attempt(2);
  *lease.mutable_architecture() = testing::Nb201Index1Architecture();
  *lease.mutable_search_space() = testing::TinyNb201Space();
  lease.mutable_evaluation()->mutable_table()->set_path(
      "data/nb201/nb201_cifar10.csv");
  lease.mutable_evaluation()->mutable_table()->set_simulated_seconds(
      simulated_seconds);
  return lease;
}

class WorkerLoopTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer("127.0.0.1:0"); }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  void StartServer(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  std::unique_ptr<WorkerLoop> MakeLoop(int64_t max_trials,
                                       Evaluator* train = nullptr) {
    WorkerLoopOptions options;
    options.metrics = &metrics_;
    options.info.set_name("test-worker");
    options.info.set_device("cpu");
    options.auth_token = "secret";
    options.initial_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    options.rpc_timeout = absl::Seconds(5);
    options.max_trials = max_trials;
    options.weights_chunk_bytes = 1000;
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                       grpc::InsecureChannelCredentials());
    auto loop =
        WorkerLoop::Create(options, nas::v1::WorkerService::NewStub(channel),
                           train, &table_);
    CHECK(loop.ok()) << loop.status();
    return *std::move(loop);
  }

  testing::FakeWorkerService service_;
  prometheus::Registry registry_;
  WorkerMetrics metrics_{registry_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  TableEvaluator table_;
};

TEST_F(WorkerLoopTest, CompletesTableTrialsWithAuth) {
  for (int id = 1; id <= 3; ++id) service_.AddLease(TableLease(id));
  auto loop = MakeLoop(3);
  EXPECT_OK(loop->Run());
  EXPECT_EQ(loop->trials_done(), 3);
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.registrations, SizeIs(1));
  EXPECT_EQ(service_.registrations[0].info().name(), "test-worker");
  EXPECT_THAT(service_.registrations[0].info().capabilities(),
              ::testing::ElementsAre("table"));
  ASSERT_THAT(service_.completed, SizeIs(3));
  for (const auto& c : service_.completed) {
    EXPECT_EQ(c.worker_id(), "w-1");
    EXPECT_EQ(c.attempt(), 2);
    EXPECT_FALSE(c.stopped_early());
    EXPECT_THAT(c.metrics().at("cifar10_valid_12ep"), DoubleEq(82.834));
  }
  EXPECT_EQ(service_.completed[2].trial_id(), 3);
  EXPECT_THAT(service_.progress, SizeIs(3));
  EXPECT_THAT(service_.failed, SizeIs(0));
  EXPECT_THAT(service_.auth, Each(Eq("Bearer secret")));
  EXPECT_EQ(metrics_.trials(kOutcomeCompleted), 3);
  EXPECT_EQ(metrics_.trials(kOutcomeFailed), 0);
  EXPECT_GT(metrics_.busy_seconds() + metrics_.idle_seconds(), 0);
}

TEST_F(WorkerLoopTest, ProgressAnsweredStopEndsTrialEarly) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.stop_on_progress = true;
  }
  service_.AddLease(TableLease(7));
  EXPECT_OK(MakeLoop(1)->Run());
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.completed, SizeIs(1));
  EXPECT_TRUE(service_.completed[0].stopped_early());
}

TEST_F(WorkerLoopTest, HeartbeatsDuringTrialAndObeysStop) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.stop_on_heartbeat = true;
  }
  service_.AddLease(TableLease(8, /*simulated_seconds=*/60));
  EXPECT_OK(MakeLoop(1)->Run());
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.heartbeats, ::testing::Not(::testing::IsEmpty()));
  EXPECT_EQ(service_.heartbeats[0].trial_id(), 8);
  EXPECT_EQ(service_.heartbeats[0].attempt(), 2);
  ASSERT_THAT(service_.completed, SizeIs(1));
  EXPECT_TRUE(service_.completed[0].stopped_early());
}

TEST_F(WorkerLoopTest, ShutdownHandsBackTheTrialAsPreempted) {
  service_.AddLease(TableLease(9, /*simulated_seconds=*/60));
  auto loop = MakeLoop(0);
  std::thread runner([&] { EXPECT_OK(loop->Run()); });
  service_.leased.WaitForNotification();
  loop->Shutdown();
  runner.join();
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.failed, SizeIs(1));
  EXPECT_EQ(service_.failed[0].trial_id(), 9);
  EXPECT_EQ(service_.failed[0].reason(), kReasonPreempted);
  EXPECT_THAT(service_.completed, SizeIs(0));
  EXPECT_EQ(metrics_.trials(kOutcomePreempted), 1);
}

TEST_F(WorkerLoopTest, UnsupportedEvaluationAndMissingArchitectureFail) {
  nas::v1::TrialLease train = TableLease(10);
  train.mutable_evaluation()->mutable_train()->set_dataset("fashion_mnist");
  service_.AddLease(train);
  nas::v1::TrialLease missing = TableLease(11);
  *missing.mutable_architecture() =
      testing::Nb201Architecture("edges { input: 0 op: 'bogus' }", "", "");
  service_.AddLease(missing);
  EXPECT_OK(MakeLoop(2)->Run());
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.failed, SizeIs(2));
  EXPECT_EQ(service_.failed[0].reason(), kReasonUnsupported);
  EXPECT_EQ(service_.failed[1].trial_id(), 11);
  EXPECT_EQ(service_.failed[1].reason(), kReasonError);
  EXPECT_THAT(service_.failed[1].message(), ::testing::HasSubstr("bogus~0"));
  EXPECT_EQ(metrics_.trials(kOutcomeFailed), 2);
}

TEST_F(WorkerLoopTest, ReconnectsWhenTheControllerComesBack) {
  const int port = port_;
  server_->Shutdown();
  server_.reset();
  service_.AddLease(TableLease(12));
  auto loop = MakeLoop(1);
  std::thread runner([&] { EXPECT_OK(loop->Run()); });
  absl::SleepFor(absl::Milliseconds(200));  // A few failed registrations.
  StartServer(absl::StrCat("127.0.0.1:", port));
  runner.join();
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.completed, SizeIs(1));
}

TEST_F(WorkerLoopTest, ResultIsRedeliveredWhenTheControllerComesBack) {
  // The controller goes down while the trial runs and stays down for far
  // longer than max_report_attempts backoffs (8 x <= 50 ms); the finished
  // result must still arrive once it is back.
  const int port = port_;
  service_.AddLease(TableLease(13, /*simulated_seconds=*/0.2));
  auto loop = MakeLoop(1);
  std::thread runner([&] { EXPECT_OK(loop->Run()); });
  service_.leased.WaitForNotification();
  server_->Shutdown();
  server_.reset();
  absl::SleepFor(absl::Seconds(1.5));
  {
    absl::MutexLock lock(&service_.mu);
    EXPECT_THAT(service_.completed, SizeIs(0));
  }
  StartServer(absl::StrCat("127.0.0.1:", port));
  runner.join();
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.completed, SizeIs(1));
  EXPECT_EQ(service_.completed[0].trial_id(), 13);
  EXPECT_EQ(metrics_.trials(kOutcomeCompleted), 1);
}

TEST_F(WorkerLoopTest, RefusedResultIsNotRetried) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.complete_code = grpc::StatusCode::FAILED_PRECONDITION;
  }
  service_.AddLease(TableLease(14));
  EXPECT_OK(MakeLoop(1)->Run());
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.completed, SizeIs(1));
  EXPECT_EQ(metrics_.trials(kOutcomeLost), 1);
  EXPECT_EQ(metrics_.trials(kOutcomeCompleted), 0);
}

// A "training" evaluator that returns fixed weights.
class WeightsEvaluator : public Evaluator {
 public:
  absl::StatusOr<EvalResult> Evaluate(const nas::v1::TrialLease&,
                                      const EvalCallbacks&) override {
    EvalResult result;
    result.metrics["accuracy"] = 0.5;
    result.weights = Weights();
    return result;
  }
  static std::string Weights() {
    std::string w(2500, '\0');
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<char>(i % 251);
    return w;
  }
};

nas::v1::TrialLease TrainLease(int64_t trial_id) {
  nas::v1::TrialLease lease = TableLease(trial_id);
  lease.mutable_evaluation()->mutable_train()->set_dataset("fashion_mnist");
  return lease;
}

TEST_F(WorkerLoopTest, UploadsWeightsInChunksBeforeCompleting) {
  WeightsEvaluator train;
  service_.AddLease(TrainLease(21));
  service_.AddLease(TableLease(22));  // no weights: no upload
  EXPECT_OK(MakeLoop(2, &train)->Run());
  absl::MutexLock lock(&service_.mu);
  ASSERT_THAT(service_.weights, SizeIs(1));
  EXPECT_EQ(service_.weights[0], WeightsEvaluator::Weights());
  EXPECT_EQ(service_.weight_chunks[0], 3);  // 1000 + 1000 + 500
  EXPECT_EQ(service_.weights_before_complete[0], 0u);
  const nas::v1::UploadWeightsHeader& header = service_.weight_headers[0];
  EXPECT_EQ(header.worker_id(), "w-1");
  EXPECT_EQ(header.trial_id(), 21);
  EXPECT_EQ(header.attempt(), 2);
  EXPECT_EQ(header.size_bytes(), 2500);
  EXPECT_THAT(service_.completed, SizeIs(2));
  EXPECT_THAT(service_.auth, Each(Eq("Bearer secret")));
}

TEST_F(WorkerLoopTest, AControllerWithoutWeightsIsAskedOnce) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.upload_code = grpc::StatusCode::UNIMPLEMENTED;
  }
  WeightsEvaluator train;
  service_.AddLease(TrainLease(23));
  service_.AddLease(TrainLease(24));
  EXPECT_OK(MakeLoop(2, &train)->Run());
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.weights, SizeIs(1));
  EXPECT_THAT(service_.completed, SizeIs(2));  // trials still complete
}

TEST_F(WorkerLoopTest, ARefusedUploadStillReportsTheResult) {
  {
    absl::MutexLock lock(&service_.mu);
    service_.upload_code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  WeightsEvaluator train;
  service_.AddLease(TrainLease(25));
  EXPECT_OK(MakeLoop(1, &train)->Run());
  absl::MutexLock lock(&service_.mu);
  EXPECT_THAT(service_.weights, SizeIs(1));  // not retried
  ASSERT_THAT(service_.completed, SizeIs(1));
  EXPECT_EQ(metrics_.trials(kOutcomeCompleted), 1);
}

TEST(WorkerMetricsTest, ExportsTheDocumentedFamilies) {
  prometheus::Registry registry;
  WorkerMetrics metrics(registry);
  metrics.TrialEnded(kOutcomeCompleted);
  metrics.TrialEnded("bogus");
  metrics.SetImagesPerSecond(250);
  metrics.AddBusy(absl::Seconds(2));
  metrics.AddIdle(absl::Seconds(-1));  // Ignored: counters never decrease.
  std::map<std::string, double> values;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    for (const prometheus::ClientMetric& m : family.metric) {
      std::string name = family.name;
      for (const auto& label : m.label) {
        absl::StrAppend(&name, "{", label.name, "=", label.value, "}");
      }
      values[name] = family.type == prometheus::MetricType::Gauge
                         ? m.gauge.value
                         : m.counter.value;
    }
  }
  EXPECT_EQ(values["nas_worker_trials_total{outcome=completed}"], 1);
  EXPECT_EQ(values["nas_worker_trials_total{outcome=lost}"], 1);
  EXPECT_EQ(values["nas_worker_trials_total{outcome=failed}"], 0);
  EXPECT_EQ(values["nas_worker_images_per_second"], 250);
  EXPECT_EQ(values["nas_worker_busy_seconds_total"], 2);
  EXPECT_EQ(values["nas_worker_idle_seconds_total"], 0);
}

}  // namespace
}  // namespace nas::worker
