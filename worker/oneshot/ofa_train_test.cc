#include "worker/oneshot/ofa_train.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/task/ofa_task.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "torch/torch.h"
#include "worker/model/plan.h"
#include "worker/model/test_architectures.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

// The tiny elastic space with width multipliers 0.5 and 1.
nas::v1::ElasticSpace Space() {
  nas::v1::ElasticSpace space = testing::TinyElasticSpace().elastic();
  space.add_width_multipliers(0.5);
  space.add_width_multipliers(1.0);
  return space;
}

NetworkOptions Options() {
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 28;
  return options;
}

// n random 28 x 28 images whose label is the bright quadrant (0..3).
Dataset Quadrants(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.channels = 1;
  d.height = d.width = 28;
  d.images.assign(static_cast<size_t>(n) * 784, 0);
  for (int i = 0; i < n; ++i) {
    const int q = static_cast<int>(rng() % 4);
    d.labels.push_back(q);
    for (int y = 0; y < 14; ++y) {
      for (int x = 0; x < 14; ++x) {
        d.images[i * 784 + (y + 14 * (q / 2)) * 28 + x + 14 * (q % 2)] =
            static_cast<uint8_t>(128 + rng() % 128);
      }
    }
  }
  return d;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

class OfaTrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    ASSERT_OK_AND_ASSIGN(supernet_, OfaSupernet::Create(Space(), Options()));
  }

  const Dataset train_ = Quadrants(128, 1);
  const Dataset valid_ = Quadrants(64, 2);
  const Normalization norm_ = ComputeNormalization(train_);
  std::shared_ptr<OfaSupernet> supernet_;
};

TEST_F(OfaTrainTest, ProgressiveShrinkingSamplesOnlyEachPhasesSubnets) {
  OfaTrainOptions options;
  options.batch_size = 8;  // 16 steps per phase
  options.learning_rate = 0.05;
  std::vector<std::pair<int, nas::v1::ElasticGenotype>> sampled;
  std::vector<OfaEpoch> epochs;
  OfaTrainCallbacks callbacks;
  callbacks.on_subnet = [&](int phase, const nas::v1::ElasticGenotype& g) {
    sampled.emplace_back(phase, g);
  };
  callbacks.on_epoch = [&](const OfaEpoch& e) {
    epochs.push_back(e);
    return true;
  };
  ASSERT_OK_AND_ASSIGN(
      OfaTrainSummary summary,
      TrainProgressiveShrinking(*supernet_, Space(), train_, valid_, norm_,
                                options, torch::kCPU, callbacks));
  EXPECT_FALSE(summary.stopped);
  EXPECT_EQ(summary.epochs_completed, 4);
  ASSERT_EQ(epochs.size(), 4u);
  ASSERT_EQ(sampled.size(), 4u * 16);
  const nas::v1::ElasticGenotype largest = nas::task::LargestSubnet(Space());
  std::map<int, std::set<std::string>> kernels, depths, widths, expands;
  for (size_t i = 0; i < sampled.size(); ++i) {
    const auto& [phase, g] = sampled[i];
    EXPECT_EQ(phase, static_cast<int>(i / 16));  // full, kernel, depth, width
    EXPECT_TRUE(nas::task::InSpace(nas::task::OfaPhaseSpace(Space(), phase), g))
        << "phase " << phase << ": " << g.ShortDebugString();
    if (phase == 0) {
      EXPECT_EQ(g.SerializeAsString(), largest.SerializeAsString());
    }
    for (const auto& stage : g.stages()) {
      depths[phase].insert(std::to_string(stage.depth()));
      for (int k : stage.kernel_sizes()) kernels[phase].insert(std::to_string(k));
      for (int e : stage.expand_ratios()) expands[phase].insert(std::to_string(e));
    }
    widths[phase].insert(std::to_string(g.width_multiplier()));
  }
  // Each phase really opens its dimension (16 draws make a miss unlikely
  // and the seed fixes them).
  EXPECT_EQ(kernels[0].size(), 1u);
  EXPECT_EQ(kernels[1].size(), 2u);
  EXPECT_EQ(depths[1].size(), 1u);
  EXPECT_EQ(depths[2].size(), 2u);
  EXPECT_EQ(widths[2].size(), 1u);
  EXPECT_EQ(expands[2].size(), 2u);  // stage 0 {1, 3}... at max per stage
  EXPECT_EQ(widths[3].size(), 2u);
  EXPECT_GT(expands[3].size(), 2u);
  for (int phase = 0; phase < 4; ++phase) {
    EXPECT_EQ(epochs[phase].phase, phase);
    EXPECT_EQ(epochs[phase].epoch, phase + 1);
  }
  // The task is easy: the largest network, with recalibrated batch norms,
  // learns it (chance: 0.25).
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Network> subnet,
      CalibratedSubnet(*supernet_, largest, train_, norm_, torch::kCPU, 128, 32));
  ASSERT_OK_AND_ASSIGN(double accuracy,
                       Accuracy(*subnet, valid_, norm_, torch::kCPU, 64));
  EXPECT_GT(accuracy, 0.5) << "uncalibrated: " << summary.last.largest_accuracy;
}

