// The Once-for-All contract between controller and worker (Cai et al. 2020):
// the two lease tasks and their task_config, where the supernet checkpoint
// lives, the progressive-shrinking phases, and the analytic MAC count the
// controller uses to keep subnets under a MAC budget.
//
// A job has one "ofa_train" trial (train the elastic supernet of the lease's
// space by progressive shrinking, torch::save it to `checkpoint`), then
// "ofa_subnet" trials (load that checkpoint, slice the lease's elastic
// genotype out of it, recalibrate its batch norms, measure it; no training).
// `checkpoint` is a relative path ("ofa/<key>.pt") under the worker's
// --supernet_dir, which every worker of a job must share (one host, or a
// shared volume); workers never send weights through the controller.
//
// Progressive shrinking: phase 0 "full" trains only the largest network
// (every list at its maximum, the largest resolution), 1 "kernel" adds every
// kernel size and every resolution, 2 "depth" every depth, 3 "width" every
// expand ratio and width multiplier (the whole space). Each phase trains
// epochs_per_phase epochs, sampling subnets uniformly from OfaPhaseSpace.
// Free functions; thread-safe.
#ifndef NAS_COMMON_TASK_OFA_TASK_H_
#define NAS_COMMON_TASK_OFA_TASK_H_

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::task {

// TrialLease.task of the supernet training and of a subnet evaluation.
inline constexpr char kOfaTrain[] = "ofa_train";
inline constexpr char kOfaSubnet[] = "ofa_subnet";

// Progressive-shrinking phases, in training order.
inline constexpr int kOfaPhases = 4;
// "full", "kernel", "depth", "width".
const char* OfaPhaseName(int phase);
// `space` restricted to what phase `phase` (0..3) trains (see above). Every
// list of the result is non-empty when `space`'s are.
nas::v1::ElasticSpace OfaPhaseSpace(const nas::v1::ElasticSpace& space,
                                    int phase);
// The largest network of `space` (every choice at its maximum).
nas::v1::ElasticGenotype LargestSubnet(const nas::v1::ElasticSpace& space);
// The smallest (every choice at its minimum).
nas::v1::ElasticGenotype SmallestSubnet(const nas::v1::ElasticSpace& space);
// A subnet with every choice independent and uniform (depth, then each
// active block's expand ratio and kernel size, resolution, width). `space`
// lists must be non-empty; an empty width list means [1.0].
nas::v1::ElasticGenotype SampleSubnet(const nas::v1::ElasticSpace& space,
                                      std::mt19937_64& rng);
// Whether `genotype` is a point of `space` (exact list membership).
bool InSpace(const nas::v1::ElasticSpace& space,
             const nas::v1::ElasticGenotype& genotype);

// Multiply-accumulates of one image through the elastic network of
// `genotype` (the worker's AnalyticCost conventions: convolutions and the
// classifier; worker/model tests that both agree). `in_channels` is 1 for
// Fashion-MNIST, 3 for CIFAR-10; a zero resolution means `image_size`.
int64_t ElasticMacs(const nas::v1::ElasticSpace& space,
                    const nas::v1::ElasticGenotype& genotype, int in_channels,
                    int image_size, int num_classes = 10);

// "ofa/<key>.pt".
std::string OfaCheckpointPath(absl::string_view key);
// OK for a relative path of plain components ending in ".pt";
// INVALID_ARGUMENT naming task_config.checkpoint otherwise (absolute, "..").
absl::Status CheckCheckpointPath(absl::string_view path);

struct OfaTrainConfig {
  int epochs_per_phase = 1;
  std::string checkpoint;
};
std::string OfaTrainConfigJson(const OfaTrainConfig& config);
// INVALID_ARGUMENT names task_config.<field> when it is missing or bad.
absl::StatusOr<OfaTrainConfig> ParseOfaTrainConfig(absl::string_view json);

struct OfaSubnetConfig {
  std::string checkpoint;
};
std::string OfaSubnetConfigJson(const OfaSubnetConfig& config);
absl::StatusOr<OfaSubnetConfig> ParseOfaSubnetConfig(absl::string_view json);

}  // namespace nas::task

#endif  // NAS_COMMON_TASK_OFA_TASK_H_
