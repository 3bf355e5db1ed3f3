#!/bin/bash
# Multi-host run in network namespaces: PostgreSQL, the controller and three
# workers each in their own namespace, joined by veth pairs to a bridge in a
# hub namespace (192.168.77.0/24 exists only inside these namespaces; none is
# connected to the host's network). A table job runs with 3 s trials; one
# worker's link is cut mid-trial, its lease expires and the trial is leased
# again elsewhere; when the link comes back, the cut worker's late
# heartbeat/report is refused. Checks: the job completes exactly its budget
# (nasctl status and SQL), a lease expired, and the late report was refused
# (nas_stale_reports_total grew, the worker logged FAILED_PRECONDITION).
# Needs root (ip netns, runuser). Everything is removed on exit.
#
# Usage: netns_multihost_test.sh CONTROLLER WORKER NASCTL NB201_CSV
set -uo pipefail
source "$(dirname "$0")/lib.sh"

readonly CONTROLLER="$(abs "$1")" WORKER="$(abs "$2")" NASCTL="$(abs "$3")" CSV="$(abs "$4")"
readonly BUDGET=24 SUBNET=192.168.77
[[ "$(id -u)" == 0 ]] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "iproute2 (ip) is missing: run tools/setup.sh"
readonly PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
[[ -x "${PGBIN}/initdb" ]] || die "PostgreSQL is missing: run tools/setup.sh"

# Unique per run: Bazel may run several tests (or several runs) at once.
readonly RUN="$(printf '%x%04x' $$ $((RANDOM)))"
readonly HUB="nas-${RUN}-hub"
NAMESPACES=("${HUB}")
readonly TMP="${TEST_TMPDIR:?}/netns"
# PostgreSQL runs as `postgres`, which cannot enter the test's private tmpdir.
readonly PGDIR="$(mktemp -d /tmp/nas-netns-pg.XXXXXX)"
rm -rf "${TMP}" && mkdir -p "${TMP}"