TEST_F(OfaTrainTest, CheckpointRoundTripsAndRefusesAnotherSpace) {
  const std::string path = TempPath("ofa/dir/supernet.pt");
  ASSERT_OK(SaveOfaSupernet(*supernet_, path));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<OfaSupernet> loaded,
                       LoadOfaSupernet(Space(), Options(), path));
  supernet_->eval();
  loaded->eval();
  const torch::Tensor x = torch::randn({2, 1, 28, 28});
  const nas::v1::ElasticGenotype g = testing::TinyElasticArchitecture().elastic();
  ASSERT_OK_AND_ASSIGN(torch::Tensor a, supernet_->Forward(g, x));
  ASSERT_OK_AND_ASSIGN(torch::Tensor b, loaded->Forward(g, x));
  EXPECT_TRUE(torch::equal(a, b));

  nas::v1::ElasticSpace wider = Space();
  wider.mutable_stages(1)->set_channels(12);
  EXPECT_THAT(LoadOfaSupernet(wider, Options(), path),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("does not fit")));
  EXPECT_THAT(LoadOfaSupernet(Space(), Options(), TempPath("missing.pt")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("--supernet_dir")));
}

TEST_F(OfaTrainTest, CalibrationKeepsTheSlicedWeightsAndRenewsBatchNorms) {
  const nas::v1::ElasticGenotype g = testing::TinyElasticArchitecture().elastic();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> plain,
                       supernet_->ExtractSubnet(g));
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Network> calibrated,
      CalibratedSubnet(*supernet_, g, train_, norm_, torch::kCPU, 64, 16));
  EXPECT_FALSE(calibrated->is_training());
  const auto plain_params = plain->named_parameters();
  for (const auto& p : calibrated->named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), plain_params[p.key()])) << p.key();
  }
  // The supernet's fresh statistics are mean 0 / var 1; calibrated ones are
  // measured on the images.
  const auto buffers = calibrated->named_buffers();
  const torch::Tensor var = buffers["stem.1.running_var"];
  EXPECT_FALSE(torch::allclose(var, torch::ones_like(var)));
  EXPECT_TRUE(torch::isfinite(var).all().item<bool>());
}

TEST_F(OfaTrainTest, ExportedSubnetComputesTheSupernetsOutput) {
  // Trained statistics, so the slices are not the initial values.
  OfaTrainOptions options;
  options.batch_size = 32;
  ASSERT_OK(TrainProgressiveShrinking(*supernet_, Space(), train_, valid_,
                                      norm_, options, torch::kCPU, {})
                .status());
  const std::string checkpoint = TempPath("export/supernet.pt");
  ASSERT_OK(SaveOfaSupernet(*supernet_, checkpoint));
  const torch::Tensor x = torch::randn({3, 1, 28, 28});
  supernet_->eval();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 3; ++i) {
    const nas::v1::ElasticGenotype g = nas::task::SampleSubnet(Space(), rng);
    const std::string out = TempPath("export/subnet" + std::to_string(i) + ".pt");
    ASSERT_OK(ExportOfaSubnet(Space(), Options(), checkpoint, g, nullptr,
                              nullptr, 0, out));
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> standalone,
                         LoadOfaSubnet(Space(), Options(), g, out));
    ASSERT_OK_AND_ASSIGN(torch::Tensor expected, supernet_->Forward(g, x));
    const torch::Tensor got = standalone->forward(x);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
        << g.ShortDebugString() << " " << (got - expected).abs().max();
  }
  // Calibrated: the statistics differ, the weights do not.
  const nas::v1::ElasticGenotype g = nas::task::SmallestSubnet(Space());
  ASSERT_OK(ExportOfaSubnet(Space(), Options(), checkpoint, g, &train_, &norm_,
                            64, TempPath("export/calibrated.pt")));
  ASSERT_OK_AND_ASSIGN(
      std::shared_ptr<Network> calibrated,
      LoadOfaSubnet(Space(), Options(), g, TempPath("export/calibrated.pt")));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Network> sliced,
                       supernet_->ExtractSubnet(g));
  EXPECT_TRUE(torch::equal(calibrated->named_parameters()["stem.0.conv.weight"],
                           sliced->named_parameters()["stem.0.conv.weight"]));
  EXPECT_FALSE(torch::equal(calibrated->named_buffers()["stem.1.running_mean"],
                            sliced->named_buffers()["stem.1.running_mean"]));
}

TEST(OfaMacsTest, ControllerCountEqualsTheWorkersAnalyticCount) {
  // common/task's ElasticMacs (used by the controller to keep subnets under
  // a MAC budget) must equal worker/model's AnalyticCost.
  const nas::v1::ElasticSpace space = Space();
  nas::v1::SearchSpace search_space;
  *search_space.mutable_elastic() = space;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50; ++i) {
    nas::v1::Architecture arch;
    *arch.mutable_elastic() = nas::task::SampleSubnet(space, rng);
    for (int in_channels : {1, 3}) {
      NetworkOptions options = Options();
      options.in_channels = in_channels;
      ASSERT_OK_AND_ASSIGN(NetworkPlan plan,
                           MakePlan(arch, search_space, options));
      EXPECT_EQ(nas::task::ElasticMacs(space, arch.elastic(), in_channels, 28),
                AnalyticCost(plan).macs)
          << arch.ShortDebugString();
    }
  }
}

}  // namespace
}  // namespace nas::worker
