// Job specs as users write them: YAML or JSON files that map 1:1 onto
// nas.v1.JobSpec (see docs/job-spec.md), their defaults, their validation and
// a one-line summary.
//
//   CheckedJobSpec checked = CheckJobSpecFile("examples/quickstart.yaml");
//   if (!checked.errors.empty()) ...  // one FieldError per problem
//
// Errors are collected, never just the first, and name the field path and
// the bad value (`budget.max_trials: expected an integer, got "ten"`). Every
// function is a pure function of its arguments (plus the files it reads):
// thread-safe. No exception escapes.
#ifndef NAS_COMMON_SPEC_JOB_SPEC_H_
#define NAS_COMMON_SPEC_JOB_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/spec/field_error.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::spec {

// The op names of the DARTS cell space, and the default op list.
const std::vector<std::string>& DartsOps();
// The five NAS-Bench-201 ops, and the default op list.
const std::vector<std::string>& Nb201Ops();

// ---------------------------------------------------------------- parsing

// Parses a YAML/JSON spec into `spec` and returns every problem found. A
// relative `evaluation.table.path` or `evaluation.train.data_dir` is resolved
// against `base_dir` (left alone when `base_dir` is empty). An explicitly
// empty `search_space.{darts,nb201}.ops` list is an error (omitting it means
// the default ops).
std::vector<FieldError> ParseJobSpecInto(absl::string_view text,
                                         absl::string_view base_dir,
                                         nas::v1::JobSpec* spec);

// ParseJobSpecInto as a StatusOr: InvalidArgument lists one error per line.
absl::StatusOr<nas::v1::JobSpec> ParseJobSpec(absl::string_view text,
                                              absl::string_view base_dir);

// Reads and parses the spec file at `path`; relative paths in it are resolved
// against the file's directory, made absolute. NotFound when the file cannot
// be read; InvalidArgument (one error per line) when it does not parse.
absl::StatusOr<nas::v1::JobSpec> LoadJobSpecFile(const std::string& path);

// ---------------------------------------------------------------- defaults

// Fills every default documented in the proto comments into unset (zero)
// fields, e.g. the DARTS ops, 4 nodes, population 50. Idempotent.
void ApplyDefaults(nas::v1::JobSpec* spec);

// ---------------------------------------------------------------- validation

// Every problem of `spec` as ApplyDefaults would complete it (so a zero that
// means "default" is fine). Reads the header line of a table evaluation's CSV.
std::vector<FieldError> ValidateJobSpec(const nas::v1::JobSpec& spec);

// One line, e.g. `ok: job "quickstart": regularized_evolution(population=20,
// sample=5) over darts cells (8 ops, 4 nodes), 1 objective (accuracy max),
// train fashion_mnist 1 epoch, budget 40 trials`. Describes the spec with
// defaults applied; meant for a valid spec.
std::string SummarizeJobSpec(const nas::v1::JobSpec& spec);

// ---------------------------------------------------------------- all in one

// A parsed spec with defaults applied, and every parse or validation error.
struct CheckedJobSpec {
  nas::v1::JobSpec spec;
  std::vector<FieldError> errors;
};

// Parse, ApplyDefaults and ValidateJobSpec. Validation errors about a field
// that already failed to parse (or a field inside or around it) are dropped,
// so each mistake is reported once.
CheckedJobSpec CheckJobSpecText(absl::string_view text,
                                absl::string_view base_dir);
// CheckJobSpecText on the file at `path` (base_dir as for LoadJobSpecFile);
// an unreadable file is one error with an empty path.
CheckedJobSpec CheckJobSpecFile(const std::string& path);

}  // namespace nas::spec

#endif  // NAS_COMMON_SPEC_JOB_SPEC_H_
