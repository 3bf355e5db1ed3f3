#include "storage/store_url.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "storage/postgres/postgres_backend.h"
#include "storage/sql/embedded_sql.h"
#include "storage/sql/sql_trial_store.h"
#include "storage/sql/store_logic.h"
#include "storage/sqlite/sqlite_backend.h"

namespace nas::storage {
namespace {

absl::Status Malformed(const std::string& url, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed store URL '", MaskPassword(url), "': ", why,
      " (expected sqlite:///abs/path.db, sqlite://rel/path.db, "
      "sqlite::memory: or postgresql://user:password@host:port/db)"));
}

// Checks the authority (user:pw@host:port,...) of a PostgreSQL URL.
absl::Status CheckPostgresUrl(const std::string& url, size_t scheme_end) {
  const std::string rest = url.substr(scheme_end);
  const std::string authority = rest.substr(0, rest.find_first_of("/?"));
  const size_t at = authority.rfind('@');
  const std::string hosts =
      at == std::string::npos ? authority : authority.substr(at + 1);
  for (absl::string_view host : absl::StrSplit(hosts, ',')) {
    const size_t bracket = host.rfind(']');
    const size_t colon = host.rfind(':');
    if (colon == absl::string_view::npos ||
        (bracket != absl::string_view::npos && colon < bracket)) {
      continue;
    }
    int port = 0;
    if (!absl::SimpleAtoi(host.substr(colon + 1), &port) || port <= 0 ||
        port > 65535) {
      return Malformed(url, absl::StrCat("bad port '", host.substr(colon + 1),
                                         "'"));
    }
  }
  if (absl::StrContains(authority, ' ')) return Malformed(url, "space in host");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrialStore>> OpenTrialStore(
    const std::string& url, const StoreOptions& options) {
  std::unique_ptr<sql::SqlBackend> backend;
  const std::vector<sql::EmbeddedFile>* migrations = nullptr;
  if (url == "sqlite::memory:") {
    ASSIGN_OR_RETURN(backend, sql::OpenSqliteBackend(":memory:", options));
    migrations = &sql::SqliteMigrations();
  } else if (absl::StartsWith(url, "sqlite://")) {
    std::string path = url.substr(9);  // "/abs" from sqlite:///abs
    if (path.empty() || path == "/") return Malformed(url, "no file path");
    if (path.find('?') != std::string::npos) {
      return Malformed(url, "query parameters are not supported for sqlite");
    }
    if (path.back() == '/') return Malformed(url, "the path is a directory");
    ASSIGN_OR_RETURN(backend, sql::OpenSqliteBackend(path, options));
    migrations = &sql::SqliteMigrations();
  } else if (absl::StartsWith(url, "postgresql://") ||
             absl::StartsWith(url, "postgres://")) {
    RETURN_IF_ERROR(CheckPostgresUrl(url, url.find("://") + 3));
    ASSIGN_OR_RETURN(backend, sql::OpenPostgresBackend(url, options));
    migrations = &sql::PostgresMigrations();
  } else if (url.empty()) {
    return Malformed(url, "empty");
  } else {
    return Malformed(url, "unknown scheme");
  }
  ASSIGN_OR_RETURN(auto store,
                   sql::SqlTrialStore::Create(std::move(backend), *migrations));
  return std::unique_ptr<TrialStore>(std::move(store));
}

}  // namespace nas::storage
