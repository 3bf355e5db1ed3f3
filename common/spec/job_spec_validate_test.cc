// ValidateJobSpec: one case per rule, each asserting the field path and the
// message; table checks against small CSV files in a temporary directory.
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "common/spec/job_spec.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::spec {
namespace {

using ::nas::v1::JobSpec;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kValidSpec[] = R"(
name: base
search_space: {darts: {}}
strategy: {regularized_evolution: {population: 50, sample_size: 10}}
objectives: [{metric: accuracy, direction: maximize}]
evaluation: {train: {dataset: fashion_mnist}}
budget: {max_trials: 10}
)";

constexpr char kElasticSpace[] = R"(
search_space:
  elastic:
    stem_channels: 16
    stages:
      - {channels: 24, stride: 1, depths: [1, 2], expand_ratios: [3, 6], kernel_sizes: [3, 5]}
    resolutions: [24, 28]
)";

JobSpec Parse(const std::string& text) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(text, "");
  EXPECT_OK(spec);
  return spec.value_or(JobSpec());
}

JobSpec ValidSpec() { return Parse(kValidSpec); }

// ValidSpec() over the elastic space, searched by Once-for-All.
JobSpec ElasticSpec() {
  JobSpec spec = ValidSpec();
  spec.MergeFrom(Parse(kElasticSpace));
  nas::v1::OnceForAll* ofa = spec.mutable_strategy()->mutable_once_for_all();
  ofa->set_epochs_per_phase(1);
  ofa->add_mac_budgets_m(50);
  ofa->set_subnets_per_budget(9);  // 1 + 9 = budget.max_trials
  return spec;
}

TEST(ValidateJobSpecTest, ValidSpecHasNoErrors) {
  EXPECT_THAT(ValidateJobSpec(ValidSpec()), IsEmpty());
  EXPECT_THAT(ValidateJobSpec(ElasticSpec()), IsEmpty());
}

TEST(ValidateJobSpecTest, CollectsEveryError) {
  JobSpec spec = ValidSpec();
  spec.clear_name();
  spec.clear_objectives();
  spec.mutable_budget()->set_max_trials(0);
  EXPECT_THAT(
      ValidateJobSpec(spec),
      ElementsAre(FieldError{"name",
                             "must be 1-63 characters of [a-z0-9-_.], starting "
                             "with a letter or digit (got \"\")"},
                  FieldError{"objectives", "must have at least one objective"},
                  FieldError{"budget.max_trials", "must be > 0 (got 0)"}));
}

// Trials of a compound_scaling job with the defaults: 111 grid points
// (grid_step 0.05, tolerance 0.1), then phi = 1, 2, 3.
constexpr int kDefaultScalingTrials = 114;

// The valid spec a malformed case starts from.
enum class Base { kDarts, kElastic };

// One malformed spec: how to break a valid one, and the one error it must
// produce.
struct BadSpecCase {
  std::string name;
  Base base;
  std::function<void(JobSpec*)> edit;
  std::string path;
  std::string message;
};

nas::v1::DartsCellSpace* Darts(JobSpec* spec) {
  return spec->mutable_search_space()->mutable_darts();
}
nas::v1::ElasticStage* Stage(JobSpec* spec) {
  return spec->mutable_search_space()->mutable_elastic()->mutable_stages(0);
}
nas::v1::TrainEvaluation* Train(JobSpec* spec) {
  return spec->mutable_evaluation()->mutable_train();
}
nas::v1::Objective* AddObjective(JobSpec* spec, const std::string& metric) {
  nas::v1::Objective* objective = spec->add_objectives();
  objective->set_metric(metric);
  objective->set_direction(nas::v1::MINIMIZE);
  return objective;
}

constexpr char kDartsOps[] =
    "none, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, "
    "dil_conv_5x5, max_pool_3x3, avg_pool_3x3";

