// The standard gRPC health protocol (grpc.health.v1.Health) for processes
// that host no other gRPC service, and a client for it.
//
// HealthServer: a gRPC server on its own port carrying only gRPC's default
// health service (Check and Watch); nas-worker uses it, since the worker is
// otherwise only a gRPC client (nas-controller's server carries the same
// service next to its own). The overall status ("") starts NOT_SERVING;
// the owner flips it with SetServing(). Kubernetes grpc probes, load
// balancers and grpc_health_probe all speak this protocol.
//
// CheckHealth: one Health/Check call over a channel (the request and
// response are encoded by hand: Debian ships no health.proto to compile).
//
// Thread-safety: every HealthServer method may be called from any thread;
// CheckHealth is stateless. Note that creating a HealthServer enables gRPC's
// default health service for every server the process builds afterwards.
#ifndef NAS_COMMON_GRPC_HEALTH_HEALTH_H_
#define NAS_COMMON_GRPC_HEALTH_HEALTH_H_

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"

namespace nas::grpc_health {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class ServingStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,  // Only sent by Watch.
};

// "SERVING", "NOT_SERVING", ... as in the proto.
absl::string_view ServingStatusName(ServingStatus status);

// Health/Check for `service` ("" = the whole server). NOT_FOUND if the
// server does not know the service; UNAVAILABLE / DEADLINE_EXCEEDED if it
// cannot be reached within `timeout`.
absl::StatusOr<ServingStatus> CheckHealth(grpc::ChannelInterface& channel,
                                          absl::string_view service = "",
                                          absl::Duration timeout =
                                              absl::Seconds(5));

class HealthServer {
 public:
  // Listens on `listen` ("host:port"; port 0 picks a free one), plaintext.
  static absl::StatusOr<std::unique_ptr<HealthServer>> Create(
      const std::string& listen);

  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;
  ~HealthServer();  // Shutdown().

  int port() const { return port_; }

  // SERVING or NOT_SERVING; ignored after Shutdown().
  void SetServing(bool serving);

  // NOT_SERVING to every caller and watcher, then stops the server (open
  // Watch streams get one second). Idempotent.
  void Shutdown();

 private:
  HealthServer() = default;

  grpc::CallbackGenericService unimplemented_;  // Must outlive server_.
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::once_flag shutdown_once_;
};

}  // namespace nas::grpc_health

#endif  // NAS_COMMON_GRPC_HEALTH_HEALTH_H_
