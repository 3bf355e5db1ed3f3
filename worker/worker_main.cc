// nas-worker: leases trials from the controller and evaluates them (LibTorch
// training or tabular lookup). The only place flags are read and concrete
// parts are wired together.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "ATen/Parallel.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_health/health.h"
#include "common/metrics_http/metrics_http_server.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "prometheus/registry.h"
#include "worker/eval/measure.h"
#include "worker/eval/table_evaluator.h"
#include "worker/eval/train_evaluator.h"
#include "worker/service/worker_loop.h"
#include "worker/service/worker_metrics.h"

ABSL_FLAG(std::string, controller, "127.0.0.1:50051",
          "Controller address (host:port).");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda or cuda:N.");
ABSL_FLAG(int, threads, 0, "Intra-op threads (0: one per hardware thread).");
ABSL_FLAG(std::string, name, "",
          "Stable worker name (default: hostname:device).");
ABSL_FLAG(
    std::string, auth_token_file, "",
    "File holding a bearer token sent as 'authorization: Bearer <token>'.");
ABSL_FLAG(int, latency_batch_size, 32, "Batch size N of the batch-N latency.");
ABSL_FLAG(bool, upload_weights, true,
          "Upload the trained weights of each finished training trial to the "
          "controller (nasctl export writes them as weights.pt); false saves "
          "the serialization and the upload.");
ABSL_FLAG(std::string, data_dir, "",
          "Fashion-MNIST directory used when a trial names none (default: "
          "the Debian dataset-fashion-mnist directory).");
ABSL_FLAG(std::string, supernet_dir, "/var/tmp/nas-supernets",
          "Directory of the Once-for-All supernet checkpoints; every worker "
          "of an OFA job must see the same one (one host, or a shared "
          "volume).");
ABSL_FLAG(std::string, metrics_listen, "",
          "Serve Prometheus metrics on this host:port at /metrics, and "
          "/healthz (port 0 picks a free port, logged; empty: off).");
ABSL_FLAG(std::string, health_listen, "",
          "Serve the standard gRPC health service (grpc.health.v1, plaintext) "
          "on this host:port: SERVING while the worker loop runs, "
          "NOT_SERVING once it drains after SIGTERM (port 0 picks a free "
          "port, logged; empty: off).");
ABSL_FLAG(std::string, ca_cert, "",
          "PEM root certificate(s): connect to the controller with TLS and "
          "trust these roots (empty: plaintext).");

namespace {

std::string Hostname() {
  char buffer[256] = {};
  return gethostname(buffer, sizeof(buffer) - 1) == 0 ? buffer : "worker";
}

int g_signal_pipe[2] = {-1, -1};

void OnSignal(int signal) {
  const char byte = static_cast<char>(signal);
  (void)!write(g_signal_pipe[1], &byte, 1);
}

int Fail(const std::string& message) {
  std::cerr << "nas-worker: " << message << "\n";
  return 2;
}

// The host part of a "host:port" flag, for log lines.
std::string HostOf(const std::string& listen) {
  auto host_port = nas::metrics_http::SplitHostPort(listen);
  if (!host_port.ok() || host_port->first.empty()) return "0.0.0.0";
  return host_port->first.find(':') == std::string::npos
             ? host_port->first
             : absl::StrCat("[", host_port->first, "]");
}

// Contents of `path`, or false if it cannot be read.
bool ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *contents = buffer.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;

  // SIGTERM/SIGINT: the handler only writes to a pipe (async-signal-safe);
  // a watcher thread reads it and asks the loop to shut down. Works whichever
  // thread (ours, gRPC's or LibTorch's) receives the signal.
  if (pipe(g_signal_pipe) != 0) return Fail("cannot create the signal pipe");
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  absl::StatusOr<torch::Device> device =
      nas::worker::ParseDevice(absl::GetFlag(FLAGS_device));
  if (!device.ok()) return Fail(std::string(device.status().message()));

