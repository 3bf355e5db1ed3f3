// Real processes on a real PostgreSQL store: the nas-controller binary, real
// nas-worker binaries (table evaluator, --threads=1) and nasctl, each test on
// a fresh database of the private server (NAS_TEST_PG_ADMIN_DSN, started by
// tools/test.sh). Workers use a `worker` token, nasctl an `admin` one.
//
// After each scenario SQL checks the invariants directly in the store: the
// job completed exactly its budget of distinct architectures, no completion
// was counted twice, and no lease is left (no LEASED/RUNNING row).
//
// Every child is killed (SIGKILL) at the end of its test, also on failure,
// and dies with the test binary if that crashes (tests/child_process.h).
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "pqxx/pqxx"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/testing/pg_test_env.h"
#include "storage/testing/trial_store_conformance.h"
#include "tests/child_process.h"
#include "tests/nb201_table.h"

namespace nas {
namespace {

using ::nas::testing::ChildProcess;
using ::nas::testing::Finished;
using ::testing::HasSubstr;

constexpr char kController[] = "controller/service/nas-controller";
constexpr char kWorker[] = "worker/nas-worker";
constexpr char kNasctl[] = "cli/nasctl";
constexpr char kAdminToken[] = "admin-7f3a9c";
constexpr char kWorkerToken[] = "fleet-42be11";
constexpr char kReadToken[] = "dash-0c9d2e";
// Generous: a loaded 2-core machine; every wait polls for its condition.
constexpr absl::Duration kJobTimeout = absl::Seconds(45);
constexpr int kSucceeded = 4;                        // trial_states
constexpr int kJobSucceeded = 3, kJobCancelled = 4;  // job_states

// One integer from `sql` (NULL reads as 0).
absl::StatusOr<int64_t> SqlInt(const std::string& url, const std::string& sql) {
  try {
    pqxx::connection connection(url);
    pqxx::nontransaction txn(connection);
    const pqxx::row row = txn.exec1(sql);
    return row[0].is_null() ? 0 : row[0].as<int64_t>();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(sql, ": ", e.what()));
  }
}

bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = kJobTimeout) {
  return testing::WaitFor(condition, timeout);
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::testing::NewPostgresDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    if (*db == nullptr) GTEST_SKIP() << "no PostgreSQL (run tools/test.sh)";
    db_ = *std::move(db);
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = tmp != nullptr ? tmp : "/tmp";
    WriteFile("controller.tokens",
              absl::StrCat("# test tokens\n", kAdminToken, "\n", kWorkerToken,
                           " worker\n", kReadToken, " read\n"));
    WriteFile("worker.token", kWorkerToken);
    WriteFile("admin.token", kAdminToken);
    WriteFile("read.token", kReadToken);
    absl::StatusOr<int> port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = absl::StrCat("127.0.0.1:", *port);
    setenv("GLOG_logtostderr", "1", 1);  // children log into test.log
  }

  void WriteFile(const std::string& name, const std::string& contents) {
    std::ofstream(absl::StrCat(dir_, "/", name)) << contents;
  }
  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // (Re)starts the controller on address_ (the same port every time).
  void StartController(int lease_seconds) {
    absl::StatusOr<std::string> line = controller_.Start(
        {kController, "--listen=" + address_,
         "--metrics_listen=", absl::StrCat("--lease_seconds=", lease_seconds),
         "--store=" + db_->url(),
         "--auth_token_file=" + Path("controller.tokens")},
        /*first_line=*/true);
    ASSERT_TRUE(line.ok()) << line.status();
    ASSERT_THAT(*line, HasSubstr("listening on port"));
  }

  ChildProcess& StartWorker(const std::string& name) {
    auto worker = std::make_unique<ChildProcess>();
    absl::StatusOr<std::string> started = worker->Start(
        {kWorker, "--controller=" + address_, "--threads=1", "--name=" + name,
         "--auth_token_file=" + Path("worker.token")});
    EXPECT_TRUE(started.ok()) << started.status();
    workers_.push_back(std::move(worker));
    return *workers_.back();
  }

  absl::StatusOr<Finished> Nasctl(std::vector<std::string> args,
                                  const std::string& token = "admin.token") {
    args.insert(args.begin(), {kNasctl, "--controller=" + address_,
                               "--token_file=" + Path(token)});
    return testing::RunToEnd(args);
  }

  std::string CreateJob(int64_t budget, double simulated_seconds) {
    nas::v1::CreateJobRequest create;
    nas::v1::JobSpec* spec = create.mutable_spec();
    spec->set_name("process-test");
    spec->mutable_search_space()->mutable_nb201();
    spec->mutable_strategy()->mutable_random()->Clear();
    spec->mutable_strategy()->set_seed(7);
    nas::v1::Objective* objective = spec->add_objectives();
    objective->set_metric("cifar10_valid_12ep");
    objective->set_direction(nas::v1::MAXIMIZE);
    nas::v1::TableEvaluation* table =
        spec->mutable_evaluation()->mutable_table();
    table->set_path(testing::kNb201Table);
    table->set_simulated_seconds(simulated_seconds);
    spec->mutable_budget()->set_max_trials(budget);
    auto search = nas::v1::SearchService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminToken));
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    context.set_wait_for_ready(true);
    nas::v1::Job job;
    const grpc::Status status = search->CreateJob(&context, create, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return job.id();
  }

  // An integer from SQL in which `$job` stands for the quoted job id (-1 on
  // error, which fails the test).
  int64_t Sql(const std::string& sql, const std::string& job_id) {
    std::string query = sql;
    const std::string quoted = absl::StrCat("'", job_id, "'");
    for (size_t at; (at = query.find("$job")) != std::string::npos;) {
      query.replace(at, 4, quoted);
    }
    absl::StatusOr<int64_t> value = SqlInt(db_->url(), query);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : -1;
  }
  int64_t Succeeded(const std::string& job_id) {
    return Sql("SELECT count(*) FROM trials WHERE job_id = $job AND state = 4",
               job_id);
  }
  int64_t Active(const std::string& job_id) {
    return Sql(
        "SELECT count(*) FROM trials WHERE job_id = $job AND state IN (2, 3)",
        job_id);
  }
  int64_t JobState(const std::string& job_id) {
    return Sql("SELECT state FROM jobs WHERE id = $job", job_id);
  }

  // The invariants of a job that ended with `succeeded` trials.
  void ExpectEndedCleanly(const std::string& job_id, int64_t succeeded) {
    EXPECT_EQ(Succeeded(job_id), succeeded);
    EXPECT_EQ(Sql("SELECT count(DISTINCT architecture_id) FROM trials "
                  "WHERE job_id = $job AND state = 4",
                  job_id),
              succeeded);
    // No architecture succeeded twice, no completion counted twice.
    EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT architecture_id FROM trials "
                  "WHERE job_id = $job AND state = 4 GROUP BY architecture_id "
                  "HAVING count(*) > 1) twice",
                  job_id),
              0);
    EXPECT_EQ(Sql("SELECT sum(succeeded) FROM job_trial_counts "
                  "WHERE job_id = $job",
                  job_id),
              succeeded);
    EXPECT_EQ(Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
                  "state = 4 AND (metrics IS NULL OR end_time_ms IS NULL)",
                  job_id),
              0);
    EXPECT_TRUE(WaitFor([&] { return Active(job_id) == 0; }))
        << "leases still held after the job ended";
  }

  std::unique_ptr<storage::testing::StoreEnv> db_;  // dropped last
  std::string dir_;
  std::string address_;
  ChildProcess controller_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

