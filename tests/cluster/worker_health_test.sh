#!/bin/bash
# nas-worker's endpoints, with the real binaries: grpc.health.v1 on
# --health_listen and /metrics + /healthz on --metrics_listen (both port 0).
#
#   1. the controller's health service says SERVING (whole server and
#      nas.v1.WorkerService) and its /metrics answers;
#   2. a worker says SERVING once its loop runs; its /metrics carries the
#      nas_worker_* families, /healthz is 200, other paths 404;
#   3. draining: with the worker mid-trial and the controller frozen
#      (SIGSTOP, so the hand-back cannot finish), SIGTERM turns the worker's
#      health NOT_SERVING (and /healthz 503) while the process still runs;
#      after SIGCONT it hands the trial back and exits 0;
#   4. a busy --health_listen / --metrics_listen port stops the worker at
#      start with exit status 2 and a message naming the flag.
#
# Usage: worker_health_test.sh CONTROLLER WORKER NASCTL NB201_CSV HEALTH_CHECK
set -uo pipefail
source "$(dirname "$0")/lib.sh"

readonly CONTROLLER="$(abs "$1")" WORKER="$(abs "$2")" NASCTL="$(abs "$3")" \
  CSV="$(abs "$4")" HEALTH_CHECK="$(abs "$5")"
readonly TMP="${TEST_TMPDIR:?}/workerhealth"
rm -rf "${TMP}" && mkdir -p "${TMP}"
CONTROLLER_PID=""
on_exit() {
  # A frozen controller would ignore SIGTERM.
  [[ -n "${CONTROLLER_PID}" ]] && kill -CONT "${CONTROLLER_PID}" 2>/dev/null
  cleanup_processes
}
trap on_exit EXIT
trap 'exit 1' INT TERM

# health ADDRESS [SERVICE]: the status name, or the client's error line
# ("grpc_health_check ADDRESS: UNAVAILABLE: ..."); never fails.
health() { "${HEALTH_CHECK}" "$@" 2>&1 | tail -n 1; }
http_code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
# log_port FILE PATTERN: the number after PATTERN in FILE (last match).
log_port() { sed -n "s|.*$2\([0-9][0-9]*\).*|\1|p" "$1" | tail -n 1; }

# --- 1. controller ------------------------------------------------------------
"${CONTROLLER}" --listen=127.0.0.1:0 --store="sqlite://${TMP}/nas.db" \
  --metrics_listen=127.0.0.1:0 --lease_seconds=60 \
  >"${TMP}/controller.out" 2>"${TMP}/controller.err" &
CONTROLLER_PID=$!
track_pid "${CONTROLLER_PID}"
wait_for 30 "the controller's port" grep -q 'listening on port' "${TMP}/controller.out"
readonly GRPC="127.0.0.1:$(log_port "${TMP}/controller.out" 'listening on port ')"
wait_for 10 "the controller's metrics port" grep -q 'metrics on port' "${TMP}/controller.err"
readonly CONTROLLER_METRICS="http://127.0.0.1:$(log_port "${TMP}/controller.err" 'metrics on port ')"
[[ "$(health "${GRPC}")" == SERVING ]] || die "controller health: $(health "${GRPC}")"
[[ "$(health "${GRPC}" nas.v1.WorkerService)" == SERVING ]] ||
  die "controller nas.v1.WorkerService health: $(health "${GRPC}" nas.v1.WorkerService)"
curl -sf "${CONTROLLER_METRICS}/metrics" | grep -q '^nas_pending_trials ' ||
  die "the controller's /metrics has no nas_pending_trials"
log "controller ${GRPC}: health SERVING, metrics at ${CONTROLLER_METRICS}"

# --- 2. worker: SERVING, metrics ----------------------------------------------
# GLOG_v=1: the worker logs each lease ("leased trial N attempt A").
GLOG_v=1 "${WORKER}" --controller="${GRPC}" --device=cpu --threads=1 --name=w1 \
  --health_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 >"${TMP}/worker.log" 2>&1 &
