// The one conversion between absl::Status and grpc::Status.
//
// Service shells call ToGrpcStatus once on the way out; clients call
// FromGrpcStatus once on the way in. Codes map 1:1 (they share numbering).
// Stateless; thread-safe.
#ifndef NAS_COMMON_GRPC_STATUS_H_
#define NAS_COMMON_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace nas {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace nas

#endif  // NAS_COMMON_GRPC_STATUS_H_
