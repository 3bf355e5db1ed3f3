// LoadOnceCache<T>: immutable values loaded on first use and shared
// afterwards, keyed by a string (a path, or dataset + directory).
//
// Get() holds the cache's mutex while loading, so a key is loaded at most
// once even under concurrent calls; failed loads are not cached. Thread-safe.
// Values are shared (std::shared_ptr<const T>) and outlive the cache if held.
#ifndef NAS_WORKER_EVAL_LOAD_ONCE_CACHE_H_
#define NAS_WORKER_EVAL_LOAD_ONCE_CACHE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace nas::worker {

template <typename T>
class LoadOnceCache {
 public:
  using Loader = std::function<absl::StatusOr<std::shared_ptr<const T>>()>;

  // The value cached under `key`, or the result of `load` (cached if OK).
  absl::StatusOr<std::shared_ptr<const T>> Get(const std::string& key,
                                               const Loader& load) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
    absl::StatusOr<std::shared_ptr<const T>> loaded = load();
    if (loaded.ok()) entries_[key] = *loaded;
    return loaded;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const T>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace nas::worker

#endif  // NAS_WORKER_EVAL_LOAD_ONCE_CACHE_H_