TEST_F(ProcessTest, KilledWorkersLeaseExpiresAndAnotherWorkerFinishesTheTrial) {
  StartController(/*lease_seconds=*/2);
  constexpr int64_t kBudget = 8;
  const std::string job_id = CreateJob(kBudget, /*simulated_seconds=*/1.5);
  ASSERT_FALSE(job_id.empty());

  // w0 alone leases a trial; kill -9 it while the trial is running.
  ChildProcess& w0 = StartWorker("w0");
  const std::string held_by_w0 =
      "SELECT min(t.id) FROM trials t JOIN workers w ON w.id = t.worker_id "
      "WHERE t.job_id = $job AND w.name = 'w0' AND t.state IN (2, 3)";
  ASSERT_TRUE(WaitFor([&] { return Sql(held_by_w0, job_id) > 0; }));
  w0.Kill();
  const int64_t orphan = Sql(held_by_w0, job_id);
  ASSERT_GT(orphan, 0) << "w0 finished its trial before the kill landed";

  StartWorker("w1");
  StartWorker("w2");
  ASSERT_TRUE(WaitFor([&] { return JobState(job_id) == kJobSucceeded; }))
      << Succeeded(job_id) << " of " << kBudget << " succeeded";
  ExpectEndedCleanly(job_id, kBudget);
  EXPECT_EQ(Sql(absl::StrCat("SELECT t.state FROM trials t WHERE t.job_id = "
                             "$job AND t.id = ",
                             orphan),
                job_id),
            kSucceeded);
  EXPECT_EQ(Sql(absl::StrCat("SELECT t.lease_expirations FROM trials t WHERE "
                             "t.job_id = $job AND t.id = ",
                             orphan),
                job_id),
            1);
  EXPECT_EQ(Sql(absl::StrCat("SELECT count(*) FROM trials t JOIN workers w ON "
                             "w.id = t.worker_id WHERE t.job_id = $job AND "
                             "w.name IN ('w1', 'w2') AND t.id = ",
                             orphan),
                job_id),
            1);
}

