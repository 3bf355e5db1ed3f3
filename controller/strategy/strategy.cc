#include "controller/strategy/strategy.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/strategy/compound_scaling_driver.h"
#include "controller/strategy/darts_driver.h"
#include "controller/strategy/objectives.h"
#include "controller/strategy/ofa_driver.h"
#include "controller/strategy/pareto.h"
#include "controller/strategy/rng.h"
#include "controller/strategy/strategy_state.pb.h"

namespace nas::strategy {
namespace {

using nas::v1::Architecture;

// Attempts of Suggest (a proposal, then retries) before it scans (or gives up
// on) the space.
constexpr int kMaxTries = 100;
// The first attempts are fresh proposals; later ones retry from the last
// duplicate.
constexpr int kFreshProposals = 5;
// Spaces up to this many encodings are scanned when sampling finds nothing.
constexpr uint64_t kMaxScan = uint64_t{1} << 22;

void SaveEncoding(const Encoding& e, google::protobuf::RepeatedField<int32_t>* out) {
  out->Reserve(static_cast<int>(e.size()));
  for (int16_t v : e) out->Add(v);
}

absl::StatusOr<Encoding> LoadEncoding(
    const Space& space, const google::protobuf::RepeatedField<int32_t>& in) {
  if (in.size() != space.num_decisions()) {
    return absl::InvalidArgumentError("state: encoding of the wrong length");
  }
  Encoding e(in.size());
  for (int d = 0; d < in.size(); ++d) {
    if (in[d] < 0 || in[d] >= space.cardinality(d)) {
      return absl::InvalidArgumentError("state: encoding value out of range");
    }
    e[d] = static_cast<int16_t>(in[d]);
  }
  return e;
}

// Dedup, suggestion fallbacks, observation bookkeeping and the common part
// of the state. Subclasses propose encodings and learn from results.
class StrategyBase : public Strategy {
 public:
  StrategyBase(std::string kind, std::unique_ptr<Space> space,
               Objectives objectives, uint64_t seed)
      : kind_(std::move(kind)),
        space_(std::move(space)),
        objectives_(std::move(objectives)),
        rng_(seed) {}

