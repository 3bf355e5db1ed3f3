// ValidateJobSpec of job_spec.h: every rule the proto comments state, checked
// on a copy of the spec with defaults applied.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/spec/job_spec.h"
#include "common/task/compound_scaling_task.h"

namespace nas::spec {
namespace {

using ::google::protobuf::RepeatedField;
using ::google::protobuf::RepeatedPtrField;

constexpr size_t kMaxNameLength = 63;
constexpr const char* kDatasets[] = {"fashion_mnist", "cifar10"};
// Compound scaling: the finest grid step and the most grid trials accepted.
constexpr double kMinGridStep = 0.001;
constexpr int64_t kMaxGridPoints = 1000;
// Longest CSV header line of a table evaluation.
constexpr size_t kMaxHeaderBytes = 1 << 16;
// Bounds of an elastic space (the controller's encoding of it stays small).
constexpr int kMaxElasticStages = 64;
constexpr int kMaxElasticDepth = 64;
constexpr int kMaxElasticChoices = 1024;

std::string Sub(absl::string_view path, absl::string_view field) {
  return absl::StrCat(path, ".", field);
}

std::string At(absl::string_view path, int index) {
  return absl::StrCat(path, "[", index, "]");
}

// Member names of a oneof, e.g. "darts, nb201, elastic".
std::string OneofChoices(const google::protobuf::Descriptor* type,
                         const std::string& oneof_name) {
  const google::protobuf::OneofDescriptor* oneof =
      type->FindOneofByName(oneof_name);
  std::vector<std::string> names;
  for (int i = 0; oneof != nullptr && i < oneof->field_count(); ++i) {
    names.push_back(oneof->field(i)->name());
  }
  return absl::StrJoin(names, ", ");
}

std::string SpaceName(const nas::v1::SearchSpace& space) {
  switch (space.space_case()) {
    case nas::v1::SearchSpace::kDarts:
      return "darts";
    case nas::v1::SearchSpace::kNb201:
      return "nb201";
    case nas::v1::SearchSpace::kElastic:
      return "elastic";
    case nas::v1::SearchSpace::SPACE_NOT_SET:
      break;
  }
  return "none";
}

// Paths are quoted whole: a shortened path would not say which file.
std::string QuotePath(const std::string& path) {
  return absl::StrCat("\"", absl::CHexEscape(path), "\"");
}

bool IsNameStart(char c) {
  return absl::ascii_islower(c) || absl::ascii_isdigit(c);
}

bool IsValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || !IsNameStart(name[0])) {
    return false;
  }
  for (char c : name) {
    if (!IsNameStart(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// The column names of the CSV file's header line (the only line read).
absl::StatusOr<std::vector<std::string>> ReadCsvHeader(
    const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", QuotePath(path), ": is a directory"));
  }
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", QuotePath(path),
                                            ": ", std::strerror(errno)));
  }
  // At most kMaxHeaderBytes: the path may name anything, e.g. /dev/zero.
  std::string line;
  char c;
  while (line.size() < kMaxHeaderBytes && in.get(c) && c != '\n') {
    line.push_back(c);
  }
  if (line.size() == kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuotePath(path), ": no CSV header line in its first ",
                     kMaxHeaderBytes, " bytes"));
  }
  if (absl::StripAsciiWhitespace(line).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(QuotePath(path), " has no CSV header line"));
  }
  absl::string_view header = line;
  absl::ConsumePrefix(&header, "\xEF\xBB\xBF");  // UTF-8 byte order mark.
  std::vector<std::string> columns;
  for (absl::string_view column : absl::StrSplit(header, ',')) {
    column = absl::StripAsciiWhitespace(column);
    if (column.size() >= 2 && column.front() == '"' && column.back() == '"') {
      column = column.substr(1, column.size() - 2);
    }
    columns.emplace_back(column);
  }
  return columns;
}

