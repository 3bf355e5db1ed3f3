#include "controller/strategy/pareto.h"

#include <cmath>
#include <vector>

#include "controller/strategy/rng.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::testing::ElementsAre;

// Ranks by repeatedly peeling the non-dominated points (the definition).
std::vector<int> BruteForceRanks(const std::vector<std::vector<double>>& p) {
  std::vector<int> ranks(p.size(), -1);
  for (int rank = 0, left = static_cast<int>(p.size()); left > 0; ++rank) {
    std::vector<int> front;
    for (size_t i = 0; i < p.size(); ++i) {
      if (ranks[i] >= 0) continue;
      bool dominated = false;
      for (size_t j = 0; j < p.size(); ++j) {
        if (ranks[j] < 0 && Dominates(p[j], p[i])) dominated = true;
      }
      if (!dominated) front.push_back(static_cast<int>(i));
    }
    for (int i : front) ranks[i] = rank;
    left -= static_cast<int>(front.size());
  }
  return ranks;
}

TEST(ParetoTest, DominatesNeedsStrictImprovementSomewhere) {
  EXPECT_TRUE(Dominates({2, 2}, {1, 2}));
  EXPECT_FALSE(Dominates({2, 2}, {2, 2}));
  EXPECT_FALSE(Dominates({3, 1}, {1, 3}));
}

TEST(ParetoTest, RanksFronts) {
  EXPECT_THAT(NonDominatedRanks({{3, 1}, {1, 3}, {2, 2}, {1, 1}, {0, 0}, {1, 1}}),
              ElementsAre(0, 0, 0, 1, 2, 1));
}

TEST(ParetoTest, RanksMatchTheDefinitionIn2DAnd3D) {
  Rng rng(5);
  for (int dims : {2, 3}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<std::vector<double>> points(40, std::vector<double>(dims));
      for (auto& p : points) {
        for (double& x : p) x = rng.Uniform(6);  // Many ties.
      }
      EXPECT_EQ(NonDominatedRanks(points), BruteForceRanks(points));
    }
  }
}

TEST(ParetoTest, CrowdingIsInfiniteAtTheExtremes) {
  const std::vector<std::vector<double>> points = {
      {0, 4}, {1, 3}, {3, 1}, {4, 0}, {0, 0}};
  const std::vector<double> d = CrowdingDistances(points, NonDominatedRanks(points));
  EXPECT_TRUE(std::isinf(d[0]));
  EXPECT_TRUE(std::isinf(d[3]));
  // {1,3}: neighbours {0,4} and {3,1}: (3-0)/4 + (4-1)/4.
  EXPECT_DOUBLE_EQ(d[1], 1.5);
  EXPECT_DOUBLE_EQ(d[2], 1.5);
  EXPECT_TRUE(std::isinf(d[4]));  // Alone in its front.
}

TEST(ParetoTest, Hypervolume2D) {
  EXPECT_DOUBLE_EQ(Hypervolume2D({{1, 3}, {2, 2}, {3, 1}}, {0, 0}), 6.0);
  // Dominated points and points beyond the reference add nothing.
  EXPECT_DOUBLE_EQ(
      Hypervolume2D({{1, 3}, {2, 2}, {3, 1}, {1, 1}, {5, -1}}, {0, 0}), 6.0);
  EXPECT_DOUBLE_EQ(Hypervolume2D({{2, 2}}, {1, -1}), 3.0);
  EXPECT_DOUBLE_EQ(Hypervolume2D({}, {0, 0}), 0.0);
}

}  // namespace
}  // namespace nas::strategy
