#include "worker/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace nas::worker {
namespace {

absl::StatusOr<std::string> ReadGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::string contents;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) {
    contents.append(buffer, n);
  }
  const bool failed = n < 0;
  gzclose(file);
  if (failed) return absl::DataLossError(absl::StrCat("corrupt gzip: ", path));
  return contents;
}

uint32_t BigEndian32(const std::string& s, size_t offset) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v = (v << 8) | static_cast<uint8_t>(s[offset + i]);
  }
  return v;
}

// Parses an IDX file of unsigned bytes with `dims` dimensions; returns the
// payload and fills `shape`.
absl::StatusOr<std::string> ParseIdx(const std::string& raw, int dims,
                                     const std::string& path,
                                     std::vector<uint32_t>& shape) {
  const size_t header = 4 + 4 * dims;
  if (raw.size() < header || BigEndian32(raw, 0) != (0x0800u | dims)) {
    return absl::DataLossError(
        absl::StrCat(path, ": not an IDX file of ", dims, "-d unsigned bytes"));
  }
  size_t count = 1;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(BigEndian32(raw, 4 + 4 * d));
    count *= shape.back();
  }
  if (raw.size() != header + count) {
    return absl::DataLossError(absl::StrCat(path, ": size ", raw.size(),
                                            " does not match its header"));
  }
  return raw.substr(header);
}

}  // namespace

Dataset Dataset::Select(absl::Span<const int64_t> indices) const {
  Dataset out;
  out.channels = channels;
  out.height = height;
  out.width = width;
  const int64_t bytes = image_bytes();
  out.images.resize(indices.size() * bytes);
  out.labels.reserve(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    std::copy_n(images.begin() + indices[i] * bytes, bytes,
                out.images.begin() + i * bytes);
    out.labels.push_back(labels[indices[i]]);
  }
  return out;
}

absl::StatusOr<Dataset> LoadFashionMnist(const std::string& dir, bool train) {
  const std::string prefix = absl::StrCat(dir, "/", train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  ASSIGN_OR_RETURN(std::string raw_images, ReadGzip(images_path));
  ASSIGN_OR_RETURN(std::string raw_labels, ReadGzip(labels_path));
  std::vector<uint32_t> image_shape, label_shape;
  ASSIGN_OR_RETURN(std::string pixels,
                   ParseIdx(raw_images, 3, images_path, image_shape));
  ASSIGN_OR_RETURN(std::string labels,
                   ParseIdx(raw_labels, 1, labels_path, label_shape));
  if (image_shape[0] != label_shape[0]) {
    return absl::DataLossError(absl::StrCat(prefix, ": ", image_shape[0],
                                            " images but ", label_shape[0],
                                            " labels"));
  }
  Dataset data;
  data.channels = 1;
  data.height = static_cast<int>(image_shape[1]);
  data.width = static_cast<int>(image_shape[2]);
  data.images.assign(pixels.begin(), pixels.end());
  for (char c : labels) {
    const int64_t label = static_cast<uint8_t>(c);
    if (label > 9) {
      return absl::DataLossError(absl::StrCat(labels_path, ": label ", label));
    }
    data.labels.push_back(label);
  }
  return data;
}

absl::StatusOr<Dataset> LoadCifar10(const std::string& dir, bool train) {
  constexpr int kSide = 32, kChannels = 3;
  constexpr int64_t kRecord = 1 + kChannels * kSide * kSide;
  std::vector<std::string> names;
  if (train) {
    for (int i = 1; i <= 5; ++i)
      names.push_back(absl::StrCat("data_batch_", i, ".bin"));
  } else {
    names.push_back("test_batch.bin");
  }
  Dataset data;
  data.channels = kChannels;
  data.height = data.width = kSide;
  int files = 0;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;
    ++files;
    const std::string raw((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
    if (raw.size() % kRecord != 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": size ", raw.size(), " is not a multiple of ", kRecord));
    }
    for (size_t offset = 0; offset < raw.size(); offset += kRecord) {
      const int64_t label = static_cast<uint8_t>(raw[offset]);
      if (label > 9) {
        return absl::DataLossError(absl::StrCat(path, ": label ", label));
      }
      data.labels.push_back(label);
      data.images.insert(data.images.end(), raw.begin() + offset + 1,
                         raw.begin() + offset + kRecord);
    }
  }
  if (files == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no CIFAR-10 ", train ? "data_batch_*.bin" : "test_batch.bin", " in ",
        dir));
  }
  return data;
}

absl::StatusOr<SplitIndices> SplitTrainValidationIndices(
    int64_t size, int64_t validation_size, uint64_t seed) {
  if (validation_size < 0 || validation_size >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "validation_size ", validation_size, " must be in [0, ", size, ")"));
  }
  std::vector<int64_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  SplitIndices split;
  split.validation.assign(order.begin(), order.begin() + validation_size);
  split.train.assign(order.begin() + validation_size, order.end());
  return split;
}

absl::StatusOr<TrainValidationSplit> SplitTrainValidation(
    const Dataset& data, int64_t validation_size, uint64_t seed) {
  ASSIGN_OR_RETURN(
      SplitIndices indices,
      SplitTrainValidationIndices(data.size(), validation_size, seed));
  return TrainValidationSplit{data.Select(indices.train),
                              data.Select(indices.validation)};
}

Normalization ComputeNormalization(const Dataset& data) {
  Normalization norm;
  const int64_t plane = static_cast<int64_t>(data.height) * data.width;
  for (int c = 0; c < data.channels; ++c) {
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < data.size(); ++i) {
      const uint8_t* p = &data.images[i * data.image_bytes() + c * plane];
      for (int64_t j = 0; j < plane; ++j) {
        const double v = p[j] / 255.0;
        sum += v;
        sum_sq += v * v;
      }
    }
    const double n = std::max<double>(1, data.size() * plane);
    const double mean = sum / n;
    norm.mean.push_back(static_cast<float>(mean));
    norm.stddev.push_back(static_cast<float>(
        std::sqrt(std::max(1e-12, sum_sq / n - mean * mean))));
  }
  return norm;
}

void AssembleBatch(const Dataset& data, absl::Span<const int64_t> indices,
                   const Normalization& norm, const Augmentation& augmentation,
                   std::mt19937_64& rng, float* out, int64_t* labels) {
  const int h = data.height, w = data.width, pad = augmentation.crop_padding;
  std::uniform_int_distribution<int> shift(-pad, pad);
  std::bernoulli_distribution flip(0.5);
  for (size_t b = 0; b < indices.size(); ++b) {
    const uint8_t* src = &data.images[indices[b] * data.image_bytes()];
    float* dst = out + b * data.image_bytes();
    const int dy = pad > 0 ? shift(rng) : 0;
    const int dx = pad > 0 ? shift(rng) : 0;
    const bool mirror = augmentation.horizontal_flip && flip(rng);
    for (int c = 0; c < data.channels; ++c) {
      // A zero-padded pixel normalizes to the value of 0.0.
      const float inv_std = 1.0f / norm.stddev[c];
      const float zero = -norm.mean[c] * inv_std;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          const int sy = y + dy;
          const int sx = (mirror ? w - 1 - x : x) + dx;
          float v = zero;
          if (sy >= 0 && sy < h && sx >= 0 && sx < w) {
            v = (src[(c * h + sy) * w + sx] / 255.0f - norm.mean[c]) * inv_std;
          }
          dst[(c * h + y) * w + x] = v;
        }
      }
    }
    labels[b] = data.labels[indices[b]];
  }
}

}  // namespace nas::worker