class Validator {
 public:
  std::vector<FieldError> Run(const nas::v1::JobSpec& spec) {
    spec_ = &spec;
    CheckName(spec.name());
    CheckSearchSpace(spec.search_space());
    CheckStrategy(spec.strategy());
    CheckObjectives(spec.objectives());
    CheckEvaluation(spec.evaluation());
    CheckBudget(spec.budget());
    CheckEarlyStopping(spec.early_stopping());
    AtLeast("retry.max_attempts", spec.retry().max_attempts(), 1);
    AtLeast("retry.max_lease_expirations", spec.retry().max_lease_expirations(),
            1);
    for (const auto& [key, value] : spec.labels()) {
      if (key.empty()) Error("labels", "keys must not be empty");
    }
    return std::move(errors_);
  }

 private:
  void Error(std::string path, std::string message) {
    errors_.push_back(FieldError{std::move(path), std::move(message)});
  }

  void OneofNotSet(const std::string& path,
                   const google::protobuf::Descriptor* type,
                   const std::string& oneof_name) {
    Error(path,
          absl::StrCat("must set one of: ", OneofChoices(type, oneof_name)));
  }

  // Written as !(a > b) so that NaN fails every check.
  template <typename T>
  void Positive(const std::string& path, T value) {
    if (!(value > 0))
      Error(path, absl::StrCat("must be > 0 (got ", value, ")"));
  }
  template <typename T>
  void NonNegative(const std::string& path, T value) {
    if (!(value >= 0))
      Error(path, absl::StrCat("must be >= 0 (got ", value, ")"));
  }
  template <typename T>
  void AtLeast(const std::string& path, T value, T min) {
    if (!(value >= min)) {
      Error(path, absl::StrCat("must be >= ", min, " (got ", value, ")"));
    }
  }
  template <typename T>
  void InRange(const std::string& path, T value, T min, T max) {
    if (!(value >= min && value <= max)) {
      Error(path,
            absl::StrCat("must be in ", min, "..", max, " (got ", value, ")"));
    }
  }
  void AtMostChoices(const std::string& path, int size) {
    if (size > kMaxElasticChoices) {
      Error(path, absl::StrCat("must have at most ", kMaxElasticChoices,
                               " entries, got ", size));
    }
  }
  // In [0, 1): a decay or momentum.
  void Fraction(const std::string& path, double value) {
    if (!(value >= 0 && value < 1)) {
      Error(path, absl::StrCat("must be in [0, 1) (got ", value, ")"));
    }
  }
  template <typename T>
  void PositiveEach(const std::string& path, const RepeatedField<T>& values) {
    for (int i = 0; i < values.size(); ++i) Positive(At(path, i), values[i]);
  }
  template <typename T>
  void PositiveList(const std::string& path, const RepeatedField<T>& values) {
    if (values.empty()) Error(path, "must not be empty");
    PositiveEach(path, values);
  }
  template <typename T>
  void NonNegativeList(const std::string& path,
                       const RepeatedField<T>& values) {
    for (int i = 0; i < values.size(); ++i) NonNegative(At(path, i), values[i]);
  }
  template <typename T>
  void OneOf(const std::string& path, T value,
             const RepeatedField<T>& allowed) {
    for (T a : allowed) {
      if (a == value) return;
    }
    Error(path, absl::StrCat("must be one of ", absl::StrJoin(allowed, ", "),
                             " (got ", value, ")"));
  }

  void CheckName(const std::string& name) {
    if (!IsValidName(name)) {
      Error("name", absl::StrCat("must be 1-63 characters of [a-z0-9-_.], "
                                 "starting with a letter or digit (got ",
                                 QuoteValue(name), ")"));
    }
  }

  void CheckOps(const std::string& path,
                const RepeatedPtrField<std::string>& ops,
                const std::vector<std::string>& valid) {
    std::set<std::string> seen;
    for (int i = 0; i < ops.size(); ++i) {
      if (std::find(valid.begin(), valid.end(), ops[i]) == valid.end()) {
        Error(At(path, i),
              absl::StrCat("unknown op ", QuoteValue(ops[i]),
                           " (one of: ", absl::StrJoin(valid, ", "), ")"));
      } else if (!seen.insert(ops[i]).second) {
        Error(At(path, i), absl::StrCat("duplicate op ", QuoteValue(ops[i])));
      }
    }
  }

