// train_bench: speed of the worker's production model, trainer and latency
// measurement on the DARTS V2 network (C=16, 5 cells) and Fashion-MNIST:
// training images/s at batch 64 (worker/train Train()), batch-64 inference
// images/s and batch-1 latency (worker/eval MeasureLatency). Prints one JSON
// line per repetition, in the format of pytorch_darts.py; run.sh interleaves
// the two and takes medians.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/Parallel.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "bench/train_bench/darts.h"
#include "torch/torch.h"
#include "worker/data/dataset.h"
#include "worker/eval/measure.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/train/trainer.h"

ABSL_FLAG(int, threads, 2, "Intra-op threads.");
ABSL_FLAG(int, train_steps, 30, "Timed training steps of batch 64.");
ABSL_FLAG(int, channels, 16, "Initial channels C.");
ABSL_FLAG(int, cells, 5, "Cells.");
ABSL_FLAG(std::string, data_dir, nas::worker::kFashionMnistDir,
          "Fashion-MNIST directory.");
ABSL_FLAG(bool, show_config, false,
          "Print the BLAS in use and LibTorch's build configuration.");
ABSL_FLAG(int, reps, 1, "Repetitions (one JSON line each).");
ABSL_FLAG(bool, mkldnn, true,
          "Experiment: false disables oneDNN (native convolutions).");
ABSL_FLAG(bool, channels_last, false,
          "Experiment: convert the weights to channels-last.");
ABSL_FLAG(int, interop_threads, 0, "Experiment: > 0 sets inter-op threads.");
ABSL_FLAG(int, batch, 64, "Batch size of the inference throughput.");

namespace {

int Fail(const std::string& message) {
  std::cerr << "train_bench: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  at::set_num_threads(absl::GetFlag(FLAGS_threads));
  if (absl::GetFlag(FLAGS_interop_threads) > 0) {
    at::set_num_interop_threads(absl::GetFlag(FLAGS_interop_threads));
  }
  at::globalContext().setUserEnabledMkldnn(absl::GetFlag(FLAGS_mkldnn));
  if (absl::GetFlag(FLAGS_show_config)) {
    std::cout << at::show_config() << at::get_parallel_info() << "\n";
  }
  nas::worker::NetworkOptions net_options;
  net_options.in_channels = 1;
  net_options.image_size = 28;
  auto plan = nas::worker::MakePlan(
      nas::bench::DartsV2(),
      nas::bench::DartsSpace(absl::GetFlag(FLAGS_channels),
                             absl::GetFlag(FLAGS_cells)),
      net_options);
  if (!plan.ok()) return Fail(plan.status().ToString());
  const nas::worker::NetworkCost cost = nas::worker::AnalyticCost(*plan);

  auto full = nas::worker::LoadFashionMnist(absl::GetFlag(FLAGS_data_dir),
                                            /*train=*/true);
  if (!full.ok()) return Fail(full.status().ToString());
  const int steps = absl::GetFlag(FLAGS_train_steps);
  std::vector<int64_t> first(64 * steps);
  std::iota(first.begin(), first.end(), 0);
  const nas::worker::Dataset train = full->Select(first);
  const nas::worker::Dataset warmup =
      full->Select(absl::MakeConstSpan(first).subspan(0, 3 * 64));
  const nas::worker::Normalization norm =
      nas::worker::ComputeNormalization(train);
  const torch::Device cpu(torch::kCPU);

  for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
    torch::manual_seed(rep);
    auto net = nas::worker::BuildNetwork(*plan);
    if (!net.ok()) return Fail(net.status().ToString());
    if (absl::GetFlag(FLAGS_channels_last)) {
      torch::NoGradGuard no_grad;
      for (torch::Tensor& p : (*net)->parameters()) {
        if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
      }
    }
    nas::worker::TrainOptions options;  // The worker's defaults, batch 64.
    options.seed = rep;
    // Warm-up (oneDNN primitive creation), then the timed run.
    auto summary = nas::worker::Train(**net, warmup, {}, norm, options, cpu,
                                      {});
    if (summary.ok()) {
      summary = nas::worker::Train(**net, train, {}, norm, options, cpu, {});
    }
    if (!summary.ok()) return Fail(summary.status().ToString());

    nas::worker::LatencyOptions b64_options;  // 3 warm-up, 10 timed.
    const int batch = absl::GetFlag(FLAGS_batch);
    auto b64 =
        nas::worker::MeasureLatency(**net, cpu, batch, 1, 28, b64_options);
    nas::worker::LatencyOptions b1_options;
    b1_options.timed_runs = 50;
    auto b1 = nas::worker::MeasureLatency(**net, cpu, 1, 1, 28, b1_options);
    if (!b64.ok()) return Fail(b64.status().ToString());
    if (!b1.ok()) return Fail(b1.status().ToString());
    std::cout << absl::StrFormat(
                     "{\"impl\": \"libtorch\", \"threads\": %d, \"params\": "
                     "%d, \"macs\": %d, \"train_ips\": %.1f, \"infer64_ips\": "
                     "%.1f, \"b1_ms\": %.3f}",
                     at::get_num_threads(),
                     nas::worker::CountParameters(**net), cost.macs,
                     summary->images_per_second, batch * 1e3 / b64->median_ms(),
                     b1->median_ms())
              << std::endl;
  }
  return 0;
}
