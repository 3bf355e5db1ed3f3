// Parsing, defaults, summary and the shipped examples of job_spec.h.
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/spec/job_spec.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::spec {
namespace {

using ::nas::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

std::vector<FieldError> ParseErrors(const std::string& text) {
  nas::v1::JobSpec spec;
  return ParseJobSpecInto(text, "", &spec);
}

TEST(ParseJobSpecTest, UnknownFieldSuggestsTheClosestName) {
  EXPECT_THAT(
      ParseErrors("strategy: {regularized_evolution: {populaton: 50}}"),
      ElementsAre(FieldError{"strategy.regularized_evolution.populaton",
                             "unknown field (did you mean \"population\"?)"}));
}

TEST(ParseJobSpecTest, UnknownFieldFarFromEveryNameListsTheKnownFields) {
  EXPECT_THAT(ParseErrors("budget: {trials_please: 5}"),
              ElementsAre(FieldError{
                  "budget.trials_please",
                  "unknown field (known fields: max_trials, max_parallel, "
                  "max_wall_seconds)"}));
}

TEST(ParseJobSpecTest, NonIntegerNamesThePathAndTheValue) {
  EXPECT_THAT(ParseErrors("budget: {max_trials: ten}"),
              ElementsAre(FieldError{"budget.max_trials",
                                     "expected an integer, got \"ten\""}));
}

TEST(ParseJobSpecTest, IntegerOutOfRangeIsAnError) {
  EXPECT_THAT(ParseErrors("priority: 99999999999"),
              ElementsAre(FieldError{
                  "priority", "expected an integer, got \"99999999999\""}));
}

TEST(ParseJobSpecTest, NegativeUnsignedIsAnError) {
  EXPECT_THAT(
      ParseErrors("strategy: {random: {}, seed: -1}"),
      ElementsAre(FieldError{"strategy.seed",
                             "expected a non-negative integer, got \"-1\""}));
}

TEST(ParseJobSpecTest, NonFiniteNumberIsAnError) {
  EXPECT_THAT(ParseErrors("strategy: {reinforce: {learning_rate: nan}}"),
              ElementsAre(FieldError{"strategy.reinforce.learning_rate",
                                     "expected a number, got \"nan\""}));
}

TEST(ParseJobSpecTest, UnknownEnumValueListsTheChoices) {
  EXPECT_THAT(
      ParseErrors("objectives: [{metric: a, direction: max}, "
                  "{metric: b, direction: up}]"),
      ElementsAre(
          FieldError{"objectives[0].direction",
                     "unknown value \"max\" (one of: maximize, minimize)"},
          FieldError{"objectives[1].direction",
                     "unknown value \"up\" (one of: maximize, minimize)"}));
}

TEST(ParseJobSpecTest, EnumNamesAreCaseInsensitive) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec("objectives: [{metric: a, direction: MAXIMIZE}, "
                   "{metric: b, direction: Minimize}]",
                   ""));
  EXPECT_EQ(spec.objectives(0).direction(), nas::v1::MAXIMIZE);
  EXPECT_EQ(spec.objectives(1).direction(), nas::v1::MINIMIZE);
}

TEST(ParseJobSpecTest, UnspecifiedEnumValueIsNotAccepted) {
  EXPECT_THAT(ParseErrors("objectives: [{direction: direction_unspecified}]"),
              ElementsAre(FieldError{"objectives[0].direction",
                                     "unknown value \"direction_unspecified\" "
                                     "(one of: maximize, minimize)"}));
}

TEST(ParseJobSpecTest, TwoMembersOfOneOneofAreAnError) {
  EXPECT_THAT(ParseErrors("strategy: {random: {}, reinforce: {}}"),
              ElementsAre(FieldError{
                  "strategy.reinforce",
                  "conflicts with \"random\" (set only one of: random, "
                  "regularized_evolution, pareto_evolution, reinforce, darts, "
                  "once_for_all, compound_scaling)"}));
}

TEST(ParseJobSpecTest, ProtoOptionalFieldsAreNotAOneof) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec(
          "objectives: [{metric: a, target: 80, weight: -0.1, limit: 5}]", ""));
  EXPECT_TRUE(spec.objectives(0).has_target());
  EXPECT_DOUBLE_EQ(spec.objectives(0).weight(), -0.1);
  EXPECT_DOUBLE_EQ(spec.objectives(0).limit(), 5);
}

