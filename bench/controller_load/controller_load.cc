// controller_load: simulated workers against the real controller.
//
// One process hosts the controller (ControllerServer + Scheduler on the
// store named by --url, as nas-controller wires them) and N simulated
// workers, each a thread with its own gRPC channel (its own TCP connection)
// that loops AcquireTrial -> CompleteTrial with zero evaluation time and a
// synthetic objective (a hash of the architecture). Every completion counted
// was answered OK, i.e. committed. Prints, per worker count, durable trials/s
// and the AcquireTrial latency p50/p99 seen by the workers; with
// --long_trials, one job of that many trials and its throughput over
// consecutive windows (does the per-trial cost grow with the history?).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/server.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "prometheus/registry.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/store_url.h"

ABSL_FLAG(std::string, url, "", "Trial store URL (postgresql://...).");
ABSL_FLAG(std::string, workers, "16,256,1024", "Worker counts to run.");
ABSL_FLAG(int, seconds, 10, "Seconds per worker count (after a warm-up).");
ABSL_FLAG(int64_t, long_trials, 0,
          "If > 0: also run one job of this many trials.");
ABSL_FLAG(int, long_workers, 256, "Workers of the long job.");
ABSL_FLAG(int, windows, 10, "Windows the long job is measured in.");
ABSL_FLAG(int64_t, lease_seconds, 60, "Lease length.");
ABSL_FLAG(bool, breakdown, false,
          "After each point, print the mean latency of each TrialStore "
          "operation and of AcquireTrial over that point.");
ABSL_FLAG(std::string, table, "data/nb201/nb201_cifar10.csv",
          "A readable CSV for the spec's table evaluation (the simulated "
          "workers never read it).");

