// Test fixtures: small search spaces and architectures of every kind.
//
// Header-only, testonly. Each function returns a fresh proto (no shared state).
#ifndef NAS_WORKER_MODEL_TEST_ARCHITECTURES_H_
#define NAS_WORKER_MODEL_TEST_ARCHITECTURES_H_

#include <string>

#include "glog/logging.h"
#include "google/protobuf/text_format.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::worker::testing {

template <typename Proto>
Proto ParseText(const std::string& text) {
  Proto proto;
  CHECK(google::protobuf::TextFormat::ParseFromString(text, &proto)) << text;
  return proto;
}

// DARTS space: 3 cells (reductions at 1 and 2), 4 channels.
inline nas::v1::SearchSpace TinyDartsSpace() {
  return ParseText<nas::v1::SearchSpace>(
      "darts { nodes: 4 cells: 3 init_channels: 4 reduction_positions: 1 "
      "reduction_positions: 2 }");
}

// A DARTS genotype that uses every op in both cell kinds.
inline nas::v1::Architecture AllOpsDartsArchitecture() {
  const std::string cell =
      "nodes { edges { input: 0 op: 'sep_conv_3x3' } edges { input: 1 op: "
      "'sep_conv_5x5' } }"
      "nodes { edges { input: 0 op: 'dil_conv_3x3' } edges { input: 1 op: "
      "'dil_conv_5x5' } }"
      "nodes { edges { input: 0 op: 'skip_connect' } edges { input: 2 op: "
      "'max_pool_3x3' } }"
      "nodes { edges { input: 1 op: 'avg_pool_3x3' } edges { input: 3 op: "
      "'none' } "
      "        edges { input: 1 op: 'none' } edges { input: 4 op: "
      "'sep_conv_3x3' } }";
  return ParseText<nas::v1::Architecture>("cell { normal { " + cell +
                                          " } reduce { " + cell + " } }");
}

inline nas::v1::SearchSpace TinyNb201Space() {
  return ParseText<nas::v1::SearchSpace>(
      "nb201 { cells_per_stage: 1 init_channels: 4 }");
}

// NB201 cell from three lists of (op, input) for nodes 1, 2 and 3.
inline nas::v1::Architecture Nb201Architecture(const std::string& node1,
                                               const std::string& node2,
                                               const std::string& node3) {
  return ParseText<nas::v1::Architecture>("cell { normal { nodes {" + node1 +
                                          "} nodes {" + node2 + "} nodes {" +
                                          node3 + "} } }");
}

// |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|
inline nas::v1::Architecture Nb201Index1Architecture() {
  return Nb201Architecture("edges { input: 0 op: 'nor_conv_3x3' }",
                           "edges { input: 0 op: 'nor_conv_3x3' } edges { "
                           "input: 1 op: 'avg_pool_3x3' }",
                           "edges { input: 0 op: 'skip_connect' } edges { "
                           "input: 1 op: 'nor_conv_3x3' }"
                           "edges { input: 2 op: 'skip_connect' }");
}

inline nas::v1::SearchSpace TinyElasticSpace() {
  return ParseText<nas::v1::SearchSpace>(
      "elastic { stem_channels: 4 resolutions: 24 resolutions: 28 "
      "stages { channels: 4 stride: 1 depths: 1 depths: 2 expand_ratios: 1 "
      "         expand_ratios: 3 kernel_sizes: 3 kernel_sizes: 5 }"
      "stages { channels: 8 stride: 2 depths: 1 depths: 2 expand_ratios: 3 "
      "         expand_ratios: 6 kernel_sizes: 3 kernel_sizes: 5 } }");
}

inline nas::v1::Architecture TinyElasticArchitecture() {
  return ParseText<nas::v1::Architecture>(
      "elastic { resolution: 24 width_multiplier: 1.0 "
      "stages { depth: 2 expand_ratios: 1 expand_ratios: 3 kernel_sizes: 3 "
      "kernel_sizes: 5 }"
      "stages { depth: 2 expand_ratios: 6 expand_ratios: 3 kernel_sizes: 5 "
      "kernel_sizes: 3 } }");
}

}  // namespace nas::worker::testing

#endif  // NAS_WORKER_MODEL_TEST_ARCHITECTURES_H_