TEST(ParseJobSpecTest, CollectsEveryErrorInDocumentOrder) {
  const std::string text =
      "name: x\n"
      "budget: {max_trials: ten, max_parallel: [1]}\n"
      "zzz: 1\n"
      "retry: 3\n";
  EXPECT_THAT(
      ParseErrors(text),
      ElementsAre(
          FieldError{"budget.max_trials", "expected an integer, got \"ten\""},
          FieldError{"budget.max_parallel", "expected an integer, got a list"},
          FieldError{
              "zzz",
              "unknown field (known fields: name, search_space, strategy, "
              "objectives, evaluation, budget, early_stopping, retry, "
              "priority, labels)"},
          FieldError{"retry", "expected a map, got \"3\""}));
  EXPECT_THAT(ParseJobSpec(text, ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("budget.max_trials: expected an integer, got "
                                 "\"ten\"\nbudget.max_parallel: expected")));
}

TEST(ParseJobSpecTest, WrongShapesAreErrors) {
  EXPECT_THAT(
      ParseErrors("search_space: {nb201: {ops: skip_connect}}\n"
                  "objectives: {metric: a}\n"
                  "name: [a]\n"
                  "labels: [a]\n"),
      ElementsAre(FieldError{"search_space.nb201.ops",
                             "expected a list, got \"skip_connect\""},
                  FieldError{"objectives", "expected a list, got a map"},
                  FieldError{"name", "expected a string, got a list"},
                  FieldError{"labels", "expected a map, got a list"}));
}

TEST(ParseJobSpecTest, DuplicateKeyIsAnError) {
  EXPECT_THAT(ParseErrors("name: a\nname: b\n"),
              ElementsAre(FieldError{"name", "duplicate key"}));
}

TEST(ParseJobSpecTest, LabelsAreAMap) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       ParseJobSpec("labels: {team: nas, tier: \"1\"}", ""));
  EXPECT_THAT(spec.labels(), SizeIs(2));
  EXPECT_EQ(spec.labels().at("tier"), "1");
}

// Found by tests/fuzz/spec_fuzz_test: a label that is not UTF-8 passed
// validation, yet protobuf cannot parse the spec back (the controller could
// not have read it from its store).
TEST(ParseJobSpecTest, StringsMustBeUtf8) {
  EXPECT_THAT(ParseErrors("labels: {team: \"ex\xcbz\"}"),
              ElementsAre(FieldError{"labels.team",
                                     "expected UTF-8 text, got \"ex\\xcbz\""}));
  EXPECT_THAT(ParseErrors("name: \"\xff\""),
              ElementsAre(Field(&FieldError::path, "name")));
  EXPECT_THAT(ParseErrors("labels: {\"k\xc0\xaf\": v}"),  // overlong '/'
              ElementsAre(Field(&FieldError::path, "labels.k\xc0\xaf")));
  EXPECT_THAT(ParseErrors("name: \"\xed\xa0\x80\""),  // a surrogate
              ElementsAre(Field(&FieldError::path, "name")));
  EXPECT_THAT(ParseErrors("name: \"\xe2\x82\""),  // truncated
              ElementsAre(Field(&FieldError::path, "name")));
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec("name: \"caf\xc3\xa9 \xf0\x9f\xa7\xaa\"", ""));
  EXPECT_EQ(spec.name(), "caf\xc3\xa9 \xf0\x9f\xa7\xaa");
  nas::v1::JobSpec copy;
  EXPECT_TRUE(copy.ParseFromString(spec.SerializeAsString()));
}

TEST(ParseJobSpecTest, NullMessageSelectsTheOneofMember) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       ParseJobSpec("strategy:\n  random:\n", ""));
  EXPECT_TRUE(spec.strategy().has_random());
}

TEST(ParseJobSpecTest, ExplicitlyEmptyOpsAreAnError) {
  EXPECT_THAT(ParseErrors("search_space: {darts: {ops: []}}"),
              ElementsAre(FieldError{
                  "search_space.darts.ops",
                  "must not be empty; omit it for the default ops"}));
  EXPECT_THAT(ParseErrors("search_space: {nb201: {ops: []}}"),
              ElementsAre(FieldError{
                  "search_space.nb201.ops",
                  "must not be empty; omit it for the default ops"}));
}

