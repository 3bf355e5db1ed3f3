// Test helper: the NAS-Bench-201 CIFAR-10 table (//data:nb201) as a map from
// NB201 arch string to metrics, and the genotype -> arch string conversion
// (`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: normal-cell node k is NB201 node
// k + 1, its edges ordered by input). Only as much of a table worker as the
// suites here need; real workers use worker/'s table evaluator.
//
// Pure functions; thread-safe. The returned table is owned by the caller.
#ifndef NAS_TESTS_NB201_TABLE_H_
#define NAS_TESTS_NB201_TABLE_H_

#include <map>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "proto/nas/v1/architecture.pb.h"

namespace nas::testing {

// The table's path relative to the runfiles root.
inline constexpr char kNb201Table[] = "data/nb201/nb201_cifar10.csv";

using Nb201Table =
    absl::flat_hash_map<std::string, std::map<std::string, double>>;

// Every numeric column of every row, keyed by the `arch` column; empty when
// the file cannot be read.
Nb201Table LoadNb201Table(const std::string& path = kNb201Table);

std::string Nb201String(const nas::v1::Architecture& arch);

}  // namespace nas::testing

#endif  // NAS_TESTS_NB201_TABLE_H_
