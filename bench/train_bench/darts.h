// DARTS-space fixtures for the worker benchmarks: the DARTS paper's DARTS_V2
// genotype, uniformly random valid DARTS genotypes, the DARTS search space
// with given proxy sizes, and a TrialLease that trains an architecture on
// Fashion-MNIST with the worker's TrainEvaluator.
//
// Free functions returning fresh protos; thread-safe.
#ifndef NAS_BENCH_TRAIN_BENCH_DARTS_H_
#define NAS_BENCH_TRAIN_BENCH_DARTS_H_

#include <cstdint>
#include <random>

#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"
#include "proto/nas/v1/service.pb.h"

namespace nas::bench {

// DARTS_V2 (Liu et al. 2019, genotypes.py): 4 nodes, 2 edges each.
nas::v1::Architecture DartsV2();

// A random valid genotype: each of 4 nodes picks 2 distinct inputs among the
// cell inputs and earlier nodes, each with one of the 8 DARTS ops.
nas::v1::Architecture RandomDartsArchitecture(std::mt19937_64& rng);

// DARTS space with `channels` initial channels and `cells` cells.
nas::v1::SearchSpace DartsSpace(int channels, int cells);

// A lease training `architecture` on Fashion-MNIST in `space`.
struct LeaseOptions {
  int epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.025;
  int64_t train_subset = 0;     // 0: the whole training split.
  int64_t validation_size = 0;  // 0: the worker's default (10000).
  uint64_t seed = 0;
  bool report_test = false;
};
nas::v1::TrialLease TrainLease(const nas::v1::Architecture& architecture,
                               const nas::v1::SearchSpace& space,
                               const LeaseOptions& options);

}  // namespace nas::bench

#endif  // NAS_BENCH_TRAIN_BENCH_DARTS_H_
