// store_bench: durable acquire -> complete cycles per second through the
// TrialStore API with N concurrent clients, and (PostgreSQL) the latency of
// top-10 and Pareto-front queries on a job with --fill_trials trials.
//
//   store_bench --url=postgresql://postgres@127.0.0.1:PORT/nas_bench \
//       --clients=1,16 --seconds=10 --fill_trials=1000000
//
// The 1M-trial job is filled with one INSERT ... SELECT generate_series on
// the server (not through the API), then ANALYZEd.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "storage/sql/sql_trial_store.h"
#include "storage/store_url.h"

ABSL_FLAG(std::string, url, "sqlite:///tmp/store_bench.db", "store URL");
ABSL_FLAG(std::string, clients, "1,16", "concurrent client counts to run");
ABSL_FLAG(int, seconds, 10, "seconds per client count");
ABSL_FLAG(int64_t, fill_trials, 0,
          "PostgreSQL: trials of the query job (0: skip the query bench)");
ABSL_FLAG(bool, demo, false,
          "instead of benchmarking, fill two small demo jobs through the API "
          "(workers, measurements, failures, latencies, cache hits) for the "
          "example queries of docs/storage.md");

namespace {

using nas::storage::TrialRef;
using nas::storage::TrialStore;

constexpr int64_t kLeaseMs = 600'000;

nas::v1::JobSpec BenchSpec(const std::string& name) {
  nas::v1::JobSpec spec;
  spec.set_name(name);
  auto* a = spec.add_objectives();
  a->set_metric("accuracy");
  a->set_direction(nas::v1::MAXIMIZE);
  auto* b = spec.add_objectives();
  b->set_metric("latency_ms");
  b->set_direction(nas::v1::MINIMIZE);
  return spec;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "store_bench: %s\n", s.ToString().c_str());
  return 1;
}

// Runs `clients` threads doing acquire -> complete for `seconds`; returns
// completed trials per second.
absl::StatusOr<double> RunCycles(TrialStore& store, int clients, int seconds) {
  auto job = store.CreateJob(BenchSpec(absl::StrCat("cycles-", clients)), "",
                             absl::ToUnixMillis(absl::Now()));
  if (!job.ok()) return job.status();
  // Enough pending trials for the run, inserted in batches up front.
  const int64_t needed = std::max<int64_t>(2000, 10000LL * seconds);
  for (int64_t done = 0; done < needed; done += 1000) {
    std::vector<nas::storage::NewTrial> batch(1000);
    for (int i = 0; i < 1000; ++i) {
      batch[i].architecture.set_hash(absl::StrCat(job->id(), "-", done + i));
      batch[i].architecture.set_canonical(batch[i].architecture.hash());
      batch[i].eval_key = "bench";
    }
    auto ids = store.InsertTrials(job->id(), batch, std::nullopt, 0);
    if (!ids.ok()) return ids.status();
  }
  std::atomic<int64_t> completed{0};
  std::atomic<bool> stop{false};
  absl::Status error;
  absl::Mutex mu;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      uint64_t x = 88172645463325252ULL + c;
      while (!stop.load()) {
        const int64_t now = absl::ToUnixMillis(absl::Now());
        auto t = store.AcquireTrial(job->id(), absl::StrCat("w", c),
                                    now + kLeaseMs, now);
        absl::Status s = t.status();
        if (s.ok() && !t->has_value()) s = absl::OutOfRangeError("ran out of trials");
        if (s.ok()) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          nas::storage::TrialOutcome o;
          o.metrics = {{"accuracy", (x % 10000) / 10000.0},
                       {"latency_ms", ((x >> 20) % 10000) / 100.0}};
          s = store.CompleteTrial({(*t)->id(), (*t)->attempt()}, o,
                                  std::nullopt, now);
        }
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          error = s;
          stop = true;
          return;
        }
        ++completed;
      }
    });
  }
  absl::SleepFor(absl::Seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  if (!error.ok()) return error;
  return completed.load() / absl::ToDoubleSeconds(absl::Now() - start);
}

// Median wall time of `fn` over `runs` runs, in ms.
template <typename Fn>
double MedianMs(int runs, Fn fn) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const absl::Time t0 = absl::Now();
    fn();
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

