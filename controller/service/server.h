// ControllerServer: the controller's gRPC server: SearchService,
// WorkerService and the standard grpc.health.v1 health service over one
// Scheduler, plus the two background loops the scheduler needs (upkeep:
// expired leases, wall-clock budgets, gauges; refill: suggestions asked for by
// leases).
//
// Built from ServerOptions by Create(), which binds and starts serving (port
// 0 picks a free port; see port()). Shutdown() stops the loops and the server
// (in-flight calls get a short grace period); the destructor calls it.
//
// Thread-safety: thread-safe. Ownership: the scheduler is not owned and must
// outlive the server.
#ifndef NAS_CONTROLLER_SERVICE_SERVER_H_
#define NAS_CONTROLLER_SERVICE_SERVER_H_

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "controller/service/search_service.h"
#include "controller/service/worker_service.h"
#include "grpcpp/server.h"

namespace nas::service {

struct ServerOptions {
  // host:port; port 0 picks a free one.
  std::string listen = "127.0.0.1:50051";
  // Required; not owned.
  scheduler::Scheduler* scheduler = nullptr;
  // The tokens an RPC may carry and their roles (auth.h; empty: no
  // authentication).
  std::vector<TokenGrant> auth_tokens;
  // PEM certificate chain and private key: both set serves TLS, both empty
  // serves plaintext.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Period of Scheduler::Maintain().
  absl::Duration maintenance_interval = absl::Seconds(1);
  // false: no background loops (tests drive the scheduler themselves).
  bool background = true;
  // Concurrent WatchJob streams at most.
  int max_watchers = 256;
  // Looks a trial up by id (the store's GetTrial), so CreateJob can replace
  // strategy.compound_scaling.base_trial_id by that trial's genotype. Unset:
  // such jobs are refused (UNIMPLEMENTED from the strategy).
  TrialLookup get_trial;
  // Where uploaded weights are kept (not owned; null: workers' uploads are
  // refused as UNIMPLEMENTED and no trial has weights to download).
  artifacts::ArtifactStore* artifacts = nullptr;
};

class ControllerServer {
 public:
  static absl::StatusOr<std::unique_ptr<ControllerServer>> Create(
      ServerOptions options);
  ~ControllerServer();

  // The port bound (the chosen one when asked for port 0).
  int port() const { return port_; }
  // Blocks until Shutdown().
  void Wait();
  // Idempotent.
  void Shutdown();

 private:
  explicit ControllerServer(ServerOptions options);

  const ServerOptions options_;
  Authenticator auth_;
  SearchServiceImpl search_service_;
  WorkerServiceImpl worker_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::once_flag shutdown_once_;
  absl::Notification stop_;
  std::thread maintenance_thread_;
  std::thread refill_thread_;
};

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_SERVER_H_
