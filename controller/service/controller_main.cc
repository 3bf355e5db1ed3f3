// nas-controller: the NAS controller binary. Reads its flags, opens the trial
// store named by --store, and serves SearchService, WorkerService and health
// until SIGINT/SIGTERM. The only place that names concrete implementations.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/metrics_http/metrics_http_server.h"
#include "common/status_macros.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/auth.h"
#include "controller/service/server.h"
#include "glog/logging.h"
#include "prometheus/registry.h"
#include "storage/store_url.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC address host:port (port 0 picks a free port, printed).");
ABSL_FLAG(std::string, store, "sqlite://var/nas.db",
          "Trial store: sqlite:///abs/path.db, sqlite://rel/path.db or "
          "postgresql://user:pw@host:port/db.");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "Serve Prometheus metrics at /metrics (and /healthz) on this "
          "host:port (port 0 picks a free port, logged; empty: off).");
ABSL_FLAG(int64_t, lease_seconds, 60,
          "Lease length; workers heartbeat every third of it.");
ABSL_FLAG(std::string, auth_token_file, "",
          "Token file: one `<token> [admin|read|worker]` per line, `#` "
          "comments, a bare token is admin (controller/README.md). Every RPC "
          "must then carry one of them (empty: no authentication).");
ABSL_FLAG(std::string, artifact_dir, "",
          "Directory of the trained weights workers upload (nasctl export "
          "downloads them). Empty: `artifacts` next to a SQLite store's file, "
          "else ./var/artifacts; `off`: keep no weights.");
ABSL_FLAG(int64_t, max_weights_bytes, int64_t{512} << 20,
          "Largest weights upload accepted (bytes).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain file (TLS).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key file (TLS).");
// Test-only (tests/faults): steps the controller's clock while it runs.
ABSL_FLAG(std::string, clock_offset_file, "",
          "Test only: a file holding milliseconds added to the controller's "
          "clock, re-read every 50 ms (missing or empty: 0).");

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  if (path.empty()) return std::string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Creates the directory of a relative or absolute SQLite file if missing.
void MakeSqliteDir(const std::string& url) {
  absl::string_view path = url;
  if (!absl::ConsumePrefix(&path, "sqlite://") || path == ":memory:") return;
  const std::filesystem::path parent =
      std::filesystem::path(std::string(path)).parent_path();
  std::error_code ignored;
  if (!parent.empty()) std::filesystem::create_directories(parent, ignored);
}

// --artifact_dir, with its default resolved ("" when off).
std::string ArtifactDir(const std::string& store_url) {
  const std::string flag = absl::GetFlag(FLAGS_artifact_dir);
  if (flag == "off") return "";
  if (!flag.empty()) return flag;
  absl::string_view path = store_url;
  if (absl::ConsumePrefix(&path, "sqlite://") && path != ":memory:") {
    return (std::filesystem::path(std::string(path)).parent_path() /
            "artifacts")
        .string();
  }
  return "var/artifacts";
}

// Keeps `clock`'s offset equal to the number in `path` until `stop`.
void FollowClockOffset(const std::string& path, nas::OffsetClock* clock,
                       absl::Notification* stop) {
  do {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    int64_t offset_ms = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &offset_ms)) {
      offset_ms = 0;
    }
    clock->SetOffset(absl::Milliseconds(offset_ms));
  } while (!stop->WaitForNotificationWithTimeout(absl::Milliseconds(50)));
}

