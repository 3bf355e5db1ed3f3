#include "controller/strategy/space.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <set>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "common/testing/status_matchers.h"
#include "controller/strategy/rng.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::strategy {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

nas::v1::SearchSpace Nb201() {
  nas::v1::SearchSpace s;
  s.mutable_nb201();
  return s;
}

nas::v1::SearchSpace Darts() {
  nas::v1::SearchSpace s;
  s.mutable_darts();
  return s;
}

nas::v1::SearchSpace Elastic() {
  nas::v1::SearchSpace s;
  nas::v1::ElasticSpace* e = s.mutable_elastic();
  e->set_stem_channels(16);
  for (int i = 0; i < 3; ++i) {
    nas::v1::ElasticStage* stage = e->add_stages();
    stage->set_channels(16 << i);
    stage->set_stride(i == 0 ? 1 : 2);
    for (int d : {2, 3, 4}) stage->add_depths(d);
    for (int x : {3, 4, 6}) stage->add_expand_ratios(x);
    for (int k : {3, 5, 7}) stage->add_kernel_sizes(k);
  }
  for (int r : {24, 28, 32}) e->add_resolutions(r);
  return s;
}

std::unique_ptr<Space> MakeSpace(const nas::v1::SearchSpace& spec) {
  absl::StatusOr<std::unique_ptr<Space>> space = Space::Create(spec);
  EXPECT_OK(space);
  return std::move(space).value();
}

// Canonical hash of an NB201 arch string.
std::string Nb201Hash(const std::string& arch_string) {
  absl::StatusOr<nas::v1::CellGenotype> cell = ParseNb201ArchString(arch_string);
  EXPECT_OK(cell);
  nas::v1::Architecture arch;
  *arch.mutable_cell() = *cell;
  absl::StatusOr<nas::v1::Architecture> c = Canonicalize(Nb201(), arch);
  EXPECT_OK(c);
  return c.ok() ? c->hash() : "";
}

std::string Nb201Canonical(const std::string& arch_string) {
  nas::v1::Architecture arch;
  *arch.mutable_cell() = *ParseNb201ArchString(arch_string);
  return Canonicalize(Nb201(), arch)->canonical();
}

TEST(Nb201StringTest, RoundTrips) {
  const std::string s =
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
      "nor_conv_3x3~1|skip_connect~2|";
  ASSERT_OK_AND_ASSIGN(nas::v1::CellGenotype cell, ParseNb201ArchString(s));
  EXPECT_EQ(cell.normal().nodes_size(), 3);
  EXPECT_EQ(cell.normal().nodes(2).edges(2).op(), "skip_connect");
  EXPECT_EQ(cell.normal().nodes(2).edges(2).input(), 2);
  ASSERT_OK_AND_ASSIGN(std::string back, Nb201ArchString(cell));
  EXPECT_EQ(back, s);
}