  void CheckSearchSpace(const nas::v1::SearchSpace& space) {
    switch (space.space_case()) {
      case nas::v1::SearchSpace::kDarts:
        CheckDartsSpace("search_space.darts", space.darts());
        break;
      case nas::v1::SearchSpace::kNb201: {
        const std::string path = "search_space.nb201";
        CheckOps(Sub(path, "ops"), space.nb201().ops(), Nb201Ops());
        Positive(Sub(path, "cells_per_stage"), space.nb201().cells_per_stage());
        Positive(Sub(path, "init_channels"), space.nb201().init_channels());
        break;
      }
      case nas::v1::SearchSpace::kElastic:
        CheckElasticSpace("search_space.elastic", space.elastic());
        break;
      case nas::v1::SearchSpace::SPACE_NOT_SET:
        OneofNotSet("search_space", nas::v1::SearchSpace::descriptor(),
                    "space");
        break;
    }
  }

  void CheckDartsSpace(const std::string& path,
                       const nas::v1::DartsCellSpace& darts) {
    CheckOps(Sub(path, "ops"), darts.ops(), DartsOps());
    InRange(Sub(path, "nodes"), darts.nodes(), 1, 8);
    // The first node can only draw on the two cell inputs.
    InRange(Sub(path, "inputs_per_node"), darts.inputs_per_node(), 1, 2);
    Positive(Sub(path, "cells"), darts.cells());
    Positive(Sub(path, "init_channels"), darts.init_channels());
    std::set<int> seen;
    const std::string positions = Sub(path, "reduction_positions");
    for (int i = 0; i < darts.reduction_positions_size(); ++i) {
      const int position = darts.reduction_positions(i);
      if (darts.cells() > 0 && (position < 0 || position >= darts.cells())) {
        InRange(At(positions, i), position, 0, darts.cells() - 1);
      } else if (!seen.insert(position).second) {
        Error(At(positions, i), absl::StrCat("duplicate position ", position));
      }
    }
  }

  void CheckElasticSpace(const std::string& path,
                         const nas::v1::ElasticSpace& space) {
    Positive(Sub(path, "stem_channels"), space.stem_channels());
    const std::string stages = Sub(path, "stages");
    if (space.stages().empty()) Error(stages, "must have at least one stage");
    if (space.stages_size() > kMaxElasticStages) {
      Error(stages, absl::StrCat("must have at most ", kMaxElasticStages,
                                 " stages, got ", space.stages_size()));
      return;
    }
    for (int i = 0; i < space.stages_size(); ++i) {
      const nas::v1::ElasticStage& stage = space.stages(i);
      const std::string stage_path = At(stages, i);
      Positive(Sub(stage_path, "channels"), stage.channels());
      if (stage.stride() != 1 && stage.stride() != 2) {
        Error(Sub(stage_path, "stride"),
              absl::StrCat("must be 1 or 2 (got ", stage.stride(), ")"));
      }
      const std::string depths = Sub(stage_path, "depths");
      if (stage.depths().empty()) Error(depths, "must not be empty");
      for (int d = 0; d < stage.depths_size(); ++d) {
        InRange(At(depths, d), stage.depths(d), 1, kMaxElasticDepth);
      }
      PositiveList(Sub(stage_path, "expand_ratios"), stage.expand_ratios());
      const std::string kernels = Sub(stage_path, "kernel_sizes");
      PositiveList(kernels, stage.kernel_sizes());
      AtMostChoices(depths, stage.depths_size());
      AtMostChoices(Sub(stage_path, "expand_ratios"),
                    stage.expand_ratios_size());
      AtMostChoices(kernels, stage.kernel_sizes_size());
      for (int k = 0; k < stage.kernel_sizes_size(); ++k) {
        const int size = stage.kernel_sizes(k);
        if (size > 0 && size % 2 == 0) {
          Error(At(kernels, k), absl::StrCat("must be odd (got ", size, ")"));
        }
      }
    }
    PositiveList(Sub(path, "resolutions"), space.resolutions());
    AtMostChoices(Sub(path, "resolutions"), space.resolutions_size());
    AtMostChoices(Sub(path, "width_multipliers"),
                  space.width_multipliers_size());
    const std::string widths_path = Sub(path, "width_multipliers");
    const RepeatedField<double>& widths = space.width_multipliers();
    PositiveList(widths_path, widths);
    // The controller tells a genotype's width apart within 1e-9.
    for (int i = 0; i < widths.size(); ++i) {
      for (int j = 0; j < i; ++j) {
        if (std::abs(widths[i] - widths[j]) < 1e-9) {
          Error(At(widths_path, i),
                absl::StrCat("duplicates ", At(widths_path, j), " (",
                             widths[i], ")"));
          break;
        }
      }
    }
  }