TEST(ParseJobSpecTest, OmittedOpsMeanTheDefaults) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       ParseJobSpec("search_space: {nb201: {}}", ""));
  ApplyDefaults(&spec);
  EXPECT_THAT(spec.search_space().nb201().ops(),
              ElementsAre("none", "skip_connect", "nor_conv_1x1",
                          "nor_conv_3x3", "avg_pool_3x3"));
}

TEST(ParseJobSpecTest, RelativePathsAreResolvedAgainstTheBaseDir) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec table,
      ParseJobSpec("evaluation: {table: {path: ../data/t.csv}}",
                   "/specs/examples"));
  EXPECT_EQ(table.evaluation().table().path(), "/specs/data/t.csv");
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec train,
      ParseJobSpec("evaluation: {train: {data_dir: cifar}}", "/specs"));
  EXPECT_EQ(train.evaluation().train().data_dir(), "/specs/cifar");
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec absolute,
      ParseJobSpec("evaluation: {table: {path: /abs/t.csv}}", "/specs"));
  EXPECT_EQ(absolute.evaluation().table().path(), "/abs/t.csv");
}

TEST(ParseJobSpecTest, JsonIsAccepted) {
  const std::string json = R"({
    "name": "json-job",
    "search_space": {"nb201": {}},
    "strategy": {"regularized_evolution": {"population": 30, "sample_size": 3}},
    "objectives": [{"metric": "acc", "direction": "maximize"}],
    "evaluation": {"train": {"dataset": "fashion_mnist", "epochs": 2}},
    "budget": {"max_trials": 12}
  })";
  const CheckedJobSpec checked = CheckJobSpecText(json, "");
  EXPECT_THAT(checked.errors, IsEmpty());
  EXPECT_EQ(checked.spec.strategy().regularized_evolution().sample_size(), 3);
  EXPECT_EQ(checked.spec.evaluation().train().epochs(), 2);
  EXPECT_EQ(checked.spec.budget().max_trials(), 12);
}

TEST(ParseJobSpecTest, InvalidYamlReportsThePosition) {
  EXPECT_THAT(ParseErrors("name: a\nbudget: {max_trials: 3\n"),
              ElementsAre(AllOf(Field(&FieldError::path, IsEmpty()),
                                Field(&FieldError::message,
                                      HasSubstr("invalid YAML at line 3")))));
}

TEST(ParseJobSpecTest, DocumentMustBeOneMap) {
  EXPECT_THAT(ParseErrors(""), ElementsAre(FieldError{"", "empty document"}));
  EXPECT_THAT(ParseErrors("just text"),
              ElementsAre(FieldError{
                  "", "expected a map at the top level, got \"just text\""}));
  EXPECT_THAT(ParseErrors("name: a\n---\nname: b\n"),
              ElementsAre(FieldError{
                  "", "expected one YAML document, got more (\"---\")"}));
}

// Hostile input must produce errors, never a crash or an exception.
TEST(ParseJobSpecTest, GarbageNeverCrashes) {
  std::vector<std::string> inputs = {
      "{",
      "[",
      "]]]",
      "a: *undefined",
      "&a [*a]",
      "!!binary 3",
      "? [a]\n: b",
      "strategy: {regularized_evolution: {population: [[[[]]]]}}",
      "objectives: [1, 2, 3]",
      "labels: {[a]: b}",
      "labels: {a: [b]}",
      std::string(3000, '['),
      "\t\t\x01\x02",
      ",",
      ", a",
      "search_space: {elastic: {stages: [~]}}",
  };
  std::mt19937 random(1234);
  const std::string alphabet = "{}[]:,-&*!|>'\"#%@` \n\tabz019._~";
  for (int i = 0; i < 300; ++i) {
    std::string text;
    for (int j = 0; j < 40; ++j) text += alphabet[random() % alphabet.size()];
    inputs.push_back(text);
  }
  for (const std::string& text : inputs) {
    const CheckedJobSpec checked = CheckJobSpecText(text, "/tmp");
    // None of these is a complete spec: each must be rejected, with messages.
    EXPECT_THAT(checked.errors, Not(IsEmpty())) << text;
    for (const FieldError& error : checked.errors) {
      EXPECT_THAT(error.message, Not(IsEmpty())) << text;
    }
  }
}

// ---------------------------------------------------------------- CheckJobSpec

