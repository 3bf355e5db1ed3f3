#include "controller/service/auth.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::service {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseTokenFileTest, ReadsRolesCommentsAndBareAdminTokens) {
  auto grants = ParseTokenFile(
      "# controller tokens\n"
      "\n"
      "  root-token  \n"
      "dash-token read   # dashboards\n"
      "fleet-token\tworker\r\n"
      "ops-token admin\n");
  ASSERT_OK(grants);
  ASSERT_EQ(grants->size(), 4u);
  EXPECT_EQ((*grants)[0].token, "root-token");
  EXPECT_EQ((*grants)[0].role, Role::kAdmin);
  EXPECT_EQ((*grants)[1].token, "dash-token");
  EXPECT_EQ((*grants)[1].role, Role::kRead);
  EXPECT_EQ((*grants)[2].token, "fleet-token");
  EXPECT_EQ((*grants)[2].role, Role::kWorker);
  EXPECT_EQ((*grants)[3].role, Role::kAdmin);
}

TEST(ParseTokenFileTest, AnOldSingleTokenFileIsOneAdminToken) {
  auto grants = ParseTokenFile("s3cret\n");
  ASSERT_OK(grants);
  ASSERT_EQ(grants->size(), 1u);
  EXPECT_EQ((*grants)[0].token, "s3cret");
  EXPECT_EQ((*grants)[0].role, Role::kAdmin);
}

TEST(ParseTokenFileTest, RefusesBadLinesNamingThem) {
  EXPECT_THAT(ParseTokenFile("a admin\nb owner\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 2: unknown role \"owner\"")));
  EXPECT_THAT(
      ParseTokenFile("a read extra\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(ParseTokenFile("a read\n# c\na worker\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("line 3: token listed twice")));
}

TEST(ParseTokenFileTest, CommentsOnlyGiveNoTokens) {
  auto grants = ParseTokenFile("# nothing yet\n\n");
  ASSERT_OK(grants);
  EXPECT_TRUE(grants->empty());
}

}  // namespace
}  // namespace nas::service
