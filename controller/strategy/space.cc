#include "controller/strategy/space.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace nas::strategy {
namespace {

using nas::v1::Architecture;

constexpr uint64_t kMaxEnumerable = uint64_t{1} << 40;
// Mutations applied at most by one Mutate() while they only touch pruned
// edges or inactive decisions.
constexpr int kMaxNeutralSteps = 8;
constexpr int kMaxDartsNodes = 8;
// Bounds of an elastic space, so that its encoding (one int16 per decision,
// 2 x max depth decisions per stage) stays small whatever a request says.
constexpr int kMaxElasticStages = 64;
constexpr int kMaxElasticDepth = 64;
constexpr int kMaxElasticChoices = 1024;

const std::vector<std::string>& Nb201DefaultOps() {
  static const auto* ops = new std::vector<std::string>{
      "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"};
  return *ops;
}

const std::vector<std::string>& DartsDefaultOps() {
  static const auto* ops = new std::vector<std::string>{
      "none",         "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
      "dil_conv_3x3", "dil_conv_5x5", "max_pool_3x3", "avg_pool_3x3"};
  return *ops;
}

// Resolves the op list of a cell space: the defaults when `given` is empty,
// else a duplicate-free subset of the defaults.
absl::StatusOr<std::vector<std::string>> ResolveOps(
    const google::protobuf::RepeatedPtrField<std::string>& given,
    const std::vector<std::string>& defaults, absl::string_view field) {
  if (given.empty()) return defaults;
  std::vector<std::string> ops;
  for (const std::string& op : given) {
    if (std::find(defaults.begin(), defaults.end(), op) == defaults.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": unknown op \"", op, "\""));
    }
    if (std::find(ops.begin(), ops.end(), op) != ops.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": duplicate op \"", op, "\""));
    }
    ops.push_back(op);
  }
  return ops;
}

int IndexOf(const std::vector<std::string>& ops, absl::string_view op) {
  for (int i = 0; i < static_cast<int>(ops.size()); ++i) {
    if (ops[i] == op) return i;
  }
  return -1;
}

// One edge of a compact cell: `op` (index into the op list) applied to node
// `src` (graph numbering: cell inputs first, then computed nodes).
struct EdgeI {
  int src;
  int op;
};

// Expression strings of every node of a cell. Node i < input_names.size() is
// a cell input named input_names[i]; each later node sums its edges. An edge
// is pruned when its op is `none_op` or its source is zero; a node without
// surviving edges is zero and gets the empty string. Each sum is written with
// its terms sorted, so the input order of a node and the numbering of nodes
// do not matter: two cells get the same strings iff they compute the same
// expressions (up to each edge's own weights).
std::vector<std::string> CellExpressions(
    const std::vector<std::vector<EdgeI>>& nodes,
    const std::vector<std::string>& input_names,
    const std::vector<std::string>& ops, int none_op) {
  std::vector<std::string> expr(input_names);
  std::vector<std::string> terms;
  for (const std::vector<EdgeI>& edges : nodes) {
    terms.clear();
    for (const EdgeI& edge : edges) {
      if (edge.op == none_op || expr[edge.src].empty()) continue;
      terms.push_back(absl::StrCat(ops[edge.op], "(", expr[edge.src], ")"));
    }
    std::sort(terms.begin(), terms.end());
    expr.push_back(terms.empty() ? std::string()
                                 : absl::StrCat("{", absl::StrJoin(terms, "+"),
                                                "}"));
  }
  return expr;
}

// ------------------------------------------------------------ NAS-Bench-201

// Edges in arch-string order: into node 1, node 2, node 3.
constexpr std::array<std::pair<int, int>, 6> kNb201Edges = {
    {{0, 1}, {0, 2}, {1, 2}, {0, 3}, {1, 3}, {2, 3}}};

int Nb201EdgeIndex(int src, int dst) {
  return dst * (dst - 1) / 2 + src;  // (0,1)->0, (0,2)->1, (1,2)->2, ...
}

class Nb201Space : public Space {
 public:
  explicit Nb201Space(std::vector<std::string> ops)
      : ops_(std::move(ops)), none_(IndexOf(ops_, "none")) {
    SetCardinalities(std::vector<int>(6, static_cast<int>(ops_.size())));
  }

