#include "controller/service/auth.h"

#include "absl/strings/string_view.h"

namespace nas::service {
namespace {

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^
            static_cast<unsigned char>(i < b.size() ? b[i] : 0);
  }
  return diff == 0;
}

}  // namespace

absl::Status Authenticator::Check(const grpc::ServerContext& context) const {
  if (token_.empty()) return absl::OkStatus();
  constexpr absl::string_view kBearer = "Bearer ";
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    const absl::string_view value(it->second.data(), it->second.size());
    if (value.size() > kBearer.size() &&
        value.substr(0, kBearer.size()) == kBearer &&
        ConstantTimeEquals(value.substr(kBearer.size()), token_)) {
      return absl::OkStatus();
    }
  }
  return absl::UnauthenticatedError(
      "missing or wrong `authorization: Bearer <token>` metadata");
}

}  // namespace nas::service
