// GroupCommitter: runs the write operations that many threads submit in as
// few transactions as possible (group commit), in submission order.
//
// One committer thread takes every operation queued so far (up to
// max_batch), runs them one after another in one SqlBackend::Transact() and
// commits once: N concurrent writers pay for one commit (one fsync) instead
// of N. Each operation still succeeds or fails on its own:
// - an operation that returns an error of its own (a fence, a missing row:
//   the transaction is not broken()) is answered with that error and the
//   batch runs again without it, so it leaves no trace;
// - a transient database failure makes the backend run the batch again;
// - a lasting database failure (e.g. a full disk) is retried one operation
//   per transaction, so each operation gets its own verdict.
// Operations commit in submission order: one submitted after another (by
// any thread) never commits before it.
//
// Operations may run more than once (retries): they must assign, not append
// to, their outputs. They run on the committer thread; they must not call
// Submit() or Run().
//
// Thread-safety: Submit() and Run() are thread-safe.
#ifndef NAS_STORAGE_SQL_GROUP_COMMIT_H_
#define NAS_STORAGE_SQL_GROUP_COMMIT_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "storage/sql/sql_backend.h"

namespace nas::storage::sql {

class GroupCommitter {
 public:
  // One write. `index` identifies the operation within its transaction (for
  // Hooks::finish to blame).
  using Op = std::function<absl::Status(SqlTx& tx, size_t index)>;

  struct Hooks {
    // Before the first operation of each transaction attempt.
    std::function<void()> begin = [] {};
    // After the last operation, in the same transaction (deferred writes
    // shared by the batch). On an error of one operation's making it sets
    // `*blame` to that operation's index: the batch runs again without it.
    std::function<absl::Status(SqlTx& tx, std::optional<size_t>* blame)>
        finish = [](SqlTx&, std::optional<size_t>*) {
          return absl::OkStatus();
        };
    // After an operation failed of its own making: the index of the
    // operation at fault if it is another one (an operation may run work
    // that earlier ones deferred), else nullopt.
    std::function<std::optional<size_t>()> culprit = [] {
      return std::optional<size_t>();
    };
    // After a transaction committed (known to have; never after one whose
    // outcome is unknown).
    std::function<void()> committed = [] {};
  };

  struct Stats {
    int64_t transactions = 0;
    int64_t operations = 0;
  };

  GroupCommitter(SqlBackend* backend, Hooks hooks, size_t max_batch = 512);
  // Runs what is queued, then stops the committer thread.
  ~GroupCommitter();

  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `op`; the future is ready once it committed (OK) or failed.
  std::shared_future<absl::Status> Submit(Op op);
  // Submit() and wait.
  absl::Status Run(Op op) { return Submit(std::move(op)).get(); }

  Stats stats() const;

 private:
  struct Item {
    Op op;
    std::promise<absl::Status> done;
  };

  void Loop();
  // Runs `items` as one transaction (or fewer items, see the class comment)
  // and fulfils every promise.
  void RunBatch(std::deque<Item>& items);

  SqlBackend* const backend_;
  const Hooks hooks_;
  const size_t max_batch_;

  mutable absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace nas::storage::sql

#endif  // NAS_STORAGE_SQL_GROUP_COMMIT_H_