namespace {

constexpr char kMetric[] = "cifar10_valid_12ep";  // a column of --table

nas::v1::JobSpec Spec(int64_t max_trials) {
  nas::v1::JobSpec spec;
  spec.set_name("controller-load");
  // DARTS: ~10^18 architectures, so a long job never runs out.
  spec.mutable_search_space()->mutable_darts();
  spec.mutable_strategy()->mutable_random();
  // A new seed per job: the same architectures again would be answered from
  // the controller's result cache (EvalKey) instead of by the workers.
  spec.mutable_strategy()->set_seed(
      static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  nas::v1::Objective* objective = spec.add_objectives();
  objective->set_metric(kMetric);
  objective->set_direction(nas::v1::MAXIMIZE);
  spec.mutable_evaluation()->mutable_table()->set_path(
      absl::GetFlag(FLAGS_table));
  spec.mutable_budget()->set_max_trials(max_trials);
  return spec;
}

// What the simulated workers share.
struct Load {
  std::string address;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> completed{0};
};

struct WorkerStats {
  std::vector<double> acquire_ms;
  int64_t errors = 0;
};

void RunWorker(Load* load, int index, WorkerStats* stats) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // own connection
  args.SetInt("nas.bench.worker", index);
  auto stub = nas::v1::WorkerService::NewStub(grpc::CreateCustomChannel(
      load->address, grpc::InsecureChannelCredentials(), args));
  nas::v1::RegisterWorkerRequest reg;
  reg.mutable_info()->set_name(absl::StrCat("sim-", index));
  nas::v1::RegisterWorkerResponse registered;
  {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    if (!stub->RegisterWorker(&context, reg, &registered).ok()) {
      ++stats->errors;
      return;
    }
  }
  while (!load->stop.load(std::memory_order_relaxed)) {
    nas::v1::AcquireTrialRequest acquire;
    acquire.set_worker_id(registered.worker_id());
    nas::v1::AcquireTrialResponse response;
    const absl::Time start = absl::Now();
    grpc::ClientContext acquire_context;
    const grpc::Status acquired =
        stub->AcquireTrial(&acquire_context, acquire, &response);
    stats->acquire_ms.push_back(
        absl::ToDoubleMilliseconds(absl::Now() - start));
    if (!acquired.ok()) {
      ++stats->errors;
      absl::SleepFor(absl::Milliseconds(10));
      continue;
    }
    if (!response.has_lease()) {
      absl::SleepFor(absl::Milliseconds(std::min<int64_t>(
          50, std::max<int64_t>(1, response.retry_after_ms()))));
      continue;
    }
    const nas::v1::TrialLease& lease = response.lease();
    nas::v1::CompleteTrialRequest complete;
    complete.set_worker_id(registered.worker_id());
    complete.set_trial_id(lease.trial_id());
    complete.set_attempt(lease.attempt());
    const uint64_t h = std::hash<std::string>()(lease.architecture().hash());
    (*complete.mutable_metrics())[kMetric] = (h % 10000) / 100.0;
    nas::v1::CompleteTrialResponse completed;
    grpc::ClientContext complete_context;
    if (stub->CompleteTrial(&complete_context, complete, &completed).ok()) {
      load->completed.fetch_add(1, std::memory_order_relaxed);
    } else {
      ++stats->errors;
    }
  }
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

// Runs `workers` simulated workers until `wait()` returns; returns their
// stats.
std::vector<WorkerStats> RunWorkers(Load* load, int workers,
                                    const std::function<void()>& wait) {
  std::vector<WorkerStats> stats(workers);
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (int i = 0; i < workers; ++i) {
    threads.emplace_back(RunWorker, load, i, &stats[i]);
  }
  wait();
  load->stop = true;
  for (std::thread& t : threads) t.join();
  return stats;
}

absl::StatusOr<std::string> CreateJob(const std::string& address,
                                      int64_t max_trials) {
  auto search = nas::v1::SearchService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  nas::v1::CreateJobRequest create;
  *create.mutable_spec() = Spec(max_trials);
  nas::v1::Job job;
  grpc::ClientContext context;
  const grpc::Status status = search->CreateJob(&context, create, &job);
  if (!status.ok()) return absl::InternalError(status.error_message());
  return job.id();
}

absl::Status CancelAll(const std::string& address) {
  auto search = nas::v1::SearchService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  nas::v1::ListJobsRequest list;
  list.set_state(nas::v1::JOB_RUNNING);
  nas::v1::ListJobsResponse jobs;
  grpc::ClientContext context;
  if (!search->ListJobs(&context, list, &jobs).ok()) {
    return absl::InternalError("ListJobs failed");
  }
  for (const nas::v1::Job& job : jobs.jobs()) {
    nas::v1::JobRequest cancel;
    cancel.set_job_id(job.id());
    nas::v1::Job cancelled;
    grpc::ClientContext cancel_context;
    search->CancelJob(&cancel_context, cancel, &cancelled);
  }
  return absl::OkStatus();
}

// Sum and count of each histogram series of `registry`, keyed by name and
// the `op` label.
std::map<std::string, std::pair<double, double>> HistogramTotals(
    prometheus::Registry& registry) {
  std::map<std::string, std::pair<double, double>> out;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.type != prometheus::MetricType::Histogram) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      std::string key = family.name;
      for (const prometheus::ClientMetric::Label& l : m.label) {
        absl::StrAppend(&key, " ", l.name, "=", l.value);
      }
      out[key] = {m.histogram.sample_sum,
                  static_cast<double>(m.histogram.sample_count)};
    }
  }
  return out;
}

void PrintBreakdown(const std::map<std::string, std::pair<double, double>>& before,
                    const std::map<std::string, std::pair<double, double>>& after) {
  for (const auto& [key, total] : after) {
    auto it = before.find(key);
    const double sum = total.first - (it == before.end() ? 0 : it->second.first);
    const double n = total.second - (it == before.end() ? 0 : it->second.second);
    if (n <= 0) continue;
    std::printf("  %-60s n=%8.0f mean_ms=%8.3f\n", key.c_str(), n,
                1000 * sum / n);
  }
}

