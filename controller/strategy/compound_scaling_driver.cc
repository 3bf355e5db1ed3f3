#include "controller/strategy/compound_scaling_driver.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/strategy/driver_state.pb.h"

namespace nas::strategy {
namespace {

constexpr char kPrefix[] = "compound_scaling:";
constexpr char kKind[] = "compound_scaling";

}  // namespace

CompoundScalingDriver::CompoundScalingDriver(
    nas::v1::ElasticGenotype base,
    std::vector<nas::task::ScalingCoefficients> grid, int max_phi,
    Objectives objectives, std::unique_ptr<Space> space)
    : base_(std::move(base)),
      grid_(std::move(grid)),
      max_phi_(max_phi),
      objectives_(std::move(objectives)),
      space_(std::move(space)),
      grid_status_(grid_.size(), kNew),
      grid_reward_(grid_.size(), 0.0),
      scale_status_(max_phi_, kNew) {}

absl::StatusOr<std::unique_ptr<CompoundScalingDriver>>
CompoundScalingDriver::Create(const nas::v1::JobSpec& spec,
                              std::unique_ptr<Space> space) {
  if (!spec.strategy().has_compound_scaling()) {
    return absl::InvalidArgumentError("strategy: not compound_scaling");
  }
  const nas::v1::CompoundScaling& scaling = spec.strategy().compound_scaling();
  if (!spec.search_space().has_elastic() || space == nullptr ||
      space->kind() != "elastic") {
    return absl::InvalidArgumentError(
        "strategy.compound_scaling: needs search_space.elastic");
  }
  if (scaling.has_base_trial_id()) {
    return absl::UnimplementedError(
        "strategy.compound_scaling.base_trial_id: not resolved to a genotype "
        "(CreateJob does so when the controller can look trials up); give "
        "base_architecture");
  }
  if (!scaling.base_architecture().has_elastic()) {
    return absl::InvalidArgumentError(
        "strategy.compound_scaling.base_architecture: must be an elastic "
        "genotype");
  }
  // The base must be a point of the space (validated specs always are).
  RETURN_IF_ERROR(space->Encode(scaling.base_architecture()).status());
  if (scaling.max_phi() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy.compound_scaling.max_phi: must be >= 1, got ",
        scaling.max_phi()));
  }
  std::vector<nas::task::ScalingCoefficients> grid =
      nas::task::ScalingGrid(scaling.grid_step(), scaling.tolerance());
  if (grid.empty()) {
    return absl::InvalidArgumentError(
        "strategy.compound_scaling.tolerance: no grid point of grid_step "
        "meets |alpha * beta^2 * gamma^2 - 2| <= tolerance");
  }
  // Every trial's scaled genotype must be buildable.
  for (const nas::task::ScalingCoefficients& c : grid) {
    RETURN_IF_ERROR(nas::task::ScaleGenotype(
                        scaling.base_architecture().elastic(), c,
                        scaling.max_phi())
                        .status());
  }
  ASSIGN_OR_RETURN(Objectives objectives, Objectives::Create(spec.objectives()));
  return std::unique_ptr<CompoundScalingDriver>(new CompoundScalingDriver(
      scaling.base_architecture().elastic(), std::move(grid),
      scaling.max_phi(), std::move(objectives), std::move(space)));
}

nas::v1::Architecture CompoundScalingDriver::Make(
    const nas::task::ScaledTrainConfig& config) const {
  nas::v1::Architecture arch;
  // Create() checked that every grid point scales at every phi.
  *arch.mutable_elastic() =
      *nas::task::ScaleGenotype(base_, config.coefficients, config.phi);
  const nas::task::ScalingCoefficients& c = config.coefficients;
  arch.set_canonical(absl::StrCat(
      kPrefix, config.scale_phase ? "scale" : "grid", ";a=", c.alpha,
      ";b=", c.beta, ";g=", c.gamma, ";phi=", config.phi, ";",
      nas::task::ElasticCanonical(arch.elastic())));
  arch.set_hash(HashToHex(Fingerprint(arch.canonical())));
  return arch;
}

nas::v1::Architecture CompoundScalingDriver::GridArchitecture(int index) const {
  return Make({false, grid_[index], 1});
}

nas::v1::Architecture CompoundScalingDriver::ScaleArchitecture(int phi) const {
  return Make({true, grid_[best_], phi});
}

bool CompoundScalingDriver::ChooseBest() {
  if (best_ >= 0) return true;
  for (size_t i = 0; i < grid_.size(); ++i) {
    if (grid_status_[i] == kDone &&
        (best_ < 0 || grid_reward_[i] > grid_reward_[best_])) {
      best_ = static_cast<int>(i);
    }
  }
  return best_ >= 0;
}

