#include "bench/search_quality/runner.h"

#include <cmath>
#include <string>

#include "bench/search_quality/table.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::bench {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kTablePath[] = "data/nb201/nb201_cifar10.csv";

TEST(TableTest, ParsesColumnsAndRejectsBadTables) {
  ASSERT_OK_AND_ASSIGN(
      Table t, Table::Parse("id,arch,acc,note\n0,a,1.5,x\n1,b,2,y\n", "arch"));
  EXPECT_EQ(t.num_rows(), 2);
  EXPECT_EQ(t.Find("b"), 1);
  EXPECT_EQ(t.Find("c"), -1);
  ASSERT_OK_AND_ASSIGN(const std::vector<double>* acc, t.Column("acc"));
  EXPECT_EQ(*acc, (std::vector<double>{1.5, 2}));
  ASSERT_OK_AND_ASSIGN(const std::vector<double>* note, t.Column("note"));
  EXPECT_TRUE(std::isnan((*note)[0]));
  EXPECT_THAT(t.Column("nope"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(Table::Parse("id,acc\n0,1\n", "arch"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Table::Parse("arch,acc\na,1\na,2\n", "arch"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
  EXPECT_THAT(Table::Parse("arch,acc\na,1,2\n", "arch"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Table::Load("/nonexistent.csv", "arch"),
              StatusIs(absl::StatusCode::kNotFound));
}

class RunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<Table> t = Table::Load(kTablePath, "arch");
    ASSERT_OK(t);
    table_ = new Table(*std::move(t));
  }
  static void TearDownTestSuite() { delete table_; }
  static Table* table_;
};

Table* RunnerTest::table_ = nullptr;

TEST_F(RunnerTest, SummarizesEveryStrategy) {
  for (const char* name :
       {"random", "regularized_evolution", "reinforce", "pareto_evolution"}) {
    RunOptions o;
    o.strategy = name;
    o.trials = 60;
    o.seeds = 3;
    o.objective = "cifar10_valid_12ep";
    o.latency = "latency_pixel3";
    int progress = 0;
    ASSERT_OK_AND_ASSIGN(RunSummary s,
                         RunSearch(*table_, o, [&](int done) { progress = done; }));
    EXPECT_EQ(progress, 3);
    EXPECT_GT(s.mean_best, 70);
    EXPECT_LE(s.mean_best, 84.892);
    EXPECT_GE(s.hit_rate, 0);
    EXPECT_LE(s.hit_rate, 1);
    ASSERT_TRUE(s.hv_ratio.has_value());
    EXPECT_GT(*s.hv_ratio, 0.9);
    EXPECT_LE(*s.hv_ratio, 1.0);
    EXPECT_GT(s.us_per_trial, 0);
  }
}

TEST_F(RunnerTest, MinimizingFindsSmallValuesOfAnyColumn) {
  RunOptions o;
  o.strategy = "regularized_evolution";
  o.trials = 100;
  o.seeds = 2;
  o.objective = "params_m_cifar10";
  o.minimize = true;
  ASSERT_OK_AND_ASSIGN(RunSummary s, RunSearch(*table_, o, nullptr));
  EXPECT_LT(s.mean_best, 0.2);  // Parameters (millions): ~0.07 to 1.5.
  EXPECT_FALSE(s.hv_ratio.has_value());
}

TEST_F(RunnerTest, RejectsUnknownStrategiesAndColumns) {
  RunOptions o;
  o.strategy = "annealing";
  o.objective = "cifar10_valid_12ep";
  EXPECT_THAT(RunSearch(*table_, o, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("annealing")));
  o.strategy = "random";
  o.objective = "top5";
  EXPECT_THAT(RunSearch(*table_, o, nullptr),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(FormatTest, JsonHasTheDocumentedKeys) {
  RunSummary s;
  s.strategy = "random";
  s.trials = 300;
  s.seeds = 100;
  s.mean_best = 84.25;
  s.sd_best = 0.5;
  s.hit_rate = 0.03;
  s.us_per_trial = 4.5;
  EXPECT_EQ(FormatJson(s),
            "{\"strategy\": \"random\", \"trials\": 300, \"seeds\": 100, "
            "\"mean_best\": 84.25, \"sd_best\": 0.5, \"hit_rate\": 0.03, "
            "\"hv_ratio\": null, \"us_per_trial\": 4.5}");
  s.hv_ratio = 0.99;
  EXPECT_THAT(FormatJson(s), HasSubstr("\"hv_ratio\": 0.99,"));
  const std::string table = FormatTable({s});
  EXPECT_THAT(table, HasSubstr("mean_best"));
  EXPECT_THAT(table, HasSubstr("84.2500"));
}

TEST(OverheadTest, MeasuresAPositiveTime) {
  ASSERT_OK_AND_ASSIGN(double us, MeasureOverhead("regularized_evolution", 100, 50));
  EXPECT_GT(us, 0);
}

}  // namespace
}  // namespace nas::bench
