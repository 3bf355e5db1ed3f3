#include "worker/eval/train_evaluator.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/task/compound_scaling_task.h"
#include "common/task/darts_task.h"
#include "common/task/ofa_task.h"
#include "common/task/ofa_testing.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/cuda.h"
#include "worker/eval/evaluator.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/model/test_architectures.h"
#include "worker/model/weights.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::Contains;
using ::testing::Key;

class TrainEvaluatorTest : public ::testing::Test {
 protected:
  // One evaluator for the suite, so Fashion-MNIST is read once (its cache).
  static void SetUpTestSuite() {
    TrainEvaluator::Options options;
    options.threads = 1;
    options.latency_batch_size = 8;
    options.latency = {1, 5};
    auto evaluator = TrainEvaluator::Create(options);
    CHECK(evaluator.ok()) << evaluator.status();
    evaluator_ = evaluator->release();
  }
  static void TearDownTestSuite() { delete evaluator_; }

  static nas::v1::TrialLease Nb201Lease() {
    nas::v1::TrialLease lease;
    *lease.mutable_architecture() = testing::Nb201Index1Architecture();
    *lease.mutable_search_space() = testing::TinyNb201Space();
    *lease.mutable_evaluation() = testing::ParseText<nas::v1::Evaluation>(
        "train { dataset: 'fashion_mnist' epochs: 2 batch_size: 32 "
        "train_subset: 256 validation_size: 256 channels: 4 cells: 1 "
        "learning_rate: 0.1 }");
    return lease;
  }

  static TrainEvaluator* evaluator_;
};
TrainEvaluator* TrainEvaluatorTest::evaluator_ = nullptr;

