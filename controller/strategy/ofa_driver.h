// OfaDriver: runs a Once-for-All job (Cai et al. 2020) as trials through the
// ordinary scheduler, on the elastic space (contract: common/task/ofa_task.h).
//
// Stage 1: one "ofa_train" trial trains the elastic supernet by progressive
// shrinking and saves it to the checkpoint named in its task_config
// ("ofa/<key>.pt"; <key> fingerprints the space, the evaluation and
// epochs_per_phase, so an identical supernet has the same path). Its
// canonical string is "ofa_train:<key>".
//
// Stage 2, once that trial succeeded: for each budget in order (every
// mac_budgets_m, then every latency_budgets_ms) subnets_per_budget
// "ofa_subnet" trials, each measuring one subnet with weights sliced from
// the checkpoint (no training): accuracy, macs, latency_ms. A subnet trial's
// architecture is the elastic genotype with canonical "ofa_subnet:<key>;" +
// the space's canonical string; a subnet is evaluated at most once per job.
// The search per budget is aging evolution: the first P suggestions are
// random, later ones mutate the tournament winner of the budget's
// population (the P newest results, seeded with the Pareto archive's
// members that meet the budget). Fitness is the accuracy of a subnet within
// the budget and -(value / budget) < 0 above it. Under a MAC budget every
// suggestion is within it by construction (common/task's ElasticMacs, the
// worker's count; an over-budget draw is shrunk knob by knob towards the
// smallest subnet); a latency budget can only be judged from the measured
// latency_ms. A budget that finds no new subnet in a bounded number of
// draws hands its remaining trials to the next budget; a failed subnet
// trial (it does not count against budget.max_trials) is replaced by
// another subnet of its budget.
//
// The job's result is the Pareto set of the measured subnets: accuracy vs
// MACs, and accuracy vs latency when the job has latency budgets
// (ParetoSet(); the same set `nasctl trials --pareto` reads from the store
// with objectives accuracy/macs).
//
// Suggest: the training trial, UNAVAILABLE until it ended, then subnets;
// FAILED_PRECONDITION when the training trial failed (the job fails);
// RESOURCE_EXHAUSTED when every budget's trials were suggested. State:
// everything but the seen subnets is in SaveState (bounded by the
// populations, the archive and the outstanding trials); MarkSeen of the
// job's trials rebuilds the rest. Thread-safety: none (see strategy.h).
#ifndef NAS_CONTROLLER_STRATEGY_OFA_DRIVER_H_
#define NAS_CONTROLLER_STRATEGY_OFA_DRIVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "controller/strategy/rng.h"
#include "controller/strategy/space.h"
#include "controller/strategy/strategy.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::strategy {

class OfaDriver : public Strategy {
 public:
  enum TrainStatus : int { kNew = 0, kTraining = 1, kTrained = 2, kFailed = 3 };

  // One budget of the job.
  struct Budget {
    bool latency = false;  // false: MACs (absolute, not millions)
    double limit = 0;
  };

  // One measured subnet.
  struct Subnet {
    Encoding encoding;
    double accuracy = 0;
    double macs = 0;
    double latency_ms = 0;  // NaN when not reported
  };

  // `spec.strategy` must be once_for_all over an elastic space with a train
  // evaluation (validated and defaulted by common/spec); `space` is
  // Space::Create(spec.search_space()). INVALID_ARGUMENT names the field,
  // e.g. a MAC budget below the smallest subnet's MACs.
  static absl::StatusOr<std::unique_ptr<OfaDriver>> Create(
      const nas::v1::JobSpec& spec, std::unique_ptr<Space> space);

  absl::StatusOr<nas::v1::Architecture> Suggest() override;
  absl::Status Observe(const nas::v1::Architecture& arch,
                       const Result& result) override;
  absl::Status MarkSeen(const nas::v1::Architecture& arch) override;
  absl::Status ForgetSeen(const nas::v1::Architecture& arch) override;
  std::string SaveState() const override;
  absl::Status RestoreState(absl::string_view bytes) override;
  const Space& space() const override { return *space_; }
  TrialTask Task(const nas::v1::Architecture& arch) const override;

  // The supernet key, the training trial's and a subnet's architecture.
  const std::string& key() const { return key_; }
  nas::v1::Architecture TrainArchitecture() const;
  nas::v1::Architecture SubnetArchitecture(const Encoding& e) const;
  const std::vector<Budget>& budgets() const { return budgets_; }
  TrainStatus train_status() const { return train_status_; }
  // The budget a subnet trial was suggested for (-1: not outstanding).
  int PendingBudget(const nas::v1::Architecture& arch) const;
  // Non-dominated measured subnets (see above), by increasing MACs.
  std::vector<Subnet> ParetoSet() const;
  // The most accurate measured subnet within budget `index`, if any.
  const Subnet* BestWithin(int index) const;
  // The analytic MACs of an encoding (ElasticMacs with the job's dataset).
  int64_t Macs(const Encoding& e) const;

 private:
  struct BudgetState {
    int quota = 0;      // trials this budget may suggest
    int suggested = 0;  // trials it suggested
    std::vector<Subnet> population;  // oldest first, at most population_
  };

  OfaDriver(const nas::v1::JobSpec& spec, std::string key,
            std::vector<Budget> budgets, int in_channels, int image_size,
            std::unique_ptr<Space> space);
  bool Within(const Subnet& s, int budget) const;
  double Fitness(const Subnet& s, int budget) const;
  // A new subnet for budget `b`, or nullopt after kMaxDraws draws.
  std::optional<Encoding> Propose(int b);
  // Shrinks `e` knob by knob (towards the smallest subnet) until its MACs
  // are within `limit`.
  Encoding ShrinkToMacs(Encoding e, double limit);
  // Adds `s` to the archive and drops the members it dominates.
  void Archive(const Subnet& s);
  uint64_t SubnetHash(const Encoding& e) const;

  const nas::v1::ElasticSpace elastic_;
  const std::string key_;
  const std::vector<Budget> budgets_;
  const int epochs_per_phase_;
  const int in_channels_;
  const int image_size_;
  const int population_;
  const int tournament_;
  const std::unique_ptr<Space> space_;
  TrainStatus train_status_ = kNew;
  Rng rng_;
  std::vector<BudgetState> state_;
  std::vector<Subnet> archive_;
  std::map<uint64_t, int> pending_;   // subnet hash -> budget
  absl::flat_hash_set<uint64_t> seen_;  // not in SaveState
};

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_OFA_DRIVER_H_
