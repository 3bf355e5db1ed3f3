// Fault suite: one NAS-Bench-201 table job (regularized evolution, the table
// evaluator) per scenario, run by four real nas-worker processes against the
// real nas-controller process on a fresh database of the private PostgreSQL
// server (NAS_TEST_PG_ADMIN_DSN), while faults are injected:
//
//   controller_kill9   kill -9 the controller 3 times at seeded random points
//                      and restart it on the same store and port;
//   worker_kill9       kill -9 a worker holding a trial, 3 times, and start a
//                      replacement each time;
//   db_connections     terminate the controller's database connections 3
//                      times (pg_terminate_backend), then refuse connections
//                      for a second (ALLOW_CONNECTIONS false): a lost database
//                      without restarting the server the other tests share;
//   worker_stall       SIGSTOP a worker holding a trial past its lease, then
//                      SIGCONT (its late report must be refused), twice;
//   clock_step         step the controller's clock (--clock_offset_file)
//                      forward past every lease, back, and backwards.
//
// After each scenario SQL checks the store: exactly the budget of distinct
// SUCCEEDED architectures (none lost, none counted twice), no LEASED/RUNNING
// trial and no lease deadline left, and the newest strategy snapshot matches
// the trials (see ExpectSnapshotMatchesTrials). A table of the scenarios is
// printed at the end (tests/faults/README.md).
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/unknown_field_set.h"
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
using ::testing::HasSubstr;

constexpr char kController[] = "controller/service/nas-controller";
constexpr char kWorker[] = "worker/nas-worker";
constexpr int64_t kBudget = 300;
constexpr int kWorkers = 4;
constexpr int kPopulation = 20;
constexpr int kLeaseSeconds = 2;
constexpr double kSimulatedSeconds = 0.02;
constexpr absl::Duration kJobTimeout = absl::Seconds(90);
constexpr int kJobSucceeded = 3;  // job_states

struct Row {
  std::string scenario;
  std::string faults;
  int64_t lost = 0;
  absl::Duration wall;
};
std::vector<Row>& Rows() {
  static auto* rows = new std::vector<Row>;
  return *rows;
}

