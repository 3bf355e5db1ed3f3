#include "common/task/darts_task.h"

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace nas::task {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

const std::vector<std::string> kOps = {"none", "skip_connect", "sep_conv_3x3",
                                       "max_pool_3x3"};

void AddEdge(nas::v1::CellNode* node, int input, const std::string& op) {
  nas::v1::CellEdge* edge = node->add_edges();
  edge->set_input(input);
  edge->set_op(op);
}

nas::v1::CellGenotype TwoNodeGenotype() {
  nas::v1::CellGenotype g;
  nas::v1::CellNode* n0 = g.mutable_normal()->add_nodes();
  AddEdge(n0, 0, "sep_conv_3x3");
  AddEdge(n0, 1, "skip_connect");
  nas::v1::CellNode* n1 = g.mutable_normal()->add_nodes();
  AddEdge(n1, 2, "max_pool_3x3");
  AddEdge(n1, 0, "sep_conv_3x3");
  nas::v1::CellNode* r0 = g.mutable_reduce()->add_nodes();
  AddEdge(r0, 1, "max_pool_3x3");
  AddEdge(r0, 0, "max_pool_3x3");
  nas::v1::CellNode* r1 = g.mutable_reduce()->add_nodes();
  AddEdge(r1, 2, "skip_connect");
  AddEdge(r1, 1, "sep_conv_3x3");
  return g;
}

TEST(DartsTaskTest, GenotypeRoundTripsThroughMetrics) {
  std::map<std::string, double> metrics = {{"accuracy", 0.5}};
  ASSERT_OK(EncodeDerivedGenotype(TwoNodeGenotype(), kOps, &metrics));
  EXPECT_EQ(metrics.at("derived_normal_n1_e0_input"), 2);
  EXPECT_EQ(metrics.at("derived_normal_n1_e0_op"), 3);
  ASSERT_OK_AND_ASSIGN(nas::v1::CellGenotype decoded,
                       DecodeDerivedGenotype(metrics, kOps));
  EXPECT_EQ(decoded.SerializeAsString(), TwoNodeGenotype().SerializeAsString());
}

TEST(DartsTaskTest, DecodeNamesTheBadMetric) {
  std::map<std::string, double> metrics;
  ASSERT_OK(EncodeDerivedGenotype(TwoNodeGenotype(), kOps, &metrics));
  metrics["derived_reduce_n0_e1_op"] = 9;
  EXPECT_THAT(DecodeDerivedGenotype(metrics, kOps),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("derived_reduce_n0_e1_op")));
  metrics["derived_reduce_n0_e1_op"] = 1;
  metrics["derived_normal_n0_e0_input"] = 2;  // node 0 reads only 0 and 1
  EXPECT_THAT(DecodeDerivedGenotype(metrics, kOps),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("derived_normal_n0_e0_input")));
  EXPECT_THAT(DecodeDerivedGenotype({{"accuracy", 1}}, kOps),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a DARTS search result")));
}

TEST(DartsTaskTest, EncodeRefusesAnOpOutsideTheList) {
  nas::v1::CellGenotype g = TwoNodeGenotype();
  g.mutable_normal()->mutable_nodes(0)->mutable_edges(0)->set_op("conv_9x9");
  std::map<std::string, double> metrics;
  EXPECT_THAT(EncodeDerivedGenotype(g, kOps, &metrics),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("normal.nodes[0].edges[0].op")));
}

TEST(DartsTaskTest, ConfigCarriesOneLatencyWeight) {
  nas::v1::Darts darts;
  darts.set_search_epochs(3);
  darts.set_unrolled(true);
  darts.set_max_skips(0);
  darts.add_latency_weights(0);
  darts.add_latency_weights(0.5);
  ASSERT_OK_AND_ASSIGN(nas::v1::Darts parsed,
                       ParseDartsSearchConfig(DartsSearchConfig(darts, 0.5)));
  EXPECT_EQ(parsed.search_epochs(), 3);
  EXPECT_TRUE(parsed.unrolled());
  EXPECT_TRUE(parsed.has_max_skips());
  EXPECT_EQ(parsed.max_skips(), 0);
  ASSERT_EQ(parsed.latency_weights_size(), 1);
  EXPECT_EQ(parsed.latency_weights(0), 0.5);
  EXPECT_THAT(ParseDartsSearchConfig("{\"searchEpochs\": 2}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config.latency_weights")));
  EXPECT_THAT(ParseDartsSearchConfig("not json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("task_config")));
}

}  // namespace
}  // namespace nas::task
