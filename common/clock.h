// Clock: the only way project code reads time, so tests can use FakeClock.
//
// RealClock is stateless and thread-safe. FakeClock is thread-safe; time only
// moves when a test calls Advance() or Set().
#ifndef NAS_COMMON_CLOCK_H_
#define NAS_COMMON_CLOCK_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace nas {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Unix time in milliseconds, the unit of every *_ms field in the API.
  int64_t NowMs() { return absl::ToUnixMillis(Now()); }

  // A process-wide real clock (never deleted).
  static Clock* Real();
};

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas

#endif  // NAS_COMMON_CLOCK_H_
