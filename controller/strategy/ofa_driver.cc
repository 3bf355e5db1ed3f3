#include "controller/strategy/ofa_driver.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/task/ofa_task.h"
#include "controller/strategy/driver_state.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace nas::strategy {
namespace {

constexpr char kTrainPrefix[] = "ofa_train:";
constexpr char kSubnetPrefix[] = "ofa_subnet:";
constexpr char kKind[] = "once_for_all";
// Draws (samples or mutations) per suggestion before a budget gives up.
constexpr int kMaxDraws = 256;
// Mutations of a parent tried before an over-budget child is shrunk.
constexpr int kMutationTries = 8;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Bytes identifying the supernet: the space, the evaluation (dataset,
// recipe, seed) and the phase length. Deterministic, so equal specs give
// equal keys in every process.
std::string SupernetKey(const nas::v1::JobSpec& spec) {
  nas::v1::JobSpec material;
  *material.mutable_search_space() = spec.search_space();
  *material.mutable_evaluation() = spec.evaluation();
  material.mutable_strategy()->mutable_once_for_all()->set_epochs_per_phase(
      spec.strategy().once_for_all().epochs_per_phase());
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    material.SerializeToCodedStream(&coded);
  }
  return HashToHex(Fingerprint(bytes));
}

double Metric(const std::map<std::string, double>& metrics,
              const std::string& name) {
  const auto it = metrics.find(name);
  return it == metrics.end() ? kNaN : it->second;
}

// a dominates b on (accuracy up, cost down); NaN costs never dominate.
bool Dominates(double acc_a, double cost_a, double acc_b, double cost_b) {
  return acc_a >= acc_b && cost_a <= cost_b &&
         (acc_a > acc_b || cost_a < cost_b);
}

void SaveSubnet(const OfaDriver::Subnet& s, OfaSubnetState* out) {
  for (int16_t v : s.encoding) out->add_encoding(v);
  out->set_accuracy(s.accuracy);
  out->set_macs(s.macs);
  out->set_latency_ms(s.latency_ms);
}

}  // namespace

OfaDriver::OfaDriver(const nas::v1::JobSpec& spec, std::string key,
                     std::vector<Budget> budgets, int in_channels,
                     int image_size, std::unique_ptr<Space> space)
    : elastic_(spec.search_space().elastic()),
      key_(std::move(key)),
      budgets_(std::move(budgets)),
      epochs_per_phase_(spec.strategy().once_for_all().epochs_per_phase()),
      in_channels_(in_channels),
      image_size_(image_size),
      population_(std::clamp(
          spec.strategy().once_for_all().subnets_per_budget() / 4, 2, 32)),
      tournament_(std::max(2, population_ / 4)),
      space_(std::move(space)),
      rng_(spec.strategy().seed()),
      state_(budgets_.size()) {
  for (BudgetState& b : state_) {
    b.quota = spec.strategy().once_for_all().subnets_per_budget();
  }
}