  absl::StatusOr<Architecture> Suggest() final {
    if (exhausted_) return Exhausted();
    Encoding e;
    for (int t = 0; t < kMaxTries; ++t) {
      e = space_->Minimal(t < FreshProposals() ? Propose() : Retry(e));
      std::string canonical;
      if (Claim(e, &canonical)) {
        return space_->ToArchitecture(e, std::move(canonical));
      }
    }
    const uint64_t size = space_->size();
    if (size == 0 || size > kMaxScan) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "no unseen architecture in ", kMaxTries, " draws after ",
          seen_.size(), " distinct architectures"));
    }
    const uint64_t start = rng_.Next() % size;
    for (uint64_t i = 0; i < size; ++i) {
      e = space_->Minimal(space_->Decode((start + i) % size));
      std::string canonical;
      if (Claim(e, &canonical)) {
        return space_->ToArchitecture(e, std::move(canonical));
      }
    }
    exhausted_ = true;
    return Exhausted();
  }

  absl::Status Observe(const Architecture& arch, const Result& result) final {
    ASSIGN_OR_RETURN(Encoding e, space_->Encode(arch));
    if (!result.failed && result.values.size() < objectives_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "result: expected ", objectives_.size(), " objective values, got ",
          result.values.size()));
    }
    std::string canonical;
    Claim(space_->Minimal(e), &canonical);
    if (!result.failed) Learn(e, result.values);
    return absl::OkStatus();
  }

  std::string SaveState() const final {
    StrategyState state;
    state.set_kind(kind_);
    state.set_num_decisions(space_->num_decisions());
    for (uint64_t w : rng_.state()) state.add_rng(w);
    state.set_exhausted(exhausted_);
    SaveExtra(&state);
    return state.SerializeAsString();
  }

  absl::Status RestoreState(absl::string_view bytes) final {
    StrategyState state;
    if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
        state.kind() != kind_ ||
        state.num_decisions() != space_->num_decisions() ||
        state.rng_size() != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("state: not the state of a ", kind_, " strategy over ",
                       space_->kind(), " with ", space_->num_decisions(),
                       " decisions"));
    }
    RETURN_IF_ERROR(RestoreExtra(state));  // Leaves *this as is on error.
    Rng::State words;
    for (int i = 0; i < 4; ++i) words[i] = state.rng(i);
    rng_.set_state(words);
    exhausted_ = state.exhausted();
    return absl::OkStatus();
  }

  absl::Status MarkSeen(const Architecture& arch) final {
    ASSIGN_OR_RETURN(const uint64_t hash, CanonicalHash(arch));
    seen_.insert(hash);
    return absl::OkStatus();
  }

  absl::Status ForgetSeen(const Architecture& arch) final {
    ASSIGN_OR_RETURN(const uint64_t hash, CanonicalHash(arch));
    seen_.erase(hash);
    seen_encodings_.clear();  // A cache of seen_: may now hold `arch`.
    return absl::OkStatus();
  }

  const Space& space() const final { return *space_; }

 protected:
  // An encoding to suggest (possibly one already seen; Suggest retries).
  virtual Encoding Propose() = 0;
  // Attempts of Suggest that call Propose() before it turns to Retry().
  virtual int FreshProposals() const { return kFreshProposals; }
  // The next attempt after `duplicate` was already seen: by default a
  // further mutation of it (a random walk away from explored ground).
  virtual Encoding Retry(const Encoding& duplicate) {
    return space_->Mutate(duplicate, rng_);
  }
  // Learns from the values of a trial that did not fail.
  virtual void Learn(const Encoding& e, const std::vector<double>& values) = 0;
  virtual void SaveExtra(StrategyState* state) const {}
  // Validates and applies the strategy-specific state; on error changes nothing.
  virtual absl::Status RestoreExtra(const StrategyState& state) {
    return absl::OkStatus();
  }

  Rng& rng() { return rng_; }
  const Objectives& objectives() const { return objectives_; }

 private:
  // Marks minimal encoding `e` as seen; true (with its canonical string)
  // if its class was new. A cache of seen minimal encodings skips the
  // canonical string for repeats; it changes no outcome, so it is not part
  // of the saved state.
  bool Claim(const Encoding& e, std::string* canonical) {
    const uint64_t key = Fingerprint(absl::string_view(
        reinterpret_cast<const char*>(e.data()), e.size() * sizeof(e[0])));
    if (!seen_encodings_.insert(key).second) return false;
    *canonical = space_->Canonical(e);
    return seen_.insert(Fingerprint(*canonical)).second;
  }

  // The dedup key of `arch`: the fingerprint of its canonical string.
  absl::StatusOr<uint64_t> CanonicalHash(const Architecture& arch) const {
    if (!arch.canonical().empty()) return Fingerprint(arch.canonical());
    ASSIGN_OR_RETURN(Encoding e, space_->Encode(arch));
    return Fingerprint(space_->Canonical(space_->Minimal(e)));
  }

  absl::Status Exhausted() const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "search space exhausted: all ", seen_.size(),
        " distinct architectures were suggested"));
  }

  const std::string kind_;
  const std::unique_ptr<Space> space_;
  const Objectives objectives_;
  Rng rng_;
  absl::flat_hash_set<uint64_t> seen_;  // Canonical hashes.
  absl::flat_hash_set<uint64_t> seen_encodings_;  // Cache, see Claim().
  bool exhausted_ = false;
};

// ------------------------------------------------------------ random search

class RandomSearch : public StrategyBase {
 public:
  using StrategyBase::StrategyBase;

 protected:
  Encoding Propose() override { return space().Sample(rng()); }
  Encoding Retry(const Encoding&) override { return space().Sample(rng()); }
  void Learn(const Encoding&, const std::vector<double>&) override {}
};

// ------------------------------------------------------ regularized evolution

// Real et al. 2019: a population of the `population` most recent feasible
// results; a child is a mutation of the best of `sample_size` members drawn
// uniformly (with replacement); the oldest member dies when a child joins.
// Until the population is full, suggestions are uniform samples.
class RegularizedEvolution : public StrategyBase {
 public:
  RegularizedEvolution(std::unique_ptr<Space> space, Objectives objectives,
                       uint64_t seed, int population, int sample_size)
      : StrategyBase("regularized_evolution", std::move(space),
                     std::move(objectives), seed),
        capacity_(population),
        sample_size_(sample_size) {}

 protected:
  Encoding Propose() override {
    if (static_cast<int>(population_.size()) < capacity_) {
      return space().Sample(rng());
    }
    int best = -1;
    for (int s = 0; s < sample_size_; ++s) {
      const int i = rng().Uniform(static_cast<int>(population_.size()));
      if (best < 0 || population_[i].fitness > population_[best].fitness) best = i;
    }
    return space().Mutate(population_[best].encoding, rng());
  }