  std::string token;
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    if (!ReadFile(path, &token)) {
      return Fail(absl::StrCat("--auth_token_file: cannot read ", path));
    }
    token = std::string(absl::StripAsciiWhitespace(token));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (const std::string path = absl::GetFlag(FLAGS_ca_cert); !path.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadFile(path, &ssl.pem_root_certs)) {
      return Fail(absl::StrCat("--ca_cert: cannot read ", path));
    }
    credentials = grpc::SslCredentials(ssl);
  }

  // False from SIGTERM/SIGINT on, while the current trial is handed back.
  std::atomic<bool> running{true};
  auto registry = std::make_shared<prometheus::Registry>();
  nas::worker::WorkerMetrics metrics(*registry);
  std::unique_ptr<nas::metrics_http::MetricsHttpServer> metrics_server;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen);
      !listen.empty()) {
    auto server = nas::metrics_http::MetricsHttpServer::Create(
        listen, registry, [&running] { return running.load(); });
    if (!server.ok()) {
      return Fail(absl::StrCat("--metrics_listen: ", server.status().message()));
    }
    metrics_server = std::move(server).value();
    LOG(INFO) << "metrics on http://" << HostOf(listen) << ":"
              << metrics_server->port() << "/metrics";
  }
  std::unique_ptr<nas::grpc_health::HealthServer> health;
  if (const std::string listen = absl::GetFlag(FLAGS_health_listen);
      !listen.empty()) {
    auto server = nas::grpc_health::HealthServer::Create(listen);
    if (!server.ok()) {
      return Fail(absl::StrCat("--health_listen: ", server.status().message()));
    }
    health = std::move(server).value();
    LOG(INFO) << "gRPC health (grpc.health.v1) on " << HostOf(listen) << ":"
              << health->port();
  }

  nas::worker::TrainEvaluator::Options train_options;
  train_options.device = *device;
  // LibTorch defaults to one intra-op thread here: always set it explicitly.
  const int threads = absl::GetFlag(FLAGS_threads);
  train_options.threads =
      threads > 0
          ? threads
          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  train_options.latency_batch_size = absl::GetFlag(FLAGS_latency_batch_size);
  train_options.save_weights = absl::GetFlag(FLAGS_upload_weights);
  if (const std::string dir = absl::GetFlag(FLAGS_data_dir); !dir.empty()) {
    train_options.fashion_mnist_dir = dir;
  }
  train_options.supernet_dir = absl::GetFlag(FLAGS_supernet_dir);
  auto train = nas::worker::TrainEvaluator::Create(train_options);
  if (!train.ok()) return Fail(train.status().ToString());
  nas::worker::TableEvaluator table;

  nas::worker::WorkerLoopOptions options;
  const std::string name = absl::GetFlag(FLAGS_name);
  options.info.set_name(
      name.empty() ? absl::StrCat(Hostname(), ":", device->str()) : name);
  options.info.set_device(device->str());
  options.info.set_threads(at::get_num_threads());
  options.info.set_device_model(
      absl::StrCat(nas::worker::DeviceDescription(*device), " (",
                   at::get_num_threads(), " threads)"));
  options.auth_token = token;
  options.metrics = &metrics;
  auto channel =
      grpc::CreateChannel(absl::GetFlag(FLAGS_controller), credentials);
  auto loop = nas::worker::WorkerLoop::Create(
      options, nas::v1::WorkerService::NewStub(channel), train->get(), &table);
  if (!loop.ok()) return Fail(loop.status().ToString());

  if (health != nullptr) health->SetServing(true);
  // Reads the signal pipe: a signal drains the loop; a 0 byte (written below
  // once Run() returned) just ends the thread.
  std::thread signal_watcher([&] {
    char signal = 0;
    while (read(g_signal_pipe[0], &signal, 1) < 0 && errno == EINTR) {
    }
    if (signal == 0) return;
    LOG(INFO) << "signal " << static_cast<int>(signal)
              << ": finishing or handing back the current trial";
    running.store(false);
    if (health != nullptr) health->SetServing(false);
    (*loop)->Shutdown();
  });

  LOG(INFO) << "nas-worker " << options.info.name() << " on "
            << options.info.device_model() << ", controller "
            << absl::GetFlag(FLAGS_controller);
  const absl::Status status = (*loop)->Run();
  running.store(false);
  if (health != nullptr) health->Shutdown();
  const char stop = 0;
  (void)!write(g_signal_pipe[1], &stop, 1);
  signal_watcher.join();
  if (!status.ok()) return Fail(status.ToString());
  return 0;
}
