#include "worker/eval/measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "ATen/Parallel.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "torch/cuda.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

// Value of a "Key:   123 kB" line of /proc/self/status, in bytes.
int64_t ProcStatusBytes(absl::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, key) && absl::ConsumePrefix(&rest, ":")) {
      rest = absl::StripAsciiWhitespace(rest);
      absl::ConsumeSuffix(&rest, " kB");
      int64_t kb = 0;
      if (absl::SimpleAtoi(rest, &kb)) return kb * 1024;
    }
  }
  return 0;
}

// Sorted-sample quantile by linear interpolation, q in [0, 1].
double Quantile(std::vector<double> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  const double pos = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

}  // namespace

std::string DeviceDescription(const torch::Device& device) {
  if (device.is_cuda()) return device.str();
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "model name")) {
      const size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) {
        return absl::StrCat("cpu:",
                            absl::StripAsciiWhitespace(rest.substr(colon + 1)));
      }
    }
  }
  return "cpu";
}

absl::StatusOr<nas::v1::DeviceLatency> MeasureLatency(
    Network& net, const torch::Device& device, int batch_size, int channels,
    int image_size, const LatencyOptions& options) {
  if (batch_size < 1 || options.timed_runs < 1) {
    return absl::InvalidArgumentError(
        "latency needs batch_size and timed_runs >= 1");
  }
  try {
    net.eval();
    torch::NoGradGuard no_grad;
    torch::Tensor input =
        torch::randn({batch_size, channels, image_size, image_size},
                     torch::TensorOptions().device(device));
    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize(device.index());
    };
    for (int i = 0; i < options.warmup_runs; ++i) net.forward(input);
    sync();
    std::vector<double> ms;
    for (int i = 0; i < options.timed_runs; ++i) {
      const auto start = std::chrono::steady_clock::now();
      net.forward(input);
      sync();
      ms.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - start)
                       .count());
    }
    nas::v1::DeviceLatency latency;
    latency.set_device(DeviceDescription(device));
    latency.set_batch_size(batch_size);
    latency.set_median_ms(Quantile(ms, 0.5));
    latency.set_p90_ms(Quantile(ms, 0.9));
    latency.set_threads(at::get_num_threads());
    return latency;
  } catch (const std::exception& e) {
    return StatusFromException(e, "measuring latency");
  }
}

int64_t ResidentBytes() { return ProcStatusBytes("VmRSS"); }
int64_t PeakResidentBytes() { return ProcStatusBytes("VmHWM"); }

void ResetPeakResident() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

}  // namespace nas::worker