absl::StatusOr<std::unique_ptr<OfaDriver>> OfaDriver::Create(
    const nas::v1::JobSpec& spec, std::unique_ptr<Space> space) {
  if (!spec.strategy().has_once_for_all()) {
    return absl::InvalidArgumentError("strategy: not once_for_all");
  }
  const nas::v1::OnceForAll& ofa = spec.strategy().once_for_all();
  const std::string path = "strategy.once_for_all";
  if (!spec.search_space().has_elastic() || space == nullptr ||
      space->kind() != "elastic") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": needs search_space.elastic"));
  }
  if (!spec.evaluation().has_train()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": needs evaluation.train (a supernet is trained)"));
  }
  const std::string& dataset = spec.evaluation().train().dataset();
  if (dataset != "fashion_mnist" && dataset != "cifar10") {
    return absl::InvalidArgumentError(absl::StrCat(
        "evaluation.train.dataset: unknown dataset '", dataset, "'"));
  }
  const int in_channels = dataset == "cifar10" ? 3 : 1;
  const int image_size = dataset == "cifar10" ? 32 : 28;
  if (ofa.epochs_per_phase() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".epochs_per_phase: must be >= 1"));
  }
  if (ofa.subnets_per_budget() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ".subnets_per_budget: must be >= 1"));
  }
  const int64_t smallest =
      nas::task::ElasticMacs(spec.search_space().elastic(),
                             nas::task::SmallestSubnet(
                                 spec.search_space().elastic()),
                             in_channels, image_size);
  std::vector<Budget> budgets;
  for (int i = 0; i < ofa.mac_budgets_m_size(); ++i) {
    const double limit = ofa.mac_budgets_m(i) * 1e6;
    if (!(limit >= smallest)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".mac_budgets_m[", i, "]: ", ofa.mac_budgets_m(i),
          "M is below the smallest subnet's ", smallest / 1e6, "M MACs"));
    }
    budgets.push_back({false, limit});
  }
  for (int i = 0; i < ofa.latency_budgets_ms_size(); ++i) {
    if (!(ofa.latency_budgets_ms(i) > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ".latency_budgets_ms[", i, "]: must be > 0"));
    }
    budgets.push_back({true, ofa.latency_budgets_ms(i)});
  }
  if (budgets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": needs at least one of mac_budgets_m, latency_budgets_ms"));
  }
  return std::unique_ptr<OfaDriver>(
      new OfaDriver(spec, SupernetKey(spec), std::move(budgets), in_channels,
                    image_size, std::move(space)));
}

nas::v1::Architecture OfaDriver::TrainArchitecture() const {
  nas::v1::Architecture arch;
  arch.set_canonical(absl::StrCat(kTrainPrefix, key_));
  arch.set_hash(HashToHex(Fingerprint(arch.canonical())));
  return arch;
}

nas::v1::Architecture OfaDriver::SubnetArchitecture(const Encoding& e) const {
  nas::v1::Architecture arch = space_->ToArchitecture(space_->Minimal(e));
  arch.set_canonical(absl::StrCat(kSubnetPrefix, key_, ";", arch.canonical()));
  arch.set_hash(HashToHex(Fingerprint(arch.canonical())));
  return arch;
}

uint64_t OfaDriver::SubnetHash(const Encoding& e) const {
  return Fingerprint(absl::StrCat(kSubnetPrefix, key_, ";",
                                  space_->Canonical(space_->Minimal(e))));
}

int64_t OfaDriver::Macs(const Encoding& e) const {
  return nas::task::ElasticMacs(elastic_, space_->ToArchitecture(e).elastic(),
                                in_channels_, image_size_);
}

bool OfaDriver::Within(const Subnet& s, int budget) const {
  const Budget& b = budgets_[budget];
  return (b.latency ? s.latency_ms : s.macs) <= b.limit;  // false for NaN
}

double OfaDriver::Fitness(const Subnet& s, int budget) const {
  if (Within(s, budget)) return s.accuracy;
  const Budget& b = budgets_[budget];
  const double value = b.latency ? s.latency_ms : s.macs;
  return std::isnan(value) ? -std::numeric_limits<double>::infinity()
                           : -value / b.limit;
}

