#!/usr/bin/env bash
# Runs one libFuzzer binary as a Bazel test (see fuzz.bzl):
#
#   run_fuzzer.sh FUZZER SECONDS CORPUS_DIR REGRESSIONS_DIR [DICT]
#
# Every committed input (CORPUS_DIR, REGRESSIONS_DIR) runs first, then the
# fuzzer mutates for SECONDS seconds (NAS_FUZZ_SECONDS overrides; 0 only
# replays) with a fixed seed (NAS_FUZZ_SEED overrides). New interesting
# inputs go to a scratch directory, never to the source tree; a crashing
# input is saved under the test's undeclared outputs
# (bazel-testlogs/.../test.outputs/) to be committed as a regression.
set -euo pipefail

fuzzer=$1
seconds=${NAS_FUZZ_SECONDS:-$2}
corpus=$3
regressions=$4
dict=${5:-}

if [[ ! -d "$corpus" ]] || [[ -z "$(ls -A "$corpus")" ]]; then
  echo "run_fuzzer: no seed corpus in $corpus" >&2
  exit 1
fi
dirs=("$corpus")
[[ -d "$regressions" ]] && dirs+=("$regressions")

scratch=${TEST_TMPDIR:-$(mktemp -d)}/new_corpus
artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-${TEST_TMPDIR:-/tmp}}
mkdir -p "$scratch" "$artifacts"

flags=(
  -seed="${NAS_FUZZ_SEED:-1}"
  -timeout=10
  -rss_limit_mb=2048
  -max_len=8192
  -print_final_stats=1
  -artifact_prefix="$artifacts/"
)
[[ -n "$dict" ]] && flags+=(-dict="$dict")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [[ "$seconds" == 0 ]]; then
  exec "$fuzzer" "${flags[@]}" -runs=0 "${dirs[@]}"
fi
echo "run_fuzzer: $(basename "$fuzzer") for ${seconds}s over ${dirs[*]}"
exec "$fuzzer" "${flags[@]}" -max_total_time="$seconds" "$scratch" "${dirs[@]}"
