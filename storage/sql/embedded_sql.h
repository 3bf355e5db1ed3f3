// EmbeddedFile: a .sql file compiled into the binary by embed_sql.bzl, so a
// binary needs no files at run time. Immutable static data: thread-safe.
#ifndef NAS_STORAGE_SQL_EMBEDDED_SQL_H_
#define NAS_STORAGE_SQL_EMBEDDED_SQL_H_

#include <vector>

namespace nas::storage::sql {

struct EmbeddedFile {
  // Base name, e.g. "0001_initial.sql". Migrations start with their version.
  const char* name;
  const char* contents;
};

// The migrations of each dialect, sorted by name (generated .cc files).
const std::vector<EmbeddedFile>& PostgresMigrations();
const std::vector<EmbeddedFile>& SqliteMigrations();

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_SQL_EMBEDDED_SQL_H_