  // A base genotype of compound scaling must be a point of the elastic space.
  void CheckElasticGenotype(const std::string& path,
                            const nas::v1::Architecture& architecture) {
    if (!architecture.has_elastic()) {
      Error(path, "must be an elastic genotype (set \"elastic\")");
      return;
    }
    const nas::v1::ElasticSpace& space = spec_->search_space().elastic();
    const nas::v1::ElasticGenotype& genotype = architecture.elastic();
    const std::string genotype_path = Sub(path, "elastic");
    const std::string stages = Sub(genotype_path, "stages");
    if (genotype.stages_size() != space.stages_size()) {
      Error(stages, absl::StrCat("must have one entry per search space stage (",
                                 space.stages_size(), "), got ",
                                 genotype.stages_size()));
      return;
    }
    for (int i = 0; i < genotype.stages_size(); ++i) {
      const nas::v1::ElasticStageChoice& choice = genotype.stages(i);
      const nas::v1::ElasticStage& stage = space.stages(i);
      const std::string stage_path = At(stages, i);
      OneOf(Sub(stage_path, "depth"), choice.depth(), stage.depths());
      CheckChoices(Sub(stage_path, "expand_ratios"), choice.depth(),
                   choice.expand_ratios(), stage.expand_ratios());
      CheckChoices(Sub(stage_path, "kernel_sizes"), choice.depth(),
                   choice.kernel_sizes(), stage.kernel_sizes());
    }
    OneOf(Sub(genotype_path, "resolution"), genotype.resolution(),
          space.resolutions());
    OneOf(Sub(genotype_path, "width_multiplier"), genotype.width_multiplier(),
          space.width_multipliers());
  }

  // One allowed value per active block.
  void CheckChoices(const std::string& path, int depth,
                    const RepeatedField<int32_t>& values,
                    const RepeatedField<int32_t>& allowed) {
    if (values.size() != depth) {
      Error(path, absl::StrCat("must have one entry per block (depth ", depth,
                               "), got ", values.size()));
      return;
    }
    for (int i = 0; i < values.size(); ++i)
      OneOf(At(path, i), values[i], allowed);
  }

  // Strategies tied to one search space.
  void RequireSpace(const std::string& path,
                    nas::v1::SearchSpace::SpaceCase space) {
    const nas::v1::SearchSpace& actual = spec_->search_space();
    if (actual.space_case() == space) return;
    nas::v1::SearchSpace wanted;
    if (space == nas::v1::SearchSpace::kDarts) wanted.mutable_darts();
    if (space == nas::v1::SearchSpace::kElastic) wanted.mutable_elastic();
    Error(path, absl::StrCat("needs the ", SpaceName(wanted),
                             " search space (got ", SpaceName(actual), ")"));
  }

  template <typename Evolution>
  void CheckEvolution(const std::string& path, const Evolution& evolution) {
    Positive(Sub(path, "population"), evolution.population());
    const std::string sample = Sub(path, "sample_size");
    Positive(sample, evolution.sample_size());
    if (evolution.population() > 0 &&
        evolution.sample_size() > evolution.population()) {
      Error(sample,
            absl::StrCat("must be <= population (got ", evolution.sample_size(),
                         " > ", evolution.population(), ")"));
    }
  }