absl::Status RunQueries(TrialStore& store, const std::string& url,
                        int64_t n) {
  auto job = store.CreateJob(BenchSpec("query-1m"), "", 0);
  if (!job.ok()) return job.status();
  const absl::Time t0 = absl::Now();
  try {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    const std::string j = tx.quote(job->id());
    tx.exec(absl::StrCat(
        "INSERT INTO architectures (hash, canonical, genotype, params, macs) "
        "SELECT 'q-' || g, 'q-' || g, '{}', 1000 + g, 0 "
        "FROM generate_series(1, ", n, ") g"));
    tx.exec(absl::StrCat(
        "INSERT INTO trials (job_id, architecture_id, eval_key, state, "
        "attempt, create_time_ms, start_time_ms, end_time_ms, metrics, "
        "primary_objective, secondary_objective) "
        "SELECT ", j, ", id, 'bench', 4, 1, 0, 0, 1, "
        "jsonb_build_object('accuracy', acc, 'latency_ms', lat), acc, lat "
        "FROM (SELECT id, round(random()::numeric, 6)::float8 AS acc, "
        "round((random() * 100)::numeric, 4)::float8 AS lat "
        "FROM architectures WHERE hash LIKE 'q-%') s"));
    tx.exec(absl::StrCat(
        "UPDATE job_trial_counts SET succeeded = ", n,
        " WHERE job_id = ", j, " AND shard = 0"));
    // Front candidates: b no worse than every b of a better-or-equal a.
    tx.exec(absl::StrCat(
        "INSERT INTO pareto_members (job_id, trial_id) "
        "SELECT ", j, ", id FROM (SELECT id, secondary_objective AS b, "
        "min(secondary_objective) OVER (ORDER BY primary_objective DESC, "
        "secondary_objective ASC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
        "PRECEDING) AS best FROM trials WHERE job_id = ", j, ") s "
        "WHERE best IS NULL OR b <= best"));
    tx.commit();
    pqxx::nontransaction nt(conn);
    nt.exec("ANALYZE");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("fill: ", e.what()));
  }
  std::printf("fill: %lld trials in %.1f s\n", static_cast<long long>(n),
              absl::ToDoubleSeconds(absl::Now() - t0));
  size_t top_n = 0, front_n = 0;
  absl::Status s;
  const double top_ms = MedianMs(21, [&] {
    auto r = store.ListTrials({job->id(), {nas::v1::SUCCEEDED},
                               nas::v1::ORDER_BY_OBJECTIVE, "",
                               nas::v1::MAXIMIZE, 10, 0});
    if (!r.ok()) s = r.status(); else top_n = r->size();
  });
  const double front_ms = MedianMs(21, [&] {
    auto r = store.ParetoFront(job->id(), "accuracy", nas::v1::MAXIMIZE,
                               "latency_ms", nas::v1::MINIMIZE);
    if (!r.ok()) s = r.status(); else front_n = r->size();
  });
  const double job_ms = MedianMs(21, [&] {
    auto r = store.GetJob(job->id());
    if (!r.ok()) s = r.status();
  });
  if (!s.ok()) return s;
  std::printf("query: top-10 of %lld trials: %.2f ms (median of 21, %zu rows)\n",
              static_cast<long long>(n), top_ms, top_n);
  std::printf("query: Pareto front of %lld trials: %.2f ms (median of 21, %zu "
              "trials)\n", static_cast<long long>(n), front_ms, front_n);
  std::printf("query: GetJob with counts: %.2f ms\n", job_ms);
  return absl::OkStatus();
}

