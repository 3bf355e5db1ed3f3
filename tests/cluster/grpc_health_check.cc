// grpc_health_check ADDRESS [SERVICE]: one grpc.health.v1 Health/Check call
// (plaintext), like grpc_health_probe, which Debian does not ship. Prints the
// status (SERVING, NOT_SERVING, ...) and exits 0 for SERVING, 1 for any other
// status, 2 if the call failed (the error goes to stderr).
#include <iostream>
#include <string>

#include "common/grpc_health/health.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: grpc_health_check HOST:PORT [SERVICE]\n";
    return 2;
  }
  auto channel =
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  const absl::StatusOr<nas::grpc_health::ServingStatus> status =
      nas::grpc_health::CheckHealth(*channel, argc == 3 ? argv[2] : "");
  if (!status.ok()) {
    std::cerr << "grpc_health_check " << argv[1] << ": " << status.status()
              << "\n";
    return 2;
  }
  std::cout << nas::grpc_health::ServingStatusName(*status) << "\n";
  return *status == nas::grpc_health::ServingStatus::kServing ? 0 : 1;
}
