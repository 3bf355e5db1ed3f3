// Authenticator: the bearer-token and role check every RPC runs first.
//
// Tokens come from a token file (ParseTokenFile; format in
// controller/README.md): one token per line with an optional role, `admin`
// (everything), `read` (SearchService reads: get, list, watch, Pareto front)
// or `worker` (WorkerService only); a bare token is `admin`. With no token
// configured every call passes. Otherwise a call must carry
// `authorization: Bearer <token>` metadata naming a configured token
// (UNAUTHENTICATED if missing or unknown), and the token's role must allow
// the RPC's Permission (PERMISSION_DENIED if not). The lookup compares the
// presented token with every configured one in time independent of where
// they differ.
//
// Thread-safety: immutable after construction; Check is thread-safe.
#ifndef NAS_CONTROLLER_SERVICE_AUTH_H_
#define NAS_CONTROLLER_SERVICE_AUTH_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"

namespace nas::service {

// What a token may do.
enum class Role { kAdmin, kRead, kWorker };

// What an RPC needs.
enum class Permission {
  kRead,    // SearchService: GetJob, ListJobs, ListTrials, GetParetoFront,
            // WatchJob.
  kManage,  // SearchService: CreateJob, CancelJob, PauseJob, ResumeJob,
            // ExtendBudget.
  kWork,    // WorkerService: every RPC.
};

struct TokenGrant {
  std::string token;
  Role role = Role::kAdmin;
};

// Parses a token file: one `<token> [admin|read|worker]` per line; `#` starts
// a comment; blank lines are skipped. kInvalidArgument (naming the line) on
// an unknown role, extra words or a token listed twice; an empty result is
// valid (the caller decides whether that is an error).
absl::StatusOr<std::vector<TokenGrant>> ParseTokenFile(absl::string_view text);

// The lowercase name of a role, as in the token file.
absl::string_view RoleName(Role role);

class Authenticator {
 public:
  // No grants disables the check.
  explicit Authenticator(std::vector<TokenGrant> grants)
      : grants_(std::move(grants)) {}

  absl::Status Check(const grpc::ServerContext& context,
                     Permission needed) const;

 private:
  const std::vector<TokenGrant> grants_;
};

}  // namespace nas::service

#endif  // NAS_CONTROLLER_SERVICE_AUTH_H_
