# Helpers of the process-level security tests (sourced, not run). Paths are
# relative to the runfiles root of the test (the Bazel test's cwd).
#
#   start_controller ARGS...   starts nas-controller --listen=127.0.0.1:0 ARGS,
#                              sets CONTROLLER_PID and CONTROLLER_PORT
#   run_table_job NAME TRIALS NASCTL_ARGS -- WORKER_ARGS
#                              submits a NAS-Bench-201 table job with nasctl,
#                              runs one nas-worker until the job ends, sets JOB
#   fail MESSAGE               prints and exits 1
# Every process started here is killed when the test exits.
set -euo pipefail

CONTROLLER=controller/service/nas-controller
NASCTL=cli/nasctl
WORKER=worker/nas-worker
TABLE=$PWD/data/nb201/nb201_cifar10.csv
WORK=${TEST_TMPDIR:-$(mktemp -d)}
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

start_controller() {
  local out=$WORK/controller.$RANDOM
  "$CONTROLLER" --listen=127.0.0.1:0 --metrics_listen= "$@" >"$out.out" 2>"$out.err" &
  CONTROLLER_PID=$!
  PIDS+=("$CONTROLLER_PID")
  for _ in $(seq 1 300); do
    if grep -q "listening on port" "$out.out" 2>/dev/null; then
      CONTROLLER_PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$out.out" | head -1)
      return 0
    fi
    kill -0 "$CONTROLLER_PID" 2>/dev/null || { cat "$out.err" >&2; fail "controller exited"; }
    sleep 0.1
  done
  cat "$out.err" >&2
  fail "controller did not start"
}

write_spec() {  # write_spec FILE NAME TRIALS
  cat >"$1" <<SPEC
name: $2
search_space: {nb201: {}}
strategy: {random: {}, seed: 3}
objectives: [{metric: cifar10_valid_12ep, direction: maximize}]
evaluation: {table: {path: $TABLE, simulated_seconds: 0}}
budget: {max_trials: $3}
SPEC
}

run_table_job() {
  local name=$1 trials=$2
  shift 2
  local nasctl_args=() worker_args=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do nasctl_args+=("$1"); shift; done
  [[ $# -gt 0 ]] && shift
  worker_args=("$@")
  write_spec "$WORK/$name.yaml" "$name" "$trials"
  JOB=$("$NASCTL" "${nasctl_args[@]}" submit "$WORK/$name.yaml") || fail "nasctl submit"
  [[ -n "$JOB" ]] || fail "nasctl submit printed no job id"
  "$WORKER" "${worker_args[@]}" --threads=1 --name="$name-worker" \
    >"$WORK/$name.worker.log" 2>&1 &
  local worker_pid=$!
  PIDS+=("$worker_pid")
  if ! timeout 120 "$NASCTL" "${nasctl_args[@]}" watch "$JOB" >"$WORK/$name.watch" 2>&1; then
    cat "$WORK/$name.watch" "$WORK/$name.worker.log" >&2
    fail "job $JOB did not succeed"
  fi
  kill "$worker_pid" 2>/dev/null || true
}