Encoding OfaDriver::ShrinkToMacs(Encoding e, double limit) {
  nas::v1::Architecture arch = space_->ToArchitecture(e);
  nas::v1::ElasticGenotype& g = *arch.mutable_elastic();
  while (nas::task::ElasticMacs(elastic_, g, in_channels_, image_size_) >
         limit) {
    // Every knob not at its minimum, as a move setting it there.
    std::vector<std::function<void()>> moves;
    for (int s = 0; s < elastic_.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = elastic_.stages(s);
      nas::v1::ElasticStageChoice* choice = g.mutable_stages(s);
      const int min_depth =
          *std::min_element(stage.depths().begin(), stage.depths().end());
      if (choice->depth() > min_depth) {
        moves.push_back([choice, min_depth] {
          choice->set_depth(min_depth);
          choice->mutable_expand_ratios()->Truncate(min_depth);
          choice->mutable_kernel_sizes()->Truncate(min_depth);
        });
      }
      const int min_e = *std::min_element(stage.expand_ratios().begin(),
                                          stage.expand_ratios().end());
      const int min_k = *std::min_element(stage.kernel_sizes().begin(),
                                          stage.kernel_sizes().end());
      for (int b = 0; b < choice->depth(); ++b) {
        if (choice->expand_ratios(b) > min_e) {
          moves.push_back([choice, b, min_e] { choice->set_expand_ratios(b, min_e); });
        }
        if (choice->kernel_sizes(b) > min_k) {
          moves.push_back([choice, b, min_k] { choice->set_kernel_sizes(b, min_k); });
        }
      }
    }
    const int min_r = *std::min_element(elastic_.resolutions().begin(),
                                        elastic_.resolutions().end());
    if (g.resolution() > min_r) {
      moves.push_back([&g, min_r] { g.set_resolution(min_r); });
    }
    if (!elastic_.width_multipliers().empty()) {
      const double min_w =
          *std::min_element(elastic_.width_multipliers().begin(),
                            elastic_.width_multipliers().end());
      if (g.width_multiplier() > min_w) {
        moves.push_back([&g, min_w] { g.set_width_multiplier(min_w); });
      }
    }
    if (moves.empty()) break;  // the smallest subnet (Create checked it fits)
    moves[rng_.Uniform(static_cast<int>(moves.size()))]();
  }
  absl::StatusOr<Encoding> shrunk = space_->Encode(arch);
  return shrunk.ok() ? space_->Minimal(*shrunk) : e;
}

std::optional<Encoding> OfaDriver::Propose(int b) {
  BudgetState& state = state_[b];
  const Budget& budget = budgets_[b];
  for (int draw = 0; draw < kMaxDraws; ++draw) {
    Encoding e;
    if (state.suggested < population_ || state.population.empty()) {
      e = space_->Minimal(space_->Sample(rng_));
    } else {
      // Tournament: the fittest of `tournament_` random members.
      int best = -1;
      for (int i = 0; i < tournament_; ++i) {
        const int pick =
            rng_.Uniform(static_cast<int>(state.population.size()));
        if (best < 0 || Fitness(state.population[pick], b) >
                            Fitness(state.population[best], b)) {
          best = pick;
        }
      }
      for (int t = 0; t < kMutationTries; ++t) {
        e = space_->Minimal(
            space_->Mutate(state.population[best].encoding, rng_));
        if (budget.latency || Macs(e) <= budget.limit) break;
      }
    }
    if (!budget.latency && Macs(e) > budget.limit) {
      e = ShrinkToMacs(std::move(e), budget.limit);
    }
    if (!seen_.contains(SubnetHash(e))) return e;
  }
  return std::nullopt;
}

absl::StatusOr<nas::v1::Architecture> OfaDriver::Suggest() {
  switch (train_status_) {
    case kNew:
      train_status_ = kTraining;
      return TrainArchitecture();
    case kTraining:
      return absl::UnavailableError("waiting for the OFA supernet training");
    case kFailed:
      return absl::FailedPreconditionError(
          "the OFA supernet training trial failed: no subnet can be "
          "evaluated");
    case kTrained:
      break;
  }
  for (size_t b = 0; b < state_.size(); ++b) {
    BudgetState& state = state_[b];
    if (state.suggested >= state.quota) continue;
    if (state.suggested == 0 && state.population.empty()) {
      // Seed with the archive's members within this budget.
      for (const Subnet& s : archive_) {
        if (Within(s, static_cast<int>(b)) &&
            static_cast<int>(state.population.size()) < population_) {
          state.population.push_back(s);
        }
      }
    }
    std::optional<Encoding> e = Propose(static_cast<int>(b));
    if (!e.has_value()) {
      // No new subnet here: the next budget takes the remaining trials.
      if (b + 1 < state_.size()) {
        state_[b + 1].quota += state.quota - state.suggested;
        state.quota = state.suggested;
        continue;
      }
      return absl::ResourceExhaustedError(absl::StrCat(
          "once_for_all: no new subnet found for the last budget after ",
          kMaxDraws, " draws"));
    }
    ++state.suggested;
    const uint64_t hash = SubnetHash(*e);
    seen_.insert(hash);
    pending_[hash] = static_cast<int>(b);
    return SubnetArchitecture(*e);
  }
  return absl::ResourceExhaustedError(
      "once_for_all: every budget's subnets were suggested");
}