TEST(Nb201StringTest, RejectsMalformedStrings) {
  for (const char* bad :
       {"", "|none~0|", "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~x|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}) {
    EXPECT_THAT(ParseNb201ArchString(bad),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

TEST(Nb201StringTest, GenotypeFromSpaceFormatsInEdgeOrder) {
  std::unique_ptr<Space> space = MakeSpace(Nb201());
  const Encoding e = {3, 2, 4, 1, 0, 3};
  ASSERT_OK_AND_ASSIGN(std::string s,
                       Nb201ArchString(space->ToArchitecture(e).cell()));
  EXPECT_EQ(s,
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|"
            "none~1|nor_conv_3x3~2|");
}

class EverySpaceTest : public ::testing::TestWithParam<nas::v1::SearchSpace> {};

TEST_P(EverySpaceTest, SampledMutatedAndCrossedArchitecturesAreValid) {
  std::unique_ptr<Space> space = MakeSpace(GetParam());
  Rng rng(7);
  Encoding parent = space->Sample(rng);
  int neutral = 0;
  for (int i = 0; i < 500; ++i) {
    const Encoding sample = space->Sample(rng);
    const Encoding child = space->Mutate(parent, rng);
    const Encoding crossed = space->Crossover(parent, sample, rng);
    ASSERT_NE(child, parent);
    neutral += space->Minimal(child) == space->Minimal(parent);
    for (const Encoding& e : {sample, child, crossed, space->Minimal(child)}) {
      ASSERT_EQ(e.size(), space->num_decisions());
      for (int d = 0; d < space->num_decisions(); ++d) {
        ASSERT_GE(e[d], 0);
        ASSERT_LT(e[d], space->cardinality(d));
      }
      const nas::v1::Architecture arch = space->ToArchitecture(e);
      ASSERT_OK_AND_ASSIGN(Encoding back, space->Encode(arch));
      EXPECT_EQ(space->Canonical(back), arch.canonical());
      EXPECT_EQ(HashToHex(Fingerprint(arch.canonical())), arch.hash());
      EXPECT_EQ(space->Canonical(space->Minimal(e)), arch.canonical());
    }
    parent = child;
  }
  EXPECT_LT(neutral, 10);  // Neutral steps are followed by further ones.
}

TEST_P(EverySpaceTest, HashIgnoresTheOrderOfANodesInputs) {
  std::unique_ptr<Space> space = MakeSpace(GetParam());
  if (space->kind() == "elastic") GTEST_SKIP() << "no cells";
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    nas::v1::Architecture arch = space->ToArchitecture(space->Sample(rng));
    nas::v1::Architecture permuted = arch;
    for (nas::v1::Cell* cell : {permuted.mutable_cell()->mutable_normal(),
                                permuted.mutable_cell()->has_reduce()
                                    ? permuted.mutable_cell()->mutable_reduce()
                                    : nullptr}) {
      if (cell == nullptr) continue;
      for (nas::v1::CellNode& node : *cell->mutable_nodes()) {
        std::reverse(node.mutable_edges()->begin(), node.mutable_edges()->end());
      }
    }
    ASSERT_OK_AND_ASSIGN(nas::v1::Architecture c,
                         Canonicalize(GetParam(), permuted));
    EXPECT_EQ(c.hash(), arch.hash());
  }
}

TEST_P(EverySpaceTest, DecodeEnumeratesDistinctEncodings) {
  std::unique_ptr<Space> space = MakeSpace(GetParam());
  if (space->size() == 0) GTEST_SKIP() << "not enumerable";
  absl::flat_hash_set<Encoding> seen;
  const uint64_t n = std::min<uint64_t>(space->size(), 20000);
  for (uint64_t i = 0; i < n; ++i) seen.insert(space->Decode(i));
  EXPECT_EQ(seen.size(), n);
}

INSTANTIATE_TEST_SUITE_P(Spaces, EverySpaceTest,
                         ::testing::Values(Nb201(), Darts(), Elastic()));

TEST(Nb201CanonicalTest, RelabelingIntermediateNodesKeepsTheHash) {
  // Nodes 1 and 2 swap roles (no edge between them).
  EXPECT_EQ(Nb201Hash("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|"
                      "avg_pool_3x3~1|nor_conv_1x1~2|"),
            Nb201Hash("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|"
                      "nor_conv_1x1~1|avg_pool_3x3~2|"));
}

TEST(Nb201CanonicalTest, EdgesThatCannotReachTheOutputArePruned) {
  // Node 2 does not reach node 3 (edge 2->3 is none): its inputs are dead.
  const std::string base = Nb201Hash(
      "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|");
  EXPECT_EQ(base, Nb201Hash("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|"
                            "skip_connect~0|nor_conv_3x3~1|none~2|"));
  // Node 1 has only none inputs: it is zero, so its out-edges are dead.
  EXPECT_EQ(Nb201Hash("|none~0|+|skip_connect~0|none~1|+|none~0|none~1|"
                      "nor_conv_1x1~2|"),
            Nb201Hash("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|"
                      "avg_pool_3x3~1|nor_conv_1x1~2|"));
}

TEST(Nb201CanonicalTest, DisconnectedCellsShareOneForm) {
  EXPECT_EQ(Nb201Canonical("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|"
                           "none~0|none~1|none~2|"),
            "nb201:zero");
  EXPECT_EQ(Nb201Canonical("|none~0|+|none~0|none~1|+|none~0|skip_connect~1|"
                           "nor_conv_3x3~2|"),
            "nb201:zero");
}

TEST(Nb201CanonicalTest, DifferentComputationsDiffer) {
  const std::string a = Nb201Hash(
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
      "nor_conv_1x1~1|nor_conv_3x3~2|");
  EXPECT_NE(a, Nb201Hash("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                         "skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"));
  EXPECT_NE(a, Nb201Hash("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                         "nor_conv_1x1~0|skip_connect~1|nor_conv_3x3~2|"));
}

TEST(Nb201CanonicalTest, MinimalSetsDeadEdgesToNone) {
  std::unique_ptr<Space> space = MakeSpace(Nb201());
  // ops: 0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avg. Edge 2->3 is none.
  const Encoding e = {3, 2, 4, 1, 3, 0};
  EXPECT_EQ(space->Minimal(e), (Encoding{3, 0, 0, 1, 3, 0}));
}

// A DARTS genotype from (input, op) pairs per node; the same for both cells.
nas::v1::Architecture DartsArch(
    const std::vector<std::vector<std::pair<int, std::string>>>& nodes) {
  nas::v1::Architecture arch;
  for (nas::v1::Cell* cell : {arch.mutable_cell()->mutable_normal(),
                              arch.mutable_cell()->mutable_reduce()}) {
    for (const auto& node : nodes) {
      nas::v1::CellNode* n = cell->add_nodes();
      for (const auto& [input, op] : node) {
        nas::v1::CellEdge* edge = n->add_edges();
        edge->set_input(input);
        edge->set_op(op);
      }
    }
  }
  return arch;
}

std::string DartsHash(const nas::v1::Architecture& arch) {
  absl::StatusOr<nas::v1::Architecture> c = Canonicalize(Darts(), arch);
  EXPECT_OK(c);
  return c.ok() ? c->hash() : "";
}

TEST(DartsCanonicalTest, SwappingIndependentNodesKeepsTheHash) {
  const auto a = DartsArch({{{0, "sep_conv_3x3"}, {1, "sep_conv_5x5"}},
                            {{0, "skip_connect"}, {1, "max_pool_3x3"}},
                            {{2, "dil_conv_3x3"}, {3, "avg_pool_3x3"}},
                            {{0, "sep_conv_3x3"}, {4, "skip_connect"}}});
  // Nodes 2 and 3 swapped (and the references to them).
  const auto b = DartsArch({{{0, "skip_connect"}, {1, "max_pool_3x3"}},
                            {{0, "sep_conv_3x3"}, {1, "sep_conv_5x5"}},
                            {{3, "dil_conv_3x3"}, {2, "avg_pool_3x3"}},
                            {{4, "skip_connect"}, {0, "sep_conv_3x3"}}});
  EXPECT_EQ(DartsHash(a), DartsHash(b));
  const auto c = DartsArch({{{0, "skip_connect"}, {1, "max_pool_3x3"}},
                            {{0, "sep_conv_3x3"}, {1, "sep_conv_5x5"}},
                            {{2, "dil_conv_3x3"}, {3, "avg_pool_3x3"}},
                            {{4, "skip_connect"}, {0, "sep_conv_3x3"}}});
  EXPECT_NE(DartsHash(a), DartsHash(c));
}

TEST(DartsCanonicalTest, EdgesOutOfAZeroNodeArePruned) {
  // Node 2 has only none inputs, so it is zero; node 3's edge from it is dead.
  const auto a = DartsArch({{{0, "none"}, {1, "none"}},
                            {{1, "sep_conv_3x3"}, {2, "sep_conv_5x5"}},
                            {{0, "skip_connect"}, {1, "max_pool_3x3"}},
                            {{0, "sep_conv_3x3"}, {1, "skip_connect"}}});
  const auto b = DartsArch({{{0, "none"}, {1, "none"}},
                            {{1, "sep_conv_3x3"}, {2, "none"}},
                            {{0, "skip_connect"}, {1, "max_pool_3x3"}},
                            {{0, "sep_conv_3x3"}, {1, "skip_connect"}}});
  EXPECT_EQ(DartsHash(a), DartsHash(b));
  ASSERT_OK_AND_ASSIGN(nas::v1::Architecture c, Canonicalize(Darts(), a));
  EXPECT_THAT(c.canonical(), HasSubstr("0,"));  // The zero node keeps its slot.
}

TEST(DartsSpaceTest, RejectsInvalidGenotypes) {
  const std::vector<std::vector<std::pair<int, std::string>>> bad_first_nodes = {
      {{0, "none"}, {0, "none"}},      // Two edges from the same node.
      {{0, "none"}, {3, "none"}},      // An input from a later node.
      {{0, "conv_7x7"}, {1, "none"}},  // An unknown op.
      {{0, "none"}},                   // Too few edges.
  };
  for (const auto& first : bad_first_nodes) {
    const auto arch = DartsArch({first,
                                 {{1, "none"}, {2, "none"}},
                                 {{0, "none"}, {1, "none"}},
                                 {{0, "none"}, {1, "none"}}});
    EXPECT_THAT(Canonicalize(Darts(), arch),
                StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST(DartsSpaceTest, RewireMovesOneInputAndKeepsItsOp) {
  std::unique_ptr<Space> space = MakeSpace(Darts());
  Rng rng(11);
  int rewires = 0;
  for (int i = 0; i < 300; ++i) {
    const Encoding parent = space->Sample(rng);
    const Encoding child = space->MutateOnce(parent, rng);
    int changed = 0;
    for (int d = 0; d < space->num_decisions(); ++d) changed += parent[d] != child[d];
    ASSERT_GE(changed, 1);
    // An op change touches one decision; a rewire the input set (and at most
    // the order of the two ops).
    ASSERT_LE(changed, 3);
    const nas::v1::Architecture a = space->ToArchitecture(parent);
    const nas::v1::Architecture b = space->ToArchitecture(child);
    for (int n = 0; n < 4; ++n) {
      const auto& na = a.cell().normal().nodes(n);
      const auto& nb = b.cell().normal().nodes(n);
      std::multiset<std::string> ops_a, ops_b;
      std::set<int> in_a, in_b;
      for (const auto& e : na.edges()) { ops_a.insert(e.op()); in_a.insert(e.input()); }
      for (const auto& e : nb.edges()) { ops_b.insert(e.op()); in_b.insert(e.input()); }
      if (in_a != in_b) {
        ++rewires;
        EXPECT_EQ(ops_a, ops_b);
        std::vector<int> common;
        std::set_intersection(in_a.begin(), in_a.end(), in_b.begin(), in_b.end(),
                              std::back_inserter(common));
        EXPECT_EQ(common.size(), 1u);
      }
    }
  }
  EXPECT_GT(rewires, 10);
}

TEST(ElasticSpaceTest, InactiveBlocksDoNotChangeTheHash) {
  std::unique_ptr<Space> space = MakeSpace(Elastic());
  Encoding e(space->num_decisions(), 0);  // Depth 2 everywhere.
  Encoding other = e;
  other[1 + 2 * 3] = 2;  // Expand ratio of block 4 of stage 0: inactive.
  EXPECT_FALSE(space->IsActive(e, 1 + 2 * 3));
  EXPECT_EQ(space->Hash(e), space->Hash(other));
  EXPECT_EQ(space->Minimal(other), e);
  other[1] = 1;  // Expand ratio of block 0: active.
  EXPECT_NE(space->Hash(e), space->Hash(other));
  const nas::v1::Architecture arch = space->ToArchitecture(e);
  EXPECT_EQ(arch.elastic().stages(0).depth(), 2);
  EXPECT_EQ(arch.elastic().stages(0).expand_ratios_size(), 2);
  EXPECT_DOUBLE_EQ(arch.elastic().width_multiplier(), 1.0);
  nas::v1::Architecture bad = arch;
  bad.mutable_elastic()->set_resolution(30);
  EXPECT_THAT(space->Encode(bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = arch;
  bad.mutable_elastic()->mutable_stages(1)->set_depth(3);
  EXPECT_THAT(space->Encode(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpaceTest, CreateRejectsBadSpecs) {
  nas::v1::SearchSpace s;
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s.mutable_nb201()->add_ops("conv_9x9");
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("search_space.nb201.ops")));
  s = Darts();
  s.mutable_darts()->set_nodes(9);
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("nodes")));
  s = Darts();
  s.mutable_darts()->set_inputs_per_node(3);
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument));
  s = Elastic();
  s.mutable_elastic()->mutable_stages(1)->add_kernel_sizes(4);
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("kernel_sizes")));
  s = Elastic();
  s.mutable_elastic()->clear_resolutions();
  EXPECT_THAT(Space::Create(s), StatusIs(absl::StatusCode::kInvalidArgument));
  // Found by tests/fuzz/arch_fuzz_test: Encode matches widths within 1e-9, so
  // two such widths made Encode(ToArchitecture(e)) another architecture.
  s = Elastic();
  s.mutable_elastic()->clear_width_multipliers();
  s.mutable_elastic()->add_width_multipliers(6.2e-25);
  s.mutable_elastic()->add_width_multipliers(7.7e-307);
  EXPECT_THAT(Space::Create(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("width_multipliers[1]: duplicates "
                                 "width_multipliers[0]")));
  s.mutable_elastic()->set_width_multipliers(1, 1.0);
  EXPECT_OK(Space::Create(s).status());
  // Found by the same fuzzer: a depth of millions took seconds per encoding.
  s = Elastic();
  s.mutable_elastic()->mutable_stages(0)->add_depths(5733631);
  EXPECT_THAT(Space::Create(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("depths: must be in 1..64")));
  s = Elastic();
  for (int r = 0; r < 1100; ++r) s.mutable_elastic()->add_resolutions(r + 1);
  EXPECT_THAT(Space::Create(s),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("at most 1024")));
}

TEST(SpaceTest, CustomOpListsAndOneInputPerNode) {
  nas::v1::SearchSpace s = Darts();
  s.mutable_darts()->add_ops("skip_connect");
  s.mutable_darts()->add_ops("sep_conv_3x3");
  s.mutable_darts()->set_nodes(2);
  s.mutable_darts()->set_inputs_per_node(1);
  std::unique_ptr<Space> space = MakeSpace(s);
  // Per cell: node 0 (2 inputs x 2 ops), node 1 (3 inputs x 2 ops).
  EXPECT_EQ(space->size(), uint64_t{4 * 6} * (4 * 6));
  Rng rng(1);
  const nas::v1::Architecture arch = space->ToArchitecture(space->Sample(rng));
  EXPECT_EQ(arch.cell().normal().nodes(1).edges_size(), 1);
}

TEST(RngTest, StateRestoresTheSequence) {
  Rng a(42);
  for (int i = 0; i < 10; ++i) a.Next();
  Rng b(0);
  b.set_state(a.state());
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a.Next(), b.Next());
  Rng c(43);
  EXPECT_NE(Rng(42).Next(), c.Next());
  for (int i = 0; i < 1000; ++i) {
    const int u = a.Uniform(7);
    ASSERT_GE(u, 0);
    ASSERT_LT(u, 7);
    const double x = a.UniformDouble();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

}  // namespace
}  // namespace nas::strategy
