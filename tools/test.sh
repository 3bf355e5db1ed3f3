#!/usr/bin/env bash
# The test command (README): installs what is needed, starts a private
# PostgreSQL 15 on loopback, runs every test with Bazel, stops what it
# started, and returns the tests' status.
#
#   tools/test.sh [extra bazel test args...]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh

tmp=$(mktemp -d /tmp/nas-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  bash tools/pg.sh stop "$tmp/pg" || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "test: starting a private PostgreSQL"
eval "$(bash tools/pg.sh start "$tmp/pg")"
export NAS_TEST_PG_ADMIN_DSN
export NAS_REQUIRE_PG=1

echo "test: bazel test //..."
status=0
bazel test //... "$@" 2>&1 | tee "$tmp/bazel.log" || status=$?
# A plain summary line any CI reads: "N passed, N failed".
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$tmp/bazel.log" || true)
failed=$(grep -cE '^//[^ ]+ +(FAILED|TIMEOUT|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$tmp/bazel.log" || true)
echo "${passed} passed, ${failed} failed"
# Bazel's server is not a test process; leave nothing of ours running.
bazel shutdown >/dev/null 2>&1 || true
exit $status
