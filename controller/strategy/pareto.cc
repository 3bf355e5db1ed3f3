#include "controller/strategy/pareto.h"

#include <algorithm>
#include <limits>
#include <cstdint>
#include <numeric>

namespace nas::strategy {

bool Dominates(const std::vector<double>& a, const std::vector<double>& b) {
  bool better = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < b[i]) return false;
    if (a[i] > b[i]) better = true;
  }
  return better;
}

namespace {

// Two objectives: sort by the first (descending); a point joins the first
// front whose latest member does not dominate it. O(n log n + n * fronts).
std::vector<int> NonDominatedRanks2D(
    const std::vector<std::vector<double>>& points) {
  const int n = static_cast<int>(points.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    if (points[a][0] != points[b][0]) return points[a][0] > points[b][0];
    return points[a][1] > points[b][1];
  });
  std::vector<int> ranks(n, 0);
  std::vector<int> last;  // Latest member of each front (largest y so far).
  for (int i : order) {
    int f = 0;
    while (f < static_cast<int>(last.size()) &&
           Dominates(points[last[f]], points[i])) {
      ++f;
    }
    if (f == static_cast<int>(last.size())) {
      last.push_back(i);
    } else {
      last[f] = i;
    }
    ranks[i] = f;
  }
  return ranks;
}

}  // namespace

std::vector<int> NonDominatedRanks(
    const std::vector<std::vector<double>>& points) {
  const int n = static_cast<int>(points.size());
  if (n > 0 && points[0].size() == 2) return NonDominatedRanks2D(points);
  // dominates[i * n + j]: point i dominates point j.
  std::vector<uint8_t> dominates(static_cast<size_t>(n) * n, 0);
  std::vector<int> dominated_by(n, 0);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      if (Dominates(points[i], points[j])) {
        dominates[i * n + j] = 1;
        ++dominated_by[j];
      } else if (Dominates(points[j], points[i])) {
        dominates[j * n + i] = 1;
        ++dominated_by[i];
      }
    }
  }
  std::vector<int> ranks(n, 0);
  std::vector<int> front;
  for (int i = 0; i < n; ++i) {
    if (dominated_by[i] == 0) front.push_back(i);
  }
  std::vector<int> next;
  for (int rank = 0; !front.empty(); ++rank) {
    next.clear();
    for (int i : front) {
      ranks[i] = rank;
      for (int j = 0; j < n; ++j) {
        if (dominates[i * n + j] && --dominated_by[j] == 0) next.push_back(j);
      }
    }
    front.swap(next);
  }
  return ranks;
}

std::vector<double> CrowdingDistances(
    const std::vector<std::vector<double>>& points,
    const std::vector<int>& ranks) {
  const int n = static_cast<int>(points.size());
  std::vector<double> distance(n, 0.0);
  if (n == 0) return distance;
  const int m = static_cast<int>(points[0].size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (int k = 0; k < m; ++k) {
    // Sort by (front, objective k) so each front is a contiguous run.
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      if (ranks[a] != ranks[b]) return ranks[a] < ranks[b];
      if (points[a][k] != points[b][k]) return points[a][k] < points[b][k];
      return a < b;
    });
    for (int lo = 0; lo < n;) {
      int hi = lo;
      while (hi < n && ranks[order[hi]] == ranks[order[lo]]) ++hi;
      const double span = points[order[hi - 1]][k] - points[order[lo]][k];
      distance[order[lo]] = std::numeric_limits<double>::infinity();
      distance[order[hi - 1]] = std::numeric_limits<double>::infinity();
      if (span > 0) {
        for (int i = lo + 1; i < hi - 1; ++i) {
          distance[order[i]] +=
              (points[order[i + 1]][k] - points[order[i - 1]][k]) / span;
        }
      }
      lo = hi;
    }
  }
  return distance;
}

double Hypervolume2D(std::vector<std::array<double, 2>> points,
                     const std::array<double, 2>& ref) {
  points.erase(std::remove_if(points.begin(), points.end(),
                              [&](const std::array<double, 2>& p) {
                                return !(p[0] > ref[0] && p[1] > ref[1]);
                              }),
               points.end());
  std::sort(points.begin(), points.end(),
            [](const std::array<double, 2>& a, const std::array<double, 2>& b) {
              return a[0] > b[0] || (a[0] == b[0] && a[1] > b[1]);
            });
  double volume = 0.0;
  double best_y = ref[1];
  for (const std::array<double, 2>& p : points) {
    if (p[1] <= best_y) continue;
    volume += (p[0] - ref[0]) * (p[1] - best_y);
    best_y = p[1];
  }
  return volume;
}

}  // namespace nas::strategy