cleanup() {
  cleanup_processes
  if [[ -f "${PGDIR}/data/postmaster.pid" ]]; then
    ip netns exec "nas-${RUN}-pg" runuser -u postgres -- \
      "${PGBIN}/pg_ctl" -D "${PGDIR}/data" -m immediate -w stop >/dev/null 2>&1 || true
    local pid
    pid="$(head -n 1 "${PGDIR}/data/postmaster.pid" 2>/dev/null)"
    [[ -n "${pid}" ]] && kill -KILL "${pid}" 2>/dev/null
  fi
  local ns
  for ns in "${NAMESPACES[@]}"; do
    # Whatever still runs inside (nothing should) goes with the namespace.
    local pids
    pids="$(ip netns pids "${ns}" 2>/dev/null)"
    [[ -n "${pids}" ]] && kill -KILL ${pids} 2>/dev/null
    ip netns del "${ns}" 2>/dev/null
  done
  rm -rf "${PGDIR}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- network: a bridge in the hub, one namespace per host --------------------
ip netns add "${HUB}" || die "cannot create network namespaces"
ip -n "${HUB}" link set lo up
ip -n "${HUB}" link add br0 type bridge
ip -n "${HUB}" link set br0 up

# add_host NAME LAST_OCTET: namespace nas-RUN-NAME with eth0 = SUBNET.LAST_OCTET.
add_host() {
  local ns="nas-${RUN}-$1"
  ip netns add "${ns}" || die "ip netns add ${ns}"
  NAMESPACES+=("${ns}")
  ip link add eth0 netns "${ns}" type veth peer name "p-$1" netns "${HUB}" ||
    die "veth for $1"
  ip -n "${HUB}" link set "p-$1" master br0 up
  ip -n "${ns}" link set lo up
  ip -n "${ns}" addr add "${SUBNET}.$2/24" dev eth0
  ip -n "${ns}" link set eth0 up
}
add_host pg 2
add_host ctl 3
for i in 1 2 3; do add_host "w${i}" $((10 + i)); done
in_ns() { local ns="nas-${RUN}-$1"; shift; ip netns exec "${ns}" "$@"; }

# --- PostgreSQL on SUBNET.2 --------------------------------------------------
chown postgres:postgres "${PGDIR}" && chmod 700 "${PGDIR}"
cd / || die "cd /"  # runuser keeps the cwd, which postgres cannot enter
runuser -u postgres -- "${PGBIN}/initdb" -D "${PGDIR}/data" -U postgres --auth=trust \
  -E UTF8 >"${TMP}/initdb.log" 2>&1 || die "initdb: $(tail -5 "${TMP}/initdb.log")"
cat >>"${PGDIR}/data/postgresql.conf" <<CONF
listen_addresses = '${SUBNET}.2'
port = 5432
unix_socket_directories = '${PGDIR}'
max_connections = 100
CONF
echo "host all all ${SUBNET}.0/24 trust" >>"${PGDIR}/data/pg_hba.conf"
in_ns pg runuser -u postgres -- "${PGBIN}/pg_ctl" -D "${PGDIR}/data" \
  -l "${PGDIR}/server.log" -w -t 60 start >/dev/null ||
  die "pg_ctl start: $(tail -5 "${PGDIR}/server.log")"
# Across the bridge: the controller's namespace reaches PostgreSQL's.
wait_for 30 "PostgreSQL to answer from the controller's namespace" \
  in_ns ctl "${PGBIN}/pg_isready" -h "${SUBNET}.2" -p 5432
sql() { in_ns ctl "${PGBIN}/psql" -h "${SUBNET}.2" -U postgres -d "$1" -tAc "$2"; }
sql postgres "CREATE DATABASE nas" >/dev/null || die "CREATE DATABASE failed"
log "PostgreSQL on ${SUBNET}.2:5432 (namespace nas-${RUN}-pg)"

# --- controller on SUBNET.3, three workers ----------------------------------
readonly CTL="${SUBNET}.3:50051" METRICS="http://${SUBNET}.3:9464/metrics"
ip netns exec "nas-${RUN}-ctl" "${CONTROLLER}" --listen="${CTL}" --metrics_listen="${SUBNET}.3:9464" \
  --store="postgresql://postgres@${SUBNET}.2:5432/nas" --lease_seconds=3 \
  >"${TMP}/controller.out" 2>"${TMP}/controller.err" &
track_pid $!
wait_for 60 "the controller" grep -q 'listening on port' "${TMP}/controller.out"

metric() {  # metric NAME: its value on the controller (0 if absent)
  in_ns ctl curl -sf "${METRICS}" | awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}
for i in 1 2 3; do
  # GLOG_v=1: the worker logs each lease ("leased trial N attempt A").
  ip netns exec "nas-${RUN}-w${i}" env GLOG_v=1 "${WORKER}" --controller="${CTL}" --device=cpu --threads=1 \
    --name="w${i}" >"${TMP}/w${i}.log" 2>&1 &
  track_pid $!
done

cat >"${TMP}/job.yaml" <<YAML
name: netns-job
search_space:
  nb201: {}
strategy:
  regularized_evolution: {population: 10, sample_size: 3}
  seed: 7
objectives:
  - {metric: cifar10_valid_12ep, direction: maximize}
evaluation:
  table:
    path: ${CSV}
    arch_column: arch
    simulated_seconds: 3
budget:
  max_trials: ${BUDGET}
YAML
nasctl() { in_ns ctl "${NASCTL}" --controller="${CTL}" "$@"; }
job="$(nasctl submit "${TMP}/job.yaml")" || die "nasctl submit failed"
log "job ${job} submitted"

# --- cut w3's link in the middle of a trial ----------------------------------
wait_for 60 "w3 to lease a trial" grep -q 'leased trial' "${TMP}/w3.log"
sleep 1
in_ns w3 ip link set eth0 down || die "cannot cut w3's link"
log "w3's link cut: $(grep 'leased trial' "${TMP}/w3.log" | tail -n 1)"
lease_expired() { (($(metric nas_lease_expirations_total | cut -d. -f1) >= 1)); }
wait_for 30 "w3's lease to expire" lease_expired
sleep 5  # w3 finishes its (now stale) trial while cut off
stale_before="$(metric nas_stale_reports_total)"
in_ns w3 ip link set eth0 up || die "cannot restore w3's link"
log "w3's link restored (stale reports so far: ${stale_before})"

stale_grew() { awk -v a="$(metric nas_stale_reports_total)" -v b="${stale_before}" 'BEGIN { exit !(a > b) }'; }
failures=0
if ! (wait_for 90 "the late report to be refused" stale_grew); then
  echo "FAIL: nas_stale_reports_total did not grow after w3's link returned" >&2
  failures=$((failures + 1))
fi
if ! (wait_for 30 "w3 to log the refusal" grep -q FAILED_PRECONDITION "${TMP}/w3.log"); then
  echo "FAIL: w3 never logged FAILED_PRECONDITION" >&2
  failures=$((failures + 1))
fi

# --- the job completes exactly its budget ------------------------------------
job_done() {
  nasctl status "${job}" --format csv >"${TMP}/status.csv" &&
    [[ "$(status_field state "${TMP}/status.csv")" == "succeeded" ]]
}
wait_for 120 "job ${job} to finish" job_done
completed="$(status_field completed "${TMP}/status.csv")"
succeeded_rows="$(sql nas "SELECT count(*) FROM trials WHERE job_id = '${job}' AND state = 4")"
active_rows="$(sql nas "SELECT count(*) FROM trials WHERE job_id = '${job}' AND state IN (1, 2, 3)")"
max_attempt="$(sql nas "SELECT max(attempt) FROM trials WHERE job_id = '${job}'")"
log "status: $(tr '\n' ' ' <"${TMP}/status.csv")"
log "SQL: ${succeeded_rows} succeeded, ${active_rows} active, max attempt ${max_attempt}"
log "lease expirations $(metric nas_lease_expirations_total), stale reports $(metric nas_stale_reports_total)"
[[ "${completed}" == "${BUDGET}" ]] || { echo "FAIL: nasctl status completed=${completed}, want ${BUDGET}" >&2; failures=$((failures + 1)); }
[[ "${succeeded_rows}" == "${BUDGET}" ]] || { echo "FAIL: ${succeeded_rows} SUCCEEDED rows, want ${BUDGET}" >&2; failures=$((failures + 1)); }
[[ "${active_rows}" == "0" ]] || { echo "FAIL: ${active_rows} trials still pending/leased/running" >&2; failures=$((failures + 1)); }
((${max_attempt:-0} >= 2)) || { echo "FAIL: no trial was leased again (max attempt ${max_attempt})" >&2; failures=$((failures + 1)); }

if ((failures > 0)); then
  echo "--- w3 log (tail)" >&2; tail -n 20 "${TMP}/w3.log" >&2
  echo "--- controller stderr (tail)" >&2; tail -n 20 "${TMP}/controller.err" >&2
  echo "${failures} check(s) failed" >&2
  exit 1
fi
echo "netns_multihost_test: ${BUDGET}/${BUDGET} trials, late report refused: ok"