bool WaitFor(const std::function<bool()>& condition,
             absl::Duration timeout = kJobTimeout) {
  return testing::WaitFor(condition, timeout, absl::Milliseconds(20));
}

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = storage::testing::NewPostgresDatabase();
    ASSERT_TRUE(db.ok()) << db.status();
    if (*db == nullptr) GTEST_SKIP() << "no PostgreSQL (run tools/test.sh)";
    db_ = *std::move(db);
    const char* tmp = std::getenv("TEST_TMPDIR");
    clock_file_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/clock-",
                               ::testing::UnitTest::GetInstance()
                                   ->current_test_info()
                                   ->name());
    SetClockOffset(absl::ZeroDuration());
    absl::StatusOr<int> port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = absl::StrCat("127.0.0.1:", *port);
    setenv("GLOG_logtostderr", "1", 1);  // children log into test.log
    setenv("GLOG_minloglevel", "1", 1);  // warnings and up: a readable log
    start_ = absl::Now();
  }

  // Restarts the controller on address_ (the same port every time).
  void StartController() {
    absl::StatusOr<std::string> line = controller_.Start(
        {kController, "--listen=" + address_, "--metrics_listen=",
         absl::StrCat("--lease_seconds=", kLeaseSeconds),
         "--store=" + db_->url(), "--artifact_dir=off",
         "--clock_offset_file=" + clock_file_},
        /*first_line=*/true);
    ASSERT_TRUE(line.ok()) << line.status();
    ASSERT_THAT(*line, HasSubstr("listening on port"));
  }

  ChildProcess& StartWorker() {
    auto worker = std::make_unique<ChildProcess>();
    const std::string name = absl::StrCat("w", workers_.size());
    absl::StatusOr<std::string> started =
        worker->Start({kWorker, "--controller=" + address_, "--threads=1",
                       "--name=" + name});
    EXPECT_TRUE(started.ok()) << started.status();
    workers_.push_back(std::move(worker));
    return *workers_.back();
  }

  void SetClockOffset(absl::Duration offset) {
    std::ofstream(clock_file_) << absl::ToInt64Milliseconds(offset) << "\n";
  }

  // Controller, kWorkers workers and the job; returns its id.
  std::string StartJob() {
    StartController();
    nas::v1::CreateJobRequest create;
    nas::v1::JobSpec* spec = create.mutable_spec();
    spec->set_name("fault-suite");
    spec->mutable_search_space()->mutable_nb201();
    nas::v1::RegularizedEvolution* evolution =
        spec->mutable_strategy()->mutable_regularized_evolution();
    evolution->set_population(kPopulation);
    evolution->set_sample_size(5);
    spec->mutable_strategy()->set_seed(11);
    nas::v1::Objective* objective = spec->add_objectives();
    objective->set_metric("cifar10_valid_12ep");
    objective->set_direction(nas::v1::MAXIMIZE);
    nas::v1::TableEvaluation* table =
        spec->mutable_evaluation()->mutable_table();
    table->set_path(testing::kNb201Table);
    table->set_simulated_seconds(kSimulatedSeconds);
    spec->mutable_budget()->set_max_trials(kBudget);
    auto search = nas::v1::SearchService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    context.set_wait_for_ready(true);
    nas::v1::Job job;
    const grpc::Status status = search->CreateJob(&context, create, &job);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (int i = 0; i < kWorkers; ++i) StartWorker();
    return job.id();
  }

  // Rows of `sql` in which `$job` stands for the quoted job id (fails the
  // test on error).
  pqxx::result Query(const std::string& sql) {
    std::string query = sql;
    const std::string quoted = absl::StrCat("'", job_id_, "'");
    for (size_t at; (at = query.find("$job")) != std::string::npos;) {
      query.replace(at, 4, quoted);
    }
    try {
      pqxx::connection connection(db_->url());
      pqxx::nontransaction txn(connection);
      return txn.exec(query);
    } catch (const std::exception& e) {
      ADD_FAILURE() << query << ": " << e.what();
      return pqxx::result();
    }
  }
  // One integer (NULL reads as 0, an error as -1).
  int64_t Sql(const std::string& sql) {
    pqxx::result rows = Query(sql);
    if (rows.size() != 1) return -1;
    return rows[0][0].is_null() ? 0 : rows[0][0].as<int64_t>();
  }
  int64_t Succeeded() {
    return Sql("SELECT count(*) FROM trials WHERE job_id = $job AND state = 4");
  }

  // `count` distinct progress points (SUCCEEDED counts) within the middle
  // of the job, drawn from a seeded generator, ascending.
  std::vector<int64_t> FaultPoints(int count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int64_t> in_middle(kBudget / 10,
                                                     kBudget * 8 / 10);
    std::vector<int64_t> points;
    while (static_cast<int>(points.size()) < count) {
      const int64_t p = in_middle(rng);
      if (std::find(points.begin(), points.end(), p) == points.end()) {
        points.push_back(p);
      }
    }
    std::sort(points.begin(), points.end());
    return points;
  }
  // Waits until `at` trials succeeded; false (and a failure) if the job
  // ended or stalled before.
  bool WaitForProgress(int64_t at) {
    int64_t done = 0;
    const bool reached = WaitFor([&] { return (done = Succeeded()) >= at; });
    EXPECT_TRUE(reached) << done << " of " << kBudget << " succeeded";
    EXPECT_LT(done, kBudget) << "the fault lands after the job's end";
    return reached && done < kBudget;
  }

  // The index (into workers_) of a live worker holding an active trial, and
  // that trial's id; waits for one.
  std::pair<int, int64_t> BusyWorker() {
    std::pair<int, int64_t> busy = {-1, 0};
    EXPECT_TRUE(WaitFor([&] {
      pqxx::result rows = Query(
          "SELECT w.name, t.id FROM trials t JOIN workers w ON "
          "w.id = t.worker_id WHERE t.job_id = $job AND t.state IN (2, 3) "
          "ORDER BY t.id");
      for (const pqxx::row& row : rows) {
        const int index = std::atoi(row[0].c_str() + 1);
        if (index >= 0 && index < static_cast<int>(workers_.size()) &&
            workers_[index]->running()) {
          busy = {index, row[1].as<int64_t>()};
          return true;
        }
      }
      return false;
    }));
    return busy;
  }

  // Waits for the job's end, checks every invariant and records the row.
  void FinishScenario(const std::string& scenario, const std::string& faults) {
    const bool ended = WaitFor([&] {
      return Sql("SELECT state FROM jobs WHERE id = $job") == kJobSucceeded;
    });
    EXPECT_TRUE(ended) << Succeeded() << " of " << kBudget << " succeeded";
    const absl::Duration wall = absl::Now() - start_;
    const int64_t distinct = Sql(
        "SELECT count(DISTINCT architecture_id) FROM trials "
        "WHERE job_id = $job AND state = 4");
    Rows().push_back({scenario, faults, kBudget - distinct, wall});
    ExpectStoreInvariants();
    ExpectSnapshotMatchesTrials();
  }

  void ExpectStoreInvariants() {
    // Exactly the budget, each a distinct architecture (NB201 has 15,625;
    // the spec allows no duplicate), none lost.
    EXPECT_EQ(Succeeded(), kBudget);
    EXPECT_EQ(Sql("SELECT count(DISTINCT architecture_id) FROM trials "
                  "WHERE job_id = $job AND state = 4"),
              kBudget);
    // No architecture evaluated into two SUCCEEDED rows, and no completion
    // counted twice: the counters (kept in the transitions) equal the rows.
    EXPECT_EQ(Sql("SELECT count(*) FROM (SELECT architecture_id FROM trials "
                  "WHERE job_id = $job AND state = 4 GROUP BY architecture_id "
                  "HAVING count(*) > 1) twice"),
              0);
    EXPECT_EQ(Sql("SELECT sum(succeeded) FROM job_trial_counts "
                  "WHERE job_id = $job"),
              kBudget);
    for (const char* state : {"pending", "leased", "running", "failed"}) {
      EXPECT_EQ(Sql(absl::StrCat("SELECT sum(", state, ") FROM "
                                 "job_trial_counts WHERE job_id = $job")),
                0)
          << state;
    }
    // Every SUCCEEDED row has its result, written by one attempt.
    EXPECT_EQ(Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
                  "state = 4 AND (metrics IS NULL OR end_time_ms IS NULL OR "
                  "primary_objective IS NULL OR attempt < 1)"),
              0);
    // Every lease ended: no active trial, no deadline on an ended trial.
    EXPECT_TRUE(WaitFor(
        [&] {
          return Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
                     "state IN (2, 3)") == 0;
        },
        absl::Seconds(10)))
        << "leases still held after the job ended";
    EXPECT_EQ(Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
                  "lease_deadline_ms IS NOT NULL"),
              0);
  }

  // The newest strategy snapshot against the trials it saw. Regularized
  // evolution saves its population (the kPopulation most recent results,
  // strategy_state.proto: StrategyState.population = 6, MemberState.fitness
  // = 3, the maximized objective itself). Read without the private proto:
  //  - the population is full (kPopulation members, the job saw more);
  //  - as a multiset, every member is the primary objective of a SUCCEEDED
  //    trial of the job: nothing the store lost, nothing observed twice;
  //  - versions grow by at least one per stored transition that carries a
  //    snapshot (each completion, each inserted batch: one creation time).
  void ExpectSnapshotMatchesTrials() {
    pqxx::result newest = Query(
        "SELECT version, state FROM strategy_snapshots WHERE job_id = $job "
        "ORDER BY version DESC LIMIT 1");
    ASSERT_EQ(newest.size(), 1u) << "no strategy snapshot";
    const int64_t version = newest[0][0].as<int64_t>();
    const pqxx::binarystring bytes(newest[0][1]);
    google::protobuf::UnknownFieldSet state;
    ASSERT_TRUE(state.ParseFromString(bytes.str()));
    std::multiset<double> population;
    for (int i = 0; i < state.field_count(); ++i) {
      const google::protobuf::UnknownField& field = state.field(i);
      if (field.number() != 6) continue;
      ASSERT_EQ(field.type(), google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED);
      google::protobuf::UnknownFieldSet member;
      ASSERT_TRUE(member.ParseFromString(field.length_delimited()));
      double fitness = -1;
      for (int j = 0; j < member.field_count(); ++j) {
        if (member.field(j).number() == 3) {
          uint64_t bits = member.field(j).fixed64();
          std::memcpy(&fitness, &bits, sizeof(fitness));
        }
      }
      population.insert(fitness);
    }
    EXPECT_EQ(population.size(), static_cast<size_t>(kPopulation));
    std::multiset<double> results;
    for (const pqxx::row& row :
         Query("SELECT primary_objective FROM trials WHERE job_id = $job AND "
               "state = 4")) {
      results.insert(row[0].as<double>());
    }
    std::vector<double> unexplained;
    std::set_difference(population.begin(), population.end(), results.begin(),
                        results.end(), std::back_inserter(unexplained));
    EXPECT_THAT(unexplained, ::testing::IsEmpty())
        << "population members that are no stored result (or seen twice)";
    const int64_t transitions =
        Sql("SELECT count(*) FROM trials WHERE job_id = $job AND "
            "state IN (4, 5, 6)") +
        Sql("SELECT count(DISTINCT create_time_ms) FROM trials "
            "WHERE job_id = $job");
    EXPECT_GE(version, transitions);
  }

  std::unique_ptr<storage::testing::StoreEnv> db_;  // dropped last
  std::string clock_file_;
  std::string address_;
  std::string job_id_;
  absl::Time start_;
  ChildProcess controller_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