TEST_F(ProcessTest, ControllerKilledTwiceMidJobStillCompletesExactlyTheBudget) {
  StartController(/*lease_seconds=*/2);
  constexpr int64_t kBudget = 40;
  const std::string job_id = CreateJob(kBudget, /*simulated_seconds=*/0.2);
  ASSERT_FALSE(job_id.empty());
  StartWorker("w0");
  StartWorker("w1");
  for (int64_t kill_at : {10, 22}) {
    int64_t at = 0;
    ASSERT_TRUE(WaitFor([&] { return (at = Succeeded(job_id)) >= kill_at; }))
        << at << " succeeded";
    EXPECT_LT(at, kBudget);  // the kill lands in the middle of the job
    controller_.Kill();
    StartController(/*lease_seconds=*/2);
  }
  ASSERT_TRUE(WaitFor([&] { return JobState(job_id) == kJobSucceeded; }))
      << Succeeded(job_id) << " of " << kBudget << " succeeded";
  ExpectEndedCleanly(job_id, kBudget);
}

TEST_F(ProcessTest, PauseResumeExtendAndCancelThroughNasctl) {
  StartController(/*lease_seconds=*/5);
  const std::string job_id = CreateJob(6, /*simulated_seconds=*/0.3);
  ASSERT_FALSE(job_id.empty());
  StartWorker("w0");
  ASSERT_TRUE(WaitFor([&] { return Succeeded(job_id) >= 1; }));

  absl::StatusOr<Finished> run = Nasctl({"pause", job_id});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->out;
  EXPECT_THAT(run->out, HasSubstr("paused"));
  // The running trial finishes; no new one is leased while paused.
  ASSERT_TRUE(WaitFor([&] { return Active(job_id) == 0; }));
  run = Nasctl({"status", job_id}, "read.token");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->out, HasSubstr("paused"));
  EXPECT_LT(Succeeded(job_id), 6);

  run = Nasctl({"resume", job_id});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->out, HasSubstr("running"));
  ASSERT_TRUE(WaitFor([&] { return JobState(job_id) == kJobSucceeded; }));
  ExpectEndedCleanly(job_id, 6);

  run = Nasctl({"extend", job_id, "--trials", "3"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->out;
  EXPECT_THAT(run->out, HasSubstr("budget 9 trials"));
  ASSERT_TRUE(WaitFor([&] {
    return JobState(job_id) == kJobSucceeded && Succeeded(job_id) == 9;
  }));
  ExpectEndedCleanly(job_id, 9);
  run = Nasctl({"watch", job_id}, "read.token");  // ended: returns at once
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_THAT(run->out, HasSubstr("succeeded"));

  // A second job, cancelled while a trial runs; a read token may not cancel.
  const std::string doomed = CreateJob(50, /*simulated_seconds=*/0.3);
  ASSERT_TRUE(WaitFor([&] { return Succeeded(doomed) >= 1; }));
  run = Nasctl({"cancel", doomed}, "read.token");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_NE(run->exit_code, 0);
  EXPECT_EQ(JobState(doomed), 1);  // still RUNNING
  run = Nasctl({"cancel", doomed});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->out;
  EXPECT_THAT(run->out, HasSubstr("cancelled"));
  EXPECT_EQ(JobState(doomed), kJobCancelled);
  const int64_t done = Succeeded(doomed);
  EXPECT_LT(done, 50);
  EXPECT_TRUE(WaitFor([&] { return Active(doomed) == 0; }));
  EXPECT_EQ(Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
                "state = 1",
                doomed),
            0);  // nothing left pending either
  ExpectEndedCleanly(doomed, Succeeded(doomed));
}

}  // namespace
}  // namespace nas

namespace nas::storage::testing {
// pg_test_env links the store conformance suite; this binary runs none of it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TrialStoreConformanceTest);
}  // namespace nas::storage::testing