absl::Status Run() {
  // Signals are taken synchronously below; block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string store_url = absl::GetFlag(FLAGS_store);
  MakeSqliteDir(store_url);
  ASSIGN_OR_RETURN(std::unique_ptr<nas::storage::TrialStore> store,
                   nas::storage::OpenTrialStore(store_url));

  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<nas::metrics_http::MetricsHttpServer> metrics_server;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen);
      !listen.empty()) {
    auto server = nas::metrics_http::MetricsHttpServer::Create(listen, registry);
    if (!server.ok()) {
      return absl::Status(server.status().code(),
                          absl::StrCat("--metrics_listen: ",
                                       server.status().message()));
    }
    metrics_server = std::move(server).value();
    // stderr: stdout's first line is the gRPC port, which scripts read.
    std::cerr << "nas-controller metrics on port " << metrics_server->port()
              << " (/metrics, /healthz)" << std::endl;
  }

  nas::OffsetClock clock;
  absl::Notification stop_clock;
  std::thread clock_follower;
  if (const std::string path = absl::GetFlag(FLAGS_clock_offset_file);
      !path.empty()) {
    clock_follower =
        std::thread(FollowClockOffset, path, &clock, &stop_clock);
  }
  struct JoinFollower {
    absl::Notification& stop;
    std::thread& thread;
    ~JoinFollower() {
      stop.Notify();
      if (thread.joinable()) thread.join();
    }
  } join_follower{stop_clock, clock_follower};

  nas::scheduler::SchedulerOptions scheduler_options;
  scheduler_options.clock = &clock;
  scheduler_options.store = store.get();
  scheduler_options.registry = registry.get();
  scheduler_options.lease = absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  scheduler_options.deferred_refill = true;
  ASSIGN_OR_RETURN(std::unique_ptr<nas::scheduler::Scheduler> scheduler,
                   nas::scheduler::Scheduler::Create(scheduler_options));

  std::unique_ptr<nas::artifacts::ArtifactStore> artifacts;
  if (const std::string dir = ArtifactDir(store_url); !dir.empty()) {
    nas::artifacts::ArtifactStoreOptions artifact_options;
    artifact_options.dir = dir;
    artifact_options.max_bytes = absl::GetFlag(FLAGS_max_weights_bytes);
    artifact_options.store = store.get();
    absl::StatusOr<std::unique_ptr<nas::artifacts::ArtifactStore>> created =
        nas::artifacts::ArtifactStore::Create(artifact_options);
    if (created.ok()) {
      artifacts = std::move(created).value();
      LOG(INFO) << "Trained weights are kept in " << dir;
    } else if (absl::GetFlag(FLAGS_artifact_dir).empty()) {
      // Only the default (e.g. a read-only root filesystem): run without.
      LOG(WARNING) << "Keeping no trained weights: " << created.status()
                   << " (set --artifact_dir to a writable directory)";
    } else {
      return created.status();
    }
  }

  nas::service::ServerOptions server_options;
  server_options.listen = absl::GetFlag(FLAGS_listen);
  server_options.artifacts = artifacts.get();
  server_options.scheduler = scheduler.get();
  nas::storage::TrialStore* trials = store.get();  // outlives the server
  server_options.get_trial = [trials](int64_t id) {
    return trials->GetTrial(id, /*with_measurements=*/false);
  };
  ASSIGN_OR_RETURN(std::string tokens,
                   ReadFile(absl::GetFlag(FLAGS_auth_token_file)));
  ASSIGN_OR_RETURN(server_options.auth_tokens,
                   nas::service::ParseTokenFile(tokens));
  if (!absl::GetFlag(FLAGS_auth_token_file).empty() &&
      server_options.auth_tokens.empty()) {
    return absl::InvalidArgumentError("--auth_token_file holds no token");
  }
  ASSIGN_OR_RETURN(server_options.tls_cert_pem,
                   ReadFile(absl::GetFlag(FLAGS_tls_cert)));
  ASSIGN_OR_RETURN(server_options.tls_key_pem,
                   ReadFile(absl::GetFlag(FLAGS_tls_key)));
  ASSIGN_OR_RETURN(std::unique_ptr<nas::service::ControllerServer> server,
                   nas::service::ControllerServer::Create(server_options));
  std::cout << "nas-controller listening on port " << server->port()
            << std::endl;

  int signal = 0;
  sigwait(&signals, &signal);
  LOG(INFO) << "Signal " << signal << ": shutting down";
  server->Shutdown();
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  const absl::Status status = Run();
  if (!status.ok()) {
    std::cerr << "nas-controller: " << status << std::endl;
    return 1;
  }
  return 0;
}
