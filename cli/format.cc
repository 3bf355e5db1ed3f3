#include "cli/format.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace nas::cli {
namespace {

bool LooksNumeric(const std::string& s) {
  double d;
  return !s.empty() && absl::SimpleAtod(s, &d);
}

std::string CsvCell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Lower(const std::string& s) { return absl::AsciiStrToLower(s); }

std::string StrategyName(const nas::v1::JobSpec& spec) {
  const google::protobuf::Message& strategy = spec.strategy();
  const google::protobuf::OneofDescriptor* oneof =
      strategy.GetDescriptor()->FindOneofByName("kind");
  const google::protobuf::FieldDescriptor* field =
      oneof == nullptr ? nullptr
                       : strategy.GetReflection()->GetOneofFieldDescriptor(
                             strategy, oneof);
  return field == nullptr ? "none" : field->name();
}

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "--format: unknown value \"", name, "\" (one of: table, csv, json)"));
}

void PrintTable(const Table& table, Format format, std::ostream& os) {
  const size_t cols = table.header.size();
  switch (format) {
    case Format::kCsv: {
      std::vector<std::string> cells;
      for (const auto& h : table.header) cells.push_back(CsvCell(h));
      os << absl::StrJoin(cells, ",") << "\n";
      for (const auto& row : table.rows) {
        cells.clear();
        for (const auto& c : row) cells.push_back(CsvCell(c));
        os << absl::StrJoin(cells, ",") << "\n";
      }
      return;
    }
    case Format::kJson: {
      for (const auto& row : table.rows) {
        std::vector<std::string> fields;
        for (size_t i = 0; i < cols && i < row.size(); ++i) {
          const std::string value =
              row[i].empty() ? "null"
                             : (LooksNumeric(row[i]) ? row[i] : JsonString(row[i]));
          fields.push_back(absl::StrCat(JsonString(table.header[i]), ": ", value));
        }
        os << "{" << absl::StrJoin(fields, ", ") << "}\n";
      }
      return;
    }
    case Format::kTable: {
      std::vector<size_t> width(cols, 0);
      std::vector<bool> numeric(cols, true);
      for (size_t i = 0; i < cols; ++i) width[i] = table.header[i].size();
      for (const auto& row : table.rows) {
        for (size_t i = 0; i < cols && i < row.size(); ++i) {
          width[i] = std::max(width[i], row[i].size());
          if (!row[i].empty() && !LooksNumeric(row[i])) numeric[i] = false;
        }
      }
      auto print_row = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < cols; ++i) {
          const std::string cell = i < row.size() ? row[i] : "";
          const std::string pad(width[i] - std::min(width[i], cell.size()), ' ');
          if (i > 0) line += "  ";
          line += numeric[i] ? pad + cell : (i + 1 < cols ? cell + pad : cell);
        }
        os << line << "\n";
      };
      print_row(table.header);
      for (const auto& row : table.rows) print_row(row);
      return;
    }
  }
}

std::string JobStateName(nas::v1::JobState state) {
  std::string name = nas::v1::JobState_Name(state);
  if (name.rfind("JOB_", 0) == 0) name = name.substr(4);
  return Lower(name);
}

std::string TrialStateName(nas::v1::TrialState state) {
  return Lower(nas::v1::TrialState_Name(state));
}

absl::StatusOr<nas::v1::TrialState> ParseTrialState(const std::string& name) {
  nas::v1::TrialState state;
  if (nas::v1::TrialState_Parse(absl::AsciiStrToUpper(name), &state) &&
      state != nas::v1::TRIAL_STATE_UNSPECIFIED) {
    return state;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--state: unknown value \"", name,
      "\" (one of: pending, leased, running, succeeded, failed, "
      "stopped_early, cancelled)"));
}

std::string HumanDuration(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 0) s = 0;
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.6g", value);
}

