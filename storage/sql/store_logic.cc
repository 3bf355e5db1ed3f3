#include "storage/sql/store_logic.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace nas::storage {

double Goodness(double value, nas::v1::Direction direction) {
  return direction == nas::v1::MINIMIZE ? -value : value;
}

bool Dominates(const std::pair<double, double>& p,
               const std::pair<double, double>& q, nas::v1::Direction da,
               nas::v1::Direction db) {
  const double pa = Goodness(p.first, da), pb = Goodness(p.second, db);
  const double qa = Goodness(q.first, da), qb = Goodness(q.second, db);
  return pa >= qa && pb >= qb && (pa > qa || pb > qb);
}

std::vector<size_t> ParetoFrontIndices(
    const std::vector<std::pair<double, double>>& points,
    nas::v1::Direction da, nas::v1::Direction db) {
  std::vector<size_t> order(points.size());
  std::iota(order.begin(), order.end(), 0);
  auto ga = [&](size_t i) { return Goodness(points[i].first, da); };
  auto gb = [&](size_t i) { return Goodness(points[i].second, db); };
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    if (ga(x) != ga(y)) return ga(x) > ga(y);
    if (gb(x) != gb(y)) return gb(x) > gb(y);
    return x < y;
  });
  // Walk groups of equal `a`, best first. In a group only the best `b` can be
  // on the front, and only if it beats every `b` of a strictly better `a`.
  std::vector<size_t> front;
  bool have_best = false;
  double best_b = 0;
  for (size_t g = 0; g < order.size();) {
    size_t end = g;
    while (end < order.size() && ga(order[end]) == ga(order[g])) ++end;
    const double group_b = gb(order[g]);
    if (!have_best || group_b > best_b) {
      for (size_t i = g; i < end && gb(order[i]) == group_b; ++i) {
        front.push_back(order[i]);
      }
      best_b = group_b;
      have_best = true;
    }
    g = end;
  }
  return front;
}

bool IsActive(nas::v1::TrialState state) {
  return state == nas::v1::LEASED || state == nas::v1::RUNNING;
}

absl::Status CheckFence(const TrialRef& ref, int32_t current_attempt,
                        nas::v1::TrialState current_state) {
  if (current_attempt != ref.attempt) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", ref.trial_id, ": attempt ", ref.attempt,
        " is stale; the trial is at attempt ", current_attempt, " (",
        nas::v1::TrialState_Name(current_state), ")"));
  }
  if (!IsActive(current_state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", ref.trial_id, ": attempt ", ref.attempt,
        " has ended (", nas::v1::TrialState_Name(current_state), ")"));
  }
  return absl::OkStatus();
}

absl::Status TrialNotFound(int64_t trial_id) {
  return absl::NotFoundError(absl::StrCat("trial ", trial_id, " not found"));
}

absl::Status JobNotFound(const std::string& job_id) {
  return absl::NotFoundError(absl::StrCat("job '", job_id, "' not found"));
}

std::string MaskPassword(const std::string& url) {
  std::string out = url;
  // scheme://user:password@host
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t end = out.find_first_of("/?", start);
    const size_t at = out.rfind('@', end == std::string::npos ? out.size() - 1
                                                              : end - 1);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  // ...?password=secret&...
  for (size_t pos = out.find("password="); pos != std::string::npos;
       pos = out.find("password=", pos + 1)) {
    const size_t value = pos + 9;
    const size_t end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value,
                "***");
  }
  return out;
}

}  // namespace nas::storage
