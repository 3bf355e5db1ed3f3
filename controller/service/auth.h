// Authenticator: the bearer-token check every RPC runs first.
//
// With a token configured, a call must carry `authorization: Bearer <token>`
// metadata or it fails UNAUTHENTICATED; with none, every call passes. The
// comparison takes the same time wherever the tokens differ.
//
// Thread-safety: immutable after construction; Check is thread-safe.
#ifndef NAS_CONTROLLER_SERVICE_AUTH_H_
#define NAS_CONTROLLER_SERVICE_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/server_context.h"

namespace nas::service {

class Authenticator {
 public:
  // An empty `token` disables the check.
  explicit Authenticator(std::string token) : token_(std::move(token)) {}

  absl::Status Check(const grpc::ServerContext& context) const;

 private:
  const std::string token_;
};

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_AUTH_H_
