// StoreOptions: tuning knobs shared by every TrialStore implementation.
//
// A plain value type: copy it freely. Defaults suit production; tests shorten
// the connect retries so an unreachable server fails fast.
#ifndef NAS_STORAGE_STORE_OPTIONS_H_
#define NAS_STORAGE_STORE_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace nas::storage {

struct StoreOptions {
  // PostgreSQL: connections kept open at most (the pool size).
  int pool_size = 16;
  // PostgreSQL: attempts to reach the server at start before UNAVAILABLE.
  int connect_attempts = 5;
  // Delay before the second connect attempt; doubles after each attempt.
  absl::Duration connect_backoff = absl::Milliseconds(200);
  // Attempts of one transaction that hits a serialization failure, a
  // deadlock, a busy database or a lost connection (>= 1).
  int transaction_attempts = 6;
  // Delay before the first retry of a transaction; doubles, with jitter.
  absl::Duration retry_backoff = absl::Milliseconds(5);
  // SQLite: how long a writer waits for another process's lock.
  absl::Duration busy_timeout = absl::Seconds(10);
  // SQLite: PRAGMA synchronous=FULL (true) or NORMAL (false). FULL makes
  // every commit durable on power loss; NORMAL only on process crash.
  bool sqlite_full_sync = true;
  // SQLite test hook: PRAGMA max_page_count (0: unlimited). A tiny value
  // simulates a full disk.
  int64_t sqlite_max_page_count = 0;
};

}  // namespace nas::storage

#endif  // NAS_STORAGE_STORE_OPTIONS_H_