absl::StatusOr<nas::v1::Architecture> CompoundScalingDriver::Suggest() {
  bool outstanding = false;
  for (size_t i = 0; i < grid_.size(); ++i) {
    if (grid_status_[i] == kNew) {
      grid_status_[i] = kSuggested;
      return GridArchitecture(static_cast<int>(i));
    }
    outstanding = outstanding || grid_status_[i] == kSuggested;
  }
  if (outstanding) {
    return absl::UnavailableError("waiting for the compound-scaling grid");
  }
  if (!ChooseBest()) {
    return absl::ResourceExhaustedError(
        "every compound-scaling grid trial failed: nothing to scale");
  }
  for (int phi = 1; phi <= max_phi_; ++phi) {
    if (scale_status_[phi - 1] == kNew) {
      scale_status_[phi - 1] = kSuggested;
      return ScaleArchitecture(phi);
    }
  }
  return absl::ResourceExhaustedError(
      "every compound-scaling grid point and phi was suggested");
}

absl::Status CompoundScalingDriver::Observe(const nas::v1::Architecture& arch,
                                            const Result& result) {
  const bool succeeded =
      !result.failed && result.values.size() == objectives_.size();
  const Status status = succeeded ? kDone : kFailed;
  for (size_t i = 0; i < grid_.size(); ++i) {
    if (grid_status_[i] == kSuggested &&
        GridArchitecture(static_cast<int>(i)).hash() == arch.hash()) {
      grid_status_[i] = status;
      if (succeeded) grid_reward_[i] = objectives_.Reward(result.values);
      return absl::OkStatus();
    }
  }
  if (best_ >= 0) {
    for (int phi = 1; phi <= max_phi_; ++phi) {
      if (scale_status_[phi - 1] == kSuggested &&
          ScaleArchitecture(phi).hash() == arch.hash()) {
        scale_status_[phi - 1] = status;
        return absl::OkStatus();
      }
    }
  }
  return absl::OkStatus();  // a trial this driver no longer waits for
}

absl::Status CompoundScalingDriver::MarkSeen(const nas::v1::Architecture& arch) {
  if (!absl::StartsWith(arch.canonical(), kPrefix) || !arch.has_elastic()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture: not a compound-scaling trial: ", arch.canonical()));
  }
  return absl::OkStatus();
}

absl::Status CompoundScalingDriver::ForgetSeen(
    const nas::v1::Architecture& arch) {
  return MarkSeen(arch);
}

std::string CompoundScalingDriver::SaveState() const {
  CompoundScalingDriverState state;
  state.set_kind(kKind);
  for (size_t i = 0; i < grid_.size(); ++i) {
    state.add_grid_status(grid_status_[i]);
    state.add_grid_reward(grid_reward_[i]);
  }
  state.set_best(best_);
  for (Status status : scale_status_) state.add_scale_status(status);
  return state.SerializeAsString();
}

absl::Status CompoundScalingDriver::RestoreState(absl::string_view bytes) {
  CompoundScalingDriverState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      state.kind() != kKind ||
      state.grid_status_size() != static_cast<int>(grid_.size()) ||
      state.grid_reward_size() != static_cast<int>(grid_.size()) ||
      state.scale_status_size() != max_phi_ || state.best() < -1 ||
      state.best() >= static_cast<int>(grid_.size())) {
    return absl::InvalidArgumentError(
        "not a saved state of this compound-scaling driver");
  }
  auto valid = [](int status) { return status >= kNew && status <= kFailed; };
  for (int status : state.grid_status()) {
    if (!valid(status)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "compound-scaling driver state: bad grid status ", status));
    }
  }
  for (int status : state.scale_status()) {
    if (!valid(status)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "compound-scaling driver state: bad scale status ", status));
    }
  }
  for (size_t i = 0; i < grid_.size(); ++i) {
    grid_status_[i] = static_cast<Status>(state.grid_status(i));
    grid_reward_[i] = state.grid_reward(i);
  }
  best_ = state.best();
  for (int phi = 0; phi < max_phi_; ++phi) {
    scale_status_[phi] = static_cast<Status>(state.scale_status(phi));
  }
  return absl::OkStatus();
}

TrialTask CompoundScalingDriver::Task(const nas::v1::Architecture& arch) const {
  if (!absl::StartsWith(arch.canonical(), kPrefix)) return {};
  // The config is a function of the canonical string: parse it back.
  absl::string_view rest(arch.canonical());
  rest.remove_prefix(sizeof(kPrefix) - 1);
  nas::task::ScaledTrainConfig config;
  config.scale_phase = absl::StartsWith(rest, "scale;");
  for (size_t i = 0; i < grid_.size(); ++i) {
    for (int phi = 1; phi <= max_phi_; ++phi) {
      if (!config.scale_phase && phi > 1) break;
      nas::task::ScaledTrainConfig candidate{config.scale_phase, grid_[i], phi};
      if (Make(candidate).hash() == arch.hash()) {
        return {nas::task::kScaledTrain,
                nas::task::ScaledTrainConfigJson(candidate)};
      }
    }
  }
  return {nas::task::kScaledTrain, ""};
}

}  // namespace nas::strategy