int OfaDriver::PendingBudget(const nas::v1::Architecture& arch) const {
  const auto it = pending_.find(Fingerprint(arch.canonical()));
  return it == pending_.end() ? -1 : it->second;
}

void OfaDriver::Archive(const Subnet& s) {
  const bool latency = std::any_of(budgets_.begin(), budgets_.end(),
                                   [](const Budget& b) { return b.latency; });
  archive_.push_back(s);
  std::vector<Subnet> kept;
  for (const Subnet& a : archive_) {
    bool on_macs = true, on_latency = latency && !std::isnan(a.latency_ms);
    for (const Subnet& o : archive_) {
      if (Dominates(o.accuracy, o.macs, a.accuracy, a.macs)) on_macs = false;
      if (on_latency &&
          Dominates(o.accuracy, o.latency_ms, a.accuracy, a.latency_ms)) {
        on_latency = false;
      }
    }
    if (on_macs || on_latency) kept.push_back(a);
  }
  archive_ = std::move(kept);
}

absl::Status OfaDriver::Observe(const nas::v1::Architecture& arch,
                                const Result& result) {
  // `failed` with metrics only means "no objective value": the training
  // trial reports supernet metrics, not the job's objectives.
  const bool failed = result.failed && result.metrics.empty();
  if (arch.canonical() == TrainArchitecture().canonical()) {
    if (train_status_ == kTraining) train_status_ = failed ? kFailed : kTrained;
    return absl::OkStatus();
  }
  if (!absl::StartsWith(arch.canonical(), kSubnetPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture: not a trial of this OFA job: ", arch.canonical()));
  }
  const auto pending = pending_.find(Fingerprint(arch.canonical()));
  if (pending == pending_.end()) return absl::OkStatus();  // not waited for
  const int budget = pending->second;
  pending_.erase(pending);
  const double accuracy = Metric(result.metrics, "accuracy");
  if (failed || std::isnan(accuracy)) {
    // Failed trials do not count against the job's budget: the budget
    // suggests another subnet in its place.
    --state_[budget].suggested;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Encoding e, space_->Encode(arch));
  Subnet s{space_->Minimal(e), accuracy, Metric(result.metrics, "macs"),
           Metric(result.metrics, "latency_ms")};
  std::vector<Subnet>& population = state_[budget].population;
  population.push_back(s);
  if (static_cast<int>(population.size()) > population_) {
    population.erase(population.begin());  // the oldest dies
  }
  Archive(s);
  return absl::OkStatus();
}

absl::Status OfaDriver::MarkSeen(const nas::v1::Architecture& arch) {
  if (absl::StartsWith(arch.canonical(), kTrainPrefix)) {
    return absl::OkStatus();
  }
  if (!absl::StartsWith(arch.canonical(), kSubnetPrefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture: not a trial of this OFA job: ", arch.canonical()));
  }
  seen_.insert(Fingerprint(arch.canonical()));
  return absl::OkStatus();
}

absl::Status OfaDriver::ForgetSeen(const nas::v1::Architecture& arch) {
  if (absl::StartsWith(arch.canonical(), kSubnetPrefix)) {
    seen_.erase(Fingerprint(arch.canonical()));
    return absl::OkStatus();
  }
  return MarkSeen(arch);
}

std::vector<OfaDriver::Subnet> OfaDriver::ParetoSet() const {
  std::vector<Subnet> out = archive_;
  std::sort(out.begin(), out.end(), [](const Subnet& a, const Subnet& b) {
    return a.macs != b.macs ? a.macs < b.macs : a.accuracy > b.accuracy;
  });
  return out;
}

const OfaDriver::Subnet* OfaDriver::BestWithin(int index) const {
  const Subnet* best = nullptr;
  for (const Subnet& s : archive_) {
    if (Within(s, index) && (best == nullptr || s.accuracy > best->accuracy)) {
      best = &s;
    }
  }
  return best;
}

std::string OfaDriver::SaveState() const {
  OfaDriverState state;
  state.set_kind(kKind);
  state.set_key(key_);
  state.set_train_status(train_status_);
  for (uint64_t word : rng_.state()) state.add_rng(word);
  for (const BudgetState& b : state_) {
    OfaBudgetState* saved = state.add_budgets();
    saved->set_quota(b.quota);
    saved->set_suggested(b.suggested);
    for (const Subnet& s : b.population) SaveSubnet(s, saved->add_population());
  }
  for (const Subnet& s : archive_) SaveSubnet(s, state.add_archive());
  for (const auto& [hash, budget] : pending_) {
    state.add_pending_hash(hash);
    state.add_pending_budget(budget);
  }
  return state.SerializeAsString();
}

absl::Status OfaDriver::RestoreState(absl::string_view bytes) {
  OfaDriverState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
      state.kind() != kKind || state.key() != key_ || state.rng_size() != 4 ||
      state.budgets_size() != static_cast<int>(budgets_.size()) ||
      state.pending_hash_size() != state.pending_budget_size() ||
      state.train_status() < kNew || state.train_status() > kFailed) {
    return absl::InvalidArgumentError("not a saved state of this OFA driver");
  }
  const int decisions = space_->num_decisions();
  auto load = [&](const OfaSubnetState& saved, Subnet* s) {
    if (saved.encoding_size() != decisions) return false;
    s->encoding.clear();
    for (int d = 0; d < decisions; ++d) {
      if (saved.encoding(d) < 0 || saved.encoding(d) >= space_->cardinality(d)) {
        return false;
      }
      s->encoding.push_back(static_cast<int16_t>(saved.encoding(d)));
    }
    s->accuracy = saved.accuracy();
    s->macs = saved.macs();
    s->latency_ms = saved.latency_ms();
    return true;
  };
  std::vector<BudgetState> budgets(budgets_.size());
  for (int b = 0; b < state.budgets_size(); ++b) {
    const OfaBudgetState& saved = state.budgets(b);
    budgets[b].quota = saved.quota();
    budgets[b].suggested = saved.suggested();
    for (const OfaSubnetState& member : saved.population()) {
      if (!load(member, &budgets[b].population.emplace_back())) {
        return absl::InvalidArgumentError("OFA driver state: bad population");
      }
    }
  }
  std::vector<Subnet> archive(state.archive_size());
  for (int i = 0; i < state.archive_size(); ++i) {
    if (!load(state.archive(i), &archive[i])) {
      return absl::InvalidArgumentError("OFA driver state: bad archive");
    }
  }
  std::map<uint64_t, int> pending;
  for (int i = 0; i < state.pending_hash_size(); ++i) {
    if (state.pending_budget(i) < 0 ||
        state.pending_budget(i) >= static_cast<int>(budgets_.size())) {
      return absl::InvalidArgumentError("OFA driver state: bad pending budget");
    }
    pending[state.pending_hash(i)] = state.pending_budget(i);
  }
  train_status_ = static_cast<TrainStatus>(state.train_status());
  Rng::State words;
  for (int i = 0; i < 4; ++i) words[i] = state.rng(i);
  rng_.set_state(words);
  state_ = std::move(budgets);
  archive_ = std::move(archive);
  pending_ = std::move(pending);
  return absl::OkStatus();
}

TrialTask OfaDriver::Task(const nas::v1::Architecture& arch) const {
  const std::string checkpoint = nas::task::OfaCheckpointPath(key_);
  if (absl::StartsWith(arch.canonical(), kTrainPrefix)) {
    return {nas::task::kOfaTrain,
            nas::task::OfaTrainConfigJson({epochs_per_phase_, checkpoint})};
  }
  if (absl::StartsWith(arch.canonical(), kSubnetPrefix)) {
    return {nas::task::kOfaSubnet, nas::task::OfaSubnetConfigJson({checkpoint})};
  }
  return {};
}

}  // namespace nas::strategy
