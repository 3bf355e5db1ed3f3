// Search spaces for the strategy layer: the NAS-Bench-201 cell space, the
// DARTS cell space and the elastic MobileNet-style space.
//
// A `Space` maps every architecture to a compact `Encoding`: one small integer
// per independent decision (an edge's op, a node's set of inputs, a stage's
// depth, ...). Every decision value is valid whatever the others are, so
// uniform sampling, mutation and crossover produce valid architectures by
// construction. The Space also converts encodings to and from the API's
// `nas::v1::Architecture` and computes the canonical string and hash that
// make isomorphic architectures equal (see Canonical() for the rules).
//
// Thread-safety: a Space is immutable after Create(); its const methods may be
// called concurrently (the Rng passed in must not be shared).
#ifndef NAS_CONTROLLER_STRATEGY_SPACE_H_
#define NAS_CONTROLLER_STRATEGY_SPACE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/strategy/rng.h"
#include "proto/nas/v1/architecture.pb.h"
#include "proto/nas/v1/search_space.pb.h"

namespace nas::strategy {

// One value per decision of a Space, each in [0, cardinality(decision)).
using Encoding = std::vector<int16_t>;

class Space {
 public:
  // Validates `spec` (applying the proto's documented defaults) and builds
  // the space. kInvalidArgument names the offending field.
  static absl::StatusOr<std::unique_ptr<Space>> Create(
      const nas::v1::SearchSpace& spec);

  virtual ~Space() = default;

  // "nb201", "darts" or "elastic".
  virtual absl::string_view kind() const = 0;

  int num_decisions() const { return static_cast<int>(cardinality_.size()); }
  int cardinality(int decision) const { return cardinality_[decision]; }

  // Number of encodings (product of cardinalities), or 0 when above 2^40.
  uint64_t size() const { return size_; }
  // The encoding with mixed-radix index `index` < size().
  Encoding Decode(uint64_t index) const;

  // Whether `decision` influences the architecture given the other values
  // (elastic blocks beyond the stage's depth do not). Cell decisions always do.
  virtual bool IsActive(const Encoding& e, int decision) const { return true; }

  // Uniform over the encodings (each decision uniform and independent).
  Encoding Sample(Rng& rng) const;
  // Applies MutateOnce() until the child differs from `parent` beyond pruned
  // edges (neutral mutations accumulate, as hidden genetic drift), at most
  // 8 times.
  Encoding Mutate(const Encoding& parent, Rng& rng) const;
  // Changes exactly one active decision to a different value: for cell spaces
  // either an op change or an input rewire (one input of a node is moved to a
  // different earlier node), as in Real et al. 2019. Returns `parent`
  // unchanged only when no decision has a second value.
  virtual Encoding MutateOnce(const Encoding& parent, Rng& rng) const;
  // Uniform crossover: each decision from `a` or `b` with probability 1/2.
  Encoding Crossover(const Encoding& a, const Encoding& b, Rng& rng) const;

  // The simplest member of e's equivalence class: pruned edges (see
  // Canonical()) set to `none` when the op list has it, inactive decisions
  // set to 0. Same Canonical() as `e`; strategies suggest this form, which
  // wastes no training or inference time on dead edges.
  virtual Encoding Minimal(const Encoding& e) const { return e; }

  // Canonical string: equal for architectures that compute the same function
  // up to relabeling of nodes, order of a node's inputs and pruned edges.
  virtual std::string Canonical(const Encoding& e) const = 0;
  // 64-bit fingerprint of Canonical(e).
  uint64_t Hash(const Encoding& e) const;

  // The genotype with `canonical` and `hash` filled in.
  nas::v1::Architecture ToArchitecture(const Encoding& e) const;
  // The same, reusing `canonical` == Canonical(e) computed by the caller.
  nas::v1::Architecture ToArchitecture(const Encoding& e,
                                       std::string canonical) const;
  // Parses a genotype of this space (ignores `canonical` and `hash`);
  // kInvalidArgument when it is not a member of the space.
  virtual absl::StatusOr<Encoding> Encode(
      const nas::v1::Architecture& arch) const = 0;

 protected:
  // Subclasses call this once from their constructor / factory.
  void SetCardinalities(std::vector<int> cardinality);
  // A uniformly chosen active decision with two or more values, or -1.
  int PickMutableDecision(const Encoding& e, Rng& rng) const;
  // `parent` with decision `d` set to a different uniformly chosen value.
  Encoding ChangeDecision(const Encoding& parent, int d, Rng& rng) const;
  // The genotype without canonical/hash.
  virtual void FillGenotype(const Encoding& e,
                            nas::v1::Architecture* arch) const = 0;

 private:
  std::vector<int> cardinality_;
  uint64_t size_ = 0;
};

// Stable 64-bit fingerprint of a string (FNV-1a with a murmur finalizer);
// identical across processes and builds.
uint64_t Fingerprint(absl::string_view s);
// 16 lowercase hex digits.
std::string HashToHex(uint64_t h);

// The architecture with `canonical` and `hash` (re)computed for `space`;
// kInvalidArgument when `arch` is not in the space. Used by the cross-job
// result cache.
absl::StatusOr<nas::v1::Architecture> Canonicalize(
    const nas::v1::SearchSpace& space, const nas::v1::Architecture& arch);

// NAS-Bench-201 arch string of a cell genotype, e.g.
// "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
// (edges into nodes 1, 2, 3; op~i is the op on the edge from node i).
// kInvalidArgument unless every edge i->j (i < j <= 3) appears exactly once.
absl::StatusOr<std::string> Nb201ArchString(const nas::v1::CellGenotype& cell);
// The inverse of Nb201ArchString (op names are not checked against a space).
absl::StatusOr<nas::v1::CellGenotype> ParseNb201ArchString(absl::string_view s);

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_SPACE_H_