std::string ProgressLine(const nas::v1::Job& job, int width,
                         absl::Duration elapsed, double completed_at_start) {
  const nas::v1::TrialCounts& c = job.counts();
  const double done = static_cast<double>(c.succeeded() + c.stopped_early());
  const double budget =
      std::max<double>(1.0, static_cast<double>(job.spec().budget().max_trials()));
  const int filled = static_cast<int>(
      std::min(1.0, done / budget) * width + 0.5);
  std::string line = absl::StrCat(
      "[", std::string(filled, '#'), std::string(width - filled, '-'), "] ",
      FormatNumber(done), "/", FormatNumber(budget), " trials  running ",
      c.leased() + c.running(), "  failed ", c.failed());
  if (c.cache_hits() > 0) absl::StrAppend(&line, "  cached ", c.cache_hits());
  if (job.best_trial_id() > 0) {
    absl::StrAppend(&line, "  best ", FormatNumber(job.best_objective()),
                    " (#", job.best_trial_id(), ")");
  }
  const double progressed = done - completed_at_start;
  if (progressed > 0 && done < budget) {
    const absl::Duration eta = elapsed * ((budget - done) / progressed);
    absl::StrAppend(&line, "  ETA ", HumanDuration(eta));
  }
  absl::StrAppend(&line, "  ", JobStateName(job.state()));
  return line;
}

Table JobDetails(const nas::v1::Job& job) {
  Table t;
  t.header = {"field", "value"};
  const nas::v1::TrialCounts& c = job.counts();
  auto add = [&](const std::string& k, const std::string& v) {
    t.rows.push_back({k, v});
  };
  add("id", job.id());
  add("name", job.spec().name());
  add("state", JobStateName(job.state()));
  add("strategy", StrategyName(job.spec()));
  add("budget", absl::StrCat(job.spec().budget().max_trials(), " trials"));
  add("completed", absl::StrCat(c.succeeded() + c.stopped_early()));
  add("pending", absl::StrCat(c.pending()));
  add("running", absl::StrCat(c.leased() + c.running()));
  add("failed", absl::StrCat(c.failed()));
  add("stopped_early", absl::StrCat(c.stopped_early()));
  add("cache_hits", absl::StrCat(c.cache_hits()));
  if (job.best_trial_id() > 0) {
    add("best_trial", absl::StrCat(job.best_trial_id()));
    add("best_objective", FormatNumber(job.best_objective()));
  }
  if (!job.message().empty()) add("message", job.message());
  return t;
}

Table JobsTable(const std::vector<nas::v1::Job>& jobs) {
  Table t;
  t.header = {"id", "name", "state", "done", "budget", "running", "failed",
              "best"};
  for (const auto& job : jobs) {
    const nas::v1::TrialCounts& c = job.counts();
    t.rows.push_back({job.id(), job.spec().name(), JobStateName(job.state()),
                      absl::StrCat(c.succeeded() + c.stopped_early()),
                      absl::StrCat(job.spec().budget().max_trials()),
                      absl::StrCat(c.leased() + c.running()),
                      absl::StrCat(c.failed()),
                      job.best_trial_id() > 0
                          ? FormatNumber(job.best_objective())
                          : ""});
  }
  return t;
}

Table TrialsTable(const std::vector<nas::v1::Trial>& trials,
                  const nas::v1::JobSpec& spec) {
  std::vector<std::string> metrics;
  std::set<std::string> seen;
  for (const auto& o : spec.objectives()) {
    if (seen.insert(o.metric()).second) metrics.push_back(o.metric());
  }
  std::set<std::string> others;
  for (const auto& trial : trials) {
    for (const auto& [name, value] : trial.metrics()) {
      // params and macs have their own columns.
      if (!seen.count(name) && name != "params" && name != "macs") {
        others.insert(name);
      }
    }
  }
  metrics.insert(metrics.end(), others.begin(), others.end());

  Table t;
  t.header = {"trial", "state", "attempt"};
  t.header.insert(t.header.end(), metrics.begin(), metrics.end());
  for (const char* h : {"params", "macs", "cached", "worker", "seconds",
                        "architecture"}) {
    t.header.push_back(h);
  }
  for (const auto& trial : trials) {
    std::vector<std::string> row = {absl::StrCat(trial.id()),
                                    TrialStateName(trial.state()),
                                    absl::StrCat(trial.attempt())};
    for (const auto& m : metrics) {
      auto it = trial.metrics().find(m);
      row.push_back(it == trial.metrics().end() ? "" : FormatNumber(it->second));
    }
    row.push_back(trial.params() > 0 ? absl::StrCat(trial.params()) : "");
    row.push_back(trial.macs() > 0 ? absl::StrCat(trial.macs()) : "");
    row.push_back(trial.cache_hit() ? "yes" : "no");
    row.push_back(trial.worker_id());
    row.push_back(trial.end_time_ms() > 0 && trial.start_time_ms() > 0
                      ? absl::StrFormat("%.1f", (trial.end_time_ms() -
                                                 trial.start_time_ms()) /
                                                    1000.0)
                      : "");
    row.push_back(trial.architecture().canonical());
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace nas::cli