  void Learn(const Encoding& e, const std::vector<double>& values) override {
    if (!objectives().Feasible(values)) return;  // Never a parent.
    population_.push_back({e, objectives().Reward(values)});
    if (static_cast<int>(population_.size()) > capacity_) population_.pop_front();
  }

  void SaveExtra(StrategyState* state) const override {
    for (const Member& m : population_) {
      MemberState* ms = state->add_population();
      SaveEncoding(m.encoding, ms->mutable_encoding());
      ms->set_fitness(m.fitness);
    }
  }

  absl::Status RestoreExtra(const StrategyState& state) override {
    std::deque<Member> population;
    for (const MemberState& ms : state.population()) {
      ASSIGN_OR_RETURN(Encoding e, LoadEncoding(space(), ms.encoding()));
      population.push_back({std::move(e), ms.fitness()});
    }
    population_ = std::move(population);
    return absl::OkStatus();
  }

 private:
  struct Member {
    Encoding encoding;
    double fitness;
  };
  const int capacity_;
  const int sample_size_;
  std::deque<Member> population_;  // Oldest first.
};

// ---------------------------------------------------------------- REINFORCE

// Williams 1992 with a factorized policy: one softmax over each decision's
// values (NASNet/ENAS controllers without the recurrent state). After each
// result the logits move by lr * ((R - b) * grad log pi(a) + beta * grad H),
// where b is the exponential moving average of past rewards (decay
// `baseline_decay`) and H the policy entropy. Infeasible trials get the
// lowest feasible reward seen so far.
class Reinforce : public StrategyBase {
 public:
  Reinforce(std::unique_ptr<Space> space, Objectives objectives, uint64_t seed,
            double learning_rate, double baseline_decay, double entropy_weight)
      : StrategyBase("reinforce", std::move(space), std::move(objectives), seed),
        learning_rate_(learning_rate),
        baseline_decay_(baseline_decay),
        entropy_weight_(entropy_weight) {
    for (int d = 0; d < this->space().num_decisions(); ++d) {
      offset_.push_back(num_logits_);
      num_logits_ += this->space().cardinality(d);
    }
    logits_.assign(num_logits_, 0.0);
    UpdateProbabilities();
  }

 protected:
  Encoding Propose() override {
    Encoding e(space().num_decisions());
    for (int d = 0; d < space().num_decisions(); ++d) {
      const double* p = &probabilities_[offset_[d]];
      const int n = space().cardinality(d);
      double u = rng().UniformDouble();
      int a = 0;
      while (a + 1 < n && (u -= p[a]) >= 0) ++a;
      e[d] = static_cast<int16_t>(a);
    }
    return e;
  }

  // A converged policy keeps proposing seen architectures; walk instead.
  int FreshProposals() const override { return 5; }

  void Learn(const Encoding& e, const std::vector<double>& values) override {
    double reward;
    if (objectives().Feasible(values)) {
      reward = objectives().Reward(values);
      if (!has_worst_ || reward < worst_reward_) worst_reward_ = reward;
      has_worst_ = true;
    } else if (has_worst_) {
      reward = worst_reward_;
    } else {
      return;  // Nothing to compare an infeasible trial with yet.
    }
    if (!has_baseline_) {
      baseline_ = reward;
      has_baseline_ = true;
    }
    const double advantage = reward - baseline_;
    baseline_ = baseline_decay_ * baseline_ + (1 - baseline_decay_) * reward;
    for (int d = 0; d < space().num_decisions(); ++d) {
      if (!space().IsActive(e, d)) continue;
      const double* p = &probabilities_[offset_[d]];
      const int n = space().cardinality(d);
      double entropy = 0;
      for (int k = 0; k < n; ++k) entropy -= p[k] > 0 ? p[k] * std::log(p[k]) : 0;
      for (int k = 0; k < n; ++k) {
        const double log_p = p[k] > 0 ? std::log(p[k]) : 0;
        const double grad = advantage * ((k == e[d]) - p[k]) -
                            entropy_weight_ * p[k] * (log_p + entropy);
        logits_[offset_[d] + k] += learning_rate_ * grad;
      }
    }
    UpdateProbabilities();
  }

  void SaveExtra(StrategyState* state) const override {
    state->mutable_logits()->Add(logits_.begin(), logits_.end());
    state->set_baseline(baseline_);
    state->set_has_baseline(has_baseline_);
    state->set_worst_reward(worst_reward_);
    state->set_has_worst_reward(has_worst_);
  }

