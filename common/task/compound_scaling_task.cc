#include "common/task/compound_scaling_task.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace nas::task {
namespace {

// Slack for comparisons of values computed from the grid's integers.
constexpr double kEps = 1e-9;

// Calls `visit` for every grid point, by beta, then gamma, then alpha.
void ForEachGridPoint(double step, double tolerance,
                      const std::function<void(double, double, double)>& visit) {
  if (!(step > 0) || !(tolerance > 0)) return;
  const double high = 2 + tolerance;
  // beta^2 and gamma^2 are each at most `high` (alpha >= 1).
  const int64_t steps = static_cast<int64_t>(
      std::floor((std::sqrt(high) - 1) / step + kEps));
  for (int64_t j = 0; j <= steps; ++j) {
    const double beta = 1 + j * step;
    for (int64_t k = 0; k <= steps; ++k) {
      const double gamma = 1 + k * step;
      const double p = beta * beta * gamma * gamma;
      const double lo = std::max(1.0, (2 - tolerance) / p);
      const double hi = high / p;
      if (hi < 1 - kEps) continue;
      const int64_t first =
          static_cast<int64_t>(std::ceil((lo - 1) / step - kEps));
      const int64_t last =
          static_cast<int64_t>(std::floor((hi - 1) / step + kEps));
      for (int64_t i = std::max<int64_t>(0, first); i <= last; ++i) {
        const double alpha = 1 + i * step;
        if (std::abs(alpha * p - 2) <= tolerance + kEps) {
          visit(alpha, beta, gamma);
        }
      }
    }
  }
}

bool GetNumber(const google::protobuf::Struct& s, const std::string& key,
               double* out) {
  const auto it = s.fields().find(key);
  if (it == s.fields().end() ||
      it->second.kind_case() != google::protobuf::Value::kNumberValue) {
    return false;
  }
  *out = it->second.number_value();
  return true;
}

}  // namespace

double FlopsFactor(const ScalingCoefficients& c) {
  return c.alpha * c.beta * c.beta * c.gamma * c.gamma;
}

int64_t ScalingGridSize(double grid_step, double tolerance) {
  int64_t n = 0;
  ForEachGridPoint(grid_step, tolerance,
                   [&](double, double, double) { ++n; });
  return n;
}

std::vector<ScalingCoefficients> ScalingGrid(double grid_step,
                                             double tolerance) {
  std::vector<ScalingCoefficients> grid;
  ForEachGridPoint(grid_step, tolerance, [&](double a, double b, double g) {
    grid.push_back({a, b, g});
  });
  std::sort(grid.begin(), grid.end(),
            [](const ScalingCoefficients& x, const ScalingCoefficients& y) {
              return std::tie(x.alpha, x.beta, x.gamma) <
                     std::tie(y.alpha, y.beta, y.gamma);
            });
  return grid;
}

absl::StatusOr<nas::v1::ElasticGenotype> ScaleGenotype(
    const nas::v1::ElasticGenotype& base, const ScalingCoefficients& c,
    int phi) {
  if (phi < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("phi: must be >= 0, got ", phi));
  }
  if (base.resolution() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("architecture.elastic.resolution: must be > 0, got ",
                     base.resolution()));
  }
  const double depth_factor = std::pow(c.alpha, phi);
  nas::v1::ElasticGenotype scaled;
  for (int s = 0; s < base.stages_size(); ++s) {
    const nas::v1::ElasticStageChoice& stage = base.stages(s);
    if (stage.depth() < 1 || stage.expand_ratios_size() != stage.depth() ||
        stage.kernel_sizes_size() != stage.depth()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "architecture.elastic.stages[", s,
          "]: needs depth >= 1 and one expand ratio and kernel size per block"));
    }
    nas::v1::ElasticStageChoice* out = scaled.add_stages();
    *out = stage;
    const int depth =
        static_cast<int>(std::ceil(stage.depth() * depth_factor - kEps));
    out->set_depth(depth);
    for (int b = stage.depth(); b < depth; ++b) {
      out->add_expand_ratios(stage.expand_ratios(stage.depth() - 1));
      out->add_kernel_sizes(stage.kernel_sizes(stage.depth() - 1));
    }
  }
  const double width =
      base.width_multiplier() > 0 ? base.width_multiplier() : 1.0;
  scaled.set_width_multiplier(
      std::round(width * std::pow(c.beta, phi) * 1e6) / 1e6);
  scaled.set_resolution(static_cast<int>(
      std::lround(base.resolution() * std::pow(c.gamma, phi))));
  return scaled;
}

