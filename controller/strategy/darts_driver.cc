#include "controller/strategy/darts_driver.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/spec/job_spec.h"
#include "common/status_macros.h"
#include "common/task/darts_task.h"
#include "controller/strategy/driver_state.pb.h"

namespace nas::strategy {
namespace {

constexpr char kSearchPrefix[] = "darts_search:";
constexpr char kKind[] = "darts";

std::vector<std::string> OpsOf(const nas::v1::SearchSpace& space) {
  const auto& ops = space.darts().ops();
  if (ops.empty()) return nas::spec::DartsOps();
  return std::vector<std::string>(ops.begin(), ops.end());
}

}  // namespace

DartsDriver::DartsDriver(const nas::v1::JobSpec& spec,
                         std::unique_ptr<Space> space)
    : search_space_(spec.search_space()),
      ops_(OpsOf(spec.search_space())),
      space_(std::move(space)) {
  nas::v1::Darts darts = spec.strategy().darts();
  std::vector<double> weights(darts.latency_weights().begin(),
                              darts.latency_weights().end());
  if (weights.empty()) weights.push_back(0.0);
  for (double lambda : weights) {
    configs_.push_back(nas::task::DartsSearchConfig(darts, lambda));
  }
  stages_.resize(configs_.size());
}

absl::StatusOr<std::unique_ptr<DartsDriver>> DartsDriver::Create(
    const nas::v1::JobSpec& spec, std::unique_ptr<Space> space) {
  if (!spec.strategy().has_darts()) {
    return absl::InvalidArgumentError("strategy: not darts");
  }
  if (!spec.search_space().has_darts() || space == nullptr ||
      space->kind() != "darts") {
    return absl::InvalidArgumentError(
        "strategy.darts: needs search_space.darts");
  }
  return std::unique_ptr<DartsDriver>(new DartsDriver(spec, std::move(space)));
}

nas::v1::Architecture DartsDriver::SearchArchitecture(int index) const {
  nas::v1::Architecture arch;
  arch.set_canonical(absl::StrCat(kSearchPrefix, configs_[index]));
  arch.set_hash(HashToHex(Fingerprint(arch.canonical())));
  return arch;
}

absl::StatusOr<nas::v1::Architecture> DartsDriver::Suggest() {
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i].status == kNew) {
      stages_[i].status = kSearching;
      return SearchArchitecture(static_cast<int>(i));
    }
  }
  bool searching = false;
  for (StageState& stage : stages_) {
    if (stage.status == kDerived) {
      stage.status = kRetraining;
      return stage.derived;
    }
    searching = searching || stage.status == kSearching;
  }
  if (searching) {
    return absl::UnavailableError("waiting for DARTS supernet trials");
  }
  return absl::ResourceExhaustedError(
      "every DARTS search and retrain was suggested");
}

absl::Status DartsDriver::Observe(const nas::v1::Architecture& arch,
                                  const Result& result) {
  if (absl::StartsWith(arch.canonical(), kSearchPrefix)) {
    for (size_t i = 0; i < stages_.size(); ++i) {
      StageState& stage = stages_[i];
      if (stage.status != kSearching ||
          SearchArchitecture(static_cast<int>(i)).hash() != arch.hash()) {
        continue;
      }
      // `failed` with metrics only means "no objective": a search reports
      // supernet metrics, not the job's objectives.
      if (result.failed && result.metrics.empty()) {
        stage.status = kFailed;
        return absl::OkStatus();
      }
      absl::StatusOr<nas::v1::CellGenotype> genotype =
          nas::task::DecodeDerivedGenotype(result.metrics, ops_);
      nas::v1::Architecture derived;
      if (genotype.ok()) {
        *derived.mutable_cell() = *std::move(genotype);
        absl::StatusOr<nas::v1::Architecture> canonical =
            Canonicalize(search_space_, derived);
        if (!canonical.ok()) {
          stage.status = kFailed;
          return canonical.status();
        }
        stage.derived = *std::move(canonical);
        stage.status = kDerived;
        return absl::OkStatus();
      }
      stage.status = kFailed;
      return genotype.status();
    }
    return absl::OkStatus();  // a search this driver no longer waits for
  }
  for (StageState& stage : stages_) {
    if (stage.status == kRetraining && stage.derived.hash() == arch.hash()) {
      stage.status = kDone;
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status DartsDriver::MarkSeen(const nas::v1::Architecture& arch) {
  if (absl::StartsWith(arch.canonical(), kSearchPrefix)) {
    return absl::OkStatus();
  }
  return Canonicalize(search_space_, arch).status();
}

absl::Status DartsDriver::ForgetSeen(const nas::v1::Architecture& arch) {
  return MarkSeen(arch);
}

std::string DartsDriver::SaveState() const {
  DartsDriverState state;
  state.set_kind(kKind);
  for (const StageState& stage : stages_) {
    DartsStageState* saved = state.add_stages();
    saved->set_status(stage.status);
    if (stage.status >= kDerived && stage.status <= kDone) {
      *saved->mutable_derived() = stage.derived;
    }
  }
  return state.SerializeAsString();
}

absl::Status DartsDriver::RestoreState(absl::string_view bytes) {
  DartsDriverState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      state.kind() != kKind ||
      state.stages_size() != static_cast<int>(stages_.size())) {
    return absl::InvalidArgumentError(
        "not a saved state of this DARTS driver");
  }
  for (const DartsStageState& saved : state.stages()) {
    if (saved.status() < kNew || saved.status() > kFailed) {
      return absl::InvalidArgumentError(
          absl::StrCat("DARTS driver state: bad stage status ", saved.status()));
    }
  }
  for (int i = 0; i < state.stages_size(); ++i) {
    stages_[i].status = static_cast<Stage>(state.stages(i).status());
    stages_[i].derived = state.stages(i).derived();
  }
  return absl::OkStatus();
}

TrialTask DartsDriver::Task(const nas::v1::Architecture& arch) const {
  if (!absl::StartsWith(arch.canonical(), kSearchPrefix)) return {};
  return {nas::task::kDartsSearch,
          arch.canonical().substr(sizeof(kSearchPrefix) - 1)};
}

}  // namespace nas::strategy
