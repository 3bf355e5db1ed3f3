// Fuzz target: job-spec parsing and validation (common/spec/).
//
// Each input is used twice:
//  1. as the text of a spec file (YAML or JSON), through CheckJobSpecText,
//     what `nasctl validate` / `nasctl submit` run;
//  2. as a binary nas.v1.JobSpec, through ApplyDefaults and ValidateJobSpec,
//     what the controller runs on every CreateJob.
// Besides sanitizer reports, the target aborts when an invariant breaks:
// every error has a message; ApplyDefaults is idempotent; a spec that
// validates still validates after a binary round trip and can be summarized.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/spec/job_spec.h"
#include "proto/nas/v1/job.pb.h"

namespace {

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void CheckErrors(const std::vector<nas::spec::FieldError>& errors) {
  for (const nas::spec::FieldError& error : errors) {
    Check(!error.message.empty(), "a FieldError without a message");
  }
}

void CheckDefaultsAndValidation(nas::v1::JobSpec spec) {
  nas::spec::ApplyDefaults(&spec);
  nas::v1::JobSpec again = spec;
  nas::spec::ApplyDefaults(&again);
  Check(again.SerializeAsString() == spec.SerializeAsString(),
        "ApplyDefaults is not idempotent");
  const std::vector<nas::spec::FieldError> errors =
      nas::spec::ValidateJobSpec(spec);
  CheckErrors(errors);
  if (errors.empty()) {
    Check(!nas::spec::SummarizeJobSpec(spec).empty(), "empty summary");
    nas::v1::JobSpec copy;
    Check(copy.ParseFromString(spec.SerializeAsString()),
          "a valid spec does not survive serialization");
    Check(nas::spec::ValidateJobSpec(copy).empty(),
          "a valid spec is invalid after a round trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  // 1. Spec text, as nasctl reads it.
  nas::spec::CheckedJobSpec checked = nas::spec::CheckJobSpecText(bytes, "");
  CheckErrors(checked.errors);
  if (checked.errors.empty()) CheckDefaultsAndValidation(checked.spec);

  // 2. A binary JobSpec, as CreateJob receives it.
  nas::v1::JobSpec spec;
  if (spec.ParseFromArray(data, static_cast<int>(size))) {
    CheckDefaultsAndValidation(std::move(spec));
  }
  return 0;
}
