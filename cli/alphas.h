// DARTS alphas for `nasctl export` and `nasctl report`: the softmax(alpha)
// metrics a supernet-search trial reports (alpha_<cell>_n<k>_i<j>_<op>, see
// common/task/darts_task.h) read back into a table of edges x ops, written as
// CSV, drawn as an SVG heat map (one rect per (edge, op), its value as
// data-value and as text) and as small multiples per epoch; and the search
// trial whose derived genotype a retrain trial trains. Pure functions;
// thread-safe.
#ifndef NAS_CLI_ALPHAS_H_
#define NAS_CLI_ALPHAS_H_

#include <string>
#include <vector>

#include "google/protobuf/map.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/job.pb.h"

namespace nas::cli {

// The op list of a DARTS space (the default list when it names none).
std::vector<std::string> DartsOpsOf(const nas::v1::SearchSpace& space);

// One row per edge (the normal cell's edges, then the reduction cell's, each
// by node then input), one column per op.
struct AlphaTable {
  struct Edge {
    std::string cell;  // "normal" or "reduce"
    int node = 0;      // intermediate node, 0-based
    int input = 0;     // 0, 1: cell inputs; 2..: earlier nodes
  };
  std::vector<std::string> ops;
  std::vector<Edge> edges;
  std::vector<std::vector<double>> weights;  // [edge][op]; NaN when missing
  bool empty() const { return edges.empty(); }
};

// The alpha_* entries of `metrics`. Columns: `ops` (the search space's op
// list) in that order, then any other op found, sorted. No alpha metric:
// an empty table.
AlphaTable AlphaTableFromMetrics(
    const google::protobuf::Map<std::string, double>& metrics,
    const std::vector<std::string>& ops);

// One table per epoch: the trial's measurements that carry alphas (epoch =
// the measurement's step), else its final metrics as epoch 0.
std::vector<std::pair<int64_t, AlphaTable>> AlphaEpochs(
    const nas::v1::Trial& trial, const std::vector<std::string>& ops);

// CSV "epoch,cell,node,input,<op>,<op>..." with one row per epoch and edge.
std::string AlphasToCsv(
    const std::vector<std::pair<int64_t, AlphaTable>>& epochs);

// The heat map: rows = edges labelled as in the cell drawings ("normal
// c_{k-2} -> 2": node k is drawn as k + 2), columns = ops,
// colour = value (white at 0 to dark blue at the table's maximum), the value
// printed in each cell. Edges of `derived` (may be null) are outlined.
std::string RenderAlphaHeatMap(const AlphaTable& table,
                               const nas::v1::CellGenotype* derived,
                               const std::string& title);

// Small multiples: one untitled miniature of the heat map per epoch, on the
// common colour scale.
std::string RenderAlphaEpochs(
    const std::vector<std::pair<int64_t, AlphaTable>>& epochs,
    const std::string& title);

// The derived genotype a DARTS search trial reports (derived_* metrics);
// false when the trial has none.
bool DerivedGenotypeOf(const nas::v1::Trial& trial,
                       const std::vector<std::string>& ops,
                       nas::v1::CellGenotype* genotype);

// True when `a` and `b` have the same edges per node (edge order ignored).
bool SameGenotype(const nas::v1::CellGenotype& a,
                  const nas::v1::CellGenotype& b);

}  // namespace nas::cli

#endif  // NAS_CLI_ALPHAS_H_
