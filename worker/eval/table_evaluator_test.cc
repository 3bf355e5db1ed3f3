#include "worker/eval/table_evaluator.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/time/clock.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::DoubleEq;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kTable[] = "data/nb201/nb201_cifar10.csv";

nas::v1::TrialLease TableLease(const nas::v1::Architecture& arch) {
  nas::v1::TrialLease lease;
  *lease.mutable_architecture() = arch;
  lease.mutable_evaluation()->mutable_table()->set_path(kTable);
  return lease;
}

TEST(Nb201ArchStringTest, OrdersEdgesBySourceAndFillsNone) {
  ASSERT_OK_AND_ASSIGN(
      std::string arch,
      Nb201ArchString(testing::Nb201Index1Architecture().cell().normal()));
  EXPECT_EQ(arch,
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
            "nor_conv_3x3~1|skip_connect~2|");
  const auto sparse =
      testing::Nb201Architecture("edges { input: 0 op: 'nor_conv_1x1' }",
                                 "edges { input: 1 op: 'skip_connect' }",
                                 "edges { input: 2 op: 'avg_pool_3x3' } edges "
                                 "{ input: 0 op: 'nor_conv_3x3' }");
  ASSERT_OK_AND_ASSIGN(arch, Nb201ArchString(sparse.cell().normal()));
  EXPECT_EQ(arch,
            "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|"
            "avg_pool_3x3~2|");
}

TEST(Nb201ArchStringTest, RejectsRepeatedSource) {
  const auto bad = testing::Nb201Architecture(
      "edges { input: 0 op: 'nor_conv_1x1' }",
      "edges { input: 0 op: 'skip_connect' } edges { input: 0 op: 'none' }",
      "edges { input: 2 op: 'avg_pool_3x3' }");
  EXPECT_THAT(Nb201ArchString(bad.cell().normal()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(TableEvaluatorTest, ReturnsNumericColumnsOfTheRow) {
  TableEvaluator evaluator;
  int progress_calls = 0;
  EvalCallbacks callbacks;
  callbacks.on_progress = [&](int64_t step, const auto& metrics) {
    ++progress_calls;
    EXPECT_EQ(step, 1);
    return true;
  };
  ASSERT_OK_AND_ASSIGN(
      EvalResult result,
      evaluator.Evaluate(TableLease(testing::Nb201Index1Architecture()),
                         callbacks));
  EXPECT_THAT(result.metrics, UnorderedElementsAre(
                                  Pair("arch_index", DoubleEq(1)),
                                  Pair("cifar10_valid_12ep", DoubleEq(82.834)),
                                  Pair("cifar10_test_12ep", DoubleEq(88.22)),
                                  Pair("params_m_cifar10", DoubleEq(0.802426)),
                                  Pair("latency_pixel3", DoubleEq(17.2381)),
                                  Pair("latency_1080ti_1", DoubleEq(12.9003))));
  EXPECT_EQ(progress_calls, 1);
  EXPECT_FALSE(result.stopped_early);
}

TEST(TableEvaluatorTest, SelectedColumnsAndErrors) {
  TableEvaluator evaluator;
  nas::v1::TrialLease lease = TableLease(testing::Nb201Index1Architecture());
  lease.mutable_evaluation()->mutable_table()->add_metric_columns(
      "cifar10_valid_12ep");
  ASSERT_OK_AND_ASSIGN(EvalResult result, evaluator.Evaluate(lease, {}));
  EXPECT_THAT(result.metrics, UnorderedElementsAre(Pair("cifar10_valid_12ep",
                                                        DoubleEq(82.834))));

  lease.mutable_evaluation()->mutable_table()->add_metric_columns("nope");
  EXPECT_THAT(evaluator.Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  lease.mutable_evaluation()->mutable_table()->set_path("/nonexistent.csv");
  EXPECT_THAT(evaluator.Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(TableEvaluatorTest, UnknownArchitectureIsNotFound) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/t.csv";
  std::ofstream(path) << "arch,acc\r\n|x~0|+|x~0|x~1|+|x~0|x~1|x~2|,1.5\r\n";
  TableEvaluator evaluator;
  nas::v1::TrialLease lease = TableLease(testing::Nb201Index1Architecture());
  lease.mutable_evaluation()->mutable_table()->set_path(path);
  EXPECT_THAT(evaluator.Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kNotFound));
  // The table is cached per path: rewriting the file changes nothing.
  std::ofstream(path) << "garbage";
  EXPECT_THAT(evaluator.Evaluate(lease, {}),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(TableEvaluatorTest, SimulatedTimeIsInterruptible) {
  TableEvaluator evaluator;
  nas::v1::TrialLease lease = TableLease(testing::Nb201Index1Architecture());
  lease.mutable_evaluation()->mutable_table()->set_simulated_seconds(3600);
  std::atomic<int> polls{0};
  EvalCallbacks callbacks;
  callbacks.should_stop = [&] { return ++polls >= 3; };
  ASSERT_OK_AND_ASSIGN(EvalResult result, evaluator.Evaluate(lease, callbacks));
  EXPECT_TRUE(result.stopped_early);
  EXPECT_EQ(polls.load(), 3);
}

}  // namespace
}  // namespace nas::worker