std::vector<BadSpecCase> BadSpecs() {
  return {
      {"NameWithUpperCaseAndSpace", Base::kDarts,
       [](JobSpec* s) { s->set_name("My Job"); }, "name",
       "must be 1-63 characters of [a-z0-9-_.], starting with a letter or "
       "digit (got \"My Job\")"},
      {"NameStartingWithDash", Base::kDarts,
       [](JobSpec* s) { s->set_name("-a"); }, "name",
       "must be 1-63 characters of [a-z0-9-_.], starting with a letter or "
       "digit (got \"-a\")"},
      {"NoSearchSpace", Base::kDarts,
       [](JobSpec* s) { s->clear_search_space(); }, "search_space",
       "must set one of: darts, nb201, elastic"},
      {"UnknownDartsOp", Base::kDarts,
       [](JobSpec* s) {
         Darts(s)->add_ops("none");
         Darts(s)->add_ops("conv_9x9");
       },
       "search_space.darts.ops[1]",
       std::string("unknown op \"conv_9x9\" (one of: ") + kDartsOps + ")"},
      {"DuplicateDartsOp", Base::kDarts,
       [](JobSpec* s) {
         Darts(s)->add_ops("none");
         Darts(s)->add_ops("none");
       },
       "search_space.darts.ops[1]", "duplicate op \"none\""},
      {"UnknownNb201Op", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_search_space()->mutable_nb201()->add_ops("sep_conv_3x3");
       },
       "search_space.nb201.ops[0]",
       "unknown op \"sep_conv_3x3\" (one of: none, skip_connect, nor_conv_1x1, "
       "nor_conv_3x3, avg_pool_3x3)"},
      {"NegativeNodes", Base::kDarts,
       [](JobSpec* s) { Darts(s)->set_nodes(-1); }, "search_space.darts.nodes",
       "must be in 1..8 (got -1)"},
      {"TooManyNodes", Base::kDarts, [](JobSpec* s) { Darts(s)->set_nodes(9); },
       "search_space.darts.nodes", "must be in 1..8 (got 9)"},
      {"ThreeInputsPerDartsNode", Base::kDarts,
       [](JobSpec* s) { Darts(s)->set_inputs_per_node(3); },
       "search_space.darts.inputs_per_node", "must be in 1..2 (got 3)"},
      {"NegativeCells", Base::kDarts,
       [](JobSpec* s) { Darts(s)->set_cells(-8); }, "search_space.darts.cells",
       "must be > 0 (got -8)"},
      {"ReductionPositionOutOfRange", Base::kDarts,
       [](JobSpec* s) {
         Darts(s)->add_reduction_positions(2);
         Darts(s)->add_reduction_positions(8);
       },
       "search_space.darts.reduction_positions[1]", "must be in 0..7 (got 8)"},
      {"DuplicateReductionPosition", Base::kDarts,
       [](JobSpec* s) {
         Darts(s)->add_reduction_positions(2);
         Darts(s)->add_reduction_positions(2);
       },
       "search_space.darts.reduction_positions[1]", "duplicate position 2"},
      {"ElasticWithoutStages", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_search_space()->mutable_elastic()->clear_stages();
       },
       "search_space.elastic.stages", "must have at least one stage"},
      // Found by tests/fuzz/arch_fuzz_test: widths closer than 1e-9 made the
      // controller encode one as the other.
      {"ElasticDuplicateWidthMultiplier", Base::kElastic,
       [](JobSpec* s) {
         auto* elastic = s->mutable_search_space()->mutable_elastic();
         elastic->clear_width_multipliers();
         elastic->add_width_multipliers(6.2e-25);
         elastic->add_width_multipliers(7.7e-307);
       },
       "search_space.elastic.width_multipliers[1]",
       "duplicates search_space.elastic.width_multipliers[0] (7.7e-307)"},
      // Found by tests/fuzz/arch_fuzz_test: depth 5733631 took the
      // controller seconds and hundreds of MB per encoding.
      {"ElasticDepthTooLarge", Base::kElastic,
       [](JobSpec* s) { Stage(s)->add_depths(5733631); },
       "search_space.elastic.stages[0].depths[2]",
       "must be in 1..64 (got 5733631)"},
      {"ElasticTooManyResolutions", Base::kElastic,
       [](JobSpec* s) {
         for (int r = 1; r <= 1025; ++r) {
           s->mutable_search_space()->mutable_elastic()->add_resolutions(r);
         }
       },
       "search_space.elastic.resolutions",
       "must have at most 1024 entries, got 1027"},
      {"ElasticEmptyDepths", Base::kElastic,
       [](JobSpec* s) { Stage(s)->clear_depths(); },
       "search_space.elastic.stages[0].depths", "must not be empty"},
      {"ElasticNonPositiveExpandRatio", Base::kElastic,
       [](JobSpec* s) { Stage(s)->set_expand_ratios(1, 0); },
       "search_space.elastic.stages[0].expand_ratios[1]",
       "must be > 0 (got 0)"},
      {"ElasticEmptyKernelSizes", Base::kElastic,
       [](JobSpec* s) { Stage(s)->clear_kernel_sizes(); },
       "search_space.elastic.stages[0].kernel_sizes", "must not be empty"},
      {"ElasticEvenKernelSize", Base::kElastic,
       [](JobSpec* s) { Stage(s)->set_kernel_sizes(1, 4); },
       "search_space.elastic.stages[0].kernel_sizes[1]", "must be odd (got 4)"},
      {"ElasticStrideThree", Base::kElastic,
       [](JobSpec* s) { Stage(s)->set_stride(3); },
       "search_space.elastic.stages[0].stride", "must be 1 or 2 (got 3)"},
      {"ElasticWithoutResolutions", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_search_space()->mutable_elastic()->clear_resolutions();
       },
       "search_space.elastic.resolutions", "must not be empty"},
      {"NoStrategy", Base::kDarts, [](JobSpec* s) { s->clear_strategy(); },
       "strategy",
       "must set one of: random, regularized_evolution, pareto_evolution, "
       "reinforce, darts, once_for_all, compound_scaling"},
      {"DartsStrategyOverNb201", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_search_space()->mutable_nb201();
         s->mutable_strategy()->mutable_darts();
         s->mutable_budget()->set_max_trials(2);
       },
       "strategy.darts", "needs the darts search space (got nb201)"},
      {"DartsBudgetNotTwoTrialsPerLatencyWeight", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_darts()->add_latency_weights(0);
         s->mutable_strategy()->mutable_darts()->add_latency_weights(0.5);
       },
       "budget.max_trials",
       "a darts job runs 2 trials per latency weight (a supernet search, then "
       "the retrain of its derived cell): must be 4, got 10"},
      {"OnceForAllOverDarts", Base::kDarts,
       [](JobSpec* s) {
         nas::v1::OnceForAll* ofa = s->mutable_strategy()->mutable_once_for_all();
         ofa->set_epochs_per_phase(1);
         ofa->add_latency_budgets_ms(2);
         ofa->set_subnets_per_budget(9);
       },
       "strategy.once_for_all", "needs the elastic search space (got darts)"},
      {"OnceForAllWithoutBudgets", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_once_for_all()->clear_mac_budgets_m();
       },
       "strategy.once_for_all",
       "needs at least one of mac_budgets_m, latency_budgets_ms"},
      {"OnceForAllBudgetNotOnePlusSubnetsPerBudget", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_once_for_all()->add_latency_budgets_ms(
             3);
       },
       "budget.max_trials",
       "a once_for_all job runs 1 supernet training trial plus "
       "subnets_per_budget subnet trials per budget: must be 19, got 10"},
      {"OnceForAllNonPositiveMacBudget", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_once_for_all()->set_mac_budgets_m(0,
                                                                          -1);
       },
       "strategy.once_for_all.mac_budgets_m[0]", "must be > 0 (got -1)"},
      {"CompoundScalingOverDarts", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling()->set_base_trial_id(
             3);
         s->mutable_budget()->set_max_trials(kDefaultScalingTrials);
       },
       "strategy.compound_scaling",
       "needs the elastic search space (got darts)"},
      {"CompoundScalingWithoutBase", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling();
         s->mutable_budget()->set_max_trials(kDefaultScalingTrials);
       },
       "strategy.compound_scaling",
       "must set one of: base_trial_id, base_architecture"},
      {"CompoundScalingBaseOutsideTheSpace", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling()->MergeFrom(
             Parse(R"(
strategy: {compound_scaling: {base_architecture: {elastic: {
  stages: [{depth: 1, expand_ratios: [3], kernel_sizes: [3]}],
  resolution: 32, width_multiplier: 1.0}}}})")
                 .strategy()
                 .compound_scaling());
         s->mutable_budget()->set_max_trials(kDefaultScalingTrials);
       },
       "strategy.compound_scaling.base_architecture.elastic.resolution",
       "must be one of 24, 28 (got 32)"},
      {"CompoundScalingBudgetNotGridPlusPhis", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling()->set_base_trial_id(
             3);
         s->mutable_strategy()->mutable_compound_scaling()->set_grid_step(
             0.25);
         s->mutable_strategy()->mutable_compound_scaling()->set_tolerance(
             0.15);
       },
       "budget.max_trials",
       "a compound_scaling job runs one trial per grid point (3) and one per "
       "phi = 1..max_phi (3): must be 6, got 10"},
      {"CompoundScalingEmptyGrid", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling()->set_base_trial_id(
             3);
         s->mutable_strategy()->mutable_compound_scaling()->set_grid_step(0.3);
         s->mutable_strategy()->mutable_compound_scaling()->set_tolerance(
             0.01);
       },
       "strategy.compound_scaling.tolerance",
       "no grid point (alpha, beta, gamma >= 1, step 0.3) has "
       "|alpha * beta^2 * gamma^2 - 2| <= 0.01"},
      {"CompoundScalingGridTooFine", Base::kElastic,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_compound_scaling()->set_base_trial_id(
             3);
         s->mutable_strategy()->mutable_compound_scaling()->set_grid_step(
             0.005);
       },
       "strategy.compound_scaling.grid_step",
       "the grid has 79358 points (at most 1000): use a larger grid_step or a "
       "smaller tolerance"},
      {"ParetoWithOneObjective", Base::kDarts,
       [](JobSpec* s) { s->mutable_strategy()->mutable_pareto_evolution(); },
       "strategy.pareto_evolution", "needs at least 2 objectives (got 1)"},
      {"SampleSizeAbovePopulation", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()
             ->mutable_regularized_evolution()
             ->set_sample_size(60);
       },
       "strategy.regularized_evolution.sample_size",
       "must be <= population (got 60 > 50)"},
      {"ParetoSampleSizeAbovePopulation", Base::kDarts,
       [](JobSpec* s) {
         AddObjective(s, "latency");
         s->mutable_strategy()->mutable_pareto_evolution()->set_population(4);
         s->mutable_strategy()->mutable_pareto_evolution()->set_sample_size(5);
       },
       "strategy.pareto_evolution.sample_size",
       "must be <= population (got 5 > 4)"},
      {"NegativePopulation", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_regularized_evolution()->set_population(
             -1);
         s->mutable_strategy()
             ->mutable_regularized_evolution()
             ->set_sample_size(1);
       },
       "strategy.regularized_evolution.population", "must be > 0 (got -1)"},
      {"ReinforceNegativeLearningRate", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_reinforce()->set_learning_rate(-0.1);
       },
       "strategy.reinforce.learning_rate", "must be > 0 (got -0.1)"},
      {"ReinforceBaselineDecayOfOne", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_reinforce()->set_baseline_decay(1.0);
       },
       "strategy.reinforce.baseline_decay", "must be in [0, 1) (got 1)"},
      {"ReinforceNegativeEntropy", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_strategy()->mutable_reinforce()->set_entropy_weight(-1);
       },
       "strategy.reinforce.entropy_weight", "must be >= 0 (got -1)"},
      {"ObjectiveWithoutMetric", Base::kDarts,
       [](JobSpec* s) { s->mutable_objectives(0)->clear_metric(); },
       "objectives[0].metric", "must not be empty"},
      {"ObjectiveWithoutDirection", Base::kDarts,
       [](JobSpec* s) { s->mutable_objectives(0)->clear_direction(); },
       "objectives[0].direction", "must be set (one of: maximize, minimize)"},
      {"DuplicateObjectiveMetric", Base::kDarts,
       [](JobSpec* s) { AddObjective(s, "accuracy"); }, "objectives[1].metric",
       "duplicate metric \"accuracy\" (also objectives[0])"},
      {"NoEvaluation", Base::kDarts, [](JobSpec* s) { s->clear_evaluation(); },
       "evaluation", "must set one of: train, table"},
      {"UnknownDataset", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_dataset("mnist"); },
       "evaluation.train.dataset",
       "unknown dataset \"mnist\" (one of: fashion_mnist, cifar10)"},
      {"Cifar10WithoutDataDir", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_dataset("cifar10"); },
       "evaluation.train.data_dir", "must be set for cifar10"},
      {"NegativeEpochs", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_epochs(-1); }, "evaluation.train.epochs",
       "must be > 0 (got -1)"},
      {"NegativeBatchSize", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_batch_size(-64); },
       "evaluation.train.batch_size", "must be > 0 (got -64)"},
      {"NegativeLearningRate", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_learning_rate(-0.5); },
       "evaluation.train.learning_rate", "must be > 0 (got -0.5)"},
      {"NegativeTrainSubset", Base::kDarts,
       [](JobSpec* s) { Train(s)->set_train_subset(-1); },
       "evaluation.train.train_subset", "must be >= 0 (got -1)"},
      {"ZeroMaxTrials", Base::kDarts,
       [](JobSpec* s) { s->mutable_budget()->clear_max_trials(); },
       "budget.max_trials", "must be > 0 (got 0)"},
      {"NegativeMaxParallel", Base::kDarts,
       [](JobSpec* s) { s->mutable_budget()->set_max_parallel(-1); },
       "budget.max_parallel", "must be >= 0 (got -1)"},
      {"NegativeMaxWallSeconds", Base::kDarts,
       [](JobSpec* s) { s->mutable_budget()->set_max_wall_seconds(-5); },
       "budget.max_wall_seconds", "must be >= 0 (got -5)"},
      {"MedianNegativeMinTrials", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_early_stopping()->mutable_median()->set_min_trials(-1);
       },
       "early_stopping.median.min_trials", "must be > 0 (got -1)"},
      {"AshaReductionFactorOne", Base::kDarts,
       [](JobSpec* s) {
         s->mutable_early_stopping()->mutable_asha()->set_reduction_factor(1);
       },
       "early_stopping.asha.reduction_factor", "must be >= 2 (got 1)"},
      {"NegativeRetryAttempts", Base::kDarts,
       [](JobSpec* s) { s->mutable_retry()->set_max_attempts(-1); },
       "retry.max_attempts", "must be >= 1 (got -1)"},
  };
}

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const BadSpecCase& bad_spec, std::ostream* os) {
  *os << bad_spec.name;
}

