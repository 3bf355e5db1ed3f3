// Exact restart: the real nas-controller binary is killed with SIGKILL three
// times while table workers are busy, and restarted on the same SQLite store.
// The job must still complete exactly its budget, with distinct architectures
// and no trial lost or counted twice.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "tests/nb201_table.h"

extern char** environ;

namespace nas {
namespace {

constexpr char kBinary[] = "controller/service/nas-controller";
constexpr char kAccuracy[] = "cifar10_valid_12ep";
constexpr int kBudget = 120;
constexpr int kWorkers = 3;

using ::nas::testing::kNb201Table;
using ::nas::testing::Nb201String;
using ::nas::testing::Nb201Table;

// The controller as a child process on one store.
class Controller {
 public:
  explicit Controller(std::string store) : store_(std::move(store)) {}
  ~Controller() { Kill(); }

  // Starts it and returns its address ("" on failure).
  std::string Start() {
    int out[2];
    if (pipe(out) != 0) return "";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const std::string store_flag = "--store=" + store_;
    std::vector<std::string> args = {kBinary, "--listen=127.0.0.1:0",
                                     "--metrics_listen=", "--lease_seconds=1",
                                     store_flag};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned =
        posix_spawn(&pid_, kBinary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (spawned != 0) {
      close(out[0]);
      return "";
    }
    // "nas-controller listening on port N\n"
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    close(out[0]);
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) return "";
    return "127.0.0.1:" + line.substr(space + 1);
  }

  // kill -9.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

 private:
  const std::string store_;
  pid_t pid_ = 0;
};

// Where the controller currently listens; workers reconnect after errors.
class Address {
 public:
  void Set(const std::string& address) {
    absl::MutexLock lock(&mu_);
    address_ = address;
    ++generation_;
  }
  std::shared_ptr<grpc::Channel> Channel() {
    absl::MutexLock lock(&mu_);
    return grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  }

