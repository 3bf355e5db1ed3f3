// MetricsHttpServer: a small HTTP/1.1 server for Prometheus scrapes, without
// civetweb (prometheus-cpp's Exposer starts civetweb threads with a fixed
// ~100 KiB stack, which pthread_create refuses in a process whose static TLS
// is larger, e.g. one linking LibTorch).
//
//   GET|HEAD /metrics   200, text exposition format 0.0.4 of every collectable
//   GET|HEAD /healthz   200 "ok" (503 "unhealthy" when Options.healthy says so)
//   other paths         404; other methods 405; malformed requests 400;
//                       request heads over max_request_bytes 431
//
// One thread accepts and serves every connection with poll(): reads are
// incremental (a request may arrive in any number of pieces), each response
// closes its connection ("Connection: close"), and a connection that has not
// sent a complete request head within io_timeout, or does not take its
// response within io_timeout, is dropped, so a stalled client never blocks
// the others. At most max_connections are open at once; more wait in the
// listen backlog.
//
// Thread-safety: port() and Shutdown() may be called from any thread. The
// collectables are shared with the caller (Registry::Collect is
// thread-safe); `healthy` is called on the server thread.
#ifndef NAS_COMMON_METRICS_HTTP_METRICS_HTTP_SERVER_H_
#define NAS_COMMON_METRICS_HTTP_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"

namespace nas::metrics_http {

struct MetricsHttpServerOptions {
  // "host:port"; host is an IPv4/IPv6 literal ("[::1]:9464") or a name, and
  // empty or "*" means every interface. Port 0 picks a free port (port()).
  std::string listen;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  // Answers /healthz (nullptr: always healthy).
  std::function<bool()> healthy;
  // Per connection: to receive the request head, and to send the response.
  absl::Duration io_timeout = absl::Seconds(10);
  size_t max_request_bytes = 8192;
  int max_connections = 32;
};

// Splits "host:port" ("[v6]:port" too). Exposed for tests.
absl::StatusOr<std::pair<std::string, int>> SplitHostPort(
    absl::string_view listen);

class MetricsHttpServer {
 public:
  // Binds and listens before returning (errors name the address), then serves
  // on its own thread.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      MetricsHttpServerOptions options);
  // The usual case: one collectable (a Registry), default limits.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Create(
      std::string listen, std::shared_ptr<prometheus::Collectable> collectable,
      std::function<bool()> healthy = nullptr);

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;
  ~MetricsHttpServer();  // Shutdown().

  // The bound port (the chosen one if the options said 0).
  int port() const { return port_; }

  // Stops accepting, closes every connection and joins the thread.
  // Idempotent.
  void Shutdown();

 private:
  struct Connection;

  MetricsHttpServer(MetricsHttpServerOptions options, int listen_fd, int port,
                    int wake_read, int wake_write);

  void Serve();
  // Reads what is available; once the head is complete, prepares the
  // response. Returns false if the connection must be closed now.
  bool OnReadable(Connection& c);
  // Writes what the socket takes. Returns false if the connection must be
  // closed now.
  bool OnWritable(Connection& c);
  // The full response (head and body) to one request head.
  std::string Respond(absl::string_view head) const;
  std::string MetricsText() const;

  const MetricsHttpServerOptions options_;
  const int listen_fd_;
  const int port_;
  const int wake_read_;   // Shutdown() writes one byte to wake_write_.
  const int wake_write_;
  std::thread thread_;
  std::once_flag shutdown_once_;
};

}  // namespace nas::metrics_http

#endif  // NAS_COMMON_METRICS_HTTP_METRICS_HTTP_SERVER_H_