class BadSpecTest : public ::testing::TestWithParam<BadSpecCase> {};

TEST_P(BadSpecTest, ReportsOneErrorWithPathAndMessage) {
  JobSpec spec = GetParam().base == Base::kDarts ? ValidSpec() : ElasticSpec();
  GetParam().edit(&spec);
  EXPECT_THAT(ValidateJobSpec(spec),
              ElementsAre(FieldError{GetParam().path, GetParam().message}));
}

INSTANTIATE_TEST_SUITE_P(AllRules, BadSpecTest, ::testing::ValuesIn(BadSpecs()),
                         [](const ::testing::TestParamInfo<BadSpecCase>& info) {
                           return info.param.name;
                         });

TEST(ValidateJobSpecTest, OnceForAllNeedsATrainEvaluation) {
  JobSpec spec = ElasticSpec();
  spec.mutable_evaluation()->mutable_table()->set_path("/nonexistent.csv");
  EXPECT_THAT(ValidateJobSpec(spec),
              ::testing::Contains(FieldError{
                  "evaluation",
                  "strategy once_for_all needs evaluation.train (a supernet "
                  "cannot be looked up in a table)"}));
}

TEST(ValidateJobSpecTest, DartsNeedsATrainEvaluation) {
  JobSpec spec = ValidSpec();
  spec.mutable_strategy()->mutable_darts();
  spec.mutable_budget()->set_max_trials(2);
  spec.mutable_evaluation()->mutable_table()->set_path("/nonexistent.csv");
  EXPECT_THAT(ValidateJobSpec(spec),
              ::testing::Contains(FieldError{
                  "evaluation",
                  "strategy darts needs evaluation.train (a supernet cannot "
                  "be looked up in a table)"}));
}

