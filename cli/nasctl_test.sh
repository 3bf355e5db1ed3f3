#!/bin/bash
# Runs the nasctl binary on valid and invalid specs and checks exit codes and
# output. Usage: nasctl_test.sh NASCTL QUICKSTART_SPEC TABLE_SPEC
set -u

readonly NASCTL="$1" QUICKSTART="$2" TABLE="$3"
readonly OUT="${TEST_TMPDIR}/out" ERR="${TEST_TMPDIR}/err"
failures=0

fail() {
  echo "FAIL: $*" >&2
  echo "  stdout: $(cat "${OUT}")" >&2
  echo "  stderr: $(cat "${ERR}")" >&2
  failures=$((failures + 1))
}

# run WANT_EXIT ARGS...: runs nasctl, checks its exit code.
run() {
  local want="$1"
  shift
  "${NASCTL}" "$@" >"${OUT}" 2>"${ERR}"
  local got=$?
  [[ "${got}" == "${want}" ]] || fail "nasctl $* exited ${got}, want ${want}"
}

# expect_file FILE EXPECTED: FILE holds exactly EXPECTED (plus a newline).
expect_file() {
  [[ "$(cat "$1")" == "$2" ]] || fail "$(basename "$1") is not: $2"
}

# A valid spec: the summary on stdout, nothing on stderr.
run 0 validate "${QUICKSTART}"
expect_file "${OUT}" 'ok: job "quickstart": regularized_evolution(population=20, sample=5) over darts cells (8 ops, 4 nodes), 1 objective (accuracy max), train fashion_mnist 1 epoch, budget 40 trials'
expect_file "${ERR}" ''

# Its table path is resolved against the spec's directory.
run 0 --controller=example:1 validate "${TABLE}"
grep -q '^ok: job "nb201-table"' "${OUT}" || fail "table spec summary"

# An invalid spec: each error on its own line on stderr, exit 2.
readonly BAD="${TEST_TMPDIR}/bad.yaml"
cat >"${BAD}" <<'YAML'
name: bad
search_space: {nb201: {}}
strategy: {regularized_evolution: {populaton: 50, sample_size: 60}}
objectives: [{metric: acc, direction: up}]
evaluation: {train: {dataset: fashion_mnist}}
budget: {max_trials: ten}
YAML
run 2 validate "${BAD}"
expect_file "${OUT}" ''
expect_file "${ERR}" 'strategy.regularized_evolution.populaton: unknown field (did you mean "population"?)
objectives[0].direction: unknown value "up" (one of: maximize, minimize)
budget.max_trials: expected an integer, got "ten"
strategy.regularized_evolution.sample_size: must be <= population (got 60 > 50)'

run 2 validate "${TEST_TMPDIR}/missing.yaml"
grep -q 'cannot read' "${ERR}" || fail "missing spec message"

# Misuse: usage on stderr, exit 2.
run 2
grep -q '^usage: nasctl' "${ERR}" || fail "usage without a verb"
run 2 frobnicate
grep -q 'unknown verb "frobnicate"' "${ERR}" || fail "unknown verb message"
run 2 validate
expect_file "${ERR}" 'usage: nasctl validate SPEC'
run 2 validate a.yaml b.yaml
run 2 --no_such_flag validate "${QUICKSTART}"
grep -q 'unknown flag --no_such_flag' "${ERR}" || fail "unknown flag message"

# Help: usage on stdout, exit 0.
run 0 help
grep -q '^  validate SPEC' "${OUT}" || fail "help lists validate"
run 0 help validate
run 2 help frobnicate

if ((failures > 0)); then
  echo "${failures} check(s) failed" >&2
  exit 1
fi
echo "PASS"