  absl::Status RestoreExtra(const StrategyState& state) override {
    if (state.logits_size() != num_logits_) {
      return absl::InvalidArgumentError("state: wrong number of policy logits");
    }
    logits_.assign(state.logits().begin(), state.logits().end());
    baseline_ = state.baseline();
    has_baseline_ = state.has_baseline();
    worst_reward_ = state.worst_reward();
    has_worst_ = state.has_worst_reward();
    UpdateProbabilities();
    return absl::OkStatus();
  }

 private:
  // probabilities_ = softmax of logits_, decision by decision.
  void UpdateProbabilities() {
    probabilities_.resize(num_logits_);
    for (int d = 0; d < space().num_decisions(); ++d) {
      const int n = space().cardinality(d);
      const double* z = &logits_[offset_[d]];
      double* p = &probabilities_[offset_[d]];
      const double max = *std::max_element(z, z + n);
      double sum = 0;
      for (int k = 0; k < n; ++k) sum += p[k] = std::exp(z[k] - max);
      for (int k = 0; k < n; ++k) p[k] /= sum;
    }
  }

  const double learning_rate_;
  const double baseline_decay_;
  const double entropy_weight_;
  std::vector<int> offset_;
  int num_logits_ = 0;
  std::vector<double> logits_;
  std::vector<double> probabilities_;  // Derived from logits_.
  double baseline_ = 0;
  bool has_baseline_ = false;
  double worst_reward_ = 0;
  bool has_worst_ = false;
};

// --------------------------------------------------------- Pareto evolution

// Steady-state NSGA-II (Deb et al. 2002) over all objectives: a population
// of `population` feasible results ranked by non-dominated sorting and
// crowding distance. A child is a mutation of the winner of a tournament of
// `sample_size` members (lower front, then larger crowding distance). When a
// result joins a full population, the member of the worst front with the
// smallest crowding distance (the oldest on ties) leaves.
class ParetoEvolution : public StrategyBase {
 public:
  ParetoEvolution(std::unique_ptr<Space> space, Objectives objectives,
                  uint64_t seed, int population, int sample_size)
      : StrategyBase("pareto_evolution", std::move(space), std::move(objectives),
                     seed),
        capacity_(population),
        sample_size_(sample_size) {}

 protected:
  Encoding Propose() override {
    const int n = static_cast<int>(encodings_.size());
    if (n < capacity_) return space().Sample(rng());
    int best = -1;
    for (int s = 0; s < sample_size_; ++s) {
      const int i = rng().Uniform(n);
      if (best < 0 || Better(i, best)) best = i;
    }
    return space().Mutate(encodings_[best], rng());
  }

  void Learn(const Encoding& e, const std::vector<double>& values) override {
    if (!objectives().Feasible(values)) return;
    encodings_.push_back(e);
    values_.push_back(objectives().Oriented(values));
    ranks_ = NonDominatedRanks(values_);
    if (static_cast<int>(encodings_.size()) > capacity_) {
      // Evict from the worst front the most crowded member (oldest on ties).
      // It dominates nobody, so the other members keep their ranks.
      const int worst_rank = *std::max_element(ranks_.begin(), ranks_.end());
      std::vector<int> members;
      std::vector<std::vector<double>> front;
      for (int i = 0; i < static_cast<int>(ranks_.size()); ++i) {
        if (ranks_[i] != worst_rank) continue;
        members.push_back(i);
        front.push_back(values_[i]);
      }
      const std::vector<double> crowding =
          CrowdingDistances(front, std::vector<int>(front.size(), 0));
      const int victim = members[std::min_element(crowding.begin(),
                                                  crowding.end()) -
                                 crowding.begin()];
      encodings_.erase(encodings_.begin() + victim);
      values_.erase(values_.begin() + victim);
      ranks_.erase(ranks_.begin() + victim);
    }
    crowding_ = CrowdingDistances(values_, ranks_);
  }

  void SaveExtra(StrategyState* state) const override {
    for (size_t i = 0; i < encodings_.size(); ++i) {
      MemberState* ms = state->add_population();
      SaveEncoding(encodings_[i], ms->mutable_encoding());
      ms->mutable_values()->Add(values_[i].begin(), values_[i].end());
    }
  }

  absl::Status RestoreExtra(const StrategyState& state) override {
    std::vector<Encoding> encodings;
    std::vector<std::vector<double>> values;
    for (const MemberState& ms : state.population()) {
      ASSIGN_OR_RETURN(Encoding e, LoadEncoding(space(), ms.encoding()));
      if (ms.values_size() != static_cast<int>(objectives().size())) {
        return absl::InvalidArgumentError("state: member with wrong values");
      }
      encodings.push_back(std::move(e));
      values.emplace_back(ms.values().begin(), ms.values().end());
    }
    encodings_ = std::move(encodings);
    values_ = std::move(values);
    Rank();
    return absl::OkStatus();
  }