TEST(ValidateJobSpecTest, NotANumberFailsEveryNumericCheck) {
  JobSpec spec = ValidSpec();
  spec.mutable_strategy()->mutable_reinforce()->set_learning_rate(std::nan(""));
  EXPECT_THAT(ValidateJobSpec(spec),
              ElementsAre(FieldError{"strategy.reinforce.learning_rate",
                                     "must be > 0 (got nan)"}));
}

// ---------------------------------------------------------------- tables

constexpr char kHeader[] =
    "arch_index,arch,cifar10_valid_12ep,cifar10_test_12ep,params_m_cifar10,"
    "latency_pixel3,latency_1080ti_1";
constexpr char kColumns[] =
    "arch_index, arch, cifar10_valid_12ep, cifar10_test_12ep, "
    "params_m_cifar10, "
    "latency_pixel3, latency_1080ti_1";

class TableTest : public ::testing::Test {
 protected:
  // Writes `contents` to a file in the test's temporary directory.
  std::string WriteCsv(const std::string& name, const std::string& contents) {
    const std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }

  // ValidSpec() evaluated by the table at `path`, maximizing `metric`.
  static JobSpec TableSpec(const std::string& path, const std::string& metric) {
    JobSpec spec = ValidSpec();
    spec.mutable_evaluation()->mutable_table()->set_path(path);
    spec.mutable_objectives(0)->set_metric(metric);
    return spec;
  }
};

