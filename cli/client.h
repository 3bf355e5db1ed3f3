// The gRPC side of nasctl: one SearchService stub per invocation, with the
// bearer token and TLS settings of the CliContext, and the status handling
// every verb shares (exit code 1 and a message naming the controller).
//
// Not thread-safe beyond what gRPC stubs are (they are).
#ifndef NAS_CLI_CLIENT_H_
#define NAS_CLI_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/nasctl.h"
#include "grpcpp/grpcpp.h"
#include "proto/nas/v1/service.grpc.pb.h"

namespace nas::cli {

class Client {
 public:
  // Reads the token and CA files named by the context; a channel is created
  // lazily by gRPC, so an unreachable controller shows at the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      const CliContext& context);

  nas::v1::SearchService::Stub& stub() { return *stub_; }

  // A context with the token and a deadline `timeout` from now.
  std::unique_ptr<grpc::ClientContext> NewContext(
      absl::Duration timeout = absl::Seconds(30)) const;

  const std::string& address() const { return address_; }

 private:
  Client(std::string address, std::string token,
         std::unique_ptr<nas::v1::SearchService::Stub> stub)
      : address_(std::move(address)),
        token_(std::move(token)),
        stub_(std::move(stub)) {}

  std::string address_;
  std::string token_;
  std::unique_ptr<nas::v1::SearchService::Stub> stub_;
};

// Client::Create, or nullptr after printing why to context.err.
std::unique_ptr<Client> ConnectOrReport(const CliContext& context);

// Pages through ListTrials with `request` until `want` trials (0: all) or
// the end. On an RPC error returns false and sets *rpc.
bool ListAllTrials(Client& client, nas::v1::ListTrialsRequest request,
                   long long want, std::vector<nas::v1::Trial>* trials,
                   grpc::Status* rpc);

// The job, or false with *rpc set.
bool FetchJob(Client& client, const std::string& job_id, nas::v1::Job* job,
              grpc::Status* rpc);

// Prints "nasctl: <what>: <status> (controller ADDRESS)" to err and returns
// kExitUsage for INVALID_ARGUMENT/NOT_FOUND, else kExitFailure.
int ReportRpcError(const CliContext& context, const std::string& address,
                   const std::string& what, const grpc::Status& status);

}  // namespace nas::cli

#endif  // NAS_CLI_CLIENT_H_
