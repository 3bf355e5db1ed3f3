#include "storage/sql/store_logic.h"

#include <random>
#include <set>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::storage {
namespace {

using ::nas::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParetoFrontIndicesTest, KeepsTiesAndDropsDominated) {
  // (accuracy max, latency min)
  const std::vector<std::pair<double, double>> p = {
      {0.9, 5}, {0.9, 5}, {0.8, 3}, {0.8, 4}, {0.95, 9}, {0.7, 3}, {0.5, 1}};
  EXPECT_THAT(ParetoFrontIndices(p, nas::v1::MAXIMIZE, nas::v1::MINIMIZE),
              ElementsAre(4, 0, 1, 2, 6));
}

TEST(ParetoFrontIndicesTest, MatchesBruteForceOnRandomPoints) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> v(0, 15);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::pair<double, double>> p(60);
    for (auto& x : p) x = {v(rng), v(rng)};
    for (auto da : {nas::v1::MAXIMIZE, nas::v1::MINIMIZE}) {
      for (auto db : {nas::v1::MAXIMIZE, nas::v1::MINIMIZE}) {
        std::set<size_t> want;
        for (size_t i = 0; i < p.size(); ++i) {
          bool dominated = false;
          for (size_t j = 0; j < p.size(); ++j) {
            dominated |= Dominates(p[j], p[i], da, db);
          }
          if (!dominated) want.insert(i);
        }
        const auto got = ParetoFrontIndices(p, da, db);
        EXPECT_EQ(std::set<size_t>(got.begin(), got.end()), want);
      }
    }
  }
}

TEST(CheckFenceTest, NamesTrialAndAttempts) {
  EXPECT_OK(CheckFence({7, 2}, 2, nas::v1::RUNNING));
  EXPECT_THAT(CheckFence({7, 1}, 2, nas::v1::LEASED),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("trial 7: attempt 1 is stale; the trial is at "
                                 "attempt 2 (LEASED)")));
  EXPECT_THAT(CheckFence({7, 2}, 2, nas::v1::FAILED),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("attempt 2 has ended (FAILED)")));
}

TEST(MaskPasswordTest, MasksUserInfoAndQuery) {
  EXPECT_EQ(MaskPassword("postgresql://u:pw@h:5432/db"),
            "postgresql://u:***@h:5432/db");
  EXPECT_EQ(MaskPassword("postgresql://u@h/db?password=x&sslmode=off"),
            "postgresql://u@h/db?password=***&sslmode=off");
  EXPECT_EQ(MaskPassword("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
}

}  // namespace
}  // namespace nas::storage
