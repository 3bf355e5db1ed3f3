// Image classification data for the worker: loaders for Fashion-MNIST (IDX
// .gz files) and CIFAR-10 (binary batches), a seeded train/validation split,
// per-channel normalization, and batch assembly with optional augmentation
// (random crop with zero padding + horizontal flip).
//
// Everything is plain C++ (no LibTorch): a batch is written into a float
// buffer the trainer wraps as a tensor. Dataset is a value type; const methods
// and free functions are thread-safe on distinct outputs.
#ifndef NAS_WORKER_DATA_DATASET_H_
#define NAS_WORKER_DATA_DATASET_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace nas::worker {

// Images as uint8 in [N, channels, height, width] order, labels in [0, 10).
struct Dataset {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<uint8_t> images;
  std::vector<int64_t> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const {
    return static_cast<int64_t>(channels) * height * width;
  }
  // A new dataset holding the given examples, in that order.
  Dataset Select(absl::Span<const int64_t> indices) const;
};

// Default directory of the Debian package dataset-fashion-mnist.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `dir`.
// NOT_FOUND if a file is missing, DATA_LOSS if it is malformed.
absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, bool train);

// Reads data_batch_1..5.bin (train) or test_batch.bin from `dir`. Files that
// do not exist are skipped, but at least one must be present.
absl::StatusOr<Dataset> LoadCifar10(const std::string& dir, bool train);

// Deterministic split: a permutation of [0, size) seeded by `seed`; the
// first `validation_size` permuted indices are the validation set.
struct SplitIndices {
  std::vector<int64_t> train;
  std::vector<int64_t> validation;
};
absl::StatusOr<SplitIndices> SplitTrainValidationIndices(
    int64_t size, int64_t validation_size, uint64_t seed);

// The same split, materialized.
struct TrainValidationSplit {
  Dataset train;
  Dataset validation;
};
absl::StatusOr<TrainValidationSplit> SplitTrainValidation(
    const Dataset& data, int64_t validation_size, uint64_t seed);

// Per-channel mean and standard deviation of pixel values in [0, 1].
struct Normalization {
  std::vector<float> mean;
  std::vector<float> stddev;
};
Normalization ComputeNormalization(const Dataset& data);

struct Augmentation {
  int crop_padding = 0;  // Random crop after zero-padding by this many pixels.
  bool horizontal_flip = false;
};

// Writes examples `indices` of `data`, normalized, into `out` (size
// indices.size() * image_bytes()) and their labels into `labels`. `rng` is
// used only when `augmentation` asks for randomness.
void AssembleBatch(const Dataset& data, absl::Span<const int64_t> indices,
                   const Normalization& norm, const Augmentation& augmentation,
                   std::mt19937_64& rng, float* out, int64_t* labels);

}  // namespace nas::worker

#endif  // NAS_WORKER_DATA_DATASET_H_
