#include "worker/data/dataset.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Writes `n` CIFAR records; record i has label i % 10 and every pixel
// of channel c equal to (i + c) % 256.
void WriteCifarBatch(const std::string& path, int n, int first) {
  std::ofstream out(path, std::ios::binary);
  for (int i = first; i < first + n; ++i) {
    out.put(static_cast<char>(i % 10));
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 32 * 32; ++p)
        out.put(static_cast<char>((i + c) % 256));
    }
  }
}

TEST(DatasetTest, LoadsFashionMnistTestSet) {
  ASSERT_OK_AND_ASSIGN(Dataset data, LoadFashionMnist(kFashionMnistDir, false));
  EXPECT_EQ(data.size(), 10000);
  EXPECT_EQ(data.channels, 1);
  EXPECT_EQ(data.height, 28);
  EXPECT_EQ(data.width, 28);
  EXPECT_EQ(data.images.size(), 10000u * 28 * 28);
  EXPECT_EQ(std::set<int64_t>(data.labels.begin(), data.labels.end()).size(),
            10u);
}

TEST(DatasetTest, MissingFashionMnistIsNotFound) {
  EXPECT_THAT(LoadFashionMnist(TempDir() + "/nope", true),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(DatasetTest, LoadsCifarBinaryBatches) {
  const std::string dir = TempDir();
  WriteCifarBatch(dir + "/data_batch_1.bin", 5, 0);
  WriteCifarBatch(dir + "/data_batch_2.bin", 3, 5);
  ASSERT_OK_AND_ASSIGN(Dataset data, LoadCifar10(dir, true));
  ASSERT_EQ(data.size(), 8);
  EXPECT_EQ(data.labels[6], 6);
  // Example 6, channel 2: every pixel is 8.
  EXPECT_EQ(data.images[6 * data.image_bytes() + 2 * 1024 + 17], 8);
  EXPECT_THAT(LoadCifar10(dir, false), StatusIs(absl::StatusCode::kNotFound));
}

TEST(DatasetTest, TruncatedCifarFileIsDataLoss) {
  const std::string dir = TempDir() + "/truncated";
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  std::ofstream(dir + "/test_batch.bin", std::ios::binary) << "short";
  EXPECT_THAT(LoadCifar10(dir, false), StatusIs(absl::StatusCode::kDataLoss));
}

Dataset Counting(int n) {
  Dataset data;
  data.channels = 1;
  data.height = data.width = 2;
  for (int i = 0; i < n; ++i) {
    data.images.insert(data.images.end(), 4, static_cast<uint8_t>(i));
    data.labels.push_back(i);
  }
  return data;
}

TEST(DatasetTest, SplitIsDeterministicBySeedAndDisjoint) {
  const Dataset data = Counting(100);
  ASSERT_OK_AND_ASSIGN(auto a, SplitTrainValidation(data, 20, 7));
  ASSERT_OK_AND_ASSIGN(auto b, SplitTrainValidation(data, 20, 7));
  ASSERT_OK_AND_ASSIGN(auto c, SplitTrainValidation(data, 20, 8));
  EXPECT_EQ(a.validation.size(), 20);
  EXPECT_EQ(a.train.size(), 80);
  EXPECT_EQ(a.validation.labels, b.validation.labels);
  EXPECT_NE(a.validation.labels, c.validation.labels);
  std::set<int64_t> all(a.train.labels.begin(), a.train.labels.end());
  all.insert(a.validation.labels.begin(), a.validation.labels.end());
  EXPECT_EQ(all.size(), 100u);
  // Images move with their labels.
  EXPECT_EQ(a.train.images[4 * 3], a.train.labels[3]);
  EXPECT_THAT(SplitTrainValidation(data, 100, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DatasetTest, NormalizationGivesZeroMeanUnitVariance) {
  Dataset data = Counting(2);  // Pixels 0 and 1 (of 255).
  data.images = {0, 0, 255, 255, 0, 0, 255, 255};
  const Normalization norm = ComputeNormalization(data);
  EXPECT_NEAR(norm.mean[0], 0.5, 1e-6);
  EXPECT_NEAR(norm.stddev[0], 0.5, 1e-6);
  std::mt19937_64 rng(0);
  float out[8];
  int64_t labels[2];
  const int64_t indices[] = {1, 0};
  AssembleBatch(data, indices, norm, {}, rng, out, labels);
  EXPECT_FLOAT_EQ(out[0], -1.0f);
  EXPECT_FLOAT_EQ(out[2], 1.0f);
  EXPECT_EQ(labels[0], 1);
}

TEST(DatasetTest, AugmentationFlipsAndShifts) {
  Dataset data;
  data.channels = 1;
  data.height = 1;
  data.width = 3;
  data.images = {0, 100, 200};
  data.labels = {0};
  const Normalization identity{{0.0f}, {1.0f / 255.0f}};  // Value = pixel.
  std::mt19937_64 rng(1);
  std::set<std::vector<float>> seen;
  const int64_t index[] = {0};
  int64_t label;
  for (int i = 0; i < 200; ++i) {
    std::vector<float> out(3);
    AssembleBatch(data, index, identity, {1, true}, rng, out.data(), &label);
    for (float& v : out) v = std::round(v);
    seen.insert(out);
  }
  EXPECT_TRUE(seen.count({0, 100, 200}));
  EXPECT_TRUE(seen.count({200, 100, 0}));  // Flipped.
  EXPECT_TRUE(seen.count({100, 200, 0}));  // Shifted left, zero padded.
  EXPECT_LE(seen.size(), 18u);             // 2 flips x 3 x 3 shifts at most.
}

}  // namespace
}  // namespace nas::worker