TEST_F(FaultTest, ControllerKilled) {
  job_id_ = StartJob();
  ASSERT_FALSE(job_id_.empty());
  for (int64_t at : FaultPoints(3, /*seed=*/1)) {
    if (!WaitForProgress(at)) break;
    controller_.Kill();
    StartController();
  }
  FinishScenario("controller_kill9", "3 x kill -9 controller + restart");
}

TEST_F(FaultTest, WorkersKilled) {
  job_id_ = StartJob();
  ASSERT_FALSE(job_id_.empty());
  std::vector<int64_t> orphans;
  for (int64_t at : FaultPoints(3, /*seed=*/2)) {
    if (!WaitForProgress(at)) break;
    const auto [index, trial] = BusyWorker();
    ASSERT_GE(index, 0);
    workers_[index]->Kill();
    orphans.push_back(trial);
    StartWorker();
  }
  FinishScenario("worker_kill9", "3 x kill -9 busy worker + replacement");
  // A killed worker's trial was finished by someone else or, if it was
  // reported just before the kill, by it.
  for (int64_t trial : orphans) {
    EXPECT_EQ(Sql(absl::StrCat("SELECT state FROM trials WHERE id = ", trial)),
              4)
        << "trial " << trial;
  }
}

TEST_F(FaultTest, DatabaseConnectionsLost) {
  job_id_ = StartJob();
  ASSERT_FALSE(job_id_.empty());
  std::vector<int64_t> points = FaultPoints(4, /*seed=*/3);
  int64_t terminated = 0;
  for (int i = 0; i < 3; ++i) {
    if (!WaitForProgress(points[i])) break;
    terminated += Sql(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM "
        "pg_stat_activity WHERE datname = current_database() AND "
        "pid <> pg_backend_pid()) killed");
  }
  EXPECT_GT(terminated, 0) << "the controller held no connection";
  if (WaitForProgress(points[3])) {
    // An outage: no new connection for a second, the old ones cut.
    try {
      // ALLOW_CONNECTIONS cannot be changed from inside the database: the
      // statements run from the server's admin database.
      std::string db_name;
      {
        pqxx::connection own(db_->url());
        pqxx::nontransaction q(own);
        db_name = q.exec1("SELECT current_database()")[0].as<std::string>();
      }
      pqxx::connection admin(std::getenv("NAS_TEST_PG_ADMIN_DSN"));
      pqxx::nontransaction txn(admin);
      const std::string db = txn.quote_name(db_name);
      txn.exec0(absl::StrCat("ALTER DATABASE ", db,
                             " WITH ALLOW_CONNECTIONS false"));
      txn.exec(absl::StrCat(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
          "datname = ",
          txn.quote(db_name)));
      absl::SleepFor(absl::Seconds(1));
      txn.exec0(absl::StrCat("ALTER DATABASE ", db,
                             " WITH ALLOW_CONNECTIONS true"));
    } catch (const std::exception& e) {
      FAIL() << "outage: " << e.what();
    }
  }
  FinishScenario("db_connections",
                 absl::StrCat("3 x pg_terminate_backend (", terminated,
                              " conns) + 1 s ALLOW_CONNECTIONS false"));
}

