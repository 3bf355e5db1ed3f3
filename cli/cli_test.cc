// Unit tests of nasctl's pieces that need no controller: option parsing and
// output formats. The verbs against a live controller are tested end to end
// in tests/.
#include <map>
#include <regex>
#include <sstream>
#include <tuple>

#include "cli/alphas.h"
#include "cli/format.h"
#include "cli/nasctl.h"
#include "cli/report.h"
#include "cli/svg.h"
#include "cli/verb_args.h"
#include "common/task/darts_task.h"
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

// A DARTS fixture: 3 ops, 2 nodes per cell (edges n0<-0,1 and n1<-0,1,2:
// 5 per cell), every (cell, node, input, op) with its own planted value.
const std::vector<std::string> kFixtureOps = {"none", "skip_connect",
                                              "sep_conv_3x3"};

double Planted(int cell, int node, int input, int op, int epoch) {
  return 0.001 * (1 + op + 3 * input + 9 * node + 27 * cell) + 0.1 * epoch;
}

void PlantAlphas(int epoch, google::protobuf::Map<std::string, double>* m) {
  const char* cells[] = {"normal", "reduce"};
  for (int c = 0; c < 2; ++c) {
    for (int k = 0; k < 2; ++k) {
      for (int i = 0; i < k + 2; ++i) {
        for (int o = 0; o < 3; ++o) {
          (*m)[nas::task::AlphaMetric(cells[c], k, i, kFixtureOps[o])] =
              Planted(c, k, i, o, epoch);
        }
      }
    }
  }
}

nas::v1::CellGenotype FixtureGenotype() {
  nas::v1::CellGenotype g;
  for (nas::v1::Cell* cell : {g.mutable_normal(), g.mutable_reduce()}) {
    const bool normal = cell == g.mutable_normal();
    auto* n0 = cell->add_nodes();
    auto* e = n0->add_edges();
    e->set_input(0);
    e->set_op("sep_conv_3x3");
    e = n0->add_edges();
    e->set_input(1);
    e->set_op(normal ? "skip_connect" : "sep_conv_3x3");
    auto* n1 = cell->add_nodes();
    e = n1->add_edges();
    e->set_input(2);
    e->set_op("sep_conv_3x3");
    e = n1->add_edges();
    e->set_input(0);
    e->set_op("skip_connect");
  }
  return g;
}

// The search trial (alphas of epochs 1 and 2 as measurements, epoch 2's as
// the result, the derived genotype) and the retrain of its derived cell.
std::vector<nas::v1::Trial> DartsFixtureTrials() {
  std::vector<nas::v1::Trial> trials(2);
  nas::v1::Trial& search = trials[0];
  search.set_id(1);
  search.set_state(nas::v1::SUCCEEDED);
  for (int epoch : {1, 2}) {
    auto* m = search.add_measurements();
    m->set_step(epoch);
    PlantAlphas(epoch, m->mutable_metrics());
    (*m->mutable_metrics())["supernet_accuracy"] = 0.5;
  }
  PlantAlphas(2, search.mutable_metrics());
  (*search.mutable_metrics())["alpha_bogus"] = 7;  // not an alpha metric
  (*search.mutable_metrics())["latency_weight"] = 0.05;
  std::map<std::string, double> derived;
  EXPECT_OK(nas::task::EncodeDerivedGenotype(FixtureGenotype(), kFixtureOps,
                                             &derived));
  search.mutable_metrics()->insert(derived.begin(), derived.end());
  nas::v1::Trial& retrain = trials[1];
  retrain.set_id(2);
  retrain.set_state(nas::v1::SUCCEEDED);
  (*retrain.mutable_metrics())["accuracy"] = 0.8;
  *retrain.mutable_architecture()->mutable_cell() = FixtureGenotype();
  return trials;
}

// (cell, node, input, op) -> value of every <rect class="alpha">.
using AlphaKey = std::tuple<std::string, int, int, std::string>;
std::map<AlphaKey, double> HeatMapCells(const std::string& svg, int* count) {
  static const std::regex rect(
      "<rect class=\"alpha\" data-cell=\"(\\w+)\" data-node=\"(\\d+)\" "
      "data-input=\"(\\d+)\" data-op=\"(\\w+)\" data-value=\"([^\"]+)\"");
  std::map<AlphaKey, double> cells;
  *count = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), rect);
       it != std::sregex_iterator(); ++it, ++*count) {
    cells[{(*it)[1], std::stoi((*it)[2]), std::stoi((*it)[3]), (*it)[4]}] =
        std::stod((*it)[5]);
  }
  return cells;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1)) {
    ++n;
  }
  return n;
}

