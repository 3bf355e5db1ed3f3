// FieldError: one problem with one field of a job spec, helpers to turn a list
// of them into an absl::Status, and the wording helpers error messages share
// (quoting a user's value, "did you mean" suggestions).
//
// A FieldError names the field by its path in the spec as the user wrote it
// (proto field names joined by '.', list elements as `[i]`, e.g.
// `objectives[1].direction`); an empty path means the whole document.
// Plain value types and pure functions: thread-safe.
#ifndef NAS_COMMON_SPEC_FIELD_ERROR_H_
#define NAS_COMMON_SPEC_FIELD_ERROR_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace nas::spec {

struct FieldError {
  // Field path, e.g. "strategy.regularized_evolution.sample_size"; "" for the
  // whole document (e.g. a YAML syntax error or an unreadable file).
  std::string path;
  // What is wrong, e.g. `must be <= population (got 60 > 50)`.
  std::string message;

  // "path: message", or just "message" when the path is empty.
  std::string ToString() const;

  friend bool operator==(const FieldError& a, const FieldError& b) {
    return a.path == b.path && a.message == b.message;
  }
  friend std::ostream& operator<<(std::ostream& os, const FieldError& e) {
    return os << e.ToString();
  }
};

// OK when `errors` is empty; otherwise InvalidArgument whose message holds
// one error per line, in order.
absl::Status FieldErrorsToStatus(const std::vector<FieldError>& errors);

// `"value"` with C escapes, shortened to about 40 characters: how error
// messages show a value the user wrote.
std::string QuoteValue(absl::string_view value);

// ` (did you mean "population"?)` when one of `candidates` is within a small
// edit distance of `word` (ignoring case), else "".
std::string DidYouMean(absl::string_view word,
                       const std::vector<std::string>& candidates);

}  // namespace nas::spec

#endif  // NAS_COMMON_SPEC_FIELD_ERROR_H_
