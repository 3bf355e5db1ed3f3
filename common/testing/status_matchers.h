// gtest matchers for absl::Status / StatusOr.
//
//   EXPECT_OK(s);  ASSERT_OK(s);
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("x")));
//   ASSERT_OK_AND_ASSIGN(auto v, F());
#ifndef NAS_COMMON_TESTING_STATUS_MATCHERS_H_
#define NAS_COMMON_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_macros.h"

namespace nas::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = ::nas::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()),
                                       result_listener);
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = ::nas::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::nas::testing::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.ok();
}

}  // namespace nas::testing

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::nas::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::nas::testing::IsOk())
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                      \
  NAS_ASSERT_OK_AND_ASSIGN_IMPL_(NAS_STATUS_CONCAT_(nas_assign_, __LINE__), \
                                 lhs, expr)
#define NAS_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();    \
  lhs = std::move(tmp).value()

#endif  // NAS_COMMON_TESTING_STATUS_MATCHERS_H_
