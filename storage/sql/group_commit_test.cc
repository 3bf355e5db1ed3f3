#include "storage/sql/group_commit.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/sqlite/sqlite_backend.h"

namespace nas::storage::sql {
namespace {

using ::nas::testing::IsOk;
using ::nas::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = OpenSqliteBackend(":memory:", StoreOptions());
    ASSERT_THAT(backend.status(), IsOk());
    backend_ = *std::move(backend);
    ASSERT_THAT(backend_->Transact([](SqlTx& tx) {
      return tx.ExecScript("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
    }),
                IsOk());
  }

  // An operation inserting row k.
  static GroupCommitter::Op Insert(int64_t k) {
    return [k](SqlTx& tx, size_t) {
      return tx.Query("INSERT INTO t (k, v) VALUES ($1, $2)",
                      {k, absl::StrCat("v", k)})
          .status();
    };
  }

  std::vector<int64_t> Keys() {
    std::vector<int64_t> keys;
    EXPECT_THAT(backend_->Transact([&](SqlTx& tx) -> absl::Status {
      auto rows = tx.Query("SELECT k FROM t ORDER BY k", {});
      if (!rows.ok()) return rows.status();
      keys.clear();
      for (const auto& r : *rows) keys.push_back(std::stoll(*r[0]));
      return absl::OkStatus();
    }),
                IsOk());
    return keys;
  }

  std::unique_ptr<SqlBackend> backend_;
};

// Holds the committer in its first transaction until released, so that what
// is submitted meanwhile forms one batch.
struct Gate {
  absl::Notification entered, release;
  // Submits the holding operation and returns once the committer runs it.
  std::shared_future<absl::Status> Hold(GroupCommitter& committer) {
    auto done = committer.Submit([this](SqlTx&, size_t) {
      entered.Notify();
      release.WaitForNotification();
      return absl::OkStatus();
    });
    entered.WaitForNotification();
    return done;
  }
};

TEST_F(GroupCommitTest, QueuedWritesShareOneTransaction) {
  GroupCommitter committer(backend_.get(), {});
  Gate gate;
  auto first = gate.Hold(committer);
  std::vector<std::shared_future<absl::Status>> done;
  for (int k = 1; k <= 20; ++k) done.push_back(committer.Submit(Insert(k)));
  gate.release.Notify();
  EXPECT_THAT(first.get(), IsOk());
  for (auto& d : done) EXPECT_THAT(d.get(), IsOk());
  EXPECT_EQ(Keys().size(), 20u);
  const GroupCommitter::Stats stats = committer.stats();
  EXPECT_EQ(stats.operations, 21);
  EXPECT_EQ(stats.transactions, 2);  // the gate's, then all 20 together
}

TEST_F(GroupCommitTest, AnOperationsOwnErrorLeavesNoTraceAndSparesTheOthers) {
  // Only the committer thread calls the hooks.
  int begun = 0, committed = 0;
  GroupCommitter::Hooks hooks;
  hooks.begin = [&] { ++begun; };
  hooks.committed = [&] { ++committed; };
  GroupCommitter committer(backend_.get(), hooks);
  Gate gate;
  auto first = gate.Hold(committer);
  auto a = committer.Submit(Insert(1));
  // Writes, then refuses by its own check: its write must be undone.
  auto refused = committer.Submit([](SqlTx& tx, size_t) -> absl::Status {
    absl::Status s =
        tx.Query("INSERT INTO t (k, v) VALUES (2, 'x')", {}).status();
    if (!s.ok()) return s;
    return absl::FailedPreconditionError("attempt 1 is stale");
  });
  auto b = committer.Submit(Insert(3));
  gate.release.Notify();
  EXPECT_THAT(first.get(), IsOk());
  EXPECT_THAT(a.get(), IsOk());
  EXPECT_THAT(refused.get(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                      HasSubstr("stale")));
  EXPECT_THAT(b.get(), IsOk());
  EXPECT_THAT(Keys(), ElementsAre(1, 3));
  // The gate's transaction, the batch that failed, the batch without the
  // refused write; the failed one is not reported as committed.
  EXPECT_EQ(begun, 3);
  EXPECT_EQ(committed, 2);
}

TEST_F(GroupCommitTest, ADatabaseErrorIsTheFailingOperationsAlone) {
  GroupCommitter committer(backend_.get(), {});
  Gate gate;
  auto first = gate.Hold(committer);
  auto a = committer.Submit(Insert(1));
  auto duplicate = committer.Submit(Insert(1));  // primary key violation
  auto b = committer.Submit(Insert(2));
  gate.release.Notify();
  EXPECT_THAT(first.get(), IsOk());
  EXPECT_THAT(a.get(), IsOk());
  EXPECT_FALSE(duplicate.get().ok());
  EXPECT_THAT(b.get(), IsOk());
  EXPECT_THAT(Keys(), ElementsAre(1, 2));
}

TEST_F(GroupCommitTest, FinishBlamesOneOperationWhichIsDropped) {
  GroupCommitter::Hooks hooks;
  // Refuses any transaction holding an operation that staged key 2.
  std::vector<int64_t> staged;
  hooks.begin = [&] { staged.clear(); };
  hooks.finish = [&](SqlTx&, std::optional<size_t>* blame) -> absl::Status {
    for (size_t i = 0; i < staged.size(); ++i) {
      if (staged[i] == 2) {
        *blame = i;
        return absl::FailedPreconditionError("key 2 is not allowed");
      }
    }
    return absl::OkStatus();
  };
  GroupCommitter committer(backend_.get(), hooks);
  Gate gate;
  auto first = gate.Hold(committer);
  std::vector<std::shared_future<absl::Status>> done;
  for (int64_t k = 1; k <= 3; ++k) {
    done.push_back(committer.Submit([&, k](SqlTx& tx, size_t index) {
      staged.resize(index + 1);
      staged[index] = k;
      return Insert(k)(tx, index);
    }));
  }
  gate.release.Notify();
  EXPECT_THAT(first.get(), IsOk());
  EXPECT_THAT(done[0].get(), IsOk());
  EXPECT_THAT(done[1].get(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(done[2].get(), IsOk());
  EXPECT_THAT(Keys(), ElementsAre(1, 3));
}

TEST_F(GroupCommitTest, ManyThreadsAllCommitInFewerTransactions) {
  GroupCommitter committer(backend_.get(), {});
  std::vector<std::thread> threads;
  for (int c = 0; c < 8; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < 50; ++i) {
        EXPECT_THAT(committer.Run(Insert(c * 1000 + i)), IsOk());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Keys().size(), 400u);
  EXPECT_EQ(committer.stats().operations, 400);
}

TEST_F(GroupCommitTest, SubmittedBeforeDestructionStillCommits) {
  std::shared_future<absl::Status> done;
  {
    GroupCommitter committer(backend_.get(), {});
    for (int k = 1; k <= 5; ++k) done = committer.Submit(Insert(k));
  }
  EXPECT_THAT(done.get(), IsOk());
  EXPECT_EQ(Keys().size(), 5u);
}

}  // namespace
}  // namespace nas::storage::sql
