#include "storage/sql/group_commit.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace nas::storage::sql {

GroupCommitter::GroupCommitter(SqlBackend* backend, Hooks hooks,
                               size_t max_batch)
    : backend_(backend),
      hooks_(std::move(hooks)),
      max_batch_(std::max<size_t>(1, max_batch)),
      thread_([this] { Loop(); }) {}

GroupCommitter::~GroupCommitter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

std::shared_future<absl::Status> GroupCommitter::Submit(Op op) {
  Item item{std::move(op), {}};
  std::shared_future<absl::Status> done = item.done.get_future().share();
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    item.done.set_value(
        absl::FailedPreconditionError("the trial store is shutting down"));
    return done;
  }
  queue_.push_back(std::move(item));
  return done;
}

GroupCommitter::Stats GroupCommitter::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void GroupCommitter::Loop() {
  for (;;) {
    std::deque<Item> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](GroupCommitter* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->stopping_ || !c->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and nothing is left
      const size_t n = std::min(max_batch_, queue_.size());
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    RunBatch(batch);
  }
}

void GroupCommitter::RunBatch(std::deque<Item>& items) {
  std::vector<absl::Status> results(items.size());
  std::vector<size_t> live(items.size());
  for (size_t i = 0; i < live.size(); ++i) live[i] = i;
  const auto drop = [&live](size_t item) {
    live.erase(std::find(live.begin(), live.end(), item));
  };
  int64_t transactions = 0;
  bool one_by_one = false;
  while (!live.empty()) {
    const std::vector<size_t> now =
        one_by_one ? std::vector<size_t>{live.front()} : live;
    // An operation that failed of its own making: (item, its status).
    std::optional<std::pair<size_t, absl::Status>> own;
    ++transactions;
    const absl::Status s = backend_->Transact([&](SqlTx& tx) -> absl::Status {
      own.reset();
      hooks_.begin();
      for (size_t k = 0; k < now.size(); ++k) {
        absl::Status st = items[now[k]].op(tx, k);
        if (st.ok()) continue;
        if (!tx.broken()) {
          const std::optional<size_t> other = hooks_.culprit();
          own.emplace(now[other.has_value() && *other < now.size() ? *other
                                                                    : k],
                      st);
        }
        return st;
      }
      std::optional<size_t> blame;
      absl::Status f = hooks_.finish(tx, &blame);
      if (!f.ok() && !tx.broken() && blame.has_value() &&
          *blame < now.size()) {
        own.emplace(now[*blame], f);
      }
      return f;
    });
    if (s.ok()) hooks_.committed();
    if (own.has_value()) {
      results[own->first] = own->second;
      drop(own->first);
      continue;  // the others again, without it
    }
    if (s.ok() || now.size() == 1) {
      for (size_t i : now) {
        results[i] = s;
        drop(i);
      }
      continue;
    }
    one_by_one = true;  // a lasting failure: find whose it is
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.transactions += transactions;
    stats_.operations += static_cast<int64_t>(items.size());
  }
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].done.set_value(std::move(results[i]));
  }
}

}  // namespace nas::storage::sql