  absl::string_view kind() const override { return "nb201"; }

  // Output node 3. A cell whose output is zero (disconnected from the input)
  // is degenerate; all such cells share the canonical form "nb201:zero".
  std::string Canonical(const Encoding& e) const override {
    std::vector<std::vector<EdgeI>> nodes(3);
    for (int i = 0; i < 6; ++i) {
      nodes[kNb201Edges[i].second - 1].push_back({kNb201Edges[i].first, e[i]});
    }
    static const auto* kInputs = new std::vector<std::string>{"x"};
    const std::vector<std::string> expr =
        CellExpressions(nodes, *kInputs, ops_, none_);
    return absl::StrCat("nb201:", expr[3].empty() ? "zero" : expr[3]);
  }

  Encoding Minimal(const Encoding& e) const override {
    if (none_ < 0) return e;
    // live[i]: node i is non-zero; reach[i]: node i has a path to node 3.
    std::array<bool, 4> live = {true, false, false, false};
    std::array<bool, 4> reach = {false, false, false, true};
    for (int i = 0; i < 6; ++i) {
      const auto [src, dst] = kNb201Edges[i];  // Ordered by dst.
      live[dst] = live[dst] || (e[i] != none_ && live[src]);
    }
    for (int i = 5; i >= 0; --i) {
      const auto [src, dst] = kNb201Edges[i];  // Reverse order of src.
      reach[src] = reach[src] || (e[i] != none_ && reach[dst]);
    }
    Encoding out = e;
    for (int i = 0; i < 6; ++i) {
      const auto [src, dst] = kNb201Edges[i];
      if (!live[3] || !live[src] || !reach[dst]) out[i] = static_cast<int16_t>(none_);
    }
    return out;
  }

  absl::StatusOr<Encoding> Encode(const Architecture& arch) const override {
    if (!arch.has_cell() || arch.cell().has_reduce()) {
      return absl::InvalidArgumentError(
          "architecture: an NAS-Bench-201 genotype is a cell with only `normal`");
    }
    const nas::v1::Cell& cell = arch.cell().normal();
    if (cell.nodes_size() != 3) {
      return absl::InvalidArgumentError(
          "architecture.cell.normal: an NAS-Bench-201 cell has 3 computed nodes");
    }
    Encoding e(6, -1);
    for (int n = 0; n < 3; ++n) {
      const int dst = n + 1;
      for (const nas::v1::CellEdge& edge : cell.nodes(n).edges()) {
        const int op = IndexOf(ops_, edge.op());
        if (edge.input() < 0 || edge.input() >= dst || op < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "architecture.cell.normal.nodes[", n, "]: bad edge ",
              edge.input(), "~", edge.op()));
        }
        int16_t& slot = e[Nb201EdgeIndex(edge.input(), dst)];
        if (slot >= 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "architecture.cell.normal.nodes[", n, "]: duplicate input ",
              edge.input()));
        }
        slot = static_cast<int16_t>(op);
      }
    }
    for (int16_t& slot : e) {
      if (slot >= 0) continue;
      if (none_ < 0) {
        return absl::InvalidArgumentError(
            "architecture.cell.normal: missing edge and no `none` op");
      }
      slot = static_cast<int16_t>(none_);  // An absent edge is `none`.
    }
    return e;
  }

 protected:
  void FillGenotype(const Encoding& e, Architecture* arch) const override {
    nas::v1::Cell* cell = arch->mutable_cell()->mutable_normal();
    for (int n = 0; n < 3; ++n) cell->add_nodes();
    for (int i = 0; i < 6; ++i) {
      nas::v1::CellEdge* edge =
          cell->mutable_nodes(kNb201Edges[i].second - 1)->add_edges();
      edge->set_input(kNb201Edges[i].first);
      edge->set_op(ops_[e[i]]);
    }
  }

 private:
  std::vector<std::string> ops_;
  int none_;
};

// -------------------------------------------------------------------- DARTS

