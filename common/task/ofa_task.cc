#include "common/task/ofa_task.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace nas::task {
namespace {

using google::protobuf::RepeatedField;

template <typename T>
T MaxOf(const RepeatedField<T>& values) {
  return *std::max_element(values.begin(), values.end());
}
template <typename T>
T MinOf(const RepeatedField<T>& values) {
  return *std::min_element(values.begin(), values.end());
}
template <typename T>
void KeepOnly(RepeatedField<T>* values, T value) {
  values->Clear();
  values->Add(value);
}
template <typename T>
T Pick(const RepeatedField<T>& values, std::mt19937_64& rng) {
  return values[std::uniform_int_distribution<int>(0, values.size() - 1)(rng)];
}
template <typename T>
bool Contains(const RepeatedField<T>& values, T value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

std::vector<double> Widths(const nas::v1::ElasticSpace& space) {
  if (space.width_multipliers().empty()) return {1.0};
  return {space.width_multipliers().begin(), space.width_multipliers().end()};
}

// Every choice of `space` at its maximum (max = true) or minimum.
nas::v1::ElasticGenotype Extreme(const nas::v1::ElasticSpace& space,
                                 bool max) {
  nas::v1::ElasticGenotype g;
  for (const nas::v1::ElasticStage& stage : space.stages()) {
    nas::v1::ElasticStageChoice* choice = g.add_stages();
    choice->set_depth(max ? MaxOf(stage.depths()) : MinOf(stage.depths()));
    for (int b = 0; b < choice->depth(); ++b) {
      choice->add_expand_ratios(max ? MaxOf(stage.expand_ratios())
                                    : MinOf(stage.expand_ratios()));
      choice->add_kernel_sizes(max ? MaxOf(stage.kernel_sizes())
                                   : MinOf(stage.kernel_sizes()));
    }
  }
  g.set_resolution(max ? MaxOf(space.resolutions())
                       : MinOf(space.resolutions()));
  const std::vector<double> widths = Widths(space);
  g.set_width_multiplier(max ? *std::max_element(widths.begin(), widths.end())
                             : *std::min_element(widths.begin(), widths.end()));
  return g;
}

// The output side of a convolution with padding k / 2 (plan.cc's formula).
int OutputSize(int size, int kernel, int stride) {
  return (size + 2 * (kernel / 2) - (kernel - 1) - 1) / stride + 1;
}

bool GetString(const google::protobuf::Struct& s, const std::string& key,
               std::string* out) {
  const auto it = s.fields().find(key);
  if (it == s.fields().end() ||
      it->second.kind_case() != google::protobuf::Value::kStringValue) {
    return false;
  }
  *out = it->second.string_value();
  return true;
}

absl::StatusOr<google::protobuf::Struct> ParseObject(absl::string_view json) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &s);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task_config: not a JSON object: ", status.message().as_string()));
  }
  return s;
}

absl::StatusOr<std::string> ParseCheckpoint(const google::protobuf::Struct& s) {
  std::string checkpoint;
  if (!GetString(s, "checkpoint", &checkpoint)) {
    return absl::InvalidArgumentError(
        "task_config.checkpoint: missing (a string)");
  }
  if (absl::Status status = CheckCheckpointPath(checkpoint); !status.ok()) {
    return status;
  }
  return checkpoint;
}

}  // namespace

const char* OfaPhaseName(int phase) {
  static const char* const kNames[kOfaPhases] = {"full", "kernel", "depth",
                                                 "width"};
  return phase >= 0 && phase < kOfaPhases ? kNames[phase] : "unknown";
}

nas::v1::ElasticSpace OfaPhaseSpace(const nas::v1::ElasticSpace& space,
                                    int phase) {
  nas::v1::ElasticSpace out = space;
  if (out.width_multipliers().empty()) out.add_width_multipliers(1.0);
  const bool kernel = phase >= 1, depth = phase >= 2, width = phase >= 3;
  for (nas::v1::ElasticStage& stage : *out.mutable_stages()) {
    if (!kernel) KeepOnly(stage.mutable_kernel_sizes(), MaxOf(stage.kernel_sizes()));
    if (!depth) KeepOnly(stage.mutable_depths(), MaxOf(stage.depths()));
    if (!width) {
      KeepOnly(stage.mutable_expand_ratios(), MaxOf(stage.expand_ratios()));
    }
  }
  if (!kernel) KeepOnly(out.mutable_resolutions(), MaxOf(out.resolutions()));
  if (!width) {
    KeepOnly(out.mutable_width_multipliers(), MaxOf(out.width_multipliers()));
  }
  return out;
}

nas::v1::ElasticGenotype LargestSubnet(const nas::v1::ElasticSpace& space) {
  return Extreme(space, true);
}

nas::v1::ElasticGenotype SmallestSubnet(const nas::v1::ElasticSpace& space) {
  return Extreme(space, false);
}

nas::v1::ElasticGenotype SampleSubnet(const nas::v1::ElasticSpace& space,
                                      std::mt19937_64& rng) {
  nas::v1::ElasticGenotype g;
  for (const nas::v1::ElasticStage& stage : space.stages()) {
    nas::v1::ElasticStageChoice* choice = g.add_stages();
    choice->set_depth(Pick(stage.depths(), rng));
    for (int b = 0; b < choice->depth(); ++b) {
      choice->add_expand_ratios(Pick(stage.expand_ratios(), rng));
      choice->add_kernel_sizes(Pick(stage.kernel_sizes(), rng));
    }
  }
  g.set_resolution(Pick(space.resolutions(), rng));
  const std::vector<double> widths = Widths(space);
  g.set_width_multiplier(widths[std::uniform_int_distribution<int>(
      0, static_cast<int>(widths.size()) - 1)(rng)]);
  return g;
}

