// MetricsHttpServer over real loopback sockets (port 0).
#include "common/metrics_http/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace nas::metrics_http {
namespace {

using ::nas::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// A blocking loopback client socket; closes on destruction.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0;
  }
  ~Client() { close(fd_); }

  bool connected() const { return connected_; }

  void Send(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n =
          send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << "send: " << errno;
      sent += n;
    }
  }

  // True if something (data or EOF) can be read within `ms`.
  bool Readable(int ms) {
    pollfd p = {fd_, POLLIN, 0};
    return poll(&p, 1, ms) == 1;
  }

  // Everything until the server closes; "TIMEOUT" if it does not within 10 s.
  std::string ReadToEnd() {
    std::string out;
    char buffer[65536];
    while (Readable(10'000)) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) return out;
      out.append(buffer, n);
    }
    return out + "TIMEOUT";
  }

 private:
  const int fd_;
  bool connected_ = false;
};

std::string Get(int port, const std::string& request) {
  Client client(port);
  EXPECT_TRUE(client.connected());
  client.Send(request);
  return client.ReadToEnd();
}

std::string Body(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    auto& family = prometheus::BuildCounter()
                       .Name("nas_test_requests_total")
                       .Help("Test counter")
                       .Register(*registry_);
    family.Add({{"kind", "a"}}).Increment(3);
  }

  std::unique_ptr<MetricsHttpServer> Start(
      MetricsHttpServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    options.collectables.push_back(registry_);
    auto server = MetricsHttpServer::Create(std::move(options));
    EXPECT_OK(server.status());
    if (!server.ok()) return nullptr;
    EXPECT_GT((*server)->port(), 0);
    return std::move(server).value();
  }

  std::shared_ptr<prometheus::Registry> registry_;
};