// Decisions, per cell (normal, then reduce) and per intermediate node k:
// the node's input set (an index into combos_[k], sorted distinct sources)
// followed by one op per input, in the order of the sorted sources.
class DartsSpace : public Space {
 public:
  DartsSpace(std::vector<std::string> ops, int nodes, int inputs_per_node)
      : ops_(std::move(ops)),
        none_(IndexOf(ops_, "none")),
        nodes_(nodes),
        m_(inputs_per_node) {
    std::vector<int> card;
    for (int k = 0; k < nodes_; ++k) {
      const int sources = k + 2;
      std::vector<std::vector<int>> combos;
      for (int a = 0; a < sources; ++a) {
        if (m_ == 1) {
          combos.push_back({a});
          continue;
        }
        for (int b = a + 1; b < sources; ++b) combos.push_back({a, b});
      }
      for (int i = 0; i < static_cast<int>(combos.size()); ++i) {
        combo_index_[ComboKey(k, combos[i])] = i;
      }
      combos_.push_back(std::move(combos));
    }
    for (int c = 0; c < 2; ++c) {
      for (int k = 0; k < nodes_; ++k) {
        card.push_back(static_cast<int>(combos_[k].size()));
        for (int j = 0; j < m_; ++j) card.push_back(static_cast<int>(ops_.size()));
      }
    }
    SetCardinalities(std::move(card));
  }

  absl::string_view kind() const override { return "darts"; }

  // The cell output concatenates every intermediate node, so every node
  // reaches the output and no edge is pruned for reachability. An edge is
  // pruned when its op is `none` or its source is a zero node (a node whose
  // edges are all pruned: every DARTS op maps zero to zero). A zero node keeps
  // its place in the output as "0" (it still fills C channels of the
  // concatenation); the output is the sorted multiset of node expressions,
  // because permuting concatenated channels is an isomorphism.
  std::string Canonical(const Encoding& e) const override {
    return absl::StrCat("darts:normal=", CellCanonical(e, 0),
                        ";reduce=", CellCanonical(e, 1));
  }

  Encoding Minimal(const Encoding& e) const override {
    if (none_ < 0) return e;
    Encoding out = e;
    for (int c = 0; c < 2; ++c) {
      std::array<bool, 2 + kMaxDartsNodes> live{};
      live[0] = live[1] = true;  // The two cell inputs.
      for (int k = 0; k < nodes_; ++k) {
        const int base = c * PerCell() + k * (1 + m_);
        const std::vector<int>& combo = combos_[k][e[base]];
        bool node_live = false;
        for (int j = 0; j < m_; ++j) {
          int16_t& op = out[base + 1 + j];
          if (!live[combo[j]]) op = static_cast<int16_t>(none_);
          node_live = node_live || op != none_;
        }
        live[k + 2] = node_live;
      }
    }
    return out;
  }

  Encoding MutateOnce(const Encoding& parent, Rng& rng) const override {
    const int d = PickMutableDecision(parent, rng);
    if (d < 0) return parent;
    const int per_node = 1 + m_;
    const int k = (d % PerCell()) / per_node;
    const bool is_combo = (d % PerCell()) % per_node == 0;
    if (!is_combo || m_ == 1) return ChangeDecision(parent, d, rng);
    // Rewire: move one of the node's two inputs to another earlier node,
    // keeping its op.
    Encoding child = parent;
    const std::vector<int>& combo = combos_[k][parent[d]];
    std::array<EdgeI, 2> edges = {{{combo[0], parent[d + 1]},
                                   {combo[1], parent[d + 2]}}};
    const int moved = rng.Uniform(2);
    int src = rng.Uniform(k);  // One of the k sources not in use.
    for (int taken : combo) {  // Sorted ascending.
      if (src >= taken) ++src;
    }
    edges[moved].src = src;
    if (edges[0].src > edges[1].src) std::swap(edges[0], edges[1]);
    child[d] = static_cast<int16_t>(
        combo_index_.at(ComboKey(k, {edges[0].src, edges[1].src})));
    child[d + 1] = static_cast<int16_t>(edges[0].op);
    child[d + 2] = static_cast<int16_t>(edges[1].op);
    return child;
  }

