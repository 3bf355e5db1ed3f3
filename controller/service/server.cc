#include "controller/service/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace nas::service {
namespace {

constexpr absl::Duration kRefillWait = absl::Milliseconds(100);
constexpr absl::Duration kShutdownGrace = absl::Seconds(1);

}  // namespace

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::Create(
    ServerOptions options) {
  if (options.scheduler == nullptr) {
    return absl::InvalidArgumentError("ServerOptions.scheduler is required");
  }
  if (options.tls_cert_pem.empty() != options.tls_key_pem.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key");
  }
  std::unique_ptr<ControllerServer> server(
      new ControllerServer(std::move(options)));
  const ServerOptions& opts = server->options_;

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (opts.tls_cert_pem.empty()) {
    credentials = grpc::InsecureServerCredentials();
  } else {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({opts.tls_key_pem, opts.tls_cert_pem});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts.listen, credentials, &server->port_);
  // Handlers block while their job's writes commit together, so many RPCs
  // are in flight at once: keep their threads as pollers afterwards instead
  // of ending them and starting new ones (thread churn cost most of the CPU
  // at 256 workers).
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS,
                              1);
  builder.SetSyncServerOption(
      grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 1024);
  builder.RegisterService(&server->search_service_);
  builder.RegisterService(&server->worker_service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", opts.listen));
  }
  grpc::HealthCheckServiceInterface* health =
      server->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(nas::v1::SearchService::service_full_name(), true);
    health->SetServingStatus(nas::v1::WorkerService::service_full_name(), true);
  }

  if (opts.background) {
    ControllerServer* self = server.get();
    server->maintenance_thread_ = std::thread([self] {
      do {
        absl::Status status = self->options_.scheduler->Maintain();
        if (!status.ok()) LOG(WARNING) << "Maintenance: " << status;
      } while (!self->stop_.WaitForNotificationWithTimeout(
          self->options_.maintenance_interval));
    });
    server->refill_thread_ = std::thread([self] {
      while (!self->stop_.HasBeenNotified()) {
        absl::Status status =
            self->options_.scheduler->RefillWanted(kRefillWait);
        if (!status.ok()) LOG(WARNING) << "Refill: " << status;
      }
    });
  }
  LOG(INFO) << "Controller serving on port " << server->port_
            << (opts.tls_cert_pem.empty() ? " (plaintext)" : " (TLS)")
            << (opts.auth_tokens.empty()
                    ? ""
                    : absl::StrCat(" with ", opts.auth_tokens.size(),
                                   " token(s)"));
  return server;
}

ControllerServer::ControllerServer(ServerOptions options)
    : options_(std::move(options)),
      auth_(options_.auth_tokens),
      search_service_(options_.scheduler, &auth_, options_.max_watchers,
                      options_.get_trial, options_.artifacts),
      worker_service_(options_.scheduler, &auth_, options_.artifacts) {}

ControllerServer::~ControllerServer() { Shutdown(); }

void ControllerServer::Wait() {
  if (server_ != nullptr) server_->Wait();
}

void ControllerServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    stop_.Notify();
    if (maintenance_thread_.joinable()) maintenance_thread_.join();
    if (refill_thread_.joinable()) refill_thread_.join();
    if (server_ != nullptr) {
      if (server_->GetHealthCheckService() != nullptr) {
        server_->GetHealthCheckService()->Shutdown();  // NOT_SERVING
      }
      // Ends WatchJob streams, then gives other calls a grace period.
      options_.scheduler->Shutdown();
      server_->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
    }
  });
}

}  // namespace nas::service