// Not working yet: no busy worker is found to stop (BusyWorker() times
// out); see tests/faults/README.md.
TEST_F(FaultTest, DISABLED_WorkerStalledPastItsLease) {
  job_id_ = StartJob();
  ASSERT_FALSE(job_id_.empty());
  for (int64_t at : FaultPoints(2, /*seed=*/4)) {
    if (!WaitForProgress(at)) break;
    const auto [index, trial] = BusyWorker();
    ASSERT_GE(index, 0);
    workers_[index]->Signal(SIGSTOP);
    // The lease expires while the worker sleeps; another attempt runs.
    const bool expired = WaitFor(
        [&, trial = trial] {
          return Sql(absl::StrCat("SELECT lease_expirations FROM trials "
                                  "WHERE id = ", trial)) >= 1 ||
                 Sql(absl::StrCat("SELECT state FROM trials WHERE id = ",
                                  trial)) == 4;
        },
        absl::Seconds(kLeaseSeconds * 5));
    EXPECT_TRUE(expired) << "trial " << trial << " kept its lease";
    absl::SleepFor(absl::Seconds(kLeaseSeconds));
    workers_[index]->Signal(SIGCONT);
  }
  FinishScenario("worker_stall", "2 x SIGSTOP busy worker > lease, SIGCONT");
}