TEST(AlphasTest, HeatMapHasOneCellPerEdgeAndOpWithItsValue) {
  const std::vector<nas::v1::Trial> trials = DartsFixtureTrials();
  const AlphaTable table =
      AlphaTableFromMetrics(trials[0].metrics(), kFixtureOps);
  ASSERT_EQ(table.edges.size(), 10u);
  EXPECT_EQ(table.ops, kFixtureOps);
  const nas::v1::CellGenotype derived = FixtureGenotype();
  const std::string svg = RenderAlphaHeatMap(table, &derived, "alphas");
  int count = 0;
  const std::map<AlphaKey, double> cells = HeatMapCells(svg, &count);
  EXPECT_EQ(count, 30);  // 10 edges x 3 ops, each once
  ASSERT_EQ(cells.size(), 30u);
  const char* names[] = {"normal", "reduce"};
  for (int c = 0; c < 2; ++c) {
    for (int k = 0; k < 2; ++k) {
      for (int i = 0; i < k + 2; ++i) {
        for (int o = 0; o < 3; ++o) {
          const AlphaKey key{names[c], k, i, kFixtureOps[o]};
          ASSERT_EQ(cells.count(key), 1u) << names[c] << k << i << o;
          EXPECT_NEAR(cells.at(key), Planted(c, k, i, o, 2), 1e-9);
        }
      }
    }
  }
  // Rows read like the cell drawings; the derived edges (4 per cell) are
  // outlined.
  EXPECT_THAT(svg, HasSubstr(">reduce c_{k-1} -&gt; 3<"));
  EXPECT_EQ(CountOf(svg, "stroke=\"#000\""), 8u);
  EXPECT_THAT(svg, ::testing::Not(HasSubstr("bogus")));
}

TEST(AlphasTest, CsvAndSmallMultiplesHaveEveryEpoch) {
  const std::vector<nas::v1::Trial> trials = DartsFixtureTrials();
  const auto epochs = AlphaEpochs(trials[0], kFixtureOps);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0].first, 1);
  const std::string csv = AlphasToCsv(epochs);
  EXPECT_EQ(CountOf(csv, "\n"), 21u);  // header + 2 epochs x 10 edges
  EXPECT_THAT(csv, ::testing::StartsWith(
                       "epoch,cell,node,input,none,skip_connect,sep_conv_3x3\n"
                       "1,normal,0,0,0.101,0.102,0.103\n"));
  // reduce (27), node 1 (9), input 2 (6), epoch 2 (0.2).
  EXPECT_THAT(csv, HasSubstr("\n2,reduce,1,2,0.243,0.244,0.245\n"));
  const std::string svg = RenderAlphaEpochs(epochs, "per epoch");
  EXPECT_EQ(CountOf(svg, "<g class=\"epoch\""), 2u);
  EXPECT_EQ(CountOf(svg, "<rect x="), 60u);
  // A trial without measurements: its result as epoch 0.
  nas::v1::Trial only_result = trials[0];
  only_result.clear_measurements();
  ASSERT_EQ(AlphaEpochs(only_result, kFixtureOps).size(), 1u);
  EXPECT_TRUE(AlphaEpochs(trials[1], kFixtureOps).empty());
}

TEST(AlphasTest, RetrainIsMatchedToTheSearchThatDerivedIt) {
  const std::vector<nas::v1::Trial> trials = DartsFixtureTrials();
  nas::v1::CellGenotype derived;
  ASSERT_TRUE(DerivedGenotypeOf(trials[0], kFixtureOps, &derived));
  EXPECT_FALSE(DerivedGenotypeOf(trials[1], kFixtureOps, &derived));
  ASSERT_TRUE(DerivedGenotypeOf(trials[0], kFixtureOps, &derived));
  // Edge order does not matter, an edge's op does.
  nas::v1::CellGenotype swapped = trials[1].architecture().cell();
  auto* edges = swapped.mutable_normal()->mutable_nodes(1)->mutable_edges();
  edges->SwapElements(0, 1);
  EXPECT_TRUE(SameGenotype(derived, swapped));
  edges->Mutable(0)->set_op("none");
  EXPECT_FALSE(SameGenotype(derived, swapped));
}

TEST(ReportTest, DartsJobShowsTheAlphaHeatMap) {
  nas::v1::Job job;
  job.mutable_spec()->set_name("darts");
  auto* darts = job.mutable_spec()->mutable_search_space()->mutable_darts();
  for (const auto& op : kFixtureOps) darts->add_ops(op);
  job.mutable_spec()->mutable_strategy()->mutable_darts();
  const std::vector<nas::v1::Trial> trials = DartsFixtureTrials();
  const std::string html = RenderReport(job, trials);
  EXPECT_THAT(html, HasSubstr("<h2>DARTS alphas</h2>"));
  EXPECT_THAT(html, HasSubstr("search trial 1 (latency weight 0.05)"));
  int count = 0;
  HeatMapCells(html, &count);
  EXPECT_EQ(count, 30);
  job.mutable_spec()->mutable_strategy()->mutable_random();
  EXPECT_THAT(RenderReport(job, trials),
              ::testing::Not(HasSubstr("DARTS alphas")));
}

}  // namespace
}  // namespace nas::cli