  absl::StatusOr<Encoding> Encode(const Architecture& arch) const override {
    if (!arch.has_cell()) {
      return absl::InvalidArgumentError(
          "architecture: a DARTS genotype is a cell genotype");
    }
    Encoding e(num_decisions());
    for (int c = 0; c < 2; ++c) {
      const nas::v1::Cell& cell =
          c == 0 ? arch.cell().normal() : arch.cell().reduce();
      const char* name = c == 0 ? "normal" : "reduce";
      if (cell.nodes_size() != nodes_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "architecture.cell.", name, ": expected ", nodes_, " nodes"));
      }
      for (int k = 0; k < nodes_; ++k) {
        const nas::v1::CellNode& node = cell.nodes(k);
        std::vector<EdgeI> edges;
        for (const nas::v1::CellEdge& edge : node.edges()) {
          edges.push_back({edge.input(), IndexOf(ops_, edge.op())});
        }
        std::sort(edges.begin(), edges.end(),
                  [](const EdgeI& a, const EdgeI& b) { return a.src < b.src; });
        std::vector<int> srcs;
        bool ok = static_cast<int>(edges.size()) == m_;
        for (int j = 0; ok && j < static_cast<int>(edges.size()); ++j) {
          ok = edges[j].op >= 0 && edges[j].src >= 0 && edges[j].src < k + 2 &&
               (j == 0 || edges[j].src != edges[j - 1].src);
          srcs.push_back(edges[j].src);
        }
        if (!ok) {
          return absl::InvalidArgumentError(absl::StrCat(
              "architecture.cell.", name, ".nodes[", k, "]: expected ", m_,
              " edges with known ops from distinct earlier nodes (0..", k + 1,
              ")"));
        }
        const int base = c * PerCell() + k * (1 + m_);
        e[base] = static_cast<int16_t>(combo_index_.at(ComboKey(k, srcs)));
        for (int j = 0; j < m_; ++j) {
          e[base + 1 + j] = static_cast<int16_t>(edges[j].op);
        }
      }
    }
    return e;
  }

 protected:
  void FillGenotype(const Encoding& e, Architecture* arch) const override {
    for (int c = 0; c < 2; ++c) {
      nas::v1::Cell* cell = c == 0 ? arch->mutable_cell()->mutable_normal()
                                   : arch->mutable_cell()->mutable_reduce();
      for (int k = 0; k < nodes_; ++k) {
        nas::v1::CellNode* node = cell->add_nodes();
        const int base = c * PerCell() + k * (1 + m_);
        const std::vector<int>& combo = combos_[k][e[base]];
        for (int j = 0; j < m_; ++j) {
          nas::v1::CellEdge* edge = node->add_edges();
          edge->set_input(combo[j]);
          edge->set_op(ops_[e[base + 1 + j]]);
        }
      }
    }
  }

 private:
  static int ComboKey(int k, const std::vector<int>& srcs) {
    int key = k;
    for (int s : srcs) key = key * 16 + s + 1;
    return key;
  }

  int PerCell() const { return nodes_ * (1 + m_); }

  std::string CellCanonical(const Encoding& e, int c) const {
    std::vector<std::vector<EdgeI>> nodes(nodes_);
    for (int k = 0; k < nodes_; ++k) {
      const int base = c * PerCell() + k * (1 + m_);
      const std::vector<int>& combo = combos_[k][e[base]];
      for (int j = 0; j < m_; ++j) nodes[k].push_back({combo[j], e[base + 1 + j]});
    }
    static const auto* kInputs = new std::vector<std::string>{"c0", "c1"};
    std::vector<std::string> expr = CellExpressions(nodes, *kInputs, ops_, none_);
    expr.erase(expr.begin(), expr.begin() + 2);
    for (std::string& s : expr) {
      if (s.empty()) s = "0";
    }
    std::sort(expr.begin(), expr.end());
    return absl::StrJoin(expr, ",");
  }

  std::vector<std::string> ops_;
  int none_;
  int nodes_;
  int m_;
  std::vector<std::vector<std::vector<int>>> combos_;
  absl::flat_hash_map<int, int> combo_index_;
};

// ------------------------------------------------------------------ elastic

