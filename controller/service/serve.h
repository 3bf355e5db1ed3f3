// Serve(): the one shape of every RPC handler in this folder: check the
// caller's token and its role against the RPC's Permission, run a core method
// returning absl::Status, and convert the status to gRPC once
// (common/grpc_status.h).
//
// Stateless; thread-safe.
#ifndef NAS_CONTROLLER_SERVICE_SERVE_H_
#define NAS_CONTROLLER_SERVICE_SERVE_H_

#include <utility>

#include "absl/status/status.h"
#include "common/grpc_status.h"
#include "controller/service/auth.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace nas::service {

// `handler` is `absl::Status()`: validates the request, calls the core and
// fills the response.
template <typename Handler>
grpc::Status Serve(const Authenticator& auth, Permission needed,
                   grpc::ServerContext* context, Handler&& handler) {
  absl::Status status = auth.Check(*context, needed);
  if (status.ok()) status = std::forward<Handler>(handler)();
  return ToGrpcStatus(status);
}

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_SERVE_H_
