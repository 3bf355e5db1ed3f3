// Output formats of nasctl: aligned tables, CSV, JSON lines, and the live
// progress bar of `watch`. Pure functions; thread-safe.
#ifndef NAS_CLI_FORMAT_H_
#define NAS_CLI_FORMAT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::cli {

enum class Format { kTable, kCsv, kJson };

// "table", "csv" or "json"; INVALID_ARGUMENT names the bad value.
absl::StatusOr<Format> ParseFormat(const std::string& name);

// Rows of strings under a header.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// Table: columns padded to their widest cell, numbers right-aligned.
// CSV: RFC 4180 quoting. JSON: one object per row, numbers unquoted.
void PrintTable(const Table& table, Format format, std::ostream& os);

// "JOB_RUNNING" -> "running", "STOPPED_EARLY" -> "stopped_early".
std::string JobStateName(nas::v1::JobState state);
std::string TrialStateName(nas::v1::TrialState state);
// Inverse of TrialStateName (case-insensitive); INVALID_ARGUMENT otherwise.
absl::StatusOr<nas::v1::TrialState> ParseTrialState(const std::string& name);

// "1h02m", "3m05s", "42s".
std::string HumanDuration(absl::Duration d);
// Shortest faithful form of a metric value: "0.8123", "1.2e+06", "42".
std::string FormatNumber(double value);

// One line: [##########----------] 23/40 trials  running 2  failed 0
//           best 0.8123 (#17)  ETA 1m20s
std::string ProgressLine(const nas::v1::Job& job, int width,
                         absl::Duration elapsed, double completed_at_start);

// The job as a table of key/value rows (for `status`).
Table JobDetails(const nas::v1::Job& job);
// One row per job (for `jobs`).
Table JobsTable(const std::vector<nas::v1::Job>& jobs);
// One row per trial; metric columns are the union of the trials' metrics,
// the job's objectives first (for `trials`).
Table TrialsTable(const std::vector<nas::v1::Trial>& trials,
                  const nas::v1::JobSpec& spec);

}  // namespace nas::cli

#endif  // NAS_CLI_FORMAT_H_
