// HealthServer and CheckHealth over a real loopback gRPC connection (port 0).
#include "common/grpc_health/health.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace nas::grpc_health {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

std::shared_ptr<grpc::Channel> Connect(int port) {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureChannelCredentials());
}

// The status name, or the error.
std::string Check(grpc::Channel& channel) {
  absl::StatusOr<ServingStatus> status = CheckHealth(channel);
  return status.ok() ? std::string(ServingStatusName(*status))
                     : status.status().ToString();
}

TEST(HealthServerTest, StartsNotServingAndFollowsSetServing) {
  ASSERT_OK_AND_ASSIGN(auto server, HealthServer::Create("127.0.0.1:0"));
  ASSERT_GT(server->port(), 0);
  auto channel = Connect(server->port());
  EXPECT_EQ(Check(*channel), "NOT_SERVING");
  server->SetServing(true);
  EXPECT_EQ(Check(*channel), "SERVING");
  server->SetServing(false);
  EXPECT_EQ(Check(*channel), "NOT_SERVING");
}

TEST(HealthServerTest, AnUnknownServiceIsNotFound) {
  ASSERT_OK_AND_ASSIGN(auto server, HealthServer::Create("127.0.0.1:0"));
  server->SetServing(true);
  auto channel = Connect(server->port());
  EXPECT_THAT(CheckHealth(*channel, "nas.v1.NoSuchService").status(),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(HealthServerTest, ShutdownSaysNotServingThenStopsServing) {
  ASSERT_OK_AND_ASSIGN(auto server, HealthServer::Create("127.0.0.1:0"));
  server->SetServing(true);
  auto channel = Connect(server->port());
  ASSERT_EQ(Check(*channel), "SERVING");
  server->Shutdown();
  server->SetServing(true);  // Ignored.
  server->Shutdown();        // Idempotent.
  EXPECT_THAT(CheckHealth(*channel, "", absl::Seconds(2)).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(HealthServerTest, ABusyPortIsAnError) {
  ASSERT_OK_AND_ASSIGN(auto server, HealthServer::Create("127.0.0.1:0"));
  const std::string listen = absl::StrCat("127.0.0.1:", server->port());
  EXPECT_THAT(HealthServer::Create(listen).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(listen)));
}

TEST(CheckHealthTest, NoServerIsUnavailable) {
  ASSERT_OK_AND_ASSIGN(auto server, HealthServer::Create("127.0.0.1:0"));
  const int port = server->port();
  server.reset();
  auto channel = Connect(port);
  EXPECT_THAT(CheckHealth(*channel, "", absl::Seconds(2)).status(),
              StatusIs(absl::StatusCode::kUnavailable));
}

TEST(ServingStatusNameTest, NamesMatchTheProto) {
  EXPECT_EQ(ServingStatusName(ServingStatus::kServing), "SERVING");
  EXPECT_EQ(ServingStatusName(ServingStatus::kNotServing), "NOT_SERVING");
  EXPECT_EQ(ServingStatusName(ServingStatus::kServiceUnknown),
            "SERVICE_UNKNOWN");
}

}  // namespace
}  // namespace nas::grpc_health