 private:
  absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  int generation_ ABSL_GUARDED_BY(mu_) = 0;
};

// A table worker that survives controller crashes: on any RPC error it drops
// what it was doing (a lost worker), reconnects and asks again; a completion
// whose answer was lost is sent again (CompleteTrial is idempotent).
void RunWorker(Address* address, const Nb201Table* table,
               const std::string& name, const std::string& job_id,
               std::atomic<bool>* done, std::vector<std::string>* errors) {
  while (!done->load()) {
    auto channel = address->Channel();
    auto stub = nas::v1::WorkerService::NewStub(channel);
    auto search = nas::v1::SearchService::NewStub(channel);
    nas::v1::RegisterWorkerRequest reg;
    reg.mutable_info()->set_name(name);
    nas::v1::RegisterWorkerResponse registered;
    grpc::ClientContext reg_ctx;
    reg_ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
    if (!stub->RegisterWorker(&reg_ctx, reg, &registered).ok()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    while (!done->load()) {
      nas::v1::AcquireTrialRequest acquire;
      acquire.set_worker_id(registered.worker_id());
      nas::v1::AcquireTrialResponse response;
      grpc::ClientContext ctx;
      if (!stub->AcquireTrial(&ctx, acquire, &response).ok()) break;
      if (!response.has_lease()) {
        nas::v1::GetJobRequest get;
        get.set_job_id(job_id);
        nas::v1::Job job;
        grpc::ClientContext get_ctx;
        if (!search->GetJob(&get_ctx, get, &job).ok()) break;
        if (job.state() != nas::v1::JOB_RUNNING) {
          done->store(true);
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      const nas::v1::TrialLease& lease = response.lease();
      const auto row = table->find(Nb201String(lease.architecture()));
      if (row == table->end()) {
        errors->push_back("not in the table");
        return;
      }
      nas::v1::CompleteTrialRequest complete;
      complete.set_worker_id(registered.worker_id());
      complete.set_trial_id(lease.trial_id());
      complete.set_attempt(lease.attempt());
      (*complete.mutable_metrics())[kAccuracy] = row->second.at(kAccuracy);
      nas::v1::CompleteTrialResponse completed;
      grpc::ClientContext complete_ctx;
      const grpc::Status status =
          stub->CompleteTrial(&complete_ctx, complete, &completed);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        // The answer was lost: send it again to the restarted controller.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto retry_stub = nas::v1::WorkerService::NewStub(address->Channel());
        grpc::ClientContext retry_ctx;
        retry_ctx.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(5));
        retry_ctx.set_wait_for_ready(true);
        retry_stub->CompleteTrial(&retry_ctx, complete, &completed);
        break;
      }
      // FAILED_PRECONDITION: the lease expired meanwhile; just go on.
    }
  }
}

TEST(CrashRestartTest, KilledControllerContinuesAndCompletesExactlyTheBudget) {
  const Nb201Table table = ::nas::testing::LoadNb201Table();
  ASSERT_EQ(table.size(), 15625u);
  const char* dir = std::getenv("TEST_TMPDIR");
  setenv("GLOG_logtostderr", "1", 1);  // the controller logs into test.log
  Controller controller(
      absl::StrCat("sqlite://", dir != nullptr ? dir : "/tmp", "/crash.db"));
  Address address;
  address.Set(controller.Start());

  nas::v1::CreateJobRequest create;
  nas::v1::JobSpec* spec = create.mutable_spec();
  spec->set_name("crash-restart");
  spec->mutable_search_space()->mutable_nb201();
  spec->mutable_strategy()->mutable_regularized_evolution()->set_population(20);
  spec->mutable_strategy()->mutable_regularized_evolution()->set_sample_size(5);
  nas::v1::Objective* objective = spec->add_objectives();
  objective->set_metric(kAccuracy);
  objective->set_direction(nas::v1::MAXIMIZE);
  spec->mutable_evaluation()->mutable_table()->set_path(kNb201Table);
  spec->mutable_budget()->set_max_trials(kBudget);
  nas::v1::Job job;
  {
    auto search = nas::v1::SearchService::NewStub(address.Channel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    ctx.set_wait_for_ready(true);
    const grpc::Status status = search->CreateJob(&ctx, create, &job);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::atomic<bool> done{false};
  std::vector<std::vector<std::string>> errors(kWorkers);
  std::vector<std::thread> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back(RunWorker, &address, &table, absl::StrCat("w", i),
                         job.id(), &done, &errors[i]);
  }
  // Kill -9 whenever the job passes these completion counts.
  auto succeeded = [&]() -> int64_t {
    auto search = nas::v1::SearchService::NewStub(address.Channel());
    nas::v1::GetJobRequest get;
    get.set_job_id(job.id());
    nas::v1::Job now;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(5));
    ctx.set_wait_for_ready(true);
    return search->GetJob(&ctx, get, &now).ok() ? now.counts().succeeded() : -1;
  };
  for (int64_t kill_at : {20, 55, 90}) {
    int64_t at = 0;
    for (int i = 0; i < 2000 && (at = succeeded()) < kill_at; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GE(at, kill_at);  // the kill lands in the middle of the job
    EXPECT_LT(at, kBudget);
    controller.Kill();
    address.Set(controller.Start());
  }
  for (std::thread& t : workers) t.join();
  for (const auto& e : errors) EXPECT_THAT(e, ::testing::IsEmpty());

  auto search = nas::v1::SearchService::NewStub(address.Channel());
  nas::v1::GetJobRequest get;
  get.set_job_id(job.id());
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->GetJob(&ctx, get, &job).ok());
  }
  EXPECT_EQ(job.state(), nas::v1::JOB_SUCCEEDED);
  EXPECT_EQ(job.counts().succeeded(), kBudget);
  nas::v1::ListTrialsRequest list;
  list.set_job_id(job.id());
  list.add_states(nas::v1::SUCCEEDED);
  list.set_page_size(1000);
  nas::v1::ListTrialsResponse trials;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(search->ListTrials(&ctx, list, &trials).ok());
  }
  ASSERT_EQ(trials.trials_size(), kBudget);
  std::set<std::string> hashes;
  for (const nas::v1::Trial& trial : trials.trials()) {
    hashes.insert(trial.architecture().hash());
    EXPECT_EQ(trial.metrics().at(kAccuracy),
              table.at(Nb201String(trial.architecture())).at(kAccuracy));
  }
  EXPECT_EQ(hashes.size(), static_cast<size_t>(kBudget));
}

}  // namespace
}  // namespace nas