absl::Status Run() {
  prometheus::Registry registry;
  auto store = nas::storage::OpenTrialStore(absl::GetFlag(FLAGS_url));
  if (!store.ok()) return store.status();
  nas::scheduler::SchedulerOptions scheduler_options;
  scheduler_options.store = store->get();
  scheduler_options.lease = absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  scheduler_options.deferred_refill = true;
  scheduler_options.registry = &registry;
  auto scheduler = nas::scheduler::Scheduler::Create(scheduler_options);
  if (!scheduler.ok()) return scheduler.status();
  nas::service::ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.scheduler = scheduler->get();
  auto server = nas::service::ControllerServer::Create(server_options);
  if (!server.ok()) return server.status();
  const std::string address = absl::StrCat("127.0.0.1:", (*server)->port());

  for (absl::string_view w :
       absl::StrSplit(absl::GetFlag(FLAGS_workers), ',', absl::SkipEmpty())) {
    int workers = 0;
    if (!absl::SimpleAtoi(w, &workers) || workers <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad --workers ", w));
    }
    if (absl::StatusOr<std::string> job = CreateJob(address, 1000000000);
        !job.ok()) {
      return job.status();
    }
    Load load;
    load.address = address;
    int64_t counted = 0;
    absl::Duration elapsed;
    std::map<std::string, std::pair<double, double>> totals_before;
    std::vector<WorkerStats> stats = RunWorkers(&load, workers, [&] {
      // Warm-up: connections, registration, first queue fill.
      absl::SleepFor(absl::Seconds(2));
      totals_before = HistogramTotals(registry);
      const int64_t before = load.completed.load();
      const absl::Time start = absl::Now();
      absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_seconds)));
      counted = load.completed.load() - before;
      elapsed = absl::Now() - start;
    });
    std::vector<double> latencies;
    int64_t errors = 0;
    for (WorkerStats& s : stats) {
      latencies.insert(latencies.end(), s.acquire_ms.begin(),
                       s.acquire_ms.end());
      errors += s.errors;
    }
    std::printf(
        "workers=%d trials_per_s=%.0f acquire_p50_ms=%.2f acquire_p99_ms=%.2f "
        "errors=%lld\n",
        workers, counted / absl::ToDoubleSeconds(elapsed),
        Percentile(latencies, 0.5), Percentile(latencies, 0.99),
        static_cast<long long>(errors));
    if (absl::GetFlag(FLAGS_breakdown)) {
      PrintBreakdown(totals_before, HistogramTotals(registry));
    }
    std::fflush(stdout);
    if (absl::Status s = CancelAll(address); !s.ok()) return s;
  }

  const int64_t long_trials = absl::GetFlag(FLAGS_long_trials);
  if (long_trials > 0) {
    absl::StatusOr<std::string> job_id = CreateJob(address, long_trials);
    if (!job_id.ok()) return job_id.status();
    const int windows = std::max(1, absl::GetFlag(FLAGS_windows));
    const int64_t window = std::max<int64_t>(1, long_trials / windows);
    std::vector<absl::Time> marks = {absl::Now()};
    Load load;
    load.address = address;
    auto search = nas::v1::SearchService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    // Polls the completion count (window marks) until the job has ended.
    RunWorkers(&load, absl::GetFlag(FLAGS_long_workers), [&] {
      for (;;) {
        absl::SleepFor(absl::Milliseconds(20));
        while (load.completed.load() >=
               static_cast<int64_t>(marks.size()) * window) {
          marks.push_back(absl::Now());
        }
        nas::v1::GetJobRequest get;
        get.set_job_id(*job_id);
        nas::v1::Job job;
        grpc::ClientContext context;
        if (!search->GetJob(&context, get, &job).ok()) {
          std::fprintf(stderr, "GetJob %s failed\n", job_id->c_str());
        } else if (job.state() != nas::v1::JOB_RUNNING) {
          // The last answers may still be on their way to the workers.
          absl::SleepFor(absl::Milliseconds(200));
          while (load.completed.load() >=
                 static_cast<int64_t>(marks.size()) * window) {
            marks.push_back(absl::Now());
          }
          std::fprintf(stderr, "long job %s ended: %s after %lld trials\n",
                       job_id->c_str(),
                       nas::v1::JobState_Name(job.state()).c_str(),
                       static_cast<long long>(load.completed.load()));
          return;
        }
      }
    });
    for (size_t i = 1; i < marks.size(); ++i) {
      std::printf("long_job window=%zu trials=%lld..%lld trials_per_s=%.0f\n",
                  i, static_cast<long long>((i - 1) * window + 1),
                  static_cast<long long>(i * window),
                  window / absl::ToDoubleSeconds(marks[i] - marks[i - 1]));
    }
  }
  (*server)->Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  const absl::Status status = Run();
  if (!status.ok()) {
    std::fprintf(stderr, "controller_load: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
