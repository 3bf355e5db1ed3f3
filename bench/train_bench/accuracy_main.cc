// accuracy: trains one DARTS-space network (default: DARTS V2, C=16, 5 cells)
// on the full Fashion-MNIST training split with the worker's TrainEvaluator
// (validation split 0 unless --validation_size), prints every epoch, the
// test accuracy and the wall time.
#include <chrono>
#include <iostream>
#include <map>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "bench/train_bench/darts.h"
#include "worker/eval/train_evaluator.h"

ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, epochs, 10, "Epochs.");
ABSL_FLAG(int, channels, 16, "Initial channels.");
ABSL_FLAG(int, cells, 5, "Cells.");
ABSL_FLAG(int, batch_size, 64, "Batch size.");
ABSL_FLAG(double, learning_rate, 0.025, "Initial learning rate (cosine).");
ABSL_FLAG(int, validation_size, 1000,
          "Examples held out of the 60k for per-epoch validation.");
ABSL_FLAG(uint64_t, seed, 1, "Training seed.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  nas::worker::TrainEvaluator::Options options;
  options.threads = absl::GetFlag(FLAGS_threads);
  auto evaluator = nas::worker::TrainEvaluator::Create(options);
  if (!evaluator.ok()) {
    std::cerr << evaluator.status() << "\n";
    return 1;
  }
  nas::bench::LeaseOptions lease_options;
  lease_options.epochs = absl::GetFlag(FLAGS_epochs);
  lease_options.batch_size = absl::GetFlag(FLAGS_batch_size);
  lease_options.learning_rate = absl::GetFlag(FLAGS_learning_rate);
  lease_options.validation_size = absl::GetFlag(FLAGS_validation_size);
  lease_options.seed = absl::GetFlag(FLAGS_seed);
  lease_options.report_test = true;
  const nas::v1::TrialLease lease = nas::bench::TrainLease(
      nas::bench::DartsV2(),
      nas::bench::DartsSpace(absl::GetFlag(FLAGS_channels),
                             absl::GetFlag(FLAGS_cells)),
      lease_options);
  const auto start = std::chrono::steady_clock::now();
  nas::worker::EvalCallbacks callbacks;
  callbacks.on_progress = [&](int64_t epoch,
                              const std::map<std::string, double>& m) {
    std::cout << absl::StrFormat(
                     "epoch %d  train_loss %.4f  train_acc %.4f  val_acc "
                     "%.4f  %.0f s",
                     epoch, m.at("train_loss"), m.at("train_accuracy"),
                     m.at("accuracy"), m.at("epoch_seconds"))
              << std::endl;
    return true;
  };
  auto result = (*evaluator)->Evaluate(lease, callbacks);
  if (!result.ok()) {
    std::cerr << result.status() << "\n";
    return 1;
  }
  const double wall = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  std::cout << absl::StrFormat(
      "test_accuracy %.4f  wall_seconds %.0f  images_per_second %.1f\n",
      result->metrics.at("test_accuracy"), wall,
      result->metrics.at("images_per_second"));
  return 0;
}
