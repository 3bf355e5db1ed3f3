// The compound-scaling contract between controller and worker (EfficientNet;
// Tan & Le 2019): the coefficient grid, the scaling of an elastic genotype,
// the lease `task` name and its `task_config`, and the space a worker widens
// to build a scaled network.
//
// A grid point (alpha, beta, gamma) has alpha, beta, gamma >= 1 on a grid of
// step `grid_step` starting at 1, and |alpha * beta^2 * gamma^2 - 2| <=
// tolerance (FLOPs roughly double per unit of phi). Scaling by phi:
//   depth of every stage  ceil(depth * alpha^phi)   (new blocks repeat the
//                                                    stage's last block)
//   width multiplier      width * beta^phi           (the worker's plan
//                                                    rounds channels * width)
//   resolution            round(resolution * gamma^phi)
// A scaled network usually lies outside the job's space, so its lease
// carries task "scaled_train" with a ScaledTrainConfig as JSON; the worker
// trains the lease's genotype in WidenedSpace(space, genotype) and adds the
// config's alpha, beta, gamma, phi and scale_phase (0: grid, 1: scale) to the
// usual training metrics. Free functions; thread-safe.
#ifndef NAS_COMMON_TASK_COMPOUND_SCALING_TASK_H_
#define NAS_COMMON_TASK_COMPOUND_SCALING_TASK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::task {

// TrialLease.task of every compound-scaling trial.
inline constexpr char kScaledTrain[] = "scaled_train";

struct ScalingCoefficients {
  double alpha = 1;  // depth
  double beta = 1;   // width
  double gamma = 1;  // resolution
};

// alpha * beta^2 * gamma^2: the FLOPs factor of one unit of phi.
double FlopsFactor(const ScalingCoefficients& c);

// Number of grid points, without building them (for validation).
int64_t ScalingGridSize(double grid_step, double tolerance);
// Every grid point, ordered by alpha, then beta, then gamma. Coordinates are
// 1 + i * grid_step (computed from the integer i, so no drift). Empty when
// grid_step or tolerance is not > 0.
std::vector<ScalingCoefficients> ScalingGrid(double grid_step,
                                             double tolerance);

// `base` scaled by `c` at compound coefficient `phi` >= 0 (rules above).
// INVALID_ARGUMENT naming the field for a stage without blocks, lists of the
// wrong size or a non-positive resolution.
absl::StatusOr<nas::v1::ElasticGenotype> ScaleGenotype(
    const nas::v1::ElasticGenotype& base, const ScalingCoefficients& c,
    int phi);

// Canonical string of an elastic genotype (the same form as the elastic
// space's: "elastic:r=<res>;w=<width>;d=<depth>:e<e>k<k>,...;...").
std::string ElasticCanonical(const nas::v1::ElasticGenotype& genotype);

// The task_config of one trial.
struct ScaledTrainConfig {
  bool scale_phase = false;  // false: a grid point at phi = 1
  ScalingCoefficients coefficients;
  int phi = 1;
};
std::string ScaledTrainConfigJson(const ScaledTrainConfig& config);
// INVALID_ARGUMENT names task_config.<field> when it is missing or bad.
absl::StatusOr<ScaledTrainConfig> ParseScaledTrainConfig(
    absl::string_view json);

// `space` with the genotype's depths, resolution and width multiplier added
// to the allowed lists (so the ordinary network builder accepts it).
// INVALID_ARGUMENT when the stage counts differ.
absl::StatusOr<nas::v1::ElasticSpace> WidenedSpace(
    const nas::v1::ElasticSpace& space,
    const nas::v1::ElasticGenotype& genotype);

}  // namespace nas::task

#endif  // NAS_COMMON_TASK_COMPOUND_SCALING_TASK_H_
