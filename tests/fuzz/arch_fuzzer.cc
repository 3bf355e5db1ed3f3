// Fuzz target: architecture parsing (controller/strategy/space.h) and the
// task configurations a worker parses from its lease (common/task/).
//
// The first byte picks what the rest of the input is:
//   0  a NAS-Bench-201 arch string ("|nor_conv_3x3~0|+|...|"):
//      ParseNb201ArchString, then Nb201ArchString must give a string that
//      parses to the same cell;
//   1  u16 little-endian n, n bytes of a binary nas.v1.SearchSpace, then a
//      binary nas.v1.Architecture: Space::Create, Space::Encode (what the
//      controller runs on a reported or cached genotype) and Canonicalize; an
//      encodable architecture must round-trip through ToArchitecture with the
//      same canonical string and hash;
//   2  u16 n, a SearchSpace, then a u64 index: the architecture Decode(index)
//      must round-trip through ToArchitecture and Encode, and Minimal() must
//      keep the canonical string;
//   3  a lease's task_config JSON: ParseDartsSearchConfig and
//      ParseScaledTrainConfig.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "common/task/compound_scaling_task.h"
#include "common/task/darts_task.h"
#include "controller/strategy/space.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace {

using nas::strategy::Encoding;
using nas::strategy::Space;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

void FuzzArchString(absl::string_view text) {
  auto cell = nas::strategy::ParseNb201ArchString(text);
  if (!cell.ok()) return;
  auto again = nas::strategy::Nb201ArchString(*cell);
  Check(again.ok(), "a parsed arch string cannot be written back");
  auto reparsed = nas::strategy::ParseNb201ArchString(*again);
  Check(reparsed.ok(), "a written arch string does not parse");
  Check(reparsed->SerializeAsString() == cell->SerializeAsString(),
        "arch string round trip changed the cell");
}

// Splits "u16 n, n bytes, rest" and builds the space; nullptr when invalid.
std::unique_ptr<Space> ReadSpace(absl::string_view* input) {
  if (input->size() < 2) return nullptr;
  const size_t n = static_cast<uint8_t>((*input)[0]) |
                   (static_cast<uint8_t>((*input)[1]) << 8);
  input->remove_prefix(2);
  if (n > input->size()) return nullptr;
  nas::v1::SearchSpace spec;
  if (!spec.ParseFromArray(input->data(), static_cast<int>(n))) return nullptr;
  input->remove_prefix(n);
  auto space = Space::Create(spec);
  if (!space.ok()) return nullptr;
  // Canonicalize must agree with the space on every architecture below.
  return *std::move(space);
}

void CheckRoundTrip(const Space& space, const Encoding& e) {
  const nas::v1::Architecture arch = space.ToArchitecture(e);
  auto encoded = space.Encode(arch);
  Check(encoded.ok(), "ToArchitecture gives an architecture Encode refuses");
  Check(space.Canonical(*encoded) == arch.canonical(),
        "Encode(ToArchitecture(e)) has another canonical string");
  Check(space.Canonical(space.Minimal(e)) == arch.canonical(),
        "Minimal() changed the canonical string");
  Check(space.Hash(e) == nas::strategy::Fingerprint(arch.canonical()),
        "Hash is not the fingerprint of the canonical string");
}

void FuzzEncode(absl::string_view input) {
  std::unique_ptr<Space> space = ReadSpace(&input);
  if (space == nullptr) return;
  nas::v1::Architecture arch;
  if (!arch.ParseFromArray(input.data(), static_cast<int>(input.size()))) {
    return;
  }
  auto e = space->Encode(arch);
  if (!e.ok()) return;
  Check(static_cast<int>(e->size()) == space->num_decisions(),
        "an encoding of the wrong length");
  for (int d = 0; d < space->num_decisions(); ++d) {
    Check((*e)[d] >= 0 && (*e)[d] < space->cardinality(d),
          "an encoded decision out of range");
  }
  CheckRoundTrip(*space, *e);
}

void FuzzDecode(absl::string_view input) {
  std::unique_ptr<Space> space = ReadSpace(&input);
  if (space == nullptr || space->size() == 0) return;
  uint64_t index = 0;
  std::memcpy(&index, input.data(), std::min<size_t>(input.size(), 8));
  CheckRoundTrip(*space, space->Decode(index % space->size()));
}

void FuzzTaskConfig(absl::string_view json) {
  auto darts = nas::task::ParseDartsSearchConfig(json);
  if (darts.ok()) Check(darts->latency_weights_size() == 1, "latency weights");
  auto scaled = nas::task::ParseScaledTrainConfig(json);
  if (scaled.ok()) {
    auto again =
        nas::task::ParseScaledTrainConfig(ScaledTrainConfigJson(*scaled));
    Check(again.ok(), "a written scaled_train config does not parse");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzArchString(rest);
      break;
    case 1:
      FuzzEncode(rest);
      break;
    case 2:
      FuzzDecode(rest);
      break;
    case 3:
      FuzzTaskConfig(rest);
      break;
  }
  return 0;
}
