// search_quality: runs search strategies against a tabular benchmark of
// NAS-Bench-201 cells and prints how well each one searches. See README.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "bench/search_quality/runner.h"
#include "bench/search_quality/table.h"

ABSL_FLAG(std::string, table, "", "CSV file of the benchmark (required).");
ABSL_FLAG(std::string, arch_column, "arch", "Column of NAS-Bench-201 arch strings.");
ABSL_FLAG(std::string, objective, "", "Metric column to optimize (required).");
ABSL_FLAG(bool, minimize, false, "Minimize the objective instead of maximizing.");
ABSL_FLAG(std::string, latency, "",
          "Optional latency column: a minimized second objective; adds the "
          "hypervolume ratio against the table's Pareto front.");
ABSL_FLAG(std::string, strategy, "random",
          "Comma-separated: random, regularized_evolution, reinforce, "
          "pareto_evolution.");
ABSL_FLAG(int, trials, 300, "Trials per search.");
ABSL_FLAG(int, seeds, 10, "Independent searches (seeds 0..K-1) per strategy.");
ABSL_FLAG(bool, json, false, "One JSON object per line and strategy.");
ABSL_FLAG(int, overhead_history, 0,
          "If > 0: instead of searching the table, measure Suggest+Observe "
          "time after this many trials of history on the DARTS space.");
ABSL_FLAG(int, overhead_window, 10000, "Trials timed by --overhead_history.");

namespace {

// bazel run executes in the runfiles tree; resolve relative paths against
// the directory the user ran it from.
std::string UserPath(const std::string& path) {
  const char* dir = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || dir == nullptr) return path;
  return std::string(dir) + "/" + path;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "search_quality: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "search_quality --table=CSV --objective=COLUMN [--minimize] "
      "[--latency=COLUMN] --strategy=NAME[,NAME...] --trials=N --seeds=K "
      "[--json]");
  absl::ParseCommandLine(argc, argv);
  const std::vector<std::string> strategies =
      absl::StrSplit(absl::GetFlag(FLAGS_strategy), ',', absl::SkipEmpty());
  const bool json = absl::GetFlag(FLAGS_json);

  if (const int history = absl::GetFlag(FLAGS_overhead_history); history > 0) {
    const int window = absl::GetFlag(FLAGS_overhead_window);
    if (!json) std::printf("%-22s %9s %9s %11s\n", "strategy", "history", "window", "us/trial");
    for (const std::string& name : strategies) {
      absl::StatusOr<double> us =
          nas::bench::MeasureOverhead(name, history, window);
      if (!us.ok()) return Fail(us.status());
      if (json) {
        std::printf(
            "{\"strategy\": \"%s\", \"history\": %d, \"window\": %d, "
            "\"us_per_trial\": %.4g}\n",
            name.c_str(), history, window, *us);
      } else {
        std::printf("%-22s %9d %9d %11.2f\n", name.c_str(), history, window, *us);
      }
      std::fflush(stdout);
    }
    return 0;
  }

  if (absl::GetFlag(FLAGS_table).empty() || absl::GetFlag(FLAGS_objective).empty()) {
    return Fail(absl::InvalidArgumentError("--table and --objective are required"));
  }
  absl::StatusOr<nas::bench::Table> table = nas::bench::Table::Load(
      UserPath(absl::GetFlag(FLAGS_table)), absl::GetFlag(FLAGS_arch_column));
  if (!table.ok()) return Fail(table.status());

  const bool tty = isatty(STDERR_FILENO);
  std::vector<nas::bench::RunSummary> rows;
  for (const std::string& name : strategies) {
    nas::bench::RunOptions options;
    options.strategy = name;
    options.trials = absl::GetFlag(FLAGS_trials);
    options.seeds = absl::GetFlag(FLAGS_seeds);
    options.objective = absl::GetFlag(FLAGS_objective);
    options.minimize = absl::GetFlag(FLAGS_minimize);
    options.latency = absl::GetFlag(FLAGS_latency);
    auto progress = [&](int done) {
      // Every seed on a terminal, every 10% otherwise (keeps logs short).
      if (tty || done == options.seeds || done % std::max(1, options.seeds / 10) == 0) {
        std::fprintf(stderr, "%s[%s] seed %d/%d%s", tty ? "\r" : "",
                     name.c_str(), done, options.seeds,
                     tty && done < options.seeds ? "" : "\n");
      }
    };
    absl::StatusOr<nas::bench::RunSummary> s =
        nas::bench::RunSearch(*table, options, progress);
    if (!s.ok()) return Fail(s.status());
    if (json) {
      std::printf("%s\n", nas::bench::FormatJson(*s).c_str());
      std::fflush(stdout);
    }
    rows.push_back(*s);
  }
  if (!json) std::printf("%s", nas::bench::FormatTable(rows).c_str());
  return 0;
}
