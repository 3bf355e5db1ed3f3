#include "common/task/darts_task.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace nas::task {
namespace {

constexpr const char* kCells[] = {"normal", "reduce"};

std::string EdgeMetric(absl::string_view cell, int node, int edge,
                       absl::string_view what) {
  return absl::StrCat("derived_", cell, "_n", node, "_e", edge, "_", what);
}

}  // namespace

std::string DartsSearchConfig(const nas::v1::Darts& darts,
                              double latency_weight) {
  nas::v1::Darts config = darts;
  config.clear_latency_weights();
  config.add_latency_weights(latency_weight);
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(config, &json, options);
  return json;
}

absl::StatusOr<nas::v1::Darts> ParseDartsSearchConfig(absl::string_view json) {
  nas::v1::Darts config;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &config);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("task_config: not a nas.v1.Darts message: ",
                     status.message().as_string()));
  }
  if (config.latency_weights_size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("task_config.latency_weights: need exactly one, got ",
                     config.latency_weights_size()));
  }
  return config;
}

std::string AlphaMetric(absl::string_view cell, int node, int input,
                        absl::string_view op) {
  return absl::StrCat("alpha_", cell, "_n", node, "_i", input, "_", op);
}

absl::Status EncodeDerivedGenotype(const nas::v1::CellGenotype& genotype,
                                   const std::vector<std::string>& ops,
                                   std::map<std::string, double>* metrics) {
  for (const char* name : kCells) {
    const nas::v1::Cell& cell = std::string(name) == "normal"
                                    ? genotype.normal()
                                    : genotype.reduce();
    for (int k = 0; k < cell.nodes_size(); ++k) {
      for (int e = 0; e < cell.nodes(k).edges_size(); ++e) {
        const nas::v1::CellEdge& edge = cell.nodes(k).edges(e);
        int index = -1;
        for (size_t i = 0; i < ops.size(); ++i) {
          if (ops[i] == edge.op()) index = static_cast<int>(i);
        }
        if (index < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("genotype.", name, ".nodes[", k, "].edges[", e,
                           "].op: '", edge.op(), "' is not in the op list"));
        }
        (*metrics)[EdgeMetric(name, k, e, "input")] = edge.input();
        (*metrics)[EdgeMetric(name, k, e, "op")] = index;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<nas::v1::CellGenotype> DecodeDerivedGenotype(
    const std::map<std::string, double>& metrics,
    const std::vector<std::string>& ops) {
  nas::v1::CellGenotype genotype;
  for (const char* name : kCells) {
    nas::v1::Cell* cell = std::string(name) == "normal"
                              ? genotype.mutable_normal()
                              : genotype.mutable_reduce();
    for (int k = 0; metrics.count(EdgeMetric(name, k, 0, "input")) > 0; ++k) {
      nas::v1::CellNode* node = cell->add_nodes();
      for (int e = 0; metrics.count(EdgeMetric(name, k, e, "input")) > 0;
           ++e) {
        const std::string op_metric = EdgeMetric(name, k, e, "op");
        const auto op = metrics.find(op_metric);
        const double input = metrics.at(EdgeMetric(name, k, e, "input"));
        if (op == metrics.end() || !(op->second >= 0) ||
            op->second >= ops.size() || op->second != std::floor(op->second)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "metrics.", op_metric, ": missing or not an op index"));
        }
        if (!(input >= 0) || input != std::floor(input) || input >= k + 2) {
          return absl::InvalidArgumentError(
              absl::StrCat("metrics.", EdgeMetric(name, k, e, "input"), ": ",
                           input, " is not an earlier node"));
        }
        nas::v1::CellEdge* edge = node->add_edges();
        edge->set_input(static_cast<int>(input));
        edge->set_op(ops[static_cast<size_t>(op->second)]);
      }
    }
    if (cell->nodes_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metrics: no derived_", name, "_* metrics (not a DARTS search result)"));
    }
  }
  return genotype;
}

}  // namespace nas::task