  void CheckStrategy(const nas::v1::Strategy& strategy) {
    switch (strategy.kind_case()) {
      case nas::v1::Strategy::kRandom:
        break;
      case nas::v1::Strategy::kRegularizedEvolution:
        CheckEvolution("strategy.regularized_evolution",
                       strategy.regularized_evolution());
        break;
      case nas::v1::Strategy::kParetoEvolution: {
        const std::string path = "strategy.pareto_evolution";
        CheckEvolution(path, strategy.pareto_evolution());
        if (spec_->objectives_size() < 2) {
          Error(path, absl::StrCat("needs at least 2 objectives (got ",
                                   spec_->objectives_size(), ")"));
        }
        break;
      }
      case nas::v1::Strategy::kReinforce: {
        const std::string path = "strategy.reinforce";
        const nas::v1::Reinforce& reinforce = strategy.reinforce();
        Positive(Sub(path, "learning_rate"), reinforce.learning_rate());
        Fraction(Sub(path, "baseline_decay"), reinforce.baseline_decay());
        NonNegative(Sub(path, "entropy_weight"), reinforce.entropy_weight());
        break;
      }
      case nas::v1::Strategy::kDarts: {
        const std::string path = "strategy.darts";
        const nas::v1::Darts& darts = strategy.darts();
        RequireSpace(path, nas::v1::SearchSpace::kDarts);
        Positive(Sub(path, "search_epochs"), darts.search_epochs());
        Positive(Sub(path, "arch_learning_rate"), darts.arch_learning_rate());
        NonNegative(Sub(path, "arch_weight_decay"), darts.arch_weight_decay());
        NonNegative(Sub(path, "skip_decay"), darts.skip_decay());
        NonNegative(Sub(path, "max_skips"), darts.max_skips());
        NonNegativeList(Sub(path, "latency_weights"), darts.latency_weights());
        // One supernet search plus one retrain per latency weight.
        const int64_t trials =
            2 * std::max(1, darts.latency_weights_size());
        if (spec_->budget().max_trials() > 0 &&
            spec_->budget().max_trials() != trials) {
          Error("budget.max_trials",
                absl::StrCat("a darts job runs 2 trials per latency weight "
                             "(a supernet search, then the retrain of its "
                             "derived cell): must be ",
                             trials, ", got ", spec_->budget().max_trials()));
        }
        if (spec_->evaluation().has_table()) {
          Error("evaluation", "strategy darts needs evaluation.train (a "
                              "supernet cannot be looked up in a table)");
        }
        break;
      }
      case nas::v1::Strategy::kOnceForAll: {
        const std::string path = "strategy.once_for_all";
        const nas::v1::OnceForAll& ofa = strategy.once_for_all();
        RequireSpace(path, nas::v1::SearchSpace::kElastic);
        Positive(Sub(path, "epochs_per_phase"), ofa.epochs_per_phase());
        PositiveEach(Sub(path, "mac_budgets_m"), ofa.mac_budgets_m());
        PositiveEach(Sub(path, "latency_budgets_ms"), ofa.latency_budgets_ms());
        Positive(Sub(path, "subnets_per_budget"), ofa.subnets_per_budget());
        const int budgets =
            ofa.mac_budgets_m_size() + ofa.latency_budgets_ms_size();
        if (budgets == 0) {
          Error(path, "needs at least one of mac_budgets_m, latency_budgets_ms");
        }
        // One supernet training, then subnets_per_budget per budget.
        const int64_t trials =
            1 + static_cast<int64_t>(budgets) * ofa.subnets_per_budget();
        if (budgets > 0 && ofa.subnets_per_budget() > 0 &&
            spec_->budget().max_trials() > 0 &&
            spec_->budget().max_trials() != trials) {
          Error("budget.max_trials",
                absl::StrCat("a once_for_all job runs 1 supernet training "
                             "trial plus subnets_per_budget subnet trials per "
                             "budget: must be ",
                             trials, ", got ", spec_->budget().max_trials()));
        }
        if (spec_->evaluation().has_table()) {
          Error("evaluation", "strategy once_for_all needs evaluation.train (a "
                              "supernet cannot be looked up in a table)");
        }
        break;
      }
      case nas::v1::Strategy::kCompoundScaling:
        CheckCompoundScaling("strategy.compound_scaling",
                             strategy.compound_scaling());
        break;
      case nas::v1::Strategy::KIND_NOT_SET:
        OneofNotSet("strategy", nas::v1::Strategy::descriptor(), "kind");
        break;
    }
  }

