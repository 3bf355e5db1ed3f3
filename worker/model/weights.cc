#include "worker/model/weights.h"

#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/task/compound_scaling_task.h"
#include "google/protobuf/util/json_util.h"
#include "torch/serialize.h"
#include "torch/serialize/input-archive.h"
#include "torch/serialize/output-archive.h"

namespace nas::worker {
namespace {

constexpr char kChannels[] = "nas_input_channels";
constexpr char kImageSize[] = "nas_input_image_size";
constexpr char kMean[] = "nas_input_mean";
constexpr char kStddev[] = "nas_input_stddev";
constexpr char kTensorCount[] = "nas_tensor_count";

absl::Status FromException(const std::exception& e, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.what()));
}

std::string Shape(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]");
}

// Every parameter and buffer of `net` by its dotted name.
std::map<std::string, torch::Tensor> NamedTensors(torch::nn::Module& net) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : net.named_parameters(/*recurse=*/true)) {
    out[p.key()] = p.value();
  }
  for (const auto& b : net.named_buffers(/*recurse=*/true)) {
    out[b.key()] = b.value();
  }
  return out;
}

absl::StatusOr<InputSpec> ReadSpec(torch::serialize::InputArchive& archive) {
  InputSpec spec;
  torch::Tensor channels, size, mean, stddev, count;
  if (!archive.try_read(kChannels, channels) ||
      !archive.try_read(kImageSize, size) || !archive.try_read(kMean, mean) ||
      !archive.try_read(kStddev, stddev)) {
    return absl::InvalidArgumentError(
        "weights: not a nas-worker weights file (no nas_input_* entries)");
  }
  spec.channels = channels.item<int64_t>();
  spec.image_size = size.item<int64_t>();
  mean = mean.contiguous();
  stddev = stddev.contiguous();
  spec.mean.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + mean.numel());
  spec.stddev.assign(stddev.data_ptr<float>(),
                     stddev.data_ptr<float>() + stddev.numel());
  return spec;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename Message>
absl::Status ReadJson(const std::string& path, Message* message) {
  ASSIGN_OR_RETURN(std::string json, ReadFile(path));
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(json, message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", status.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> SerializeWeights(torch::nn::Module& net,
                                             const InputSpec& input) {
  try {
    torch::serialize::OutputArchive archive;
    // Tensors keep their device in the file; loading maps them to the CPU.
    net.save(archive);
    archive.write(kChannels, torch::tensor(input.channels, torch::kInt64));
    archive.write(kImageSize, torch::tensor(input.image_size, torch::kInt64));
    archive.write(kMean, torch::tensor(input.mean, torch::kFloat32));
    archive.write(kStddev, torch::tensor(input.stddev, torch::kFloat32));
    archive.write(kTensorCount,
                  torch::tensor(static_cast<int64_t>(NamedTensors(net).size()),
                                torch::kInt64));
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("saving weights: ", e.what()));
  }
}

absl::StatusOr<InputSpec> ReadInputSpec(absl::string_view bytes) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    return ReadSpec(archive);
  } catch (const std::exception& e) {
    return FromException(e, "weights: unreadable");
  }
}

absl::StatusOr<InputSpec> LoadWeights(absl::string_view bytes,
                                      torch::nn::Module& net) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(bytes.data(), bytes.size(), torch::kCPU);
    ASSIGN_OR_RETURN(InputSpec spec, ReadSpec(archive));
    std::map<std::string, torch::Tensor> before = NamedTensors(net);
    torch::Tensor count;
    if (archive.try_read(kTensorCount, count) &&
        count.item<int64_t>() != static_cast<int64_t>(before.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weights: the file holds ", count.item<int64_t>(),
          " tensors but the network has ", before.size(),
          " (another architecture or proxy size?)"));
    }
    std::map<std::string, std::vector<int64_t>> shapes;
    for (const auto& [name, t] : before) {
      shapes[name] = t.sizes().vec();
    }
    try {
      net.load(archive);
    } catch (const std::exception& e) {
      return FromException(e, "weights: do not fit the network");
    }
    for (const auto& [name, t] : NamedTensors(net)) {
      if (t.sizes().vec() != shapes[name]) {
        return absl::InvalidArgumentError(absl::StrCat(
            "weights: ", name, " is ", Shape(t), " in the file but [",
            absl::StrJoin(shapes[name], ","), "] in the network"));
      }
    }
    return spec;
  } catch (const std::exception& e) {
    return FromException(e, "weights: unreadable");
  }
}

absl::StatusOr<ExportedNetwork> LoadExportedNetwork(const std::string& dir) {
  ExportedNetwork out;
  RETURN_IF_ERROR(ReadJson(dir + "/genotype.json", &out.architecture));
  RETURN_IF_ERROR(ReadJson(dir + "/job_spec.json", &out.spec));
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(dir + "/weights.pt"));
  ASSIGN_OR_RETURN(out.input, ReadInputSpec(bytes));
  NetworkOptions options;
  options.in_channels = static_cast<int>(out.input.channels);
  options.image_size = static_cast<int>(out.input.image_size);
  options.channels_override = out.spec.evaluation().train().channels();
  options.cells_override = out.spec.evaluation().train().cells();
  nas::v1::SearchSpace space = out.spec.search_space();
  if (space.has_elastic() && out.architecture.has_elastic()) {
    // Compound scaling trains genotypes beyond the job's space in the space
    // widened to admit them; for a genotype inside it, widening changes
    // nothing.
    ASSIGN_OR_RETURN(*space.mutable_elastic(),
                     nas::task::WidenedSpace(space.elastic(),
                                             out.architecture.elastic()));
  }
  ASSIGN_OR_RETURN(out.plan, MakePlan(out.architecture, space, options));
  ASSIGN_OR_RETURN(out.net, BuildNetwork(out.plan));
  RETURN_IF_ERROR(LoadWeights(bytes, *out.net).status());
  out.net->eval();
  return out;
}

}  // namespace nas::worker