TEST_F(TableTest, ReadsOnlyTheHeaderLine) {
  const std::string path = WriteCsv(
      "good.csv", std::string(kHeader) + "\r\nnot,a,valid,row\n\x01\x02\n");
  EXPECT_THAT(ValidateJobSpec(TableSpec(path, "cifar10_valid_12ep")),
              IsEmpty());
}

TEST_F(TableTest, MissingFileIsAnError) {
  const std::string path = ::testing::TempDir() + "/missing.csv";
  EXPECT_THAT(ValidateJobSpec(TableSpec(path, "cifar10_valid_12ep")),
              ElementsAre(FieldError{
                  "evaluation.table.path",
                  "cannot read \"" + path + "\": No such file or directory"}));
}

TEST_F(TableTest, DirectoryIsAnError) {
  const std::string path = ::testing::TempDir();
  EXPECT_THAT(
      ValidateJobSpec(TableSpec(path, "cifar10_valid_12ep")),
      ElementsAre(FieldError{"evaluation.table.path",
                             "cannot read \"" + path + "\": is a directory"}));
}

TEST_F(TableTest, EmptyFileIsAnError) {
  const std::string path = WriteCsv("empty.csv", "");
  EXPECT_THAT(
      ValidateJobSpec(TableSpec(path, "cifar10_valid_12ep")),
      ElementsAre(FieldError{"evaluation.table.path",
                             "\"" + path + "\" has no CSV header line"}));
}

