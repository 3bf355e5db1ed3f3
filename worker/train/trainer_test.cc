#include "worker/train/trainer.h"

#include <memory>
#include <vector>

#include "ATen/Parallel.h"
#include "c10/util/Exception.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/utils.h"
#include "worker/eval/evaluator.h"
#include "worker/model/plan.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    auto data = LoadFashionMnist(kFashionMnistDir, false);
    CHECK(data.ok()) << data.status();
    std::vector<int64_t> train(512), validation(512);
    for (int i = 0; i < 512; ++i) {
      train[i] = i;
      validation[i] = 512 + i;
    }
    train_ = new Dataset(data->Select(train));
    validation_ = new Dataset(data->Select(validation));
  }

  std::shared_ptr<Network> TinyNb201() {
    NetworkOptions options;
    options.in_channels = 1;
    options.image_size = 28;
    torch::manual_seed(0);
    auto plan = MakePlan(testing::Nb201Index1Architecture(),
                         testing::TinyNb201Space(), options);
    CHECK(plan.ok()) << plan.status();
    auto net = BuildNetwork(*plan);
    CHECK(net.ok()) << net.status();
    return *net;
  }

  static Dataset* train_;
  static Dataset* validation_;
  const torch::Device cpu_{torch::kCPU};
};
Dataset* TrainerTest::train_ = nullptr;
Dataset* TrainerTest::validation_ = nullptr;

TEST_F(TrainerTest, LearnsFashionMnistAboveChance) {
  auto net = TinyNb201();
  TrainOptions options;
  options.epochs = 3;
  options.batch_size = 32;
  options.learning_rate = 0.1;
  std::vector<EpochStats> epochs;
  TrainCallbacks callbacks;
  callbacks.on_epoch = [&](const EpochStats& s) {
    epochs.push_back(s);
    return true;
  };
  const Normalization norm = ComputeNormalization(*train_);
  ASSERT_OK_AND_ASSIGN(
      TrainSummary summary,
      Train(*net, *train_, *validation_, norm, options, cpu_, callbacks));
  ASSERT_EQ(epochs.size(), 3u);
  EXPECT_EQ(summary.epochs_completed, 3);
  EXPECT_FALSE(summary.stopped);
  EXPECT_LT(epochs.back().train_loss, epochs.front().train_loss);
  ASSERT_OK_AND_ASSIGN(double accuracy,
                       Accuracy(*net, *validation_, norm, cpu_, 128));
  EXPECT_DOUBLE_EQ(accuracy, summary.last.validation_accuracy);
  std::cout << "smoke validation accuracy " << accuracy << " in "
            << summary.train_seconds << " s\n";
  EXPECT_GT(accuracy, 0.3);  // Chance is 0.1.
}

TEST_F(TrainerTest, EpochCallbackStopsTraining) {
  auto net = TinyNb201();
  TrainOptions options;
  options.epochs = 3;
  TrainCallbacks callbacks;
  callbacks.on_epoch = [](const EpochStats&) { return false; };
  ASSERT_OK_AND_ASSIGN(
      TrainSummary summary,
      Train(*net, *train_, *validation_, ComputeNormalization(*train_), options,
            cpu_, callbacks));
  EXPECT_EQ(summary.epochs_completed, 1);
  EXPECT_TRUE(summary.stopped);
}

TEST_F(TrainerTest, ShouldStopStopsBeforeTheNextBatch) {
  auto net = TinyNb201();
  int polls = 0;
  TrainCallbacks callbacks;
  callbacks.should_stop = [&] { return ++polls > 2; };
  ASSERT_OK_AND_ASSIGN(
      TrainSummary summary,
      Train(*net, *train_, *validation_, ComputeNormalization(*train_), {},
            cpu_, callbacks));
  EXPECT_TRUE(summary.stopped);
  EXPECT_EQ(summary.epochs_completed, 0);
  EXPECT_EQ(polls, 3);
}

TEST_F(TrainerTest, NonFiniteLossFailsAsDiverged) {
  auto net = TinyNb201();
  const Normalization broken{{0.0f}, {0.0f}};  // Inputs become inf / NaN.
  const absl::Status status =
      Train(*net, *train_, *validation_, broken, {}, cpu_, {}).status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(FailureReason(status), kReasonDiverged);
}

TEST(StatusFromExceptionTest, RealAllocationFailureIsOom) {
  try {
    torch::Tensor huge = torch::empty({int64_t{1} << 50}, torch::kFloat32);
    FAIL() << "allocated " << huge.numel();
  } catch (const c10::Error& e) {
    const absl::Status status = StatusFromException(e, "allocating");
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kResourceExhausted));
    EXPECT_EQ(FailureReason(status), kReasonOom);
  }
}

TEST(StatusFromExceptionTest, CudaOomMessageAndBadAllocAreOomOthersError) {
  try {
    TORCH_CHECK(false, "CUDA out of memory. Tried to allocate 2.00 GiB");
  } catch (const c10::Error& e) {
    EXPECT_EQ(FailureReason(StatusFromException(e, "x")), kReasonOom);
  }
  EXPECT_EQ(FailureReason(StatusFromException(std::bad_alloc(), "x")),
            kReasonOom);
  try {
    TORCH_CHECK(false, "shape mismatch");
  } catch (const c10::Error& e) {
    const absl::Status status = StatusFromException(e, "x");
    EXPECT_EQ(FailureReason(status), kReasonError);
    EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal,
                                 ::testing::HasSubstr("x: shape mismatch")));
  }
}

}  // namespace
}  // namespace nas::worker