TEST_F(MetricsHttpServerTest, MetricsReturnsTheRegistryInTextFormat) {
  auto server = Start();
  const std::string response =
      Get(server->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response,
              HasSubstr("Content-Type: text/plain; version=0.0.4; "
                        "charset=utf-8\r\n"));
  EXPECT_THAT(response, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(Body(response),
              AllOf(HasSubstr("# TYPE nas_test_requests_total counter"),
                    HasSubstr("nas_test_requests_total{kind=\"a\"} 3")));
  EXPECT_THAT(response, HasSubstr(absl::StrCat(
                            "Content-Length: ", Body(response).size(), "\r\n")));
}

TEST_F(MetricsHttpServerTest, MetricsAreCollectedOnEveryRequest) {
  auto server = Start();
  prometheus::BuildCounter()
      .Name("nas_test_late_total")
      .Register(*registry_)
      .Add({})
      .Increment(7);
  EXPECT_THAT(Get(server->port(), "GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
              HasSubstr("nas_test_late_total 7"));
}

TEST_F(MetricsHttpServerTest, HealthzFollowsTheHealthyCallback) {
  std::atomic<bool> healthy{true};
  MetricsHttpServerOptions options;
  options.healthy = [&healthy] { return healthy.load(); };
  auto server = Start(std::move(options));
  const std::string request = "GET /healthz HTTP/1.1\r\n\r\n";
  std::string response = Get(server->port(), request);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(Body(response), "ok\n");
  healthy = false;
  response = Get(server->port(), request);
  EXPECT_THAT(response, StartsWith("HTTP/1.1 503 "));
  EXPECT_EQ(Body(response), "unhealthy\n");
}

TEST_F(MetricsHttpServerTest, OtherPathsMethodsAndGarbageAreRefused) {
  auto server = Start();
  const int port = server->port();
  EXPECT_THAT(Get(port, "GET / HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(port, "GET /metricsx HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 "));
  const std::string post =
      Get(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(Get(port, "hello\r\n\r\n"), StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(Get(port, "GET /metrics SPDY/3\r\n\r\n"),
              StartsWith("HTTP/1.1 400 "));
}

TEST_F(MetricsHttpServerTest, HeadSendsTheHeadersWithoutTheBody) {
  auto server = Start();
  const std::string get = Get(server->port(), "GET /metrics HTTP/1.1\r\n\r\n");
  const std::string head =
      Get(server->port(), "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_EQ(Body(head), "");
  EXPECT_THAT(head, HasSubstr(absl::StrCat("Content-Length: ",
                                           Body(get).size(), "\r\n")));
}

TEST_F(MetricsHttpServerTest, ARequestInPiecesIsAnsweredWhenComplete) {
  auto server = Start();
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  client.Send("GET /met");
  EXPECT_FALSE(client.Readable(100));
  client.Send("rics HTTP/1.1\r\nHost: loc");
  EXPECT_FALSE(client.Readable(100));
  client.Send("alhost\r\n");
  EXPECT_FALSE(client.Readable(100));
  client.Send("\r\n");
  EXPECT_THAT(client.ReadToEnd(),
              AllOf(StartsWith("HTTP/1.1 200 OK\r\n"),
                    HasSubstr("nas_test_requests_total")));
}

TEST_F(MetricsHttpServerTest, LargeResponsesArriveWhole) {
  auto& family = prometheus::BuildCounter()
                     .Name("nas_test_many_total")
                     .Register(*registry_);
  for (int i = 0; i < 20000; ++i) {
    family.Add({{"series", std::to_string(i)}}).Increment();
  }
  auto server = Start();
  // Trailing bytes after the head (a pipelined request) are ignored, and
  // must not reset the connection before the response is read.
  const std::string response =
      Get(server->port(), "GET /metrics HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
  const std::string body = Body(response);
  EXPECT_GT(body.size(), 500'000u);
  EXPECT_THAT(response, HasSubstr(absl::StrCat("Content-Length: ", body.size(),
                                               "\r\n")));
  EXPECT_THAT(body, HasSubstr("nas_test_many_total{series=\"19999\"} 1"));
  EXPECT_THAT(body, Not(HasSubstr("TIMEOUT")));
}

TEST_F(MetricsHttpServerTest, AStalledClientDoesNotBlockOthers) {
  auto server = Start();
  Client stalled(server->port());
  ASSERT_TRUE(stalled.connected());
  stalled.Send("GET /metrics HTTP/1.1\r\n");  // Never finishes its head.
  EXPECT_THAT(Get(server->port(), "GET /healthz HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_FALSE(stalled.Readable(0));
}

TEST_F(MetricsHttpServerTest, AStalledClientIsDroppedAfterTheIoTimeout) {
  MetricsHttpServerOptions options;
  options.io_timeout = absl::Milliseconds(200);
  auto server = Start(std::move(options));
  Client stalled(server->port());
  ASSERT_TRUE(stalled.connected());
  stalled.Send("GET /metrics HTTP/1.1\r\n");
  EXPECT_EQ(stalled.ReadToEnd(), "");  // Closed without a response.
}

TEST_F(MetricsHttpServerTest, AnOversizedHeadIsRefused) {
  MetricsHttpServerOptions options;
  options.max_request_bytes = 256;
  auto server = Start(std::move(options));
  Client client(server->port());
  ASSERT_TRUE(client.connected());
  client.Send("GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(1000, 'a'));
  EXPECT_THAT(client.ReadToEnd(), StartsWith("HTTP/1.1 431 "));
}

TEST_F(MetricsHttpServerTest, ConnectionsOverTheLimitWaitTheirTurn) {
  MetricsHttpServerOptions options;
  options.max_connections = 1;
  auto server = Start(std::move(options));
  auto first = std::make_unique<Client>(server->port());
  ASSERT_TRUE(first->connected());
  first->Send("GET /metrics HTTP/1.1\r\n");  // Holds the only slot.
  Client second(server->port());  // Accepted by the kernel, in the backlog.
  ASSERT_TRUE(second.connected());
  second.Send("GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(second.Readable(200));
  first.reset();  // Frees the slot.
  EXPECT_THAT(second.ReadToEnd(), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsHttpServerTest, ShutdownClosesConnectionsAndStopsListening) {
  auto server = Start();
  const int port = server->port();
  Client idle(port);
  ASSERT_TRUE(idle.connected());
  idle.Send("GET /met");
  ASSERT_FALSE(idle.Readable(50));  // The server holds the connection open.
  server->Shutdown();
  EXPECT_EQ(idle.ReadToEnd(), "");
  server->Shutdown();  // Idempotent.
  Client late(port);
  EXPECT_FALSE(late.connected());
}

TEST_F(MetricsHttpServerTest, ABusyPortIsAnErrorNamingTheAddress) {
  auto server = Start();
  MetricsHttpServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", server->port());
  EXPECT_THAT(MetricsHttpServer::Create(options).status(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(options.listen)));
}

TEST(SplitHostPortTest, AcceptsNamesIPv4AndBracketedIPv6) {
  using Pair = std::pair<std::string, int>;
  EXPECT_EQ(SplitHostPort("127.0.0.1:9464").value(), Pair("127.0.0.1", 9464));
  EXPECT_EQ(SplitHostPort("localhost:0").value(), Pair("localhost", 0));
  EXPECT_EQ(SplitHostPort(":80").value(), Pair("", 80));
  EXPECT_EQ(SplitHostPort("[::1]:9465").value(), Pair("::1", 9465));
}

TEST(SplitHostPortTest, RefusesWhatIsNotHostPort) {
  for (const char* bad : {"", "9464", "::1:80", "[::1]", "[::1]80",
                          "host:", "host:x", "host:70000", "host:-1"}) {
    EXPECT_THAT(SplitHostPort(bad).status(),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(MetricsHttpServerCreateTest, RefusesAnUnresolvableHost) {
  MetricsHttpServerOptions options;
  options.listen = "no-such-host.invalid:0";
  EXPECT_THAT(MetricsHttpServer::Create(options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no-such-host.invalid")));
}

TEST(MetricsHttpServerCreateTest, ServesOnIPv6LoopbackWhenAvailable) {
  MetricsHttpServerOptions options;
  options.listen = "[::1]:0";
  auto server = MetricsHttpServer::Create(options);
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback: " << server.status();
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 address = {};
  address.sin6_family = AF_INET6;
  address.sin6_port = htons((*server)->port());
  address.sin6_addr = in6addr_loopback;
  ASSERT_EQ(
      connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const std::string request = "GET /healthz HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buffer[256] = {};
  ASSERT_GT(recv(fd, buffer, sizeof(buffer) - 1, MSG_WAITALL), 0);
  close(fd);
  EXPECT_THAT(std::string(buffer), StartsWith("HTTP/1.1 200 OK\r\n"));
}

}  // namespace
}  // namespace nas::metrics_http
