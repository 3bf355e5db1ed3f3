#include "worker/eval/evaluator.h"

#include <string>

#include "absl/strings/cord.h"

namespace nas::worker {
namespace {
constexpr char kReasonPayload[] = "type.nas.dev/nas.worker.FailureReason";
}  // namespace

absl::Status FailureWithReason(absl::StatusCode code, absl::string_view reason,
                               absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kReasonPayload, absl::Cord(reason));
  return status;
}

std::string FailureReason(const absl::Status& status) {
  if (auto payload = status.GetPayload(kReasonPayload)) {
    return std::string(*payload);
  }
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return kReasonOom;
    case absl::StatusCode::kInvalidArgument:
      return kReasonInvalid;
    default:
      return kReasonError;
  }
}

}  // namespace nas::worker