TEST_F(TrainEvaluatorTest, DartsSearchTaskReportsAlphasAndTheDerivedCell) {
  nas::v1::TrialLease lease;
  lease.set_task(nas::task::kDartsSearch);
  nas::v1::Darts darts;
  darts.set_search_epochs(2);
  darts.set_arch_learning_rate(3e-3);
  darts.set_max_skips(0);
  lease.set_task_config(nas::task::DartsSearchConfig(darts, 0.5));
  *lease.mutable_search_space() = testing::ParseText<nas::v1::SearchSpace>(
      "darts { ops: ['none', 'skip_connect', 'sep_conv_3x3', 'max_pool_3x3'] "
      "nodes: 2 cells: 3 init_channels: 4 }");
  *lease.mutable_evaluation() = testing::ParseText<nas::v1::Evaluation>(
      "train { dataset: 'fashion_mnist' batch_size: 32 train_subset: 128 "
      "validation_size: 128 learning_rate: 0.05 }");
  std::vector<int64_t> steps;
  EvalCallbacks callbacks;
  callbacks.on_progress = [&](int64_t step,
                              const std::map<std::string, double>& m) {
    steps.push_back(step);
    EXPECT_THAT(m, Contains(Key("supernet_accuracy")));
    EXPECT_THAT(m, Contains(Key("alpha_reduce_n1_i2_max_pool_3x3")));
    return true;
  };
  ASSERT_OK_AND_ASSIGN(EvalResult result,
                       evaluator_->Evaluate(lease, callbacks));
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(result.metrics.at("search_epochs"), 2);
  EXPECT_EQ(result.metrics.at("latency_weight"), 0.5);
  EXPECT_GT(result.metrics.at("expected_latency_ms"), 0);
  EXPECT_GT(result.metrics.at("derived_latency_ms_estimate"), 0);
  EXPECT_GT(result.params, 0);
  double row = 0;
  for (const char* op : {"none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"}) {
    row += result.metrics.at(nas::task::AlphaMetric("normal", 1, 2, op));
  }
  EXPECT_NEAR(row, 1.0, 1e-5);  // softmax over the ops of one edge
  ASSERT_OK_AND_ASSIGN(
      nas::v1::CellGenotype genotype,
      nas::task::DecodeDerivedGenotype(
          result.metrics,
          {"none", "skip_connect", "sep_conv_3x3", "max_pool_3x3"}));
  EXPECT_EQ(genotype.normal().nodes_size(), 2);
  EXPECT_EQ(genotype.reduce().nodes(1).edges_size(), 2);

  lease.set_task("once_for_all_train");
  EXPECT_THAT(evaluator_->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(OfaTasksTest, TrainSavesTheSupernetAndSubnetsAreMeasuredWithIt) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  TrainEvaluator::Options options;
  options.threads = 1;
  options.latency_batch_size = 0;
  options.latency = {1, 3};
  options.supernet_dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/art";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrainEvaluator> evaluator,
                       TrainEvaluator::Create(options));
  const nas::v1::JobSpec job = nas::task::testing::TinyOfaJob(1, 1, 1);
  nas::v1::TrialLease lease;
  lease.set_task(nas::task::kOfaTrain);
  lease.set_task_config(nas::task::OfaTrainConfigJson({1, "ofa/test.pt"}));
  *lease.mutable_search_space() = job.search_space();
  *lease.mutable_evaluation() = testing::ParseText<nas::v1::Evaluation>(
      "train { dataset: 'fashion_mnist' batch_size: 32 train_subset: 256 "
      "validation_size: 128 learning_rate: 0.05 }");
  std::vector<double> phases;
  EvalCallbacks callbacks;
  callbacks.on_progress = [&](int64_t, const std::map<std::string, double>& m) {
    phases.push_back(m.at("phase"));
    return true;
  };
  ASSERT_OK_AND_ASSIGN(EvalResult trained, evaluator->Evaluate(lease, callbacks));
  EXPECT_EQ(phases, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_GT(trained.metrics.at("largest_accuracy"), 0.1);
  EXPECT_GT(trained.metrics.at("smallest_accuracy"), 0.1);
  EXPECT_EQ(trained.metrics.count("accuracy"), 0u);  // not a subnet result
  std::ifstream saved(options.supernet_dir + "/ofa/test.pt");
  EXPECT_TRUE(saved.good());

  // A subnet with inherited weights: measured, not trained.
  lease.set_task(nas::task::kOfaSubnet);
  lease.set_task_config(nas::task::OfaSubnetConfigJson({"ofa/test.pt"}));
  *lease.mutable_architecture()->mutable_elastic() =
      nas::task::SmallestSubnet(job.search_space().elastic());
  ASSERT_OK_AND_ASSIGN(EvalResult subnet, evaluator->Evaluate(lease, {}));
  EXPECT_GT(subnet.metrics.at("accuracy"), 0.1);
  EXPECT_GT(subnet.metrics.at("latency_ms"), 0);
  EXPECT_EQ(subnet.macs, nas::task::ElasticMacs(job.search_space().elastic(),
                                                lease.architecture().elastic(),
                                                1, 28));
  EXPECT_EQ(subnet.metrics.count("train_seconds"), 0u);
  // Its weights file is the standalone subnet (what nasctl export gives).
  ASSERT_FALSE(subnet.weights.empty());
  ASSERT_OK_AND_ASSIGN(NetworkPlan plan,
                       MakePlan(lease.architecture(), job.search_space(),
                                NetworkOptions{1, 28}));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> standalone, BuildNetwork(plan));
  ASSERT_OK_AND_ASSIGN(InputSpec input, LoadWeights(subnet.weights, *standalone));
  EXPECT_EQ(input.channels, 1);
  ASSERT_OK_AND_ASSIGN(double reloaded,
                       evaluator->ValidationAccuracy(
                           lease.evaluation().train(), *standalone, input));
  EXPECT_DOUBLE_EQ(reloaded, subnet.metrics.at("accuracy"));

  lease.set_task_config(nas::task::OfaSubnetConfigJson({"ofa/other.pt"}));
  EXPECT_THAT(evaluator->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kNotFound,
                       ::testing::HasSubstr("ofa/other.pt")));
  lease.set_task_config("{\"checkpoint\":\"/etc/passwd.pt\"}");
  EXPECT_THAT(evaluator->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("task_config.checkpoint")));
  options.supernet_dir.clear();
  lease.set_task_config(nas::task::OfaSubnetConfigJson({"ofa/test.pt"}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<TrainEvaluator> without,
                       TrainEvaluator::Create(options));
  EXPECT_THAT(without->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::HasSubstr("--supernet_dir")));
}

