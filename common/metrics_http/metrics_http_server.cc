#include "common/metrics_http/metrics_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace nas::metrics_http {
namespace {

// After the response: how long to wait for the client to close before
// closing anyway (closing with unread input would reset the connection and
// could destroy the response in flight).
constexpr absl::Duration kMaxLinger = absl::Seconds(2);
constexpr int kListenBacklog = 64;

std::string Errno(absl::string_view what) {
  return absl::StrCat(what, ": ", std::strerror(errno));
}

std::string Response(absl::string_view status, absl::string_view content_type,
                     absl::string_view body, bool head_only,
                     absl::string_view extra_headers = "") {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", body.size(), "\r\n", extra_headers,
      "Connection: close\r\n\r\n");
  if (!head_only) absl::StrAppend(&out, body);
  return out;
}

std::string TextResponse(absl::string_view status, absl::string_view body,
                         bool head_only = false,
                         absl::string_view extra_headers = "") {
  return Response(status, "text/plain; charset=utf-8", body, head_only,
                  extra_headers);
}

// End of the request head ("\r\n\r\n", or "\n\n" from lenient clients):
// the offset just past it, or npos.
size_t HeadEnd(const std::string& in) {
  const size_t crlf = in.find("\r\n\r\n");
  const size_t lf = in.find("\n\n");
  if (crlf == std::string::npos && lf == std::string::npos) {
    return std::string::npos;
  }
  if (lf == std::string::npos || (crlf != std::string::npos && crlf < lf)) {
    return crlf + 4;
  }
  return lf + 2;
}

}  // namespace

struct MetricsHttpServer::Connection {
  enum class Phase { kReading, kWriting, kLingering };

  explicit Connection(int fd) : fd(fd) {}
  ~Connection() { close(fd); }

  const int fd;
  Phase phase = Phase::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
  absl::Time deadline;
};

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(
    absl::string_view listen) {
  std::string host;
  absl::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find(']');
    if (close == absl::string_view::npos || close + 1 >= listen.size() ||
        listen[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", listen, "' is not [IPv6]:port"));
    }
    host = std::string(listen.substr(1, close - 1));
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == absl::string_view::npos ||
        listen.substr(0, colon).find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", listen, "' is not host:port (write IPv6 as [addr]:port)"));
    }
    host = std::string(listen.substr(0, colon));
    port = listen.substr(colon + 1);
  }
  int port_number = -1;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", listen, "': bad port '", port, "'"));
  }
  return std::make_pair(host, port_number);
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    MetricsHttpServerOptions options) {
  if (options.max_connections < 1 || options.max_request_bytes < 64 ||
      options.io_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "MetricsHttpServerOptions: max_connections >= 1, max_request_bytes "
        ">= 64 and a positive io_timeout are required");
  }
  auto host_port = SplitHostPort(options.listen);
  if (!host_port.ok()) return host_port.status();
  std::string host = host_port->first;
  if (host.empty() || host == "*") host = "0.0.0.0";

  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string port = std::to_string(host_port->second);
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve '", options.listen, "': ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string error = "no address";
  for (addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                a->ai_protocol);
    if (fd < 0) {
      error = Errno("socket");
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        listen(fd, kListenBacklog) == 0) {
      break;
    }
    error = Errno("bind/listen");
    close(fd);
    fd = -1;
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, ": ", error));
  }

  sockaddr_storage bound = {};
  socklen_t length = sizeof(bound);
  int bound_port = 0;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    bound_port = ntohs(bound.ss_family == AF_INET6
                           ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  int wake[2];
  if (bound_port == 0 || pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    const std::string message = Errno("getsockname/pipe2");
    close(fd);
    return absl::InternalError(message);
  }
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(
      std::move(options), fd, bound_port, wake[0], wake[1]));
  server->thread_ = std::thread([s = server.get()] { s->Serve(); });
  return server;
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Create(
    std::string listen, std::shared_ptr<prometheus::Collectable> collectable,
    std::function<bool()> healthy) {
  MetricsHttpServerOptions options;
  options.listen = std::move(listen);
  options.collectables.push_back(std::move(collectable));
  options.healthy = std::move(healthy);
  return Create(std::move(options));
}

MetricsHttpServer::MetricsHttpServer(MetricsHttpServerOptions options,
                                     int listen_fd, int port, int wake_read,
                                     int wake_write)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      port_(port),
      wake_read_(wake_read),
      wake_write_(wake_write) {}

MetricsHttpServer::~MetricsHttpServer() { Shutdown(); }

void MetricsHttpServer::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    const char byte = 0;
    while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
    }
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
    close(wake_read_);
    close(wake_write_);
  });
}

