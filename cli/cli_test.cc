// Unit tests of nasctl's pieces that need no controller: option parsing and
// output formats. The verbs against a live controller are tested end to end
// in tests/.
#include <sstream>

#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/report.h"
#include "cli/svg.h"
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

TEST(ReportTest, ParetoIndicesKeepOnlyNonDominatedPoints) {
  // (x, accuracy): (1, .5) (2, .7) (2, .6) (3, .65) (4, .9) (5, .9)
  const std::vector<double> acc = {0.5, 0.7, 0.6, 0.65, 0.9, 0.9};
  const std::vector<double> x = {1, 2, 2, 3, 4, 5};
  EXPECT_THAT(ParetoIndices(acc, x, /*maximize=*/true), ElementsAre(0, 1, 4));
  // Minimizing error instead: the same front read the other way.
  const std::vector<double> err = {0.5, 0.3, 0.4, 0.35, 0.1, 0.1};
  EXPECT_THAT(ParetoIndices(err, x, /*maximize=*/false), ElementsAre(0, 1, 4));
}

TEST(ReportTest, ReportHasEveryPlotAndEscapesNames) {
  nas::v1::Job job;
  job.mutable_spec()->set_name("a<b");
  job.mutable_spec()->mutable_search_space()->mutable_nb201();
  std::vector<nas::v1::Trial> trials(3);
  for (int i = 0; i < 3; ++i) {
    trials[i].set_id(i + 1);
    trials[i].set_state(nas::v1::SUCCEEDED);
    (*trials[i].mutable_metrics())["accuracy"] = 0.5 + 0.1 * i;
    trials[i].set_params(1000 * (i + 1));
    auto* node = trials[i].mutable_architecture()->mutable_cell()
                     ->mutable_normal()->add_nodes();
    node->add_edges()->set_op("nor_conv_3x3");
  }
  const std::string html = RenderReport(job, trials);
  EXPECT_THAT(html, HasSubstr("a&lt;b"));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("a<b")));
  size_t plots = 0;
  for (size_t p = html.find("class=\"plot\""); p != std::string::npos;
       p = html.find("class=\"plot\"", p + 1)) {
    ++plots;
  }
  EXPECT_EQ(plots, 5u);
  EXPECT_THAT(html, HasSubstr("class=\"cell\""));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("<script")));
}

TEST(ReportTest, CompoundScalingJobHasTheScalingTableAndPlot) {
  nas::v1::Job job;
  job.mutable_spec()->set_name("scaling");
  job.mutable_spec()->mutable_search_space()->mutable_elastic();
  job.mutable_spec()->mutable_strategy()->mutable_compound_scaling();
  std::vector<nas::v1::Trial> trials(3);
  for (int i = 0; i < 3; ++i) {
    trials[i].set_id(i + 1);
    trials[i].set_state(nas::v1::SUCCEEDED);
    auto& m = *trials[i].mutable_metrics();
    m["accuracy"] = 0.6 + 0.05 * i;
    m["alpha"] = 1.25;
    m["beta"] = 1.5;
    m["gamma"] = 1.0;
    m["phi"] = i == 0 ? 1 : i;
    m["scale_phase"] = i == 0 ? 0 : 1;
    trials[i].set_macs(1000 * (i + 1));
  }
  const std::string html = RenderReport(job, trials);
  EXPECT_THAT(html, HasSubstr("<h2>Compound scaling</h2>"));
  EXPECT_THAT(html, HasSubstr("<td>scale</td>"));
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">1.5</td>"));
  EXPECT_THAT(html, HasSubstr("accuracy vs MACs by phi"));
  job.mutable_spec()->mutable_strategy()->mutable_random();
  EXPECT_THAT(RenderReport(job, trials),
              ::testing::Not(HasSubstr("Compound scaling")));
}

TEST(SvgTest, CellToDotHasEveryEdgeWithItsOp) {
  nas::v1::SearchSpace space;
  space.mutable_darts();
  nas::v1::Cell cell;
  auto* node = cell.add_nodes();
  auto* e = node->add_edges();
  e->set_input(0);
  e->set_op("sep_conv_3x3");
  e = node->add_edges();
  e->set_input(1);
  e->set_op("skip_connect");
  const std::string dot = CellToDot(cell, space, "normal");
  EXPECT_THAT(dot, HasSubstr("n0 -> n2 [label=\"sep_conv_3x3\""));
  EXPECT_THAT(dot, HasSubstr("n1 -> n2 [label=\"skip_connect\""));
  EXPECT_THAT(dot, HasSubstr("n2 -> out"));
}

}  // namespace
}  // namespace nas::cli
