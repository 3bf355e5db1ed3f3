// SummarizeJobSpec of job_spec.h.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/spec/job_spec.h"

namespace nas::spec {
namespace {

// "1 epoch", "3 epochs".
std::string Count(int64_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

std::string StrategySummary(const nas::v1::Strategy& strategy) {
  switch (strategy.kind_case()) {
    case nas::v1::Strategy::kRandom:
      return "random";
    case nas::v1::Strategy::kRegularizedEvolution:
      return absl::StrCat(
          "regularized_evolution(population=",
          strategy.regularized_evolution().population(),
          ", sample=", strategy.regularized_evolution().sample_size(), ")");
    case nas::v1::Strategy::kParetoEvolution:
      return absl::StrCat("pareto_evolution(population=",
                          strategy.pareto_evolution().population(), ", sample=",
                          strategy.pareto_evolution().sample_size(), ")");
    case nas::v1::Strategy::kReinforce:
      return absl::StrCat("reinforce(lr=", strategy.reinforce().learning_rate(),
                          ")");
    case nas::v1::Strategy::kDarts:
      return absl::StrCat(
          "darts(search_epochs=", strategy.darts().search_epochs(), ")");
    case nas::v1::Strategy::kOnceForAll: {
      const nas::v1::OnceForAll& ofa = strategy.once_for_all();
      return absl::StrCat(
          "once_for_all(",
          Count(ofa.mac_budgets_m_size() + ofa.latency_budgets_ms_size(),
                "budget"),
          ")");
    }
    case nas::v1::Strategy::kCompoundScaling:
      return absl::StrCat("compound_scaling(max_phi=",
                          strategy.compound_scaling().max_phi(), ")");
    case nas::v1::Strategy::KIND_NOT_SET:
      break;
  }
  return "no strategy";
}

std::string SpaceSummary(const nas::v1::SearchSpace& space) {
  switch (space.space_case()) {
    case nas::v1::SearchSpace::kDarts:
      return absl::StrCat("darts cells (",
                          Count(space.darts().ops_size(), "op"), ", ",
                          Count(space.darts().nodes(), "node"), ")");
    case nas::v1::SearchSpace::kNb201:
      return absl::StrCat("nb201 cells (",
                          Count(space.nb201().ops_size(), "op"), ")");
    case nas::v1::SearchSpace::kElastic:
      return absl::StrCat(
          "elastic space (", Count(space.elastic().stages_size(), "stage"),
          ", ", Count(space.elastic().resolutions_size(), "resolution"), ")");
    case nas::v1::SearchSpace::SPACE_NOT_SET:
      break;
  }
  return "no search space";
}

std::string ObjectivesSummary(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives) {
  std::vector<std::string> parts;
  for (const nas::v1::Objective& objective : objectives) {
    parts.push_back(absl::StrCat(
        objective.metric(),
        objective.direction() == nas::v1::MINIMIZE ? " min" : " max"));
  }
  return absl::StrCat(Count(objectives.size(), "objective"), " (",
                      absl::StrJoin(parts, ", "), ")");
}

std::string EvaluationSummary(const nas::v1::Evaluation& evaluation) {
  switch (evaluation.kind_case()) {
    case nas::v1::Evaluation::kTrain:
      return absl::StrCat("train ", evaluation.train().dataset(), " ",
                          Count(evaluation.train().epochs(), "epoch"));
    case nas::v1::Evaluation::kTable:
      return absl::StrCat(
          "table ",
          std::filesystem::path(evaluation.table().path()).filename().string());
    case nas::v1::Evaluation::KIND_NOT_SET:
      break;
  }
  return "no evaluation";
}

}  // namespace

std::string SummarizeJobSpec(const nas::v1::JobSpec& spec) {
  nas::v1::JobSpec completed = spec;
  ApplyDefaults(&completed);
  return absl::StrCat("ok: job \"", completed.name(),
                      "\": ", StrategySummary(completed.strategy()), " over ",
                      SpaceSummary(completed.search_space()), ", ",
                      ObjectivesSummary(completed.objectives()), ", ",
                      EvaluationSummary(completed.evaluation()), ", budget ",
                      Count(completed.budget().max_trials(), "trial"));
}

}  // namespace nas::spec
