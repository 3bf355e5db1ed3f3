// Clock: the only way project code reads time, so tests can use FakeClock.
//
// RealClock is stateless and thread-safe. FakeClock is thread-safe; time only
// moves when a test calls Advance() or Set(). OffsetClock (thread-safe) is the
// real clock plus an offset that may change at any time: the fault tests step
// a running controller's clock with it (nas-controller --clock_offset_file).
#ifndef NAS_COMMON_CLOCK_H_
#define NAS_COMMON_CLOCK_H_

#include <atomic>
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

class OffsetClock : public Clock {
 public:
  absl::Time Now() override {
    return absl::Now() +
           absl::Milliseconds(offset_ms_.load(std::memory_order_relaxed));
  }
  void SetOffset(absl::Duration offset) {
    offset_ms_.store(absl::ToInt64Milliseconds(offset),
                     std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> offset_ms_{0};
};

}  // namespace nas

#endif  // NAS_COMMON_CLOCK_H_
