// Status propagation macros: RETURN_IF_ERROR and ASSIGN_OR_RETURN.
//
// Debian's abseil 20220623 ships no status macros, so these small local ones
// stand in. Both evaluate their argument exactly once. Thread-safe (no state).
#ifndef NAS_COMMON_STATUS_MACROS_H_
#define NAS_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define NAS_STATUS_CONCAT_INNER_(a, b) a##b
#define NAS_STATUS_CONCAT_(a, b) NAS_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status nas_status_ = ::nas::internal::ToStatus(expr); \
    if (!nas_status_.ok()) return nas_status_;                 \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` declares/assigns x from an OK StatusOr,
// or returns its status from the enclosing function.
#define ASSIGN_OR_RETURN(lhs, expr)                                             \
  NAS_ASSIGN_OR_RETURN_IMPL_(NAS_STATUS_CONCAT_(nas_statusor_, __LINE__), lhs, \
                             expr)

#define NAS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace nas::internal {
inline const ::absl::Status& ToStatus(const ::absl::Status& s) { return s; }
template <typename T>
const ::absl::Status& ToStatus(const ::absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace nas::internal

#endif  // NAS_COMMON_STATUS_MACROS_H_