bool InSpace(const nas::v1::ElasticSpace& space,
             const nas::v1::ElasticGenotype& genotype) {
  if (genotype.stages_size() != space.stages_size()) return false;
  for (int s = 0; s < space.stages_size(); ++s) {
    const nas::v1::ElasticStage& stage = space.stages(s);
    const nas::v1::ElasticStageChoice& choice = genotype.stages(s);
    if (!Contains(stage.depths(), choice.depth()) ||
        choice.expand_ratios_size() != choice.depth() ||
        choice.kernel_sizes_size() != choice.depth()) {
      return false;
    }
    for (int b = 0; b < choice.depth(); ++b) {
      if (!Contains(stage.expand_ratios(), choice.expand_ratios(b)) ||
          !Contains(stage.kernel_sizes(), choice.kernel_sizes(b))) {
        return false;
      }
    }
  }
  const std::vector<double> widths = Widths(space);
  return Contains(space.resolutions(), genotype.resolution()) &&
         std::any_of(widths.begin(), widths.end(), [&](double w) {
           return std::abs(w - genotype.width_multiplier()) < 1e-9;
         });
}

int64_t ElasticMacs(const nas::v1::ElasticSpace& space,
                    const nas::v1::ElasticGenotype& genotype, int in_channels,
                    int image_size, int num_classes) {
  const double width =
      genotype.width_multiplier() > 0 ? genotype.width_multiplier() : 1.0;
  int size = genotype.resolution() > 0 ? genotype.resolution() : image_size;
  const int stem = space.stem_channels() > 0 ? space.stem_channels() : 16;
  int64_t macs = int64_t{in_channels} * stem * 9 * size * size;
  int c_in = stem;
  for (int s = 0; s < space.stages_size() && s < genotype.stages_size(); ++s) {
    const nas::v1::ElasticStageChoice& choice = genotype.stages(s);
    const int c_out = std::max(
        1, static_cast<int>(std::lround(space.stages(s).channels() * width)));
    for (int b = 0; b < choice.depth() && b < choice.kernel_sizes_size() &&
                    b < choice.expand_ratios_size();
         ++b) {
      const int e = choice.expand_ratios(b), k = choice.kernel_sizes(b);
      const int64_t mid = int64_t{c_in} * e;
      const int stride = b == 0 ? std::max(1, space.stages(s).stride()) : 1;
      const int out = OutputSize(size, k, stride);
      if (e != 1) macs += int64_t{c_in} * mid * size * size;
      macs += mid * k * k * out * out;  // depthwise
      macs += mid * c_out * out * out;  // project
      size = out;
      c_in = c_out;
    }
  }
  return macs + int64_t{c_in} * num_classes;
}

std::string OfaCheckpointPath(absl::string_view key) {
  return absl::StrCat("ofa/", key, ".pt");
}

absl::Status CheckCheckpointPath(absl::string_view path) {
  bool ok = !path.empty() && path.front() != '/' && absl::EndsWith(path, ".pt");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    ok = ok && !part.empty() && part != "." && part != "..";
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task_config.checkpoint: '", path,
        "' is not a relative path of plain components ending in .pt"));
  }
  return absl::OkStatus();
}

std::string OfaTrainConfigJson(const OfaTrainConfig& config) {
  // By hand, so the key order (and so the string) is stable.
  return absl::StrFormat("{\"checkpoint\":\"%s\",\"epochs_per_phase\":%d}",
                         config.checkpoint, config.epochs_per_phase);
}

absl::StatusOr<OfaTrainConfig> ParseOfaTrainConfig(absl::string_view json) {
  absl::StatusOr<google::protobuf::Struct> s = ParseObject(json);
  if (!s.ok()) return s.status();
  OfaTrainConfig config;
  absl::StatusOr<std::string> checkpoint = ParseCheckpoint(*s);
  if (!checkpoint.ok()) return checkpoint.status();
  config.checkpoint = *std::move(checkpoint);
  const auto it = s->fields().find("epochs_per_phase");
  const double epochs =
      it == s->fields().end() ? 0 : it->second.number_value();
  if (!(epochs >= 1) || epochs != std::floor(epochs) || epochs > 1e6) {
    return absl::InvalidArgumentError(
        "task_config.epochs_per_phase: must be an integer >= 1");
  }
  config.epochs_per_phase = static_cast<int>(epochs);
  return config;
}

std::string OfaSubnetConfigJson(const OfaSubnetConfig& config) {
  return absl::StrFormat("{\"checkpoint\":\"%s\"}", config.checkpoint);
}

absl::StatusOr<OfaSubnetConfig> ParseOfaSubnetConfig(absl::string_view json) {
  absl::StatusOr<google::protobuf::Struct> s = ParseObject(json);
  if (!s.ok()) return s.status();
  absl::StatusOr<std::string> checkpoint = ParseCheckpoint(*s);
  if (!checkpoint.ok()) return checkpoint.status();
  return OfaSubnetConfig{*std::move(checkpoint)};
}

}  // namespace nas::task