 private:
  bool Better(int a, int b) const {
    if (ranks_[a] != ranks_[b]) return ranks_[a] < ranks_[b];
    return crowding_[a] > crowding_[b];
  }

  void Rank() {
    ranks_ = NonDominatedRanks(values_);
    crowding_ = CrowdingDistances(values_, ranks_);
  }

  const int capacity_;
  const int sample_size_;
  // The population, oldest first, with its oriented objective values.
  std::vector<Encoding> encodings_;
  std::vector<std::vector<double>> values_;
  std::vector<int> ranks_;         // Derived from values_.
  std::vector<double> crowding_;   // Derived from values_ and ranks_.
};

// Resolves a population/sample-size pair with their defaults.
absl::Status PopulationKnobs(int population, int sample_size,
                             int default_sample_size, absl::string_view field,
                             int* p, int* s) {
  *p = population == 0 ? 50 : population;
  *s = sample_size == 0 ? std::min(default_sample_size, *p) : sample_size;
  if (*p < 1 || *s < 1 || *s > *p) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategy.", field, ": need population >= 1 and 1 <= sample_size <= "
        "population"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Strategy>> CreateStrategy(
    const nas::v1::JobSpec& spec) {
  ASSIGN_OR_RETURN(std::unique_ptr<Space> space,
                   Space::Create(spec.search_space()));
  ASSIGN_OR_RETURN(Objectives objectives, Objectives::Create(spec.objectives()));
  const nas::v1::Strategy& s = spec.strategy();
  const uint64_t seed = s.seed();
  int p = 0;
  int k = 0;
  switch (s.kind_case()) {
    case nas::v1::Strategy::KIND_NOT_SET:
    case nas::v1::Strategy::kRandom:
      return std::unique_ptr<Strategy>(new RandomSearch(
          "random", std::move(space), std::move(objectives), seed));
    case nas::v1::Strategy::kRegularizedEvolution:
      RETURN_IF_ERROR(PopulationKnobs(s.regularized_evolution().population(),
                                      s.regularized_evolution().sample_size(),
                                      10, "regularized_evolution", &p, &k));
      return std::unique_ptr<Strategy>(new RegularizedEvolution(
          std::move(space), std::move(objectives), seed, p, k));
    case nas::v1::Strategy::kParetoEvolution:
      RETURN_IF_ERROR(PopulationKnobs(s.pareto_evolution().population(),
                                      s.pareto_evolution().sample_size(), 20,
                                      "pareto_evolution", &p, &k));
      return std::unique_ptr<Strategy>(new ParetoEvolution(
          std::move(space), std::move(objectives), seed, p, k));
    case nas::v1::Strategy::kReinforce: {
      const nas::v1::Reinforce& r = s.reinforce();
      const double lr = r.learning_rate() == 0 ? 0.1 : r.learning_rate();
      // Optional fields: unset takes the default, an explicit 0 is kept.
      const double decay = r.has_baseline_decay() ? r.baseline_decay() : 0.9;
      const double entropy = r.has_entropy_weight() ? r.entropy_weight() : 1e-4;
      if (!(lr > 0) || !(decay >= 0 && decay < 1) || !(entropy >= 0)) {
        return absl::InvalidArgumentError(
            "strategy.reinforce: need learning_rate > 0, baseline_decay in "
            "[0, 1) and entropy_weight >= 0");
      }
      return std::unique_ptr<Strategy>(new Reinforce(
          std::move(space), std::move(objectives), seed, lr, decay, entropy));
    }
    case nas::v1::Strategy::kDarts: {
      ASSIGN_OR_RETURN(std::unique_ptr<DartsDriver> driver,
                       DartsDriver::Create(spec, std::move(space)));
      return std::unique_ptr<Strategy>(std::move(driver));
    }
    case nas::v1::Strategy::kCompoundScaling: {
      ASSIGN_OR_RETURN(std::unique_ptr<CompoundScalingDriver> driver,
                       CompoundScalingDriver::Create(spec, std::move(space)));
      return std::unique_ptr<Strategy>(std::move(driver));
    }
    case nas::v1::Strategy::kOnceForAll: {
      ASSIGN_OR_RETURN(std::unique_ptr<OfaDriver> driver,
                       OfaDriver::Create(spec, std::move(space)));
      return std::unique_ptr<Strategy>(std::move(driver));
    }
  }
  return absl::InvalidArgumentError("strategy: unknown kind");
}

}  // namespace nas::strategy
