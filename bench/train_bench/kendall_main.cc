// kendall: does the quickstart's proxy recipe rank DARTS architectures
// consistently? Samples random valid DARTS genotypes (fixed seed), trains
// each with two training seeds through the worker's TrainEvaluator, and
// prints Kendall's tau-b between the two seeds' validation accuracies
// (running value after every architecture, final value at the end).
#include <chrono>
#include <iostream>
#include <random>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "bench/train_bench/darts.h"
#include "bench/train_bench/stats.h"
#include "worker/eval/train_evaluator.h"

ABSL_FLAG(int, archs, 20, "Random architectures.");
ABSL_FLAG(uint64_t, sample_seed, 2026, "Seed of the architecture sampler.");
ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, epochs, 1, "Proxy: epochs.");
ABSL_FLAG(int, train_subset, 3000, "Proxy: training examples.");
ABSL_FLAG(int, validation_size, 0, "Proxy: validation examples (0: 10000).");
ABSL_FLAG(int, channels, 8, "Proxy: initial channels.");
ABSL_FLAG(int, cells, 5, "Proxy: cells.");
ABSL_FLAG(int, batch_size, 64, "Proxy: batch size.");
ABSL_FLAG(double, learning_rate, 0.025, "Proxy: learning rate.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  nas::worker::TrainEvaluator::Options options;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.latency_batch_size = 0;
  options.latency.warmup_runs = 0;
  options.latency.timed_runs = 1;
  auto evaluator = nas::worker::TrainEvaluator::Create(options);
  if (!evaluator.ok()) {
    std::cerr << evaluator.status() << "\n";
    return 1;
  }
  const nas::v1::SearchSpace space = nas::bench::DartsSpace(
      absl::GetFlag(FLAGS_channels), absl::GetFlag(FLAGS_cells));
  nas::bench::LeaseOptions lease_options;
  lease_options.epochs = absl::GetFlag(FLAGS_epochs);
  lease_options.batch_size = absl::GetFlag(FLAGS_batch_size);
  lease_options.learning_rate = absl::GetFlag(FLAGS_learning_rate);
  lease_options.train_subset = absl::GetFlag(FLAGS_train_subset);
  lease_options.validation_size = absl::GetFlag(FLAGS_validation_size);

  std::mt19937_64 rng(absl::GetFlag(FLAGS_sample_seed));
  std::vector<double> first, second;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < absl::GetFlag(FLAGS_archs); ++i) {
    const nas::v1::Architecture arch = nas::bench::RandomDartsArchitecture(rng);
    double accuracy[2] = {0, 0};
    for (int s = 0; s < 2; ++s) {
      lease_options.seed = s + 1;
      auto result = (*evaluator)->Evaluate(
          nas::bench::TrainLease(arch, space, lease_options), {});
      if (!result.ok()) {
        std::cerr << "architecture " << i << ": " << result.status() << "\n";
        return 1;
      }
      accuracy[s] = result->metrics.at("accuracy");
    }
    first.push_back(accuracy[0]);
    second.push_back(accuracy[1]);
    const double elapsed = std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - start)
                               .count();
    std::cout << absl::StrFormat(
                     "arch %2d  seed1 %.4f  seed2 %.4f  running tau %.3f  "
                     "(%.0f s)",
                     i, accuracy[0], accuracy[1],
                     nas::bench::KendallTau(first, second), elapsed)
              << std::endl;
  }
  std::cout << absl::StrFormat("kendall_tau %.3f over %d architectures\n",
                               nas::bench::KendallTau(first, second),
                               static_cast<int>(first.size()));
  return 0;
}