TEST(CheckJobSpecTest, AFieldThatFailedToParseIsNotAlsoInvalid) {
  const CheckedJobSpec checked = CheckJobSpecText(
      "name: a\nsearch_space: {nb201: {}}\nstrategy: {random: {}}\n"
      "objectives: [{metric: acc, direction: maximize}]\n"
      "evaluation: {train: {dataset: fashion_mnist}}\n"
      "budget: {max_trials: ten, max_parallel: -1}\n",
      "");
  EXPECT_THAT(
      checked.errors,
      ElementsAre(
          FieldError{"budget.max_trials", "expected an integer, got \"ten\""},
          FieldError{"budget.max_parallel", "must be >= 0 (got -1)"}));
}

TEST(CheckJobSpecTest, UnreadableFileIsOneError) {
  const CheckedJobSpec checked = CheckJobSpecFile("/nonexistent/spec.yaml");
  EXPECT_THAT(checked.errors,
              ElementsAre(FieldError{"",
                                     "cannot read /nonexistent/spec.yaml: "
                                     "No such file or directory"}));
  EXPECT_THAT(LoadJobSpecFile("/nonexistent/spec.yaml"),
              StatusIs(absl::StatusCode::kNotFound));
}

// ---------------------------------------------------------------- defaults

TEST(ApplyDefaultsTest, FillsTheDocumentedDefaults) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec("search_space: {darts: {}}\n"
                   "strategy: {regularized_evolution: {}}\n"
                   "objectives: [{metric: a, target: 80}, {metric: b}]\n"
                   "evaluation: {train: {dataset: cifar10}}\n"
                   "early_stopping: {asha: {}}\n",
                   ""));
  ApplyDefaults(&spec);
  const nas::v1::DartsCellSpace& darts = spec.search_space().darts();
  EXPECT_THAT(darts.ops(), ElementsAreArray(DartsOps()));
  EXPECT_THAT(darts.ops(), SizeIs(8));
  EXPECT_EQ(darts.nodes(), 4);
  EXPECT_EQ(darts.inputs_per_node(), 2);
  EXPECT_EQ(darts.cells(), 8);
  EXPECT_THAT(darts.reduction_positions(), ElementsAre(2, 5));
  EXPECT_EQ(darts.init_channels(), 16);
  EXPECT_EQ(spec.strategy().regularized_evolution().population(), 50);
  EXPECT_EQ(spec.strategy().regularized_evolution().sample_size(), 10);
  EXPECT_DOUBLE_EQ(spec.objectives(0).weight(), -0.07);
  EXPECT_FALSE(spec.objectives(1).has_weight());
  const nas::v1::TrainEvaluation& train = spec.evaluation().train();
  EXPECT_EQ(train.epochs(), 1);
  EXPECT_EQ(train.batch_size(), 64);
  EXPECT_DOUBLE_EQ(train.learning_rate(), 0.025);
  EXPECT_DOUBLE_EQ(train.momentum(), 0.9);
  EXPECT_DOUBLE_EQ(train.weight_decay(), 3e-4);
  EXPECT_EQ(train.validation_size(), 5000);
  EXPECT_EQ(spec.early_stopping().asha().min_resource(), 1);
  EXPECT_EQ(spec.early_stopping().asha().reduction_factor(), 3);
  EXPECT_EQ(spec.retry().max_attempts(), 3);
  EXPECT_EQ(spec.retry().max_lease_expirations(), 10);
}

TEST(ApplyDefaultsTest, FillsStrategyAndTableDefaults) {
  nas::v1::JobSpec spec;
  spec.mutable_strategy()->mutable_pareto_evolution();
  spec.mutable_evaluation()->mutable_table();
  spec.mutable_early_stopping()->mutable_median();
  ApplyDefaults(&spec);
  EXPECT_EQ(spec.strategy().pareto_evolution().population(), 50);
  EXPECT_EQ(spec.strategy().pareto_evolution().sample_size(), 20);
  EXPECT_EQ(spec.evaluation().table().arch_column(), "arch");
  EXPECT_EQ(spec.early_stopping().median().min_trials(), 5);
  EXPECT_EQ(spec.early_stopping().median().start_step(), 1);

  spec.mutable_strategy()->mutable_reinforce();
  ApplyDefaults(&spec);
  EXPECT_DOUBLE_EQ(spec.strategy().reinforce().learning_rate(), 0.1);
  EXPECT_DOUBLE_EQ(spec.strategy().reinforce().baseline_decay(), 0.9);
  EXPECT_DOUBLE_EQ(spec.strategy().reinforce().entropy_weight(), 1e-4);
}