TEST_F(TrainEvaluatorTest, TrainsAndMeasuresFashionMnistTrial) {
  nas::v1::TrialLease lease = Nb201Lease();
  lease.mutable_evaluation()->mutable_train()->set_report_test(true);
  std::vector<int64_t> steps;
  EvalCallbacks callbacks;
  callbacks.on_progress = [&](int64_t step,
                              const std::map<std::string, double>& m) {
    steps.push_back(step);
    EXPECT_THAT(m, Contains(Key("accuracy")));
    return true;
  };
  ASSERT_OK_AND_ASSIGN(EvalResult result,
                       evaluator_->Evaluate(lease, callbacks));
  EXPECT_EQ(steps, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(result.stopped_early);
  EXPECT_GT(result.params, 0);
  EXPECT_GT(result.macs, result.params);
  EXPECT_GT(result.metrics.at("accuracy"), 0.1);
  EXPECT_LE(result.metrics.at("accuracy"), 1.0);
  EXPECT_GT(result.metrics.at("test_accuracy"), 0.1);
  EXPECT_EQ(result.metrics.at("epochs"), 2);
  EXPECT_GE(result.metrics.at("peak_memory_mb"), 0);
  ASSERT_EQ(result.latencies.size(), 2u);
  EXPECT_EQ(result.latencies[0].batch_size(), 1);
  EXPECT_EQ(result.latencies[1].batch_size(), 8);
  for (const auto& latency : result.latencies) {
    EXPECT_EQ(latency.threads(), 1);
    EXPECT_GT(latency.median_ms(), 0);
    EXPECT_LE(latency.median_ms(), latency.p90_ms());
    EXPECT_THAT(latency.device(), ::testing::StartsWith("cpu"));
  }
  EXPECT_EQ(result.metrics.at("latency_ms"), result.latencies[0].median_ms());

  // The returned weights rebuild the trained network: a network built from
  // the genotype and loaded with them measures the same validation accuracy.
  ASSERT_FALSE(result.weights.empty());
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 28;
  options.channels_override = 4;
  options.cells_override = 1;
  ASSERT_OK_AND_ASSIGN(NetworkPlan plan, MakePlan(lease.architecture(),
                                                  lease.search_space(), options));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> net, BuildNetwork(plan));
  ASSERT_OK_AND_ASSIGN(double untrained,
                       evaluator_->ValidationAccuracy(
                           lease.evaluation().train(), *net,
                           InputSpec{1, 28, {0.3f}, {0.35f}}));
  ASSERT_OK_AND_ASSIGN(InputSpec input, LoadWeights(result.weights, *net));
  EXPECT_EQ(input.channels, 1);
  EXPECT_EQ(input.image_size, 28);
  ASSERT_OK_AND_ASSIGN(double accuracy,
                       evaluator_->ValidationAccuracy(
                           lease.evaluation().train(), *net, input));
  EXPECT_EQ(accuracy, result.metrics.at("accuracy"));
  EXPECT_NE(untrained, accuracy);
  std::cout << "accuracy " << result.metrics.at("accuracy") << " test "
            << result.metrics.at("test_accuracy") << " latency b1 "
            << result.latencies[0].median_ms() << " ms p90 "
            << result.latencies[0].p90_ms() << " ms, b8 "
            << result.latencies[1].median_ms() << " ms, peak memory "
            << result.metrics.at("peak_memory_mb") << " MB, params "
            << result.params << ", macs " << result.macs << "\n";
}

TEST_F(TrainEvaluatorTest, ProgressAnswerStopsElasticTrial) {
  nas::v1::TrialLease lease = Nb201Lease();
  *lease.mutable_architecture() = testing::TinyElasticArchitecture();
  *lease.mutable_search_space() = testing::TinyElasticSpace();
  lease.mutable_evaluation()->mutable_train()->set_epochs(3);
  EvalCallbacks callbacks;
  callbacks.on_progress = [](int64_t, const std::map<std::string, double>&) {
    return false;
  };
  ASSERT_OK_AND_ASSIGN(EvalResult result,
                       evaluator_->Evaluate(lease, callbacks));
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(result.metrics.at("epochs"), 1);
  EXPECT_TRUE(result.weights.empty());  // not a finished training
}