// Decisions: per stage its depth (index into depths) then, for each of the
// stage's max-depth block slots, an expand-ratio index and a kernel index;
// last the resolution index and the width-multiplier index. Block slots at
// or beyond the chosen depth are inactive.
class ElasticSpace : public Space {
 public:
  explicit ElasticSpace(nas::v1::ElasticSpace spec) : spec_(std::move(spec)) {
    if (spec_.width_multipliers().empty()) spec_.add_width_multipliers(1.0);
    std::vector<int> card;
    for (int s = 0; s < spec_.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = spec_.stages(s);
      stage_base_.push_back(static_cast<int>(card.size()));
      card.push_back(stage.depths_size());
      slot_.push_back(-1);
      stage_.push_back(s);
      const int max_depth =
          *std::max_element(stage.depths().begin(), stage.depths().end());
      for (int b = 0; b < max_depth; ++b) {
        card.push_back(stage.expand_ratios_size());
        card.push_back(stage.kernel_sizes_size());
        slot_.insert(slot_.end(), {b, b});
        stage_.insert(stage_.end(), {s, s});
      }
    }
    card.push_back(spec_.resolutions_size());
    card.push_back(spec_.width_multipliers_size());
    slot_.insert(slot_.end(), {-1, -1});
    stage_.insert(stage_.end(), {-1, -1});
    SetCardinalities(std::move(card));
  }

