// ApplyDefaults and the op lists of job_spec.h. Each default is the one the
// proto comments document; a zero (proto3's "unset") takes it.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "common/spec/job_spec.h"

namespace nas::spec {
namespace {

template <typename T>
struct NonDeduced {
  using type = T;
};

// Sets a scalar field to `value` when it is zero (proto3's "unset"), e.g.
// Default(darts, &DartsCellSpace::nodes, &DartsCellSpace::set_nodes, 4).
template <typename Message, typename T>
void Default(Message* message, T (Message::*get)() const,
             void (Message::*set)(T), typename NonDeduced<T>::type value) {
  if ((message->*get)() == T{}) (message->*set)(value);
}

void DefaultOps(const std::vector<std::string>& ops,
                google::protobuf::RepeatedPtrField<std::string>* field) {
  if (field->empty()) field->Add(ops.begin(), ops.end());
}

void ApplySearchSpaceDefaults(nas::v1::SearchSpace* space) {
  if (space->has_darts()) {
    using M = nas::v1::DartsCellSpace;
    M* darts = space->mutable_darts();
    DefaultOps(DartsOps(), darts->mutable_ops());
    Default(darts, &M::nodes, &M::set_nodes, 4);
    Default(darts, &M::inputs_per_node, &M::set_inputs_per_node, 2);
    Default(darts, &M::cells, &M::set_cells, 8);
    Default(darts, &M::init_channels, &M::set_init_channels, 16);
    const int64_t cells =
        darts->cells();  // 64 bits: 2 * cells must not overflow.
    if (darts->reduction_positions().empty() && cells > 0) {
      const int first = static_cast<int>(cells / 3);
      const int second = static_cast<int>(2 * cells / 3);
      darts->add_reduction_positions(first);
      // Fewer than three cells: both thirds may be the same position.
      if (second != first) darts->add_reduction_positions(second);
    }
  }
  if (space->has_nb201()) {
    using M = nas::v1::Nb201CellSpace;
    M* nb201 = space->mutable_nb201();
    DefaultOps(Nb201Ops(), nb201->mutable_ops());
    Default(nb201, &M::cells_per_stage, &M::set_cells_per_stage, 5);
    Default(nb201, &M::init_channels, &M::set_init_channels, 16);
  }
  if (space->has_elastic() && space->elastic().width_multipliers().empty()) {
    space->mutable_elastic()->add_width_multipliers(1.0);
  }
}

// Tournament defaults never exceed an explicitly smaller population.
template <typename M>
void ApplyEvolutionDefaults(int sample_size, M* evolution) {
  Default(evolution, &M::population, &M::set_population, 50);
  if (evolution->population() > 0) {
    sample_size = std::min(sample_size, evolution->population());
  }
  Default(evolution, &M::sample_size, &M::set_sample_size, sample_size);
}

void ApplyStrategyDefaults(nas::v1::Strategy* strategy) {
  switch (strategy->kind_case()) {
    case nas::v1::Strategy::kRegularizedEvolution:
      ApplyEvolutionDefaults(10, strategy->mutable_regularized_evolution());
      break;
    case nas::v1::Strategy::kParetoEvolution:
      ApplyEvolutionDefaults(20, strategy->mutable_pareto_evolution());
      break;
    case nas::v1::Strategy::kReinforce: {
      using M = nas::v1::Reinforce;
      M* reinforce = strategy->mutable_reinforce();
      Default(reinforce, &M::learning_rate, &M::set_learning_rate, 0.1);
      // Optional fields: an explicit 0 is a valid choice, only unset defaults.
      if (!reinforce->has_baseline_decay()) reinforce->set_baseline_decay(0.9);
      if (!reinforce->has_entropy_weight()) reinforce->set_entropy_weight(1e-4);
      break;
    }
    case nas::v1::Strategy::kDarts: {
      using M = nas::v1::Darts;
      M* darts = strategy->mutable_darts();
      Default(darts, &M::search_epochs, &M::set_search_epochs, 10);
      Default(darts, &M::arch_learning_rate, &M::set_arch_learning_rate, 3e-4);
      Default(darts, &M::arch_weight_decay, &M::set_arch_weight_decay, 1e-3);
      if (!darts->has_max_skips()) darts->set_max_skips(2);
      if (darts->latency_weights().empty()) darts->add_latency_weights(0.0);
      break;
    }
    case nas::v1::Strategy::kOnceForAll: {
      using M = nas::v1::OnceForAll;
      Default(strategy->mutable_once_for_all(), &M::subnets_per_budget,
              &M::set_subnets_per_budget, 200);
      break;
    }
    case nas::v1::Strategy::kCompoundScaling: {
      using M = nas::v1::CompoundScaling;
      M* scaling = strategy->mutable_compound_scaling();
      Default(scaling, &M::max_phi, &M::set_max_phi, 3);
      Default(scaling, &M::tolerance, &M::set_tolerance, 0.1);
      Default(scaling, &M::grid_step, &M::set_grid_step, 0.05);
      break;
    }
    case nas::v1::Strategy::kRandom:
    case nas::v1::Strategy::KIND_NOT_SET:
      break;
  }
}

void ApplyEvaluationDefaults(nas::v1::Evaluation* evaluation) {
  if (evaluation->has_train()) {
    using M = nas::v1::TrainEvaluation;
    M* train = evaluation->mutable_train();
    Default(train, &M::epochs, &M::set_epochs, 1);
    Default(train, &M::batch_size, &M::set_batch_size, 64);
    Default(train, &M::learning_rate, &M::set_learning_rate, 0.025);
    Default(train, &M::momentum, &M::set_momentum, 0.9);
    Default(train, &M::weight_decay, &M::set_weight_decay, 3e-4);
    if (train->dataset() == "fashion_mnist") {
      Default(train, &M::validation_size, &M::set_validation_size, 10000);
    } else if (train->dataset() == "cifar10") {
      Default(train, &M::validation_size, &M::set_validation_size, 5000);
    }
  }
  if (evaluation->has_table()) {
    nas::v1::TableEvaluation* table = evaluation->mutable_table();
    if (table->arch_column().empty()) table->set_arch_column("arch");
  }
}

}  // namespace

const std::vector<std::string>& DartsOps() {
  static const auto* const ops = new std::vector<std::string>{
      "none",         "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
      "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3"};
  return *ops;
}

const std::vector<std::string>& Nb201Ops() {
  static const auto* const ops = new std::vector<std::string>{
      "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  return *ops;
}

void ApplyDefaults(nas::v1::JobSpec* spec) {
  if (spec->has_search_space()) {
    ApplySearchSpaceDefaults(spec->mutable_search_space());
  }
  if (spec->has_strategy()) ApplyStrategyDefaults(spec->mutable_strategy());
  for (nas::v1::Objective& objective : *spec->mutable_objectives()) {
    if (objective.has_target() && !objective.has_weight()) {
      objective.set_weight(-0.07);
    }
  }
  if (spec->has_evaluation())
    ApplyEvaluationDefaults(spec->mutable_evaluation());
  if (spec->early_stopping().has_median()) {
    using M = nas::v1::MedianStopping;
    M* median = spec->mutable_early_stopping()->mutable_median();
    Default(median, &M::min_trials, &M::set_min_trials, 5);
    Default(median, &M::start_step, &M::set_start_step, 1);
  }
  if (spec->early_stopping().has_asha()) {
    using M = nas::v1::Asha;
    M* asha = spec->mutable_early_stopping()->mutable_asha();
    Default(asha, &M::min_resource, &M::set_min_resource, 1);
    Default(asha, &M::reduction_factor, &M::set_reduction_factor, 3);
  }
  using M = nas::v1::RetryPolicy;
  M* retry = spec->mutable_retry();
  Default(retry, &M::max_attempts, &M::set_max_attempts, 3);
  Default(retry, &M::max_lease_expirations, &M::set_max_lease_expirations, 10);
}

}  // namespace nas::spec