TEST(ApplyDefaultsTest, ExplicitZeroOfAnOptionalFieldIsKept) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec("strategy: {reinforce: {entropy_weight: 0, "
                   "baseline_decay: 0}}\n",
                   ""));
  ApplyDefaults(&spec);
  EXPECT_TRUE(spec.strategy().reinforce().has_entropy_weight());
  EXPECT_DOUBLE_EQ(spec.strategy().reinforce().entropy_weight(), 0.0);
  EXPECT_DOUBLE_EQ(spec.strategy().reinforce().baseline_decay(), 0.0);

  ASSERT_OK_AND_ASSIGN(
      spec, ParseJobSpec("strategy: {darts: {max_skips: 0}}\n", ""));
  ApplyDefaults(&spec);
  EXPECT_EQ(spec.strategy().darts().max_skips(), 0);
}

TEST(ApplyDefaultsTest, KeepsGivenValuesAndCapsTheTournamentAtThePopulation) {
  ASSERT_OK_AND_ASSIGN(
      nas::v1::JobSpec spec,
      ParseJobSpec("search_space: {darts: {nodes: 3, cells: 5, ops: [none]}}\n"
                   "strategy: {regularized_evolution: {population: 4}}\n",
                   ""));
  ApplyDefaults(&spec);
  EXPECT_EQ(spec.search_space().darts().nodes(), 3);
  EXPECT_THAT(spec.search_space().darts().ops(), ElementsAre("none"));
  EXPECT_THAT(spec.search_space().darts().reduction_positions(),
              ElementsAre(1, 3));
  EXPECT_EQ(spec.strategy().regularized_evolution().sample_size(), 4);
}

TEST(ApplyDefaultsTest, ReductionPositionsAreDistinctThirdsOfTheCells) {
  const auto positions = [](int cells) {
    nas::v1::JobSpec spec;
    spec.mutable_search_space()->mutable_darts()->set_cells(cells);
    ApplyDefaults(&spec);
    const auto& field = spec.search_space().darts().reduction_positions();
    return std::vector<int>(field.begin(), field.end());
  };
  EXPECT_THAT(positions(1), ElementsAre(0));
  EXPECT_THAT(positions(2), ElementsAre(0, 1));
  EXPECT_THAT(positions(2147483647), ElementsAre(715827882, 1431655764));
  EXPECT_THAT(positions(-3), IsEmpty());
}

// ---------------------------------------------------------------- examples

TEST(ExamplesTest, EveryExampleLoadsAndValidates) {
  int examples = 0;
  for (const auto& entry : std::filesystem::directory_iterator("examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++examples;
    const CheckedJobSpec checked = CheckJobSpecFile(entry.path().string());
    EXPECT_THAT(checked.errors, IsEmpty()) << entry.path();
    EXPECT_OK(LoadJobSpecFile(entry.path().string()));
  }
  EXPECT_EQ(examples, 8);
}

TEST(ExamplesTest, TablePathIsResolvedAgainstTheSpecFile) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       LoadJobSpecFile("examples/nb201_table.yaml"));
  const std::string& path = spec.evaluation().table().path();
  EXPECT_EQ(path.front(), '/');
  EXPECT_THAT(path, HasSubstr("/data/nb201/nb201_cifar10.csv"));
  EXPECT_THAT(path, Not(HasSubstr("..")));
}

TEST(SummarizeJobSpecTest, DescribesTheQuickstart) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       LoadJobSpecFile("examples/quickstart.yaml"));
  EXPECT_EQ(SummarizeJobSpec(spec),
            "ok: job \"quickstart\": regularized_evolution(population=20, "
            "sample=5) over darts cells (8 ops, 4 nodes), 1 objective "
            "(accuracy max), train fashion_mnist 1 epoch, budget 40 trials");
}

TEST(SummarizeJobSpecTest, DescribesATableJobWithTwoObjectives) {
  ASSERT_OK_AND_ASSIGN(nas::v1::JobSpec spec,
                       LoadJobSpecFile("examples/nb201_pareto.yaml"));
  EXPECT_EQ(SummarizeJobSpec(spec),
            "ok: job \"nb201-pareto\": pareto_evolution(population=50, "
            "sample=20) over nb201 cells (5 ops), 2 objectives "
            "(cifar10_valid_12ep max, latency_pixel3 min), table "
            "nb201_cifar10.csv, budget 1000 trials");
}

}  // namespace
}  // namespace nas::spec