  void CheckCompoundScaling(const std::string& path,
                            const nas::v1::CompoundScaling& scaling) {
    RequireSpace(path, nas::v1::SearchSpace::kElastic);
    switch (scaling.base_case()) {
      case nas::v1::CompoundScaling::kBaseTrialId:
        Positive(Sub(path, "base_trial_id"), scaling.base_trial_id());
        break;
      case nas::v1::CompoundScaling::kBaseArchitecture:
        if (spec_->search_space().has_elastic()) {
          CheckElasticGenotype(Sub(path, "base_architecture"),
                               scaling.base_architecture());
        }
        break;
      case nas::v1::CompoundScaling::BASE_NOT_SET:
        OneofNotSet(path, nas::v1::CompoundScaling::descriptor(), "base");
        break;
    }
    AtLeast(Sub(path, "max_phi"), scaling.max_phi(), 1);
    Positive(Sub(path, "tolerance"), scaling.tolerance());
    Positive(Sub(path, "grid_step"), scaling.grid_step());
    if (!(scaling.tolerance() > 0) || !(scaling.grid_step() > 0) ||
        scaling.max_phi() < 1) {
      return;
    }
    // Guard the count below against absurdly fine grids.
    if (scaling.grid_step() < kMinGridStep) {
      Error(Sub(path, "grid_step"),
            absl::StrCat("must be >= ", kMinGridStep, " (got ",
                         scaling.grid_step(), ")"));
      return;
    }
    const int64_t points = nas::task::ScalingGridSize(scaling.grid_step(),
                                                      scaling.tolerance());
    if (points == 0) {
      Error(Sub(path, "tolerance"),
            absl::StrCat("no grid point (alpha, beta, gamma >= 1, step ",
                         scaling.grid_step(),
                         ") has |alpha * beta^2 * gamma^2 - 2| <= ",
                         scaling.tolerance()));
      return;
    }
    if (points > kMaxGridPoints) {
      Error(Sub(path, "grid_step"),
            absl::StrCat("the grid has ", points, " points (at most ",
                         kMaxGridPoints,
                         "): use a larger grid_step or a smaller tolerance"));
      return;
    }
    // One trial per grid point, then one per phi = 1..max_phi.
    const int64_t trials = points + scaling.max_phi();
    if (spec_->budget().max_trials() > 0 &&
        spec_->budget().max_trials() != trials) {
      Error("budget.max_trials",
            absl::StrCat("a compound_scaling job runs one trial per grid "
                         "point (", points, ") and one per phi = 1..max_phi (",
                         scaling.max_phi(), "): must be ", trials, ", got ",
                         spec_->budget().max_trials()));
    }
    if (spec_->evaluation().has_table()) {
      Error("evaluation", "strategy compound_scaling needs evaluation.train "
                          "(a scaled network cannot be looked up in a table)");
    }
  }

  void CheckObjectives(const RepeatedPtrField<nas::v1::Objective>& objectives) {
    if (objectives.empty())
      Error("objectives", "must have at least one objective");
    std::map<std::string, int> first_index;
    for (int i = 0; i < objectives.size(); ++i) {
      const nas::v1::Objective& objective = objectives[i];
      const std::string path = At("objectives", i);
      if (objective.metric().empty()) {
        Error(Sub(path, "metric"), "must not be empty");
      } else if (const auto [it, inserted] =
                     first_index.emplace(objective.metric(), i);
                 !inserted) {
        Error(Sub(path, "metric"),
              absl::StrCat("duplicate metric ", QuoteValue(objective.metric()),
                           " (also objectives[", it->second, "])"));
      }
      if (objective.direction() != nas::v1::MAXIMIZE &&
          objective.direction() != nas::v1::MINIMIZE) {
        Error(Sub(path, "direction"),
              "must be set (one of: maximize, minimize)");
      }
      if (objective.has_target())
        Positive(Sub(path, "target"), objective.target());
      if (objective.has_weight() && !std::isfinite(objective.weight())) {
        Error(Sub(path, "weight"), "must be a finite number");
      }
    }
  }

  void CheckEvaluation(const nas::v1::Evaluation& evaluation) {
    switch (evaluation.kind_case()) {
      case nas::v1::Evaluation::kTrain:
        CheckTrain("evaluation.train", evaluation.train());
        break;
      case nas::v1::Evaluation::kTable:
        CheckTable("evaluation.table", evaluation.table());
        break;
      case nas::v1::Evaluation::KIND_NOT_SET:
        OneofNotSet("evaluation", nas::v1::Evaluation::descriptor(), "kind");
        break;
    }
  }