void MetricsHttpServer::Serve() {
  std::vector<std::unique_ptr<Connection>> connections;
  std::vector<pollfd> fds;
  while (true) {
    const bool accepting =
        connections.size() < static_cast<size_t>(options_.max_connections);
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    // A negative fd is ignored by poll(): at the limit, new connections wait
    // in the backlog.
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});
    absl::Time next_deadline = absl::InfiniteFuture();
    for (const auto& c : connections) {
      fds.push_back({c->fd,
                     static_cast<short>(c->phase == Connection::Phase::kWriting
                                            ? POLLOUT
                                            : POLLIN),
                     0});
      next_deadline = std::min(next_deadline, c->deadline);
    }
    int timeout_ms = -1;
    if (next_deadline != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>(
          absl::ToInt64Milliseconds(next_deadline - absl::Now()) + 1, 0,
          60'000));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) {
      if (errno == EINTR) continue;
      LOG(ERROR) << "metrics HTTP server stops: " << Errno("poll");
      break;
    }
    if (fds[0].revents != 0) break;  // Shutdown().

    // Existing connections first (fds[2 + i] belongs to connections[i]).
    const absl::Time now = absl::Now();
    std::vector<std::unique_ptr<Connection>> kept;
    kept.reserve(connections.size());
    for (size_t i = 0; i < connections.size(); ++i) {
      Connection& c = *connections[i];
      const short revents = fds[2 + i].revents;
      bool keep = true;
      if (revents & POLLNVAL) {
        keep = false;
      } else if (c.phase == Connection::Phase::kWriting) {
        if (revents & (POLLOUT | POLLERR | POLLHUP)) keep = OnWritable(c);
      } else if (revents & (POLLIN | POLLERR | POLLHUP)) {
        keep = OnReadable(c);
      }
      if (keep && now >= c.deadline) {
        VLOG(1) << "metrics HTTP: connection timed out";
        keep = false;
      }
      if (keep) kept.push_back(std::move(connections[i]));
    }
    connections = std::move(kept);

    if (accepting && (fds[1].revents & POLLIN)) {
      while (connections.size() <
             static_cast<size_t>(options_.max_connections)) {
        const int fd = accept4(listen_fd_, nullptr, nullptr,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          if (errno != EAGAIN && errno != EWOULDBLOCK) {
            LOG(WARNING) << "metrics HTTP: " << Errno("accept");
          }
          break;
        }
        auto c = std::make_unique<Connection>(fd);
        c->deadline = absl::Now() + options_.io_timeout;
        connections.push_back(std::move(c));
      }
    }
  }
  connections.clear();  // Closes them.
}

bool MetricsHttpServer::OnReadable(Connection& c) {
  char buffer[4096];
  bool eof = false;
  while (true) {
    const ssize_t n = recv(c.fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      // Lingering: the response is out; whatever else comes is discarded.
      if (c.phase == Connection::Phase::kReading) c.in.append(buffer, n);
      if (c.in.size() > options_.max_request_bytes) break;
      continue;
    }
    if (n == 0) {
      eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return false;  // Reset by the client, or another error.
    }
    break;
  }
  if (c.phase == Connection::Phase::kLingering) return !eof;

  const size_t head_end = HeadEnd(c.in);
  if (head_end != std::string::npos && head_end <= options_.max_request_bytes) {
    c.out = Respond(absl::string_view(c.in).substr(0, head_end));
  } else if (c.in.size() > options_.max_request_bytes) {
    c.out = TextResponse("431 Request Header Fields Too Large",
                         "request head too large\n");
  } else {
    return !eof;  // Incomplete: wait for more, unless the client gave up.
  }
  c.in.clear();
  c.phase = Connection::Phase::kWriting;
  c.deadline = absl::Now() + options_.io_timeout;
  return OnWritable(c);  // Usually the whole response fits at once.
}

bool MetricsHttpServer::OnWritable(Connection& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent,
                           MSG_NOSIGNAL);
    if (n >= 0) {
      c.sent += static_cast<size_t>(n);
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return true;  // Wait for POLLOUT.
    } else {
      return false;  // The client went away.
    }
  }
  // All sent: signal the end, then wait (briefly) for the client's close.
  shutdown(c.fd, SHUT_WR);
  c.phase = Connection::Phase::kLingering;
  c.deadline = absl::Now() + std::min(options_.io_timeout, kMaxLinger);
  return true;
}

std::string MetricsHttpServer::Respond(absl::string_view head) const {
  absl::string_view line = head.substr(0, head.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
      (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) {
    return TextResponse("400 Bad Request", "bad request line\n");
  }
  const absl::string_view method = parts[0];
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return TextResponse("405 Method Not Allowed", "use GET\n", false,
                        "Allow: GET, HEAD\r\n");
  }
  absl::string_view path = parts[1];
  path = path.substr(0, path.find_first_of("?#"));
  if (path == "/metrics") {
    return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                    MetricsText(), head_only);
  }
  if (path == "/healthz") {
    if (options_.healthy && !options_.healthy()) {
      return TextResponse("503 Service Unavailable", "unhealthy\n", head_only);
    }
    return TextResponse("200 OK", "ok\n", head_only);
  }
  return TextResponse("404 Not Found", "not found: try /metrics\n", head_only);
}

std::string MetricsHttpServer::MetricsText() const {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : options_.collectables) {
    if (collectable == nullptr) continue;
    std::vector<prometheus::MetricFamily> more = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace nas::metrics_http
