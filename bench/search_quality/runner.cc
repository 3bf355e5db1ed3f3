#include "bench/search_quality/runner.h"

#include <time.h>

#include <cmath>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "controller/strategy/pareto.h"
#include "controller/strategy/space.h"
#include "controller/strategy/strategy.h"

namespace nas::bench {
namespace {

using nas::strategy::CreateStrategy;
using nas::strategy::Result;
using nas::strategy::Strategy;

// CPU time of this thread: robust to other processes on a shared machine.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// Table columns resolved for one run; `sign` orients the objective to be
// maximized.
struct Columns {
  const std::vector<double>* objective = nullptr;
  const std::vector<double>* latency = nullptr;
  double sign = 1;
  double best = -std::numeric_limits<double>::infinity();  // Oriented.
  std::array<double, 2> ref{};  // Hypervolume reference, oriented.
  double table_hv = 0;
};

absl::StatusOr<Columns> ResolveColumns(const Table& table,
                                       const RunOptions& options) {
  Columns c;
  ASSIGN_OR_RETURN(c.objective, table.Column(options.objective));
  c.sign = options.minimize ? -1 : 1;
  double max_objective = -std::numeric_limits<double>::infinity();
  for (double v : *c.objective) {
    if (std::isnan(v)) continue;
    c.best = std::max(c.best, c.sign * v);
    max_objective = std::max(max_objective, v);
  }
  if (std::isinf(c.best)) {
    return absl::InvalidArgumentError(
        absl::StrCat("column ", options.objective, " has no numbers"));
  }
  if (options.latency.empty()) return c;
  ASSIGN_OR_RETURN(c.latency, table.Column(options.latency));
  double max_latency = 0;
  for (double v : *c.latency) {
    if (!std::isnan(v)) max_latency = std::max(max_latency, v);
  }
  // Objective maximized from 0 (minimized: from 1.01 x its largest value),
  // latency minimized from 1.01 x the largest latency.
  c.ref = {options.minimize ? -1.01 * max_objective : 0.0, -1.01 * max_latency};
  std::vector<std::array<double, 2>> all;
  for (int r = 0; r < table.num_rows(); ++r) {
    all.push_back({c.sign * (*c.objective)[r], -(*c.latency)[r]});
  }
  c.table_hv = nas::strategy::Hypervolume2D(std::move(all), c.ref);
  return c;
}

struct SeedOutcome {
  double best;  // Oriented.
  double hv = 0;
  double micros = 0;
  int trials = 0;
};

absl::StatusOr<SeedOutcome> RunSeed(const Table& table, const Columns& c,
                                    const RunOptions& options, uint64_t seed) {
  ASSIGN_OR_RETURN(nas::v1::JobSpec spec,
                   BenchJobSpec(options.strategy, options.objective,
                                options.minimize, options.latency, seed));
  ASSIGN_OR_RETURN(std::unique_ptr<Strategy> strategy, CreateStrategy(spec));
  SeedOutcome out{-std::numeric_limits<double>::infinity()};
  std::vector<std::array<double, 2>> points;
  Result result;
  const double start_cpu = ThreadCpuMicros();
  for (int t = 0; t < options.trials; ++t) {
    absl::StatusOr<nas::v1::Architecture> arch = strategy->Suggest();
    if (absl::IsResourceExhausted(arch.status())) break;
    if (!arch.ok()) return arch.status();
    ASSIGN_OR_RETURN(std::string arch_string,
                     nas::strategy::Nb201ArchString(arch->cell()));
    const int row = table.Find(arch_string);
    if (row < 0) {
      return absl::NotFoundError(
          absl::StrCat("arch not in the table: ", arch_string));
    }
    result.values = {(*c.objective)[row]};
    if (c.latency != nullptr) result.values.push_back((*c.latency)[row]);
    result.failed = false;
    for (double v : result.values) result.failed |= std::isnan(v);
    if (!result.failed) {
      out.best = std::max(out.best, c.sign * result.values[0]);
      if (c.latency != nullptr) {
        points.push_back({c.sign * result.values[0], -result.values[1]});
      }
    }
    RETURN_IF_ERROR(strategy->Observe(*arch, result));
    ++out.trials;
  }
  out.micros = ThreadCpuMicros() - start_cpu;
  if (c.latency != nullptr) {
    out.hv = nas::strategy::Hypervolume2D(std::move(points), c.ref);
  }
  return out;
}

}  // namespace

absl::StatusOr<nas::v1::JobSpec> BenchJobSpec(const std::string& strategy,
                                              const std::string& objective,
                                              bool minimize,
                                              const std::string& latency,
                                              uint64_t seed) {
  nas::v1::JobSpec spec;
  spec.mutable_search_space()->mutable_nb201();
  nas::v1::Strategy* s = spec.mutable_strategy();
  s->set_seed(seed);
  if (strategy == "random") {
    s->mutable_random();
  } else if (strategy == "regularized_evolution") {
    s->mutable_regularized_evolution();
  } else if (strategy == "reinforce") {
    s->mutable_reinforce();
  } else if (strategy == "pareto_evolution") {
    s->mutable_pareto_evolution();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown strategy \"", strategy,
        "\" (random, regularized_evolution, reinforce, pareto_evolution)"));
  }
  nas::v1::Objective* o = spec.add_objectives();
  o->set_metric(objective);
  o->set_direction(minimize ? nas::v1::MINIMIZE : nas::v1::MAXIMIZE);
  if (!latency.empty()) {
    nas::v1::Objective* l = spec.add_objectives();
    l->set_metric(latency);
    l->set_direction(nas::v1::MINIMIZE);
  }
  return spec;
}