  void CheckTrain(const std::string& path,
                  const nas::v1::TrainEvaluation& train) {
    const std::string datasets = absl::StrJoin(kDatasets, ", ");
    if (train.dataset().empty()) {
      Error(Sub(path, "dataset"),
            absl::StrCat("must be set (one of: ", datasets, ")"));
    } else if (std::find(std::begin(kDatasets), std::end(kDatasets),
                         train.dataset()) == std::end(kDatasets)) {
      Error(Sub(path, "dataset"),
            absl::StrCat("unknown dataset ", QuoteValue(train.dataset()),
                         " (one of: ", datasets, ")"));
    }
    if (train.dataset() == "cifar10" && train.data_dir().empty()) {
      Error(Sub(path, "data_dir"), "must be set for cifar10");
    }
    Positive(Sub(path, "epochs"), train.epochs());
    Positive(Sub(path, "batch_size"), train.batch_size());
    Positive(Sub(path, "learning_rate"), train.learning_rate());
    NonNegative(Sub(path, "train_subset"), train.train_subset());
    NonNegative(Sub(path, "channels"), train.channels());
    NonNegative(Sub(path, "cells"), train.cells());
    Fraction(Sub(path, "momentum"), train.momentum());
    NonNegative(Sub(path, "weight_decay"), train.weight_decay());
    NonNegative(Sub(path, "validation_size"), train.validation_size());
  }

  void CheckTable(const std::string& path,
                  const nas::v1::TableEvaluation& table) {
    NonNegative(Sub(path, "simulated_seconds"), table.simulated_seconds());
    if (table.path().empty()) {
      Error(Sub(path, "path"), "must be set");
      return;
    }
    absl::StatusOr<std::vector<std::string>> header =
        ReadCsvHeader(table.path());
    if (!header.ok()) {
      Error(Sub(path, "path"), std::string(header.status().message()));
      return;
    }
    const std::set<std::string> columns(header->begin(), header->end());
    const auto require_column = [&](const std::string& field_path,
                                    const std::string& column) {
      if (columns.count(column) > 0) return;
      Error(field_path,
            absl::StrCat("no column ", QuoteValue(column),
                         " in the CSV header of ", QuotePath(table.path()),
                         " (columns: ", absl::StrJoin(*header, ", "), ")"));
    };
    require_column(Sub(path, "arch_column"), table.arch_column());
    for (int i = 0; i < table.metric_columns_size(); ++i) {
      require_column(At(Sub(path, "metric_columns"), i),
                     table.metric_columns(i));
    }
    const std::set<std::string> metrics(table.metric_columns().begin(),
                                        table.metric_columns().end());
    for (int i = 0; i < spec_->objectives_size(); ++i) {
      const std::string& metric = spec_->objectives(i).metric();
      if (metric.empty()) continue;  // Reported with the objectives.
      const std::string metric_path = Sub(At("objectives", i), "metric");
      require_column(metric_path, metric);
      if (!metrics.empty() && columns.count(metric) > 0 &&
          metrics.count(metric) == 0) {
        Error(metric_path,
              absl::StrCat(QuoteValue(metric),
                           " is not in evaluation.table.metric_columns"));
      }
    }
  }

  void CheckBudget(const nas::v1::Budget& budget) {
    Positive("budget.max_trials", budget.max_trials());
    NonNegative("budget.max_parallel", budget.max_parallel());
    NonNegative("budget.max_wall_seconds", budget.max_wall_seconds());
  }

  void CheckEarlyStopping(const nas::v1::EarlyStopping& stopping) {
    if (stopping.has_median()) {
      Positive("early_stopping.median.min_trials",
               stopping.median().min_trials());
      Positive("early_stopping.median.start_step",
               stopping.median().start_step());
    }
    if (stopping.has_asha()) {
      Positive("early_stopping.asha.min_resource",
               stopping.asha().min_resource());
      AtLeast("early_stopping.asha.reduction_factor",
              stopping.asha().reduction_factor(), 2);
    }
  }

  const nas::v1::JobSpec* spec_ = nullptr;
  std::vector<FieldError> errors_;
};

}  // namespace

std::vector<FieldError> ValidateJobSpec(const nas::v1::JobSpec& spec) {
  nas::v1::JobSpec completed = spec;
  ApplyDefaults(&completed);
  return Validator().Run(completed);
}

}  // namespace nas::spec
