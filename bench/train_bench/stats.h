// Rank statistics for the benchmarks. Free functions; thread-safe.
#ifndef NAS_BENCH_TRAIN_BENCH_STATS_H_
#define NAS_BENCH_TRAIN_BENCH_STATS_H_

#include <cmath>
#include <vector>

namespace nas::bench {

// Kendall's tau-b of paired samples (ties handled); 0 if undefined.
inline double KendallTau(const std::vector<double>& a,
                         const std::vector<double>& b) {
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double n0 = concordant + discordant;
  const double denominator = std::sqrt((n0 + ties_a) * (n0 + ties_b));
  return denominator > 0 ? (concordant - discordant) / denominator : 0;
}

}  // namespace nas::bench

#endif  // NAS_BENCH_TRAIN_BENCH_STATS_H_
