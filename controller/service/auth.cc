#include "controller/service/auth.h"

#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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

std::optional<Role> ParseRole(absl::string_view word) {
  for (Role role : {Role::kAdmin, Role::kRead, Role::kWorker}) {
    if (word == RoleName(role)) return role;
  }
  return std::nullopt;
}

bool Allows(Role role, Permission needed) {
  switch (role) {
    case Role::kAdmin:
      return true;
    case Role::kRead:
      return needed == Permission::kRead;
    case Role::kWorker:
      return needed == Permission::kWork;
  }
  return false;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kRead:
      return "read";
    case Role::kWorker:
      return "worker";
  }
  return "unknown";
}

absl::StatusOr<std::vector<TokenGrant>> ParseTokenFile(absl::string_view text) {
  std::vector<TokenGrant> grants;
  absl::flat_hash_set<std::string> tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t comment = line.find('#');
    if (comment != absl::string_view::npos) line = line.substr(0, comment);
    const std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    TokenGrant grant;
    grant.token = std::string(words[0]);
    if (words.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token file line ", line_number, ": expected `<token> [role]`"));
    }
    if (words.size() == 2) {
      const std::optional<Role> role = ParseRole(words[1]);
      if (!role.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("token file line ", line_number, ": unknown role \"",
                         words[1], "\" (admin, read or worker)"));
      }
      grant.role = *role;
    }
    if (!tokens.insert(grant.token).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token file line ", line_number, ": token listed twice"));
    }
    grants.push_back(std::move(grant));
  }
  return grants;
}

absl::Status Authenticator::Check(const grpc::ServerContext& context,
                                  Permission needed) const {
  if (grants_.empty()) return absl::OkStatus();
  constexpr absl::string_view kBearer = "Bearer ";
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  const TokenGrant* match = nullptr;
  if (it != metadata.end()) {
    absl::string_view value(it->second.data(), it->second.size());
    if (absl::ConsumePrefix(&value, kBearer) && !value.empty()) {
      // Every grant is compared: the time does not tell which one matched.
      for (const TokenGrant& grant : grants_) {
        if (ConstantTimeEquals(value, grant.token)) match = &grant;
      }
    }
  }
  if (match == nullptr) {
    return absl::UnauthenticatedError(
        "missing or unknown `authorization: Bearer <token>` metadata");
  }
  if (!Allows(match->role, needed)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "a ", RoleName(match->role), " token may not call this RPC"));
  }
  return absl::OkStatus();
}

}  // namespace nas::service
