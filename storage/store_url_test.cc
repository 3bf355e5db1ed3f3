#include "storage/store_url.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::storage {
namespace {

using ::nas::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(OpenTrialStoreTest, MalformedUrlsAreInvalidAndMasked) {
  for (const std::string url :
       {"", "mysql://x/y", "sqlite:", "sqlite://", "sqlite:///",
        "sqlite:///tmp/dir/", "sqlite:///tmp/x.db?mode=ro",
        "postgresql://u:hunter2@host:notaport/db",
        "postgres://u:hunter2@host:99999/db"}) {
    auto store = OpenTrialStore(url);
    EXPECT_THAT(store, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr("malformed store URL")))
        << url;
    EXPECT_THAT(store.status().message(), Not(HasSubstr("hunter2"))) << url;
  }
}

TEST(OpenTrialStoreTest, OpensSqliteInMemory) {
  ASSERT_OK_AND_ASSIGN(auto store, OpenTrialStore("sqlite::memory:"));
  ASSERT_OK_AND_ASSIGN(auto jobs,
                       store->ListJobs(nas::v1::JOB_STATE_UNSPECIFIED, 10, 0));
  EXPECT_TRUE(jobs.empty());
}

TEST(OpenTrialStoreTest, UnopenableSqliteFileIsAnError) {
  EXPECT_THAT(OpenTrialStore("sqlite:///nonexistent-dir/sub/x.db"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("/nonexistent-dir/sub/x.db")));
}

// A loopback port with nothing listening.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(OpenTrialStoreTest, UnreachableServerIsUnavailableAfterRetries) {
  StoreOptions options;
  options.connect_attempts = 3;
  options.connect_backoff = absl::Milliseconds(1);
  const std::string url = "postgresql://nas:topsecret@127.0.0.1:" +
                          std::to_string(ClosedPort()) + "/nas";
  auto store = OpenTrialStore(url, options);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kUnavailable,
                              AllOf(HasSubstr("after 3 attempts"),
                                    HasSubstr("nas:***@127.0.0.1"))));
  EXPECT_THAT(store.status().message(), Not(HasSubstr("topsecret")));
}

}  // namespace
}  // namespace nas::storage