TEST_F(FaultTest, ControllerClockStepped) {
  job_id_ = StartJob();
  ASSERT_FALSE(job_id_.empty());
  // Forward past every lease (all expire at once), back, then backwards.
  const std::vector<absl::Duration> steps = {
      absl::Seconds(10 * kLeaseSeconds), absl::ZeroDuration(),
      absl::Seconds(-30), absl::ZeroDuration()};
  std::vector<int64_t> points = FaultPoints(4, /*seed=*/5);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (!WaitForProgress(points[i])) break;
    SetClockOffset(steps[i]);
  }
  FinishScenario("clock_step", "controller clock +20 s, 0, -30 s, 0");
}

class PrintTable : public ::testing::Environment {
 public:
  void TearDown() override {
    if (Rows().empty()) return;
    std::string table = absl::StrFormat(
        "\n| %-16s | %-52s | %-11s | %-9s |\n|%s|%s|%s|%s|\n", "scenario",
        "faults injected", "trials lost", "wall time", std::string(18, '-'),
        std::string(54, '-'), std::string(13, '-'), std::string(11, '-'));
    for (const Row& row : Rows()) {
      absl::StrAppendFormat(&table, "| %-16s | %-52s | %11d | %8.1fs |\n",
                            row.scenario, row.faults, row.lost,
                            absl::ToDoubleSeconds(row.wall));
    }
    absl::StrAppendFormat(&table, "(budget %d trials per job, %d workers, "
                          "lease %d s, simulated %.2f s per trial)\n",
                          kBudget, kWorkers, kLeaseSeconds, kSimulatedSeconds);
    std::cout << table << std::flush;
  }
};
const auto* const kPrintTable =
    ::testing::AddGlobalTestEnvironment(new PrintTable);

}  // namespace
}  // namespace nas

namespace nas::storage::testing {
// pg_test_env links the store conformance suite; this binary runs none of it.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TrialStoreConformanceTest);
}  // namespace nas::storage::testing