std::string ElasticCanonical(const nas::v1::ElasticGenotype& genotype) {
  std::string out = absl::StrCat("elastic:r=", genotype.resolution(),
                                 ";w=", genotype.width_multiplier());
  for (const nas::v1::ElasticStageChoice& stage : genotype.stages()) {
    absl::StrAppend(&out, ";d=", stage.depth(), ":");
    for (int b = 0; b < stage.depth() && b < stage.expand_ratios_size() &&
                    b < stage.kernel_sizes_size();
         ++b) {
      absl::StrAppend(&out, b ? "," : "", "e", stage.expand_ratios(b), "k",
                      stage.kernel_sizes(b));
    }
  }
  return out;
}

std::string ScaledTrainConfigJson(const ScaledTrainConfig& config) {
  // Written by hand so the key order (and so the string) is stable.
  const ScalingCoefficients& c = config.coefficients;
  return absl::StrFormat(
      "{\"phase\":\"%s\",\"alpha\":%.10g,\"beta\":%.10g,\"gamma\":%.10g,"
      "\"phi\":%d}",
      config.scale_phase ? "scale" : "grid", c.alpha, c.beta, c.gamma,
      config.phi);
}

absl::StatusOr<ScaledTrainConfig> ParseScaledTrainConfig(
    absl::string_view json) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &s);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "task_config: not a JSON object: ", status.message().as_string()));
  }
  ScaledTrainConfig config;
  const auto phase = s.fields().find("phase");
  if (phase == s.fields().end() ||
      (phase->second.string_value() != "grid" &&
       phase->second.string_value() != "scale")) {
    return absl::InvalidArgumentError(
        "task_config.phase: must be \"grid\" or \"scale\"");
  }
  config.scale_phase = phase->second.string_value() == "scale";
  ScalingCoefficients& c = config.coefficients;
  for (auto [name, value] : {std::pair<const char*, double*>{"alpha", &c.alpha},
                             {"beta", &c.beta},
                             {"gamma", &c.gamma}}) {
    if (!GetNumber(s, name, value) || !(*value >= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("task_config.", name, ": must be a number >= 1"));
    }
  }
  double phi = 0;
  if (!GetNumber(s, "phi", &phi) || phi < 1 || phi != std::floor(phi)) {
    return absl::InvalidArgumentError(
        "task_config.phi: must be an integer >= 1");
  }
  config.phi = static_cast<int>(phi);
  return config;
}

absl::StatusOr<nas::v1::ElasticSpace> WidenedSpace(
    const nas::v1::ElasticSpace& space,
    const nas::v1::ElasticGenotype& genotype) {
  if (genotype.stages_size() != space.stages_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture.elastic.stages: ", genotype.stages_size(),
        " stages, the space has ", space.stages_size()));
  }
  // Each value is added only if the space lacks it: a repeated value (a
  // width within 1e-9 of one listed, as Encode() matches widths) is refused
  // by spec validation.
  nas::v1::ElasticSpace widened = space;
  for (int s = 0; s < space.stages_size(); ++s) {
    const auto& depths = space.stages(s).depths();
    const int32_t depth = genotype.stages(s).depth();
    if (std::find(depths.begin(), depths.end(), depth) == depths.end()) {
      widened.mutable_stages(s)->add_depths(depth);
    }
  }
  const auto& resolutions = space.resolutions();
  if (std::find(resolutions.begin(), resolutions.end(),
                genotype.resolution()) == resolutions.end()) {
    widened.add_resolutions(genotype.resolution());
  }
  const double width = genotype.width_multiplier();
  if (width > 0 && std::none_of(space.width_multipliers().begin(),
                                space.width_multipliers().end(),
                                [width](double w) {
                                  return std::abs(w - width) < 1e-9;
                                })) {
    widened.add_width_multipliers(width);
  }
  return widened;
}

}  // namespace nas::task