  static absl::Status Validate(const nas::v1::ElasticSpace& spec) {
    if (spec.stages().empty()) {
      return absl::InvalidArgumentError("search_space.elastic.stages: empty");
    }
    if (spec.stages_size() > kMaxElasticStages) {
      return absl::InvalidArgumentError(absl::StrCat(
          "search_space.elastic.stages: at most ", kMaxElasticStages));
    }
    for (int s = 0; s < spec.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = spec.stages(s);
      const std::string field = absl::StrCat("search_space.elastic.stages[", s, "]");
      if (stage.depths().empty() || stage.expand_ratios().empty() ||
          stage.kernel_sizes().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": depths, expand_ratios and kernel_sizes must be non-empty"));
      }
      if (std::max({stage.depths_size(), stage.expand_ratios_size(),
                    stage.kernel_sizes_size()}) > kMaxElasticChoices) {
        return absl::InvalidArgumentError(absl::StrCat(
            field, ": at most ", kMaxElasticChoices, " choices per list"));
      }
      for (int v : stage.depths()) {
        if (v < 1 || v > kMaxElasticDepth) {
          return absl::InvalidArgumentError(absl::StrCat(
              field, ".depths: must be in 1..", kMaxElasticDepth));
        }
      }
      for (int v : stage.expand_ratios()) {
        if (v < 1) return absl::InvalidArgumentError(absl::StrCat(field, ".expand_ratios: must be >= 1"));
      }
      for (int v : stage.kernel_sizes()) {
        if (v < 1 || v % 2 == 0) {
          return absl::InvalidArgumentError(absl::StrCat(field, ".kernel_sizes: must be odd and >= 1"));
        }
      }
    }
    if (spec.resolutions().empty()) {
      return absl::InvalidArgumentError("search_space.elastic.resolutions: empty");
    }
    if (std::max(spec.resolutions_size(), spec.width_multipliers_size()) >
        kMaxElasticChoices) {
      return absl::InvalidArgumentError(absl::StrCat(
          "search_space.elastic: at most ", kMaxElasticChoices,
          " resolutions and width_multipliers"));
    }
    const auto& widths = spec.width_multipliers();
    for (int i = 0; i < widths.size(); ++i) {
      if (!(widths[i] > 0)) {
        return absl::InvalidArgumentError(
            "search_space.elastic.width_multipliers: must be > 0");
      }
      // Encode() matches a genotype's width within 1e-9: closer values could
      // not be told apart.
      for (int j = 0; j < i; ++j) {
        if (std::abs(widths[i] - widths[j]) < 1e-9) {
          return absl::InvalidArgumentError(absl::StrCat(
              "search_space.elastic.width_multipliers[", i,
              "]: duplicates width_multipliers[", j, "]"));
        }
      }
    }
    return absl::OkStatus();
  }

  absl::string_view kind() const override { return "elastic"; }

  bool IsActive(const Encoding& e, int d) const override {
    if (slot_[d] < 0) return true;
    const int s = stage_[d];
    return slot_[d] < spec_.stages(s).depths(e[stage_base_[s]]);
  }

  Encoding Minimal(const Encoding& e) const override {
    Encoding out = e;
    for (int d = 0; d < num_decisions(); ++d) {
      if (!IsActive(e, d)) out[d] = 0;
    }
    return out;
  }

  // Inactive block slots are left out, so genotypes differing only there are
  // equal.
  std::string Canonical(const Encoding& e) const override {
    std::string out = absl::StrCat(
        "elastic:r=", spec_.resolutions(e[num_decisions() - 2]),
        ";w=", spec_.width_multipliers(e[num_decisions() - 1]));
    for (int s = 0; s < spec_.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = spec_.stages(s);
      const int depth = stage.depths(e[stage_base_[s]]);
      absl::StrAppend(&out, ";d=", depth, ":");
      for (int b = 0; b < depth; ++b) {
        const int d = stage_base_[s] + 1 + 2 * b;
        absl::StrAppend(&out, b ? "," : "", "e", stage.expand_ratios(e[d]), "k",
                        stage.kernel_sizes(e[d + 1]));
      }
    }
    return out;
  }

  absl::StatusOr<Encoding> Encode(const Architecture& arch) const override {
    if (!arch.has_elastic() ||
        arch.elastic().stages_size() != spec_.stages_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "architecture.elastic: expected ", spec_.stages_size(), " stages"));
    }
    const nas::v1::ElasticGenotype& g = arch.elastic();
    Encoding e(num_decisions(), 0);
    for (int s = 0; s < spec_.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = spec_.stages(s);
      const nas::v1::ElasticStageChoice& choice = g.stages(s);
      const std::string field = absl::StrCat("architecture.elastic.stages[", s, "]");
      const int depth = Find(stage.depths(), choice.depth());
      if (depth < 0 || choice.expand_ratios_size() != choice.depth() ||
          choice.kernel_sizes_size() != choice.depth()) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": depth not allowed or lists of wrong size"));
      }
      e[stage_base_[s]] = static_cast<int16_t>(depth);
      for (int b = 0; b < choice.depth(); ++b) {
        const int x = Find(stage.expand_ratios(), choice.expand_ratios(b));
        const int k = Find(stage.kernel_sizes(), choice.kernel_sizes(b));
        if (x < 0 || k < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(field, ": block ", b, " has a value not allowed"));
        }
        e[stage_base_[s] + 1 + 2 * b] = static_cast<int16_t>(x);
        e[stage_base_[s] + 2 + 2 * b] = static_cast<int16_t>(k);
      }
    }
    const int r = Find(spec_.resolutions(), g.resolution());
    int w = -1;
    for (int i = 0; i < spec_.width_multipliers_size(); ++i) {
      if (std::abs(spec_.width_multipliers(i) - g.width_multiplier()) < 1e-9) w = i;
    }
    if (r < 0 || w < 0) {
      return absl::InvalidArgumentError(
          "architecture.elastic: resolution or width_multiplier not allowed");
    }
    e[num_decisions() - 2] = static_cast<int16_t>(r);
    e[num_decisions() - 1] = static_cast<int16_t>(w);
    return e;
  }

 protected:
  void FillGenotype(const Encoding& e, Architecture* arch) const override {
    nas::v1::ElasticGenotype* g = arch->mutable_elastic();
    for (int s = 0; s < spec_.stages_size(); ++s) {
      const nas::v1::ElasticStage& stage = spec_.stages(s);
      nas::v1::ElasticStageChoice* choice = g->add_stages();
      const int depth = stage.depths(e[stage_base_[s]]);
      choice->set_depth(depth);
      for (int b = 0; b < depth; ++b) {
        const int d = stage_base_[s] + 1 + 2 * b;
        choice->add_expand_ratios(stage.expand_ratios(e[d]));
        choice->add_kernel_sizes(stage.kernel_sizes(e[d + 1]));
      }
    }
    g->set_resolution(spec_.resolutions(e[num_decisions() - 2]));
    g->set_width_multiplier(spec_.width_multipliers(e[num_decisions() - 1]));
  }

 private:
  static int Find(const google::protobuf::RepeatedField<int32_t>& values,
                  int32_t v) {
    for (int i = 0; i < values.size(); ++i) {
      if (values[i] == v) return i;
    }
    return -1;
  }

  nas::v1::ElasticSpace spec_;
  std::vector<int> stage_base_;
  std::vector<int> slot_;   // Block slot of each decision, -1 if none.
  std::vector<int> stage_;  // Stage of each decision, -1 if global.
};

}  // namespace