absl::StatusOr<RunSummary> RunSearch(const Table& table,
                                     const RunOptions& options,
                                     const std::function<void(int)>& progress) {
  if (options.trials < 1 || options.seeds < 1) {
    return absl::InvalidArgumentError("trials and seeds must be >= 1");
  }
  ASSIGN_OR_RETURN(Columns c, ResolveColumns(table, options));
  RunSummary s;
  s.strategy = options.strategy;
  s.trials = options.trials;
  s.seeds = options.seeds;
  double sum = 0, sum_sq = 0, hits = 0, hv = 0, micros = 0;
  int64_t trials = 0;
  for (int seed = 0; seed < options.seeds; ++seed) {
    ASSIGN_OR_RETURN(SeedOutcome o, RunSeed(table, c, options, seed));
    const double best = c.sign * o.best;  // Back to the column's units.
    sum += best;
    sum_sq += best * best;
    hits += o.best == c.best;
    hv += c.table_hv > 0 ? o.hv / c.table_hv : 0;
    micros += o.micros;
    trials += o.trials;
    if (progress) progress(seed + 1);
  }
  const int n = options.seeds;
  s.mean_best = sum / n;
  s.sd_best = n > 1 ? std::sqrt(std::max(0.0, (sum_sq - sum * sum / n) / (n - 1)))
                    : 0.0;
  s.hit_rate = hits / n;
  if (c.latency != nullptr) s.hv_ratio = hv / n;
  s.us_per_trial = trials > 0 ? micros / trials : 0;
  return s;
}

absl::StatusOr<double> MeasureOverhead(const std::string& strategy, int history,
                                       int window) {
  ASSIGN_OR_RETURN(nas::v1::JobSpec spec,
                   BenchJobSpec(strategy, "accuracy", false, "latency", 1));
  spec.mutable_search_space()->mutable_darts();
  ASSIGN_OR_RETURN(std::unique_ptr<Strategy> s, CreateStrategy(spec));
  Result result;
  double start_cpu = 0;
  for (int t = 0; t < history + window; ++t) {
    if (t == history) start_cpu = ThreadCpuMicros();
    ASSIGN_OR_RETURN(nas::v1::Architecture arch, s->Suggest());
    // Synthetic metrics derived from the architecture's hash.
    uint64_t h = 0;
    if (!absl::SimpleHexAtoi(arch.hash(), &h)) {
      return absl::InternalError("bad hash " + arch.hash());
    }
    result.values = {50.0 + (h % 10000) / 200.0, 1.0 + ((h >> 20) % 10000) / 100.0};
    RETURN_IF_ERROR(s->Observe(arch, result));
  }
  return (ThreadCpuMicros() - start_cpu) / window;
}

std::string FormatJson(const RunSummary& s) {
  return absl::StrFormat(
      "{\"strategy\": \"%s\", \"trials\": %d, \"seeds\": %d, "
      "\"mean_best\": %.6g, \"sd_best\": %.6g, \"hit_rate\": %.6g, "
      "\"hv_ratio\": %s, \"us_per_trial\": %.4g}",
      s.strategy, s.trials, s.seeds, s.mean_best, s.sd_best, s.hit_rate,
      s.hv_ratio ? absl::StrFormat("%.6g", *s.hv_ratio) : "null",
      s.us_per_trial);
}

std::string FormatTable(const std::vector<RunSummary>& rows) {
  std::string out = absl::StrFormat("%-22s %7s %6s %10s %9s %9s %9s %11s\n",
                                    "strategy", "trials", "seeds", "mean_best",
                                    "sd_best", "hit_rate", "hv_ratio",
                                    "us/trial");
  for (const RunSummary& s : rows) {
    absl::StrAppendFormat(
        &out, "%-22s %7d %6d %10.4f %9.4f %9.3f %9s %11.2f\n", s.strategy,
        s.trials, s.seeds, s.mean_best, s.sd_best, s.hit_rate,
        s.hv_ratio ? absl::StrFormat("%.5f", *s.hv_ratio) : "-",
        s.us_per_trial);
  }
  return out;
}

}  // namespace nas::bench
