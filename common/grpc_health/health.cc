#include "common/grpc_health/health.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/byte_buffer.h"

namespace nas::grpc_health {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr absl::Duration kWatchGrace = absl::Seconds(1);

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// HealthCheckRequest { string service = 1; }
std::string EncodeRequest(absl::string_view service) {
  std::string out;
  if (service.empty()) return out;
  out.push_back('\x0a');  // Field 1, length-delimited.
  AppendVarint(service.size(), &out);
  out.append(service.data(), service.size());
  return out;
}

// HealthCheckResponse { ServingStatus status = 1; } (an absent field is 0).
absl::StatusOr<ServingStatus> DecodeResponse(const std::string& bytes) {
  uint64_t status = 0;
  size_t i = 0;
  while (i < bytes.size()) {
    const uint8_t key = static_cast<uint8_t>(bytes[i++]);
    if (key != 0x08) break;  // Only field 1 (varint) is defined.
    status = 0;
    int shift = 0;
    while (i < bytes.size() && shift < 64) {
      const uint8_t b = static_cast<uint8_t>(bytes[i++]);
      status |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
  }
  if (i != bytes.size() || status > 3) {
    return absl::DataLossError("malformed grpc.health.v1 response");
  }
  return static_cast<ServingStatus>(status);
}

}  // namespace

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kUnknown:
      return "UNKNOWN";
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
  }
  return "INVALID";
}

absl::StatusOr<ServingStatus> CheckHealth(grpc::ChannelInterface& channel,
                                          absl::string_view service,
                                          absl::Duration timeout) {
  // GenericStub wants a shared_ptr; the caller keeps the channel alive.
  grpc::GenericStub stub(std::shared_ptr<grpc::ChannelInterface>(
      &channel, [](grpc::ChannelInterface*) {}));
  const std::string request_bytes = EncodeRequest(service);
  grpc::Slice slice(request_bytes);
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) {
    return absl::DataLossError("unreadable grpc.health.v1 response");
  }
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(s.begin(), s.end());
  return DecodeResponse(bytes);
}

absl::StatusOr<std::unique_ptr<HealthServer>> HealthServer::Create(
    const std::string& listen) {
  std::unique_ptr<HealthServer> self(new HealthServer());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // Two processes must not share a port silently (gRPC sets SO_REUSEPORT).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(),
                           &self->port_);
  // The default health service is added only when the server starts; a
  // builder with no service at all refuses to build ("at least one of the
  // completion queues must be frequently polled"). A callback generic
  // service, which answers UNIMPLEMENTED to any other method, fixes that.
  builder.RegisterCallbackGenericService(&self->unimplemented_);
  self->server_ = builder.BuildAndStart();
  if (self->server_ == nullptr || self->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve gRPC health on ", listen));
  }
  if (self->server_->GetHealthCheckService() == nullptr) {
    return absl::InternalError("gRPC built no default health service");
  }
  self->server_->GetHealthCheckService()->SetServingStatus(false);
  return self;
}

HealthServer::~HealthServer() {
  if (server_ != nullptr) Shutdown();
}

void HealthServer::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

void HealthServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (server_->GetHealthCheckService() != nullptr) {
      server_->GetHealthCheckService()->Shutdown();
    }
    server_->Shutdown(absl::ToChronoTime(absl::Now() + kWatchGrace));
  });
}

}  // namespace nas::grpc_health