// Two jobs over the same 40 architectures: the second answers half of its
// trials from the first's results (cache hits).
absl::Status FillDemo(TrialStore& store) {
  uint64_t x = 12345;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return (x % 10000) / 10000.0;
  };
  std::vector<std::string> workers;
  for (const char* name : {"host-a:cpu0", "host-a:cpu1", "host-b:cpu0"}) {
    nas::v1::WorkerInfo info;
    info.set_name(name);
    info.set_device("cpu");
    info.set_device_model("Intel Xeon (2 threads)");
    info.set_threads(2);
    info.add_capabilities("train");
    auto id = store.RegisterWorker(info, 1'700'000'000'000);
    if (!id.ok()) return id.status();
    workers.push_back(*id);
  }
  int64_t now = 1'700'000'000'000;
  for (const char* job_name : {"demo-nb201", "demo-nb201-rerun"}) {
    auto job = store.CreateJob(BenchSpec(job_name), "", now);
    if (!job.ok()) return job.status();
    std::vector<nas::storage::NewTrial> trials(40);
    for (int i = 0; i < 40; ++i) {
      trials[i].architecture.set_canonical(absl::StrCat("|nor_conv_3x3~0|+|op", i, "|"));
      trials[i].architecture.set_hash(absl::StrCat("a", 1000 + i));
      trials[i].eval_key = "cifar10-e1";
      trials[i].params = 100000 + 5000 * i;
      trials[i].macs = 2000000 + 70000 * i;
    }
    auto ids = store.InsertTrials(job->id(), trials,
                                  nas::storage::StrategySnapshot{1, "seed"}, now);
    if (!ids.ok()) return ids.status();
    int64_t version = 1;
    for (int i = 0; i < 40; ++i) {
      now += 60'000;
      const std::string& worker = workers[i % workers.size()];
      auto t = store.AcquireTrial(job->id(), worker, now + 600'000, now);
      if (!t.ok()) return t.status();
      if (!t->has_value()) break;
      const TrialRef ref{(*t)->id(), (*t)->attempt()};
      const std::string hash = (*t)->architecture().hash();
      auto cached = store.LookupResult(hash, "cifar10-e1");
      if (!cached.ok()) return cached.status();
      if (cached->has_value() && i % 2 == 0) {
        nas::storage::TrialOutcome o = (*cached)->outcome;
        o.cache_hit = true;
        absl::Status s = store.CompleteTrial(
            ref, o, nas::storage::StrategySnapshot{++version, "s"}, now);
        if (!s.ok()) return s;
        continue;
      }
      const double quality = next();
      for (int step = 1; step <= 5; ++step) {
        nas::v1::Measurement m;
        m.set_step(step);
        m.set_time_ms(now + step * 1000);
        (*m.mutable_metrics())["accuracy"] = quality * (0.5 + 0.1 * step);
        (*m.mutable_metrics())["loss"] = 2.3 * (1 - quality * step / 5.0);
        absl::Status s = store.AddMeasurement(ref, m);
        if (!s.ok()) return s;
      }
      if (i % 7 == 3) {
        auto f = store.FailTrial(ref, i % 2 ? "oom" : "diverged",
                                 "simulated failure", 1,
                                 nas::storage::StrategySnapshot{++version, "s"},
                                 now + 6000);
        if (!f.ok()) return f.status();
        continue;
      }
      nas::storage::TrialOutcome o;
      o.metrics = {{"accuracy", 0.5 + 0.45 * quality},
                   {"latency_ms", 1 + 4 * next() + 3 * quality},
                   {"train_seconds", 30 + 60 * next()}};
      o.params = 100000 + 5000 * i;
      nas::v1::DeviceLatency lat;
      lat.set_device("cpu:Intel Xeon x2");
      lat.set_batch_size(1);
      lat.set_median_ms(o.metrics["latency_ms"]);
      lat.set_p90_ms(o.metrics["latency_ms"] * 1.2);
      lat.set_threads(2);
      o.latencies.push_back(lat);
      absl::Status s = store.CompleteTrial(
          ref, o, nas::storage::StrategySnapshot{++version, "s"}, now + 6000);
      if (!s.ok()) return s;
    }
    std::printf("demo: job %s filled\n", job->id().c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string url = absl::GetFlag(FLAGS_url);
  nas::storage::StoreOptions options;
  options.pool_size = 32;
  auto store = nas::storage::OpenTrialStore(url, options);
  if (!store.ok()) return Fail(store.status());
  if (absl::GetFlag(FLAGS_demo)) {
    absl::Status s = FillDemo(**store);
    return s.ok() ? 0 : Fail(s);
  }
  for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_clients), ',')) {
    int clients = 0;
    if (!absl::SimpleAtoi(c, &clients) || clients < 1) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--clients: ", c)));
    }
    auto* sql = dynamic_cast<nas::storage::sql::SqlTrialStore*>(store->get());
    const auto before = sql != nullptr ? sql->write_stats()
                                       : nas::storage::sql::GroupCommitter::Stats();
    auto rate = RunCycles(**store, clients, absl::GetFlag(FLAGS_seconds));
    if (!rate.ok()) return Fail(rate.status());
    std::printf("cycles: clients=%d trials_per_s=%.1f", clients, *rate);
    if (sql != nullptr) {
      const auto after = sql->write_stats();
      const int64_t tx = after.transactions - before.transactions;
      std::printf(" writes_per_commit=%.1f",
                  tx > 0 ? static_cast<double>(after.operations -
                                               before.operations) / tx
                         : 0.0);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  if (absl::GetFlag(FLAGS_fill_trials) > 0 &&
      absl::StartsWith(url, "postgres")) {
    absl::Status s = RunQueries(**store, url, absl::GetFlag(FLAGS_fill_trials));
    if (!s.ok()) return Fail(s);
  }
  return 0;
}
