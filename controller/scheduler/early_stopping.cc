#include "controller/scheduler/early_stopping.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "controller/strategy/pareto.h"

namespace nas::scheduler {
namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Median stopping rule: stop when the trial's best score so far ranks worse
// than the median rank of the completed trials' running averages up to the
// same step.
class MedianStopper : public EarlyStopper {
 public:
  explicit MedianStopper(const nas::v1::MedianStopping& config)
      : min_trials_(config.min_trials() > 0 ? config.min_trials() : 5),
        start_step_(config.start_step() > 0 ? config.start_step() : 1) {}

 protected:
  bool ShouldStop(int64_t trial_id, int64_t step) override {
    if (step < start_step_) return false;
    std::vector<Score> points;
    for (const auto& [id, curve] : curves_) {
      if (!curve.completed || id == trial_id) continue;
      Score mean;
      int n = 0;
      for (auto it = curve.by_step.begin();
           it != curve.by_step.end() && it->first <= step; ++it) {
        if (mean.empty()) mean.assign(it->second.size(), 0.0);
        if (it->second.size() != mean.size()) continue;
        for (size_t d = 0; d < mean.size(); ++d) mean[d] += it->second[d];
        ++n;
      }
      if (n == 0) continue;
      for (double& v : mean) v /= n;
      points.push_back(std::move(mean));
    }
    if (static_cast<int>(points.size()) < min_trials_) return false;
    // The trial's best so far: the per-objective maximum of its curve.
    Score best;
    for (const auto& [s, score] : curves_[trial_id].by_step) {
      if (s > step) break;
      if (best.empty()) best = score;
      for (size_t d = 0; d < best.size() && d < score.size(); ++d) {
        best[d] = std::max(best[d], score[d]);
      }
    }
    points.erase(
        std::remove_if(points.begin(), points.end(),
                       [&](const Score& p) { return p.size() != best.size(); }),
        points.end());
    if (static_cast<int>(points.size()) < min_trials_) return false;
    points.push_back(best);
    const std::vector<int> ranks = nas::strategy::NonDominatedRanks(points);
    std::vector<double> completed_ranks(ranks.begin(), ranks.end() - 1);
    return ranks.back() > Median(std::move(completed_ranks));
  }

 private:
  const int min_trials_;
  const int64_t start_step_;
};

// ASHA: rung k is at resource min_resource * eta^k. A trial reaching a rung
// records its score there and continues only while it is among the top
// 1/eta of the scores recorded at that rung (by Pareto rank).
class AshaStopper : public EarlyStopper {
 public:
  explicit AshaStopper(const nas::v1::Asha& config)
      : min_resource_(config.min_resource() > 0 ? config.min_resource() : 1),
        eta_(config.reduction_factor() >= 2 ? config.reduction_factor() : 3) {}

 protected:
  void OnRecord(int64_t trial_id, int64_t step, const Score& score) override {
    const int rung = RungAt(step);
    if (rung < 0) return;
    // The first score at or past a rung is the trial's score at that rung.
    rungs_[rung].emplace(trial_id, score);
  }

  bool ShouldStop(int64_t trial_id, int64_t step) override {
    const int rung = RungAt(step);
    if (rung < 0) return false;
    const auto& recorded = rungs_[rung];
    const auto self = recorded.find(trial_id);
    if (self == recorded.end()) return false;
    const int n = static_cast<int>(recorded.size());
    if (n < eta_) return false;
    std::vector<Score> points;
    int self_index = -1;
    for (const auto& [id, score] : recorded) {
      if (score.size() != self->second.size()) continue;
      if (id == trial_id) self_index = static_cast<int>(points.size());
      points.push_back(score);
    }
    const std::vector<int> ranks = nas::strategy::NonDominatedRanks(points);
    std::vector<int> sorted = ranks;
    std::sort(sorted.begin(), sorted.end());
    const int keep = std::max<int>(1, static_cast<int>(points.size()) / eta_);
    return ranks[self_index] > sorted[keep - 1];
  }

 private:
  // The highest rung whose resource is <= step, or -1 below the first.
  int RungAt(int64_t step) const {
    int rung = -1;
    for (int64_t r = min_resource_; r <= step; r *= eta_) ++rung;
    return rung;
  }

  const int64_t min_resource_;
  const int eta_;
  // rung -> trial id -> score at that rung.
  std::map<int, std::map<int64_t, Score>> rungs_;
};

}  // namespace

std::optional<Score> ScoreOf(
    const google::protobuf::RepeatedPtrField<nas::v1::Objective>& objectives,
    const std::map<std::string, double>& metrics) {
  Score score;
  for (const nas::v1::Objective& objective : objectives) {
    const auto it = metrics.find(objective.metric());
    if (it == metrics.end() || !std::isfinite(it->second)) return std::nullopt;
    score.push_back(objective.direction() == nas::v1::MINIMIZE ? -it->second
                                                               : it->second);
  }
  if (score.empty()) return std::nullopt;
  return score;
}

std::unique_ptr<EarlyStopper> EarlyStopper::Create(
    const nas::v1::EarlyStopping& config) {
  switch (config.rule_case()) {
    case nas::v1::EarlyStopping::kMedian:
      return std::make_unique<MedianStopper>(config.median());
    case nas::v1::EarlyStopping::kAsha:
      return std::make_unique<AshaStopper>(config.asha());
    case nas::v1::EarlyStopping::RULE_NOT_SET:
      break;
  }
  return nullptr;
}

bool EarlyStopper::Report(int64_t trial_id, int64_t step, const Score& score) {
  curves_[trial_id].by_step[step] = score;
  OnRecord(trial_id, step, score);
  return ShouldStop(trial_id, step);
}

void EarlyStopper::MarkCompleted(int64_t trial_id) {
  curves_[trial_id].completed = true;
}

void EarlyStopper::ResetCurve(int64_t trial_id) {
  curves_[trial_id].by_step.clear();
}

}  // namespace nas::scheduler