readonly WORKER_PID=$!
track_pid "${WORKER_PID}"
wait_for 60 "the worker's health port" grep -q 'gRPC health (grpc.health.v1) on' "${TMP}/worker.log"
readonly HEALTH="127.0.0.1:$(log_port "${TMP}/worker.log" 'grpc.health.v1) on 127.0.0.1:')"
readonly METRICS="http://127.0.0.1:$(log_port "${TMP}/worker.log" 'metrics on http://127.0.0.1:')"
worker_serving() { [[ "$(health "${HEALTH}")" == SERVING ]]; }
wait_for 60 "worker health SERVING" worker_serving
curl -sf "${METRICS}/metrics" >"${TMP}/worker.metrics" || die "GET ${METRICS}/metrics failed"
for family in nas_worker_trials_total nas_worker_images_per_second \
  nas_worker_busy_seconds_total nas_worker_idle_seconds_total; do
  grep -q "^# TYPE ${family} " "${TMP}/worker.metrics" || die "worker /metrics lacks ${family}"
done
grep -q '^nas_worker_trials_total{outcome="completed"} 0' "${TMP}/worker.metrics" ||
  die "worker /metrics: unexpected trials counter: $(grep trials_total "${TMP}/worker.metrics")"
[[ "$(http_code "${METRICS}/healthz")" == 200 ]] || die "worker /healthz: $(http_code "${METRICS}/healthz")"
[[ "$(http_code "${METRICS}/nope")" == 404 ]] || die "worker /nope: $(http_code "${METRICS}/nope")"
log "worker: health ${HEALTH} SERVING, ${METRICS}/metrics has the 4 nas_worker_* families"

# --- 3. draining ----------------------------------------------------------------
cat >"${TMP}/job.yaml" <<YAML
name: drain-job
search_space:
  nb201: {}
strategy:
  random: {}
  seed: 1
objectives:
  - {metric: cifar10_valid_12ep, direction: maximize}
evaluation:
  table:
    path: ${CSV}
    metric_columns: [cifar10_valid_12ep]
    simulated_seconds: 600
budget:
  max_trials: 2
YAML
job="$("${NASCTL}" --controller="${GRPC}" submit "${TMP}/job.yaml")" || die "nasctl submit failed"
wait_for 60 "the worker to lease a trial" grep -q 'leased trial' "${TMP}/worker.log"
kill -STOP "${CONTROLLER_PID}"
kill -TERM "${WORKER_PID}"
worker_not_serving() { [[ "$(health "${HEALTH}")" == NOT_SERVING ]]; }
wait_for 20 "worker health NOT_SERVING after SIGTERM" worker_not_serving
kill -0 "${WORKER_PID}" 2>/dev/null || die "the worker exited instead of draining"
[[ "$(http_code "${METRICS}/healthz")" == 503 ]] ||
  die "worker /healthz while draining: $(http_code "${METRICS}/healthz")"
log "worker draining (controller frozen): health NOT_SERVING, /healthz 503"
kill -CONT "${CONTROLLER_PID}"
worker_gone() { ! kill -0 "${WORKER_PID}" 2>/dev/null; }
wait_for 60 "the worker to exit after handing its trial back" worker_gone
wait "${WORKER_PID}"
status=$?
[[ "${status}" == 0 ]] || die "the worker exited with ${status}: $(tail -n 3 "${TMP}/worker.log")"
grep -q 'failed (preempted)' "${TMP}/worker.log" || die "the worker did not hand its trial back"
[[ "$(health "${HEALTH}")" == *UNAVAILABLE* ]] || die "health still answers after exit: $(health "${HEALTH}")"
"${NASCTL}" --controller="${GRPC}" status "${job}" --format csv >"${TMP}/status.csv" ||
  die "nasctl status failed"
[[ "$(status_field running "${TMP}/status.csv")" == 0 ]] ||
  die "a trial is still leased after the hand-back: $(tr '\n' ' ' <"${TMP}/status.csv")"
log "worker handed its trial back and exited 0: $(tr '\n' ' ' <"${TMP}/status.csv")"

# --- 4. busy ports are clear errors ---------------------------------------------
for flag in health_listen metrics_listen; do
  "${WORKER}" --controller="${GRPC}" --device=cpu --threads=1 \
    --"${flag}=${GRPC}" >"${TMP}/busy.log" 2>&1 &
  pid=$!
  track_pid "${pid}"
  wait "${pid}"
  status=$?
  [[ "${status}" == 2 ]] || die "--${flag} on a busy port: exit ${status}, want 2"
  grep -q -- "--${flag}: cannot" "${TMP}/busy.log" ||
    die "--${flag} on a busy port: $(tail -n 2 "${TMP}/busy.log")"
done
log "busy ports: the worker exits 2 naming the flag"
echo "worker_health_test: ok"