// -------------------------------------------------------------------- Space

absl::StatusOr<std::unique_ptr<Space>> Space::Create(
    const nas::v1::SearchSpace& spec) {
  switch (spec.space_case()) {
    case nas::v1::SearchSpace::kNb201: {
      ASSIGN_OR_RETURN(std::vector<std::string> ops,
                       ResolveOps(spec.nb201().ops(), Nb201DefaultOps(),
                                  "search_space.nb201.ops"));
      return std::unique_ptr<Space>(new Nb201Space(std::move(ops)));
    }
    case nas::v1::SearchSpace::kDarts: {
      const nas::v1::DartsCellSpace& d = spec.darts();
      ASSIGN_OR_RETURN(std::vector<std::string> ops,
                       ResolveOps(d.ops(), DartsDefaultOps(),
                                  "search_space.darts.ops"));
      const int nodes = d.nodes() == 0 ? 4 : d.nodes();
      const int inputs = d.inputs_per_node() == 0 ? 2 : d.inputs_per_node();
      if (nodes < 1 || nodes > kMaxDartsNodes) {
        return absl::InvalidArgumentError(
            "search_space.darts.nodes: must be in 1..8");
      }
      if (inputs < 1 || inputs > 2) {
        return absl::InvalidArgumentError(
            "search_space.darts.inputs_per_node: must be 1 or 2");
      }
      return std::unique_ptr<Space>(new DartsSpace(std::move(ops), nodes, inputs));
    }
    case nas::v1::SearchSpace::kElastic:
      RETURN_IF_ERROR(ElasticSpace::Validate(spec.elastic()));
      return std::unique_ptr<Space>(new ElasticSpace(spec.elastic()));
    case nas::v1::SearchSpace::SPACE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("search_space: no space set");
}

void Space::SetCardinalities(std::vector<int> cardinality) {
  cardinality_ = std::move(cardinality);
  size_ = 1;
  for (int c : cardinality_) {
    if (size_ > kMaxEnumerable / c) {
      size_ = 0;
      return;
    }
    size_ *= c;
  }
}

Encoding Space::Decode(uint64_t index) const {
  Encoding e(num_decisions());
  for (int d = num_decisions() - 1; d >= 0; --d) {
    e[d] = static_cast<int16_t>(index % cardinality_[d]);
    index /= cardinality_[d];
  }
  return e;
}

Encoding Space::Sample(Rng& rng) const {
  Encoding e(num_decisions());
  for (int d = 0; d < num_decisions(); ++d) {
    e[d] = static_cast<int16_t>(rng.Uniform(cardinality_[d]));
  }
  return e;
}

int Space::PickMutableDecision(const Encoding& e, Rng& rng) const {
  int chosen = -1;
  int seen = 0;
  for (int d = 0; d < num_decisions(); ++d) {
    if (cardinality_[d] < 2 || !IsActive(e, d)) continue;
    if (rng.Uniform(++seen) == 0) chosen = d;  // Reservoir sampling.
  }
  return chosen;
}

Encoding Space::ChangeDecision(const Encoding& parent, int d, Rng& rng) const {
  Encoding child = parent;
  const int card = cardinality_[d];
  child[d] = static_cast<int16_t>((parent[d] + 1 + rng.Uniform(card - 1)) % card);
  return child;
}

Encoding Space::Mutate(const Encoding& parent, Rng& rng) const {
  const Encoding before = Minimal(parent);
  Encoding child = parent;
  for (int step = 0; step < kMaxNeutralSteps; ++step) {
    child = MutateOnce(child, rng);
    if (Minimal(child) != before) break;  // Not a neutral mutation.
  }
  return child;
}

Encoding Space::MutateOnce(const Encoding& parent, Rng& rng) const {
  const int d = PickMutableDecision(parent, rng);
  return d < 0 ? parent : ChangeDecision(parent, d, rng);
}

Encoding Space::Crossover(const Encoding& a, const Encoding& b,
                          Rng& rng) const {
  Encoding child = a;
  uint64_t bits = 0;
  for (int d = 0; d < num_decisions(); ++d) {
    if (d % 64 == 0) bits = rng.Next();
    if ((bits >> (d % 64)) & 1) child[d] = b[d];
  }
  return child;
}

uint64_t Space::Hash(const Encoding& e) const { return Fingerprint(Canonical(e)); }

Architecture Space::ToArchitecture(const Encoding& e) const {
  return ToArchitecture(e, Canonical(e));
}

Architecture Space::ToArchitecture(const Encoding& e,
                                   std::string canonical) const {
  Architecture arch;
  FillGenotype(e, &arch);
  arch.set_hash(HashToHex(Fingerprint(canonical)));
  arch.set_canonical(std::move(canonical));
  return arch;
}

uint64_t Fingerprint(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

std::string HashToHex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

absl::StatusOr<Architecture> Canonicalize(const nas::v1::SearchSpace& space,
                                          const Architecture& arch) {
  ASSIGN_OR_RETURN(std::unique_ptr<Space> s, Space::Create(space));
  ASSIGN_OR_RETURN(Encoding e, s->Encode(arch));
  Architecture out = arch;
  Architecture canonical = s->ToArchitecture(e);
  out.set_canonical(canonical.canonical());
  out.set_hash(canonical.hash());
  return out;
}

absl::StatusOr<std::string> Nb201ArchString(const nas::v1::CellGenotype& cell) {
  if (cell.normal().nodes_size() != 3 || cell.has_reduce()) {
    return absl::InvalidArgumentError(
        "not an NAS-Bench-201 cell: expected 3 nodes and no reduce cell");
  }
  std::array<const std::string*, 6> ops{};
  for (int n = 0; n < 3; ++n) {
    for (const nas::v1::CellEdge& edge : cell.normal().nodes(n).edges()) {
      if (edge.input() < 0 || edge.input() > n) {
        return absl::InvalidArgumentError(
            absl::StrCat("node ", n + 1, ": bad input ", edge.input()));
      }
      const std::string*& slot = ops[Nb201EdgeIndex(edge.input(), n + 1)];
      if (slot != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("node ", n + 1, ": duplicate input ", edge.input()));
      }
      slot = &edge.op();
    }
  }
  std::string out = "|";
  for (int i = 0; i < 6; ++i) {
    if (ops[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "missing edge ", kNb201Edges[i].first, "->", kNb201Edges[i].second));
    }
    absl::StrAppend(&out, *ops[i], "~", kNb201Edges[i].first, "|");
    if (i == 0 || i == 2) out += "+|";
  }
  return out;
}

