// Offline search-quality runner: runs a strategy against a tabular benchmark
// of NAS-Bench-201 cells for many seeds and summarizes what it found (best
// objective, hit rate of the table's best, hypervolume ratio), plus a
// strategy-overhead probe on a large synthetic history.
//
// Functions are thread-compatible (no shared state).
#ifndef NAS_BENCH_SEARCH_QUALITY_RUNNER_H_
#define NAS_BENCH_SEARCH_QUALITY_RUNNER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/search_quality/table.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::bench {

struct RunOptions {
  // random, regularized_evolution, reinforce or pareto_evolution.
  std::string strategy;
  int trials = 300;
  int seeds = 10;
  // Metric column searched for; maximized unless `minimize`.
  std::string objective;
  bool minimize = false;
  // Optional latency column (minimized second objective; enables hv_ratio).
  std::string latency;
};

struct RunSummary {
  std::string strategy;
  int trials = 0;
  int seeds = 0;
  // Mean and sample standard deviation over seeds of the best objective.
  double mean_best = 0;
  double sd_best = 0;
  // Fraction of seeds whose suggestions include a row with the table's best.
  double hit_rate = 0;
  // Mean over seeds of HV(evaluated points) / HV(whole table); with latency.
  std::optional<double> hv_ratio;
  // Mean thread-CPU time of one trial (Suggest, arch-string conversion,
  // table lookup, Observe), microseconds.
  double us_per_trial = 0;
};

// The JobSpec the runner gives the strategy for `seed`: NAS-Bench-201 space,
// the objective (and latency) columns as objectives, default knobs.
absl::StatusOr<nas::v1::JobSpec> BenchJobSpec(const std::string& strategy,
                                              const std::string& objective,
                                              bool minimize,
                                              const std::string& latency,
                                              uint64_t seed);

// Runs options.seeds independent searches of options.trials trials each.
// `progress` (may be empty) is called after each seed with the seeds done.
absl::StatusOr<RunSummary> RunSearch(const Table& table,
                                     const RunOptions& options,
                                     const std::function<void(int)>& progress);

// Mean thread-CPU microseconds of Suggest + Observe over `window` trials that follow
// `history` trials, for `strategy` on the default DARTS space (whose size
// allows long histories) with synthetic objective values.
absl::StatusOr<double> MeasureOverhead(const std::string& strategy,
                                       int history, int window);

// One JSON object (no newline) with the keys strategy, trials, seeds,
// mean_best, sd_best, hit_rate, hv_ratio (null if absent), us_per_trial.
std::string FormatJson(const RunSummary& s);
// An aligned text table with a header line.
std::string FormatTable(const std::vector<RunSummary>& rows);

}  // namespace nas::bench

#endif  // NAS_BENCH_SEARCH_QUALITY_RUNNER_H_
