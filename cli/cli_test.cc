// Unit tests of nasctl's pieces that need no controller: option parsing and
// output formats. The verbs against a live controller are tested end to end
// in tests/.
#include <sstream>

#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/verb_args.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::cli {
namespace {

using ::nas::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(VerbArgsTest, ParsesValuesSwitchesAndPositionals) {
  ASSERT_OK_AND_ASSIGN(
      ParsedArgs p,
      ParseVerbArgs({"job-1", "--top", "5", "--pareto", "--format=csv"},
                    {{"top", true}, {"pareto", false}, {"format", true}}));
  EXPECT_THAT(p.positional, ElementsAre("job-1"));
  EXPECT_TRUE(p.Has("pareto"));
  EXPECT_EQ(p.Get("format", "table"), "csv");
  ASSERT_OK_AND_ASSIGN(long long top, p.GetInt("top", 0));
  EXPECT_EQ(top, 5);
}

TEST(VerbArgsTest, RejectsUnknownOptionsAndMissingValues) {
  EXPECT_THAT(ParseVerbArgs({"--tpo", "5"}, {{"top", true}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown option --tpo")));
  EXPECT_THAT(ParseVerbArgs({"--top"}, {{"top", true}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--top needs a value")));
  ASSERT_OK_AND_ASSIGN(ParsedArgs p, ParseVerbArgs({"--top=x"}, {{"top", true}}));
  EXPECT_THAT(p.GetInt("top", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--top: expected an integer, got \"x\"")));
}

TEST(FormatTest, TableAlignsColumnsAndRightAlignsNumbers) {
  Table t{{"id", "name", "acc"}, {{"1", "alpha", "0.5"}, {"12", "b", "10.25"}}};
  std::ostringstream os;
  PrintTable(t, Format::kTable, os);
  EXPECT_EQ(os.str(),
            "id  name     acc\n"
            " 1  alpha    0.5\n"
            "12  b      10.25\n");
}

TEST(FormatTest, CsvQuotesAndJsonTypesValues) {
  Table t{{"id", "arch"}, {{"1", "a,b"}, {"2", ""}}};
  std::ostringstream csv, json;
  PrintTable(t, Format::kCsv, csv);
  EXPECT_EQ(csv.str(), "id,arch\n1,\"a,b\"\n2,\n");
  PrintTable(t, Format::kJson, json);
  EXPECT_EQ(json.str(),
            "{\"id\": 1, \"arch\": \"a,b\"}\n{\"id\": 2, \"arch\": null}\n");
  EXPECT_THAT(ParseFormat("xml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown value \"xml\"")));
}

TEST(FormatTest, ProgressLineShowsCountsBestAndEta) {
  nas::v1::Job job;
  job.mutable_spec()->mutable_budget()->set_max_trials(40);
  job.mutable_counts()->set_succeeded(10);
  job.mutable_counts()->set_running(2);
  job.set_best_trial_id(7);
  job.set_best_objective(0.8125);
  job.set_state(nas::v1::JOB_RUNNING);
  const std::string line = ProgressLine(job, 20, absl::Seconds(100), 0);
  EXPECT_THAT(line, HasSubstr("[#####---------------] 10/40 trials"));
  EXPECT_THAT(line, HasSubstr("running 2"));
  EXPECT_THAT(line, HasSubstr("best 0.8125 (#7)"));
  // 10 trials in 100 s, 30 to go: 300 s.
  EXPECT_THAT(line, HasSubstr("ETA 5m00s"));
}

TEST(FormatTest, TrialStatesRoundTripAndBadOnesAreNamed) {
  ASSERT_OK_AND_ASSIGN(nas::v1::TrialState s, ParseTrialState("stopped_early"));
  EXPECT_EQ(s, nas::v1::STOPPED_EARLY);
  EXPECT_EQ(TrialStateName(s), "stopped_early");
  EXPECT_EQ(JobStateName(nas::v1::JOB_RUNNING), "running");
  EXPECT_THAT(ParseTrialState("done"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--state: unknown value \"done\"")));
}

TEST(NasctlTest, UnreachableControllerIsAFailureNamingTheAddress) {
  std::ostringstream out, err;
  CliContext context{"127.0.0.1:1", "", "", "", &out, &err};
  EXPECT_EQ(RunNasctl(context, {"jobs"}), kExitFailure);
  EXPECT_THAT(err.str(), HasSubstr("controller 127.0.0.1:1 is unreachable"));
  EXPECT_EQ(RunNasctl(context, {"trials"}), kExitUsage);
  EXPECT_EQ(RunNasctl(context, {"extend", "job", "--trials", "-1"}), kExitUsage);
}

}  // namespace
}  // namespace nas::cli