absl::StatusOr<nas::v1::CellGenotype> ParseNb201ArchString(absl::string_view s) {
  const std::vector<absl::string_view> parts = absl::StrSplit(s, '+');
  nas::v1::CellGenotype cell;
  bool ok = parts.size() == 3;
  for (int n = 0; ok && n < 3; ++n) {
    absl::string_view part = parts[n];
    ok = part.size() >= 2 && part.front() == '|' && part.back() == '|';
    if (!ok) break;
    part = part.substr(1, part.size() - 2);
    const std::vector<absl::string_view> edges = absl::StrSplit(part, '|');
    ok = static_cast<int>(edges.size()) == n + 1;
    nas::v1::CellNode* node = cell.mutable_normal()->add_nodes();
    for (int i = 0; ok && i <= n; ++i) {
      const std::vector<absl::string_view> op_src = absl::StrSplit(edges[i], '~');
      int src = -1;
      ok = op_src.size() == 2 && !op_src[0].empty() &&
           absl::SimpleAtoi(op_src[1], &src) && src == i;
      if (!ok) break;
      nas::v1::CellEdge* edge = node->add_edges();
      edge->set_input(src);
      edge->set_op(std::string(op_src[0]));
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an NAS-Bench-201 arch string: \"", s, "\""));
  }
  return cell;
}

}  // namespace nas::strategy
