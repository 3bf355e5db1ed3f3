// Measurement of a trained network: inference latency on the worker's device
// and the process's resident memory.
//
// MeasureLatency runs warm-up forwards, then times repeated forwards of a
// random batch and reports the median and 90th percentile with the intra-op
// thread count in use. Memory readers parse /proc/self/status (Linux) and
// return 0 where it is unavailable. Free functions; the network must not be
// used by another thread meanwhile.
#ifndef NAS_WORKER_EVAL_MEASURE_H_
#define NAS_WORKER_EVAL_MEASURE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/nas/v1/job.pb.h"
#include "torch/types.h"
#include "worker/model/network.h"

namespace nas::worker {

struct LatencyOptions {
  int warmup_runs = 3;
  int timed_runs = 10;
};

// Latency of forwards of [batch_size, channels, size, size] inputs on `device`.
absl::StatusOr<nas::v1::DeviceLatency> MeasureLatency(
    Network& net, const torch::Device& device, int batch_size, int channels,
    int image_size, const LatencyOptions& options);

// E.g. "cpu:Intel(R) Xeon(R) CPU @ 2.20GHz" or "cuda:0".
std::string DeviceDescription(const torch::Device& device);

// Current and peak resident set size of this process, bytes.
int64_t ResidentBytes();
int64_t PeakResidentBytes();
// Resets the peak to the current size (best effort; Linux clear_refs).
void ResetPeakResident();

}  // namespace nas::worker

#endif  // NAS_WORKER_EVAL_MEASURE_H_
