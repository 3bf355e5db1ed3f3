// Multi-objective helpers: non-dominated sorting and crowding distance
// (Deb et al. 2002, NSGA-II) and the hypervolume of a 2-D front.
//
// Every objective is maximized: callers negate minimized objectives first.
// Pure functions; thread-safe.
#ifndef NAS_CONTROLLER_STRATEGY_PARETO_H_
#define NAS_CONTROLLER_STRATEGY_PARETO_H_

#include <array>
#include <vector>

namespace nas::strategy {

// Whether `a` is at least as good as `b` everywhere and better somewhere.
bool Dominates(const std::vector<double>& a, const std::vector<double>& b);

// Front index of every point: 0 for the non-dominated points, 1 for those
// dominated only by front 0, and so on. O(m n^2).
std::vector<int> NonDominatedRanks(const std::vector<std::vector<double>>& points);

// Crowding distance of every point within its front (`ranks` as above):
// the sum over objectives of the normalized gap between its neighbours;
// +infinity at the extremes of a front.
std::vector<double> CrowdingDistances(
    const std::vector<std::vector<double>>& points, const std::vector<int>& ranks);

// Area dominated by `points` and bounded below by `ref` (both coordinates
// maximized). Points not strictly better than `ref` in both coordinates add
// nothing. O(n log n).
double Hypervolume2D(std::vector<std::array<double, 2>> points,
                     const std::array<double, 2>& ref);

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_PARETO_H_
