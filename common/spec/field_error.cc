#include "common/spec/field_error.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nas::spec {
namespace {

constexpr size_t kMaxQuotedChars = 40;

// Levenshtein distance of two short strings.
size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

}  // namespace

std::string FieldError::ToString() const {
  if (path.empty()) return message;
  return absl::StrCat(path, ": ", message);
}

absl::Status FieldErrorsToStatus(const std::vector<FieldError>& errors) {
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrJoin(errors, "\n", [](std::string* out, const FieldError& e) {
        out->append(e.ToString());
      }));
}

std::string QuoteValue(absl::string_view value) {
  if (value.size() > kMaxQuotedChars) {
    return absl::StrCat(
        "\"", absl::CHexEscape(value.substr(0, kMaxQuotedChars)), "...\"");
  }
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

std::string DidYouMean(absl::string_view word,
                       const std::vector<std::string>& candidates) {
  // No field or op name is this long; skip the quadratic work on hostile input.
  if (word.size() > 64) return "";
  const std::string lower = absl::AsciiStrToLower(word);
  const size_t budget = std::max<size_t>(2, lower.size() / 4);
  const std::string* best = nullptr;
  size_t best_distance = budget + 1;
  for (const std::string& candidate : candidates) {
    const size_t d = EditDistance(lower, absl::AsciiStrToLower(candidate));
    if (d < best_distance) {
      best_distance = d;
      best = &candidate;
    }
  }
  if (best == nullptr) return "";
  return absl::StrCat(" (did you mean \"", *best, "\"?)");
}

}  // namespace nas::spec
