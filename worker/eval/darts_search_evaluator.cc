// TrainEvaluator's "darts_search" task: the DARTS supernet of the lease's
// space trained with worker/oneshot's search loop, a per-op latency table
// measured on this worker's device, and the results as metrics in the
// format of common/task/darts_task.h.
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/task/darts_task.h"
#include "torch/nn/modules/container/any.h"
#include "worker/eval/measure.h"
#include "worker/eval/train_evaluator.h"
#include "worker/model/network.h"
#include "worker/oneshot/darts_search.h"
#include "worker/oneshot/darts_supernet.h"
#include "worker/train/trainer.h"

namespace nas::worker {
namespace {

constexpr const char* kCells[] = {"normal", "reduce"};

// One op as a Network, so MeasureLatency can time it.
class OpNetwork : public Network {
 public:
  explicit OpNetwork(torch::nn::AnyModule op) : op_(std::move(op)) {
    register_module("op", op_.ptr());
  }
  torch::Tensor forward(torch::Tensor x) override { return op_.forward(x); }

 private:
  torch::nn::AnyModule op_;
};

// Latency (ms, batch 1, on `device`) of every op on every edge, summed over
// the normal and the reduction cells: two [edges, ops] tables. Each distinct
// (channels, size, stride, op) is timed once.
absl::Status MeasureOpLatencies(DartsSupernet& net, const torch::Device& device,
                                const LatencyOptions& options,
                                torch::Tensor* normal, torch::Tensor* reduce) {
  const int64_t edges = net.num_edges(), ops = net.ops().size();
  torch::Tensor tables[2] = {torch::zeros({edges, ops}, torch::kFloat64),
                             torch::zeros({edges, ops}, torch::kFloat64)};
  std::map<std::tuple<int, int, int, int64_t>, double> timed;
  for (size_t cell = 0; cell < net.cells().size(); ++cell) {
    const int which = net.cells()[cell].reduction ? 1 : 0;
    for (int64_t e = 0; e < edges; ++e) {
      const EdgeShape shape = net.EdgeShapeOf(static_cast<int>(cell), e);
      for (int64_t o = 0; o < ops; ++o) {
        const auto key = std::make_tuple(shape.channels, shape.size,
                                         shape.stride, o);
        auto it = timed.find(key);
        if (it == timed.end()) {
          OpNetwork op(MakeDartsOp(net.ops()[o], shape.channels, shape.stride));
          try {
            op.to(device);
          } catch (const std::exception& error) {
            return StatusFromException(error, "moving an op to the device");
          }
          ASSIGN_OR_RETURN(nas::v1::DeviceLatency latency,
                           MeasureLatency(op, device, 1, shape.channels,
                                          shape.size, options));
          it = timed.emplace(key, latency.median_ms()).first;
        }
        tables[which][e][o] += it->second;
      }
    }
  }
  *normal = tables[0].to(device, torch::kFloat32);
  *reduce = tables[1].to(device, torch::kFloat32);
  return absl::OkStatus();
}

// alpha_* metrics of one epoch.
void AddAlphas(const DartsSupernet& net, const DartsEpoch& epoch,
               std::map<std::string, double>* metrics) {
  const auto edges = EdgeInputs(net.nodes());
  for (const char* cell : kCells) {
    const auto& rows = std::string(cell) == "normal" ? epoch.normal_weights
                                                     : epoch.reduce_weights;
    for (size_t e = 0; e < edges.size(); ++e) {
      for (size_t o = 0; o < net.ops().size(); ++o) {
        (*metrics)[nas::task::AlphaMetric(cell, edges[e].first,
                                          edges[e].second, net.ops()[o])] =
            rows[e][o];
      }
    }
  }
}

// The latency table's estimate of the derived cells (sum of chosen ops).
double DerivedLatency(const DartsSupernet& net,
                      const nas::v1::CellGenotype& genotype,
                      const torch::Tensor& normal,
                      const torch::Tensor& reduce) {
  const auto edges = EdgeInputs(net.nodes());
  double total = 0;
  for (int which = 0; which < 2; ++which) {
    const nas::v1::Cell& cell = which == 0 ? genotype.normal() : genotype.reduce();
    const torch::Tensor table = (which == 0 ? normal : reduce).to(torch::kCPU);
    for (int k = 0; k < cell.nodes_size(); ++k) {
      for (const nas::v1::CellEdge& edge : cell.nodes(k).edges()) {
        for (size_t e = 0; e < edges.size(); ++e) {
          if (edges[e].first != k || edges[e].second != edge.input()) continue;
          for (size_t o = 0; o < net.ops().size(); ++o) {
            if (net.ops()[o] == edge.op()) {
              total += table[e][o].item<double>();
            }
          }
        }
      }
    }
  }
  return total;
}

}  // namespace

absl::StatusOr<EvalResult> TrainEvaluator::EvaluateDartsSearch(
    const nas::v1::TrialLease& lease, const nas::v1::TrainEvaluation& config,
    const EvalCallbacks& callbacks) {
  if (!lease.search_space().has_darts()) {
    return FailureWithReason(absl::StatusCode::kInvalidArgument, kReasonInvalid,
                             "search_space: task darts_search needs darts");
  }
  ASSIGN_OR_RETURN(nas::v1::Darts darts,
                   nas::task::ParseDartsSearchConfig(lease.task_config()));
  ASSIGN_OR_RETURN(TrialData data, LoadTrialData(config));
  NetworkOptions net_options;
  net_options.in_channels = data.full->channels;
  net_options.image_size = data.full->height;
  net_options.channels_override = config.channels();
  net_options.cells_override = config.cells();
  torch::manual_seed(config.seed());
  ASSIGN_OR_RETURN(std::shared_ptr<DartsSupernet> net,
                   DartsSupernet::Create(lease.search_space().darts(),
                                         net_options));
  DartsSearchOptions options;
  options.epochs = darts.search_epochs() > 0 ? darts.search_epochs() : 10;
  options.batch_size = config.batch_size();
  options.learning_rate = config.learning_rate();
  options.momentum = config.momentum();
  options.weight_decay = config.weight_decay();
  options.arch_learning_rate =
      darts.arch_learning_rate() > 0 ? darts.arch_learning_rate() : 3e-4;
  options.arch_weight_decay = darts.arch_weight_decay();
  options.unrolled = darts.unrolled();
  options.skip_decay = darts.skip_decay();
  options.max_skips = darts.has_max_skips() ? darts.max_skips() : 2;
  options.inputs_per_node = lease.search_space().darts().inputs_per_node() > 0
                                ? lease.search_space().darts().inputs_per_node()
                                : 2;
  options.latency_weight = darts.latency_weights(0);
  options.seed = config.seed();
  try {
    net->to(options_.device);
  } catch (const std::exception& e) {
    return StatusFromException(e, "moving the supernet to the device");
  }
  RETURN_IF_ERROR(MeasureOpLatencies(*net, options_.device, options_.latency,
                                     &options.latency_normal,
                                     &options.latency_reduce));

  DartsSearchCallbacks search_callbacks;
  search_callbacks.should_stop = callbacks.should_stop;
  search_callbacks.on_epoch = [&](const DartsEpoch& e) {
    if (!callbacks.on_progress) return true;
    std::map<std::string, double> m = {
        {"supernet_accuracy", e.validation_accuracy},
        {"train_loss", e.train_loss},
        {"train_accuracy", e.train_accuracy},
        {"expected_latency_ms", e.expected_latency_ms},
        {"normal_skips", CountOp(e.genotype.normal(), "skip_connect")},
        {"epoch_seconds", e.seconds}};
    AddAlphas(*net, e, &m);
    return callbacks.on_progress(e.epoch, m);
  };
  ASSIGN_OR_RETURN(DartsSearchResult search,
                   RunDartsSearch(*net, data.train, data.validation, data.norm,
                                  options, options_.device, search_callbacks));
  EvalResult result;
  result.stopped_early = search.stopped;
  result.params = CountParameters(*net);
  auto& m = result.metrics;
  if (search.epochs_completed > 0) AddAlphas(*net, search.last, &m);
  m["supernet_accuracy"] = search.last.validation_accuracy;
  m["train_loss"] = search.last.train_loss;
  m["train_accuracy"] = search.last.train_accuracy;
  m["expected_latency_ms"] = search.last.expected_latency_ms;
  m["derived_latency_ms_estimate"] =
      DerivedLatency(*net, search.genotype, options.latency_normal,
                     options.latency_reduce);
  m["latency_weight"] = options.latency_weight;
  m["search_epochs"] = search.epochs_completed;
  m["skip_stop_epoch"] = search.skip_stop_epoch;
  m["normal_skips"] = CountOp(search.genotype.normal(), "skip_connect");
  m["reduce_skips"] = CountOp(search.genotype.reduce(), "skip_connect");
  m["train_seconds"] = search.seconds;
  m[kMetricImagesPerSecond] = search.images_per_second;
  m["params"] = static_cast<double>(result.params);
  if (search.stopped || search.epochs_completed == 0) return result;
  RETURN_IF_ERROR(
      nas::task::EncodeDerivedGenotype(search.genotype, net->ops(), &m));
  return result;
}

}  // namespace nas::worker
