// Weights files: a trained Network's parameters and buffers in LibTorch's
// archive format (what torch::save(module, path) writes, so
// torch::load(module, path) reads them too), plus what is needed to feed it:
// the input channels and image size and the per-channel normalization of the
// training data (pixel values in [0, 1], then (v - mean) / stddev), stored
// under keys no module uses ("nas_input_*").
//
// The worker writes one after a successful training trial and uploads it to
// the controller; `nasctl export` downloads it as weights.pt next to
// genotype.json and job_spec.json, and LoadExportedNetwork() rebuilds the
// trained network from those three files with this folder's model builder.
//
// Stateless functions; a Network is not thread-safe (see network.h).
#ifndef NAS_WORKER_MODEL_WEIGHTS_H_
#define NAS_WORKER_MODEL_WEIGHTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/job.pb.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"

namespace nas::worker {

// How the network's input was prepared in training.
struct InputSpec {
  int64_t channels = 0;
  int64_t image_size = 0;
  // Per channel, of pixel values in [0, 1].
  std::vector<float> mean;
  std::vector<float> stddev;
};

// The weights of `net` and `input` (loading maps tensors to the CPU).
absl::StatusOr<std::string> SerializeWeights(torch::nn::Module& net,
                                             const InputSpec& input);

// The InputSpec of a weights file, without loading any network.
absl::StatusOr<InputSpec> ReadInputSpec(absl::string_view bytes);

// Loads a weights file into `net`, which must be built from the same plan:
// INVALID_ARGUMENT naming the first parameter or buffer that is missing or
// of another shape, or when the file holds tensors the network lacks.
absl::StatusOr<InputSpec> LoadWeights(absl::string_view bytes,
                                      torch::nn::Module& net);

// A trial exported by `nasctl export JOB --out DIR` (DIR/trial-N).
struct ExportedNetwork {
  nas::v1::Architecture architecture;  // genotype.json
  nas::v1::JobSpec spec;               // job_spec.json
  NetworkPlan plan;
  std::shared_ptr<Network> net;  // the trained network, on the CPU, eval()
  InputSpec input;
};

// Reads `dir`/genotype.json, `dir`/job_spec.json and `dir`/weights.pt,
// builds the network (the job's search space with evaluation.train's
// channels/cells; an elastic space widened to admit the genotype, as for
// compound scaling's scaled_train trials) and loads the weights. NOT_FOUND names a missing file.
absl::StatusOr<ExportedNetwork> LoadExportedNetwork(const std::string& dir);

}  // namespace nas::worker

#endif  // NAS_WORKER_MODEL_WEIGHTS_H_