TEST_F(TrainEvaluatorTest, ScaledTrainTaskTrainsAGenotypeBeyondTheSpace) {
  nas::v1::TrialLease lease = Nb201Lease();
  *lease.mutable_search_space() = testing::TinyElasticSpace();
  lease.mutable_evaluation()->mutable_train()->set_epochs(1);
  ASSERT_OK_AND_ASSIGN(
      *lease.mutable_architecture()->mutable_elastic(),
      nas::task::ScaleGenotype(testing::TinyElasticArchitecture().elastic(),
                               {1.25, 1.25, 1.0}, 2));
  // depth ceil(2 * 1.5625) = 4 and width 1.5625 are outside the space.
  ASSERT_EQ(lease.architecture().elastic().stages(0).depth(), 4);
  EXPECT_THAT(evaluator_->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));

  lease.set_task(nas::task::kScaledTrain);
  lease.set_task_config(nas::task::ScaledTrainConfigJson(
      {/*scale_phase=*/true, {1.25, 1.25, 1.0}, /*phi=*/2}));
  ASSERT_OK_AND_ASSIGN(EvalResult scaled, evaluator_->Evaluate(lease, {}));
  EXPECT_EQ(scaled.metrics.at("phi"), 2);
  EXPECT_EQ(scaled.metrics.at("alpha"), 1.25);
  EXPECT_EQ(scaled.metrics.at("scale_phase"), 1);
  EXPECT_EQ(scaled.metrics.at("blocks"), 8);
  EXPECT_EQ(scaled.metrics.at("width_multiplier"), 1.5625);
  EXPECT_GT(scaled.metrics.at("accuracy"), 0);

  nas::v1::TrialLease base = Nb201Lease();
  *base.mutable_search_space() = testing::TinyElasticSpace();
  *base.mutable_architecture() = testing::TinyElasticArchitecture();
  base.mutable_evaluation()->mutable_train()->set_epochs(1);
  ASSERT_OK_AND_ASSIGN(EvalResult plain, evaluator_->Evaluate(base, {}));
  // Twice the blocks at 1.5625x the width: far more MACs and parameters.
  EXPECT_GT(scaled.macs, 3 * plain.macs);
  EXPECT_GT(scaled.params, plain.params);

  lease.set_task_config("{\"phase\":\"grid\"}");
  EXPECT_THAT(evaluator_->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TrainEvaluatorTest, ShouldStopSkipsMeasurement) {
  EvalCallbacks callbacks;
  callbacks.should_stop = [] { return true; };
  ASSERT_OK_AND_ASSIGN(EvalResult result,
                       evaluator_->Evaluate(Nb201Lease(), callbacks));
  EXPECT_TRUE(result.stopped_early);
  EXPECT_TRUE(result.latencies.empty());
}

TEST_F(TrainEvaluatorTest, TrainsDartsOnSyntheticCifar) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  {
    std::ofstream out(dir + "/data_batch_1.bin", std::ios::binary);
    for (int i = 0; i < 96; ++i) {
      out.put(static_cast<char>(i % 10));
      for (int p = 0; p < 3 * 1024; ++p)
        out.put(static_cast<char>((i * 7 + p) % 251));
    }
  }
  nas::v1::TrialLease lease;
  *lease.mutable_architecture() = testing::AllOpsDartsArchitecture();
  *lease.mutable_search_space() = testing::TinyDartsSpace();
  *lease.mutable_evaluation() = testing::ParseText<nas::v1::Evaluation>(
      "train { dataset: 'cifar10' epochs: 1 batch_size: 16 }");
  EXPECT_THAT(evaluator_->Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("data_dir")));
  lease.mutable_evaluation()->mutable_train()->set_data_dir(dir);
  ASSERT_OK_AND_ASSIGN(EvalResult result, evaluator_->Evaluate(lease, {}));
  EXPECT_THAT(result.metrics, Contains(Key("accuracy")));
  EXPECT_EQ(result.latencies.size(), 2u);
}

TEST_F(TrainEvaluatorTest, UnknownDatasetIsUnsupported) {
  nas::v1::TrialLease lease = Nb201Lease();
  lease.mutable_evaluation()->mutable_train()->set_dataset("imagenet");
  const absl::Status status = evaluator_->Evaluate(lease, {}).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(FailureReason(status), kReasonUnsupported);
}

TEST(ParseDeviceTest, AcceptsCpuAndRefusesUnavailableCuda) {
  ASSERT_OK_AND_ASSIGN(torch::Device cpu, ParseDevice("cpu"));
  EXPECT_TRUE(cpu.is_cpu());
  EXPECT_THAT(ParseDevice("gpu"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDevice("cuda:x"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA present";
  EXPECT_THAT(ParseDevice("cuda"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::HasSubstr("CUDA is not available")));
  EXPECT_THAT(ParseDevice("cuda:1"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace nas::worker