// The path may name any file: reading the header stops after 64 KiB
// (before, /dev/zero made the validation read until memory ran out).
TEST_F(TableTest, EndlessFileIsAnError) {
  EXPECT_THAT(
      ValidateJobSpec(TableSpec("/dev/zero", "cifar10_valid_12ep")),
      ElementsAre(FieldError{
          "evaluation.table.path",
          "\"/dev/zero\": no CSV header line in its first 65536 bytes"}));
}

TEST_F(TableTest, MissingArchColumnIsAnError) {
  const std::string path = WriteCsv("arch.csv", std::string(kHeader) + "\n");
  JobSpec spec = TableSpec(path, "cifar10_valid_12ep");
  spec.mutable_evaluation()->mutable_table()->set_arch_column("genotype");
  EXPECT_THAT(
      ValidateJobSpec(spec),
      ElementsAre(FieldError{"evaluation.table.arch_column",
                             "no column \"genotype\" in the CSV header of \"" +
                                 path + "\" (columns: " + kColumns + ")"}));
}

TEST_F(TableTest, MissingMetricColumnIsAnError) {
  const std::string path = WriteCsv("metric.csv", std::string(kHeader) + "\n");
  JobSpec spec = TableSpec(path, "cifar10_valid_12ep");
  spec.mutable_evaluation()->mutable_table()->add_metric_columns(
      "cifar10_valid_12ep");
  spec.mutable_evaluation()->mutable_table()->add_metric_columns("flops");
  EXPECT_THAT(
      ValidateJobSpec(spec),
      ElementsAre(FieldError{"evaluation.table.metric_columns[1]",
                             "no column \"flops\" in the CSV header of \"" +
                                 path + "\" (columns: " + kColumns + ")"}));
}

TEST_F(TableTest, ObjectiveMetricMustBeAColumn) {
  const std::string path =
      WriteCsv("objective.csv", std::string(kHeader) + "\n");
  EXPECT_THAT(
      ValidateJobSpec(TableSpec(path, "accuracy")),
      ElementsAre(FieldError{"objectives[0].metric",
                             "no column \"accuracy\" in the CSV header of \"" +
                                 path + "\" (columns: " + kColumns + ")"}));
}

TEST_F(TableTest, ObjectiveMetricMustBeAmongTheMetricColumns) {
  const std::string path = WriteCsv("chosen.csv", std::string(kHeader) + "\n");
  JobSpec spec = TableSpec(path, "cifar10_valid_12ep");
  spec.mutable_evaluation()->mutable_table()->add_metric_columns(
      "latency_pixel3");
  EXPECT_THAT(ValidateJobSpec(spec),
              ElementsAre(FieldError{"objectives[0].metric",
                                     "\"cifar10_valid_12ep\" is not in "
                                     "evaluation.table.metric_columns"}));
}

TEST_F(TableTest, QuotedHeaderWithByteOrderMarkIsRead) {
  const std::string path =
      WriteCsv("quoted.csv", "\xEF\xBB\xBF\"arch\", \"acc\"\n");
  EXPECT_THAT(ValidateJobSpec(TableSpec(path, "acc")), IsEmpty());
}

}  // namespace
}  // namespace nas::spec
