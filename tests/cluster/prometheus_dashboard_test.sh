#!/bin/bash
# A real Prometheus (scrape_interval 1s) scrapes a real nas-controller and two
# nas-workers while they run a two-objective NAS-Bench-201 table job; then
# every PromQL expression of deploy/grafana/*.json (template variables
# substituted) is run through Prometheus' HTTP API and must succeed with data.
# Also renders every deploy/k8s overlay with `kubectl kustomize` (skipped with
# a message when kubectl is missing).
#
# The alerting rules of deploy/prometheus/*.yml pass `promtool check rules`,
# are loaded by that Prometheus and must all evaluate without error.
#
# Also checks that every flag passed to the binaries by the rendered
# overlays, compose.yaml, the Dockerfiles and the systemd units exists.
#
# Usage: prometheus_dashboard_test.sh CONTROLLER WORKER NASCTL NB201_CSV
#        K8S_FILE... -- FLAG_USER_FILE... -- DASHBOARD_JSON... -- RULES_YML...
set -uo pipefail
source "$(dirname "$0")/lib.sh"

readonly CONTROLLER="$(abs "$1")" WORKER="$(abs "$2")" NASCTL="$(abs "$3")" CSV="$(abs "$4")"
shift 4
KUSTOMIZATIONS=()
while (($#)) && [[ "$1" != "--" ]]; do KUSTOMIZATIONS+=("$(abs "$1")"); shift; done
shift
FLAG_USERS=()
while (($#)) && [[ "$1" != "--" ]]; do FLAG_USERS+=("$(abs "$1")"); shift; done
shift
DASHBOARDS=()
while (($#)) && [[ "$1" != "--" ]]; do DASHBOARDS+=("$(abs "$1")"); shift; done
shift
RULES=()
for f in "$@"; do RULES+=("$(abs "$f")"); done
((${#DASHBOARDS[@]} > 0)) || die "no dashboard given"
((${#RULES[@]} > 0)) || die "no alerting rules file given"

readonly TMP="${TEST_TMPDIR:?}/promdash"
rm -rf "${TMP}" && mkdir -p "${TMP}"
trap cleanup_processes EXIT
trap 'exit 1' INT TERM
export HOME="${TMP}"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# --- 1. kustomize: every overlay renders ------------------------------------
if command -v kubectl >/dev/null 2>&1; then
  ((${#KUSTOMIZATIONS[@]} > 0)) || die "no deploy/k8s files given"
  overlays=0
  while read -r name result; do
    overlays=$((overlays + 1))
    if [[ "${result}" == ok ]]; then
      # Workers must get time to hand their trial back on SIGTERM.
      grep -q 'terminationGracePeriodSeconds' "${TMP}/k8s-${name}.yaml" ||
        fail "overlay ${name}: no terminationGracePeriodSeconds"
      log "kustomize: overlay ${name} renders ($(grep -c '^kind:' "${TMP}/k8s-${name}.yaml") objects)"
    else
      fail "overlay ${name}: kubectl kustomize failed: $(cat "${TMP}/k8s-${name}.err")"
    fi
  done < <(render_overlays "${TMP}" "${KUSTOMIZATIONS[@]}")
  ((overlays >= 2)) || fail "found ${overlays} overlays under deploy/k8s/overlays"
else
  echo "SKIP: kubectl not found; the deploy/k8s overlays were not rendered" >&2
fi

# --- 2. every flag given to a binary exists ----------------------------------
# The binaries' flags (absl --helpfull lists them all, then exits 1).
{ "${CONTROLLER}" --helpfull; "${WORKER}" --helpfull; } 2>&1 |
  sed -n 's/^ *--\([a-z][a-z_0-9]*\) .*/\1/p' | sort -u >"${TMP}/known_flags"
grep -qx store "${TMP}/known_flags" && grep -qx device "${TMP}/known_flags" ||
  die "could not read the binaries' flags from --helpfull"
flag_sources=("${FLAG_USERS[@]}")
[[ -d "${TMP}/k8s" ]] && flag_sources+=("${TMP}"/k8s-*.yaml)
for f in "${flag_sources[@]}"; do
  case "${f}" in
    */Dockerfile.*) lines="$(grep -E '^(CMD|ENTRYPOINT)' "${f}")" ;;
    *) lines="$(grep -vE '^[[:space:]]*#' "${f}")" ;;
  esac
  # Dotted names (--config.file) belong to Prometheus, not to our binaries.
  for flag in $(grep -oE -- '(^|[^a-z_-])--[a-z][a-z_0-9]*([^a-z_0-9.]|$)' <<<"${lines}" |
    sed -E 's/.*--([a-z_0-9]*).*/\1/' | sort -u); do
    grep -qx "${flag}" "${TMP}/known_flags" ||
      fail "$(basename "${f}"): --${flag} is not a flag of nas-controller or nas-worker"
  done
done
log "flags: $(wc -l <"${TMP}/known_flags") known; checked ${#flag_sources[@]} files"

# --- 3. controller, workers, Prometheus -------------------------------------
# Port 0 everywhere: each binary logs the port it picked.
"${CONTROLLER}" --listen=127.0.0.1:0 --store="sqlite://${TMP}/nas.db" \
  --metrics_listen=127.0.0.1:0 --lease_seconds=10 \
  >"${TMP}/controller.out" 2>"${TMP}/controller.err" &
track_pid $!
wait_for 30 "the controller's port" grep -q 'listening on port' "${TMP}/controller.out"
grpc_port="$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "${TMP}/controller.out")"
wait_for 10 "the controller's metrics port" grep -q 'metrics on port' "${TMP}/controller.err"
metrics_port="$(sed -n 's/.*metrics on port \([0-9]*\).*/\1/p' "${TMP}/controller.err")"
log "controller: gRPC ${grpc_port}, metrics ${metrics_port}"

# Workers w1 and w2, logging to workerI.log; each must serve its metrics.
worker_targets=""
for i in 1 2; do
  "${WORKER}" --controller="127.0.0.1:${grpc_port}" --device=cpu --threads=1 \
    --name="w${i}" --metrics_listen=127.0.0.1:0 >"${TMP}/worker${i}.log" 2>&1 &
  track_pid $!
  wait_for 60 "worker w${i} to log its metrics port" grep -q 'metrics on http' "${TMP}/worker${i}.log"
  port="$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "${TMP}/worker${i}.log")"
  curl -sf "http://127.0.0.1:${port}/metrics" | grep -q '^nas_worker_trials_total' ||
    die "worker w${i}: no nas_worker_trials_total at http://127.0.0.1:${port}/metrics"
  worker_targets+="'127.0.0.1:${port}', "
done

promtool check rules "${RULES[@]}" >"${TMP}/promtool.out" 2>&1 ||
  fail "promtool check rules: $(cat "${TMP}/promtool.out")"
rules_in_files="$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' "${TMP}/promtool.out" |
  awk '{ n += $1 } END { print n + 0 }')"
rule_files=""
for f in "${RULES[@]}"; do rule_files+="'${f}', "; done
prom_port="$(free_port)"
cat >"${TMP}/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [${rule_files%, }]
scrape_configs:
  - job_name: nas-controller
    static_configs:
      - targets: ['127.0.0.1:${metrics_port}']
  - job_name: nas-worker
    static_configs:
      - targets: [${worker_targets%, }]
YAML
prometheus --config.file="${TMP}/prometheus.yml" --storage.tsdb.path="${TMP}/tsdb" \
  --web.listen-address="127.0.0.1:${prom_port}" >"${TMP}/prometheus.log" 2>&1 &
track_pid $!
readonly PROM="http://127.0.0.1:${prom_port}"
wait_for 60 "Prometheus to be ready" curl -sf "${PROM}/-/ready"

controller_up() {
  [[ "$(curl -sf "${PROM}/api/v1/query" --data-urlencode 'query=up{job="nas-controller"}' |
    jq -r '.data.result[0].value[1]')" == "1" ]]
}
wait_for 60 "Prometheus to scrape the controller" controller_up
workers_up() {
  [[ "$(curl -sf "${PROM}/api/v1/query" --data-urlencode 'query=sum(up{job="nas-worker"})' |
    jq -r '.data.result[0].value[1]')" == "2" ]]
}
wait_for 60 "Prometheus to scrape both workers" workers_up

# --- 4. a two-objective table job -------------------------------------------
cat >"${TMP}/job.yaml" <<YAML
name: dashboard-job
search_space:
  nb201: {}
strategy:
  pareto_evolution: {population: 20, sample_size: 5}
  seed: 1
objectives:
  # Limits on both objectives (the reference point) make the controller
  # publish nas_hypervolume.
  - {metric: cifar10_valid_12ep, direction: maximize, limit: 0}
  - {metric: latency_pixel3, direction: minimize, limit: 1000}
evaluation:
  table:
    path: ${CSV}
    metric_columns: [cifar10_valid_12ep, latency_pixel3, params_m_cifar10]
    simulated_seconds: 0.2
budget:
  max_trials: 80
YAML
nasctl() { "${NASCTL}" --controller="127.0.0.1:${grpc_port}" "$@"; }
job="$(nasctl submit "${TMP}/job.yaml")" || die "nasctl submit failed"
log "job ${job} submitted"
job_done() {
  nasctl status "${job}" --format csv >"${TMP}/status.csv" &&
    [[ "$(status_field state "${TMP}/status.csv")" == "succeeded" ]]
}
wait_for 120 "job ${job} to finish" job_done
completed="$(status_field completed "${TMP}/status.csv")"
[[ "${completed}" == "80" ]] || fail "job completed ${completed} trials, want 80"
log "job finished: $(tr '\n' ' ' <"${TMP}/status.csv")"
sleep 3  # at least two scrapes of the final values

# --- 5. every dashboard expression returns data -----------------------------
query_ok() {
  local expr="$1" out="${TMP}/query.json"
  curl -sS "${PROM}/api/v1/query" --data-urlencode "query=${expr}" >"${out}" || return 1
  [[ "$(jq -r .status "${out}")" == "success" ]] || return 1
  (($(jq '.data.result | length' "${out}") > 0))
}
n=0
failed_exprs=()
for dash in "${DASHBOARDS[@]}"; do
  jq -e '.templating.list | map(.name) | index("datasource") and index("job")' "${dash}" >/dev/null ||
    fail "$(basename "${dash}"): needs the template variables datasource and job"
  while IFS= read -r expr; do
    q="${expr//\$__rate_interval/1m}"
    q="${q//\$\{job\}/.+}"
    q="${q//\$job/.+}"
    [[ "${q}" != *'$'* ]] || { failed_exprs+=("unsubstituted variable: ${expr}"); continue; }
    n=$((n + 1))
    if ! query_ok "${q}"; then
      failed_exprs+=("${q}  ->  $(head -c 300 "${TMP}/query.json")")
    fi
  done < <(jq -r '.. | objects | select(has("expr")) | .expr' "${dash}")
done
((n > 0)) || fail "no PromQL expression found in the dashboards"
# The worker panels really show both workers, and their counters add up:
# every completed trial was either a worker's accepted result or a cache hit.
worker_exprs="$(jq -r '.. | objects | select(has("expr")) | .expr' "${DASHBOARDS[@]}" |
  grep -cE 'nas_worker_|worker\.\*')"
((worker_exprs >= 4)) || fail "only ${worker_exprs} dashboard expressions use worker metrics, want >= 4"
q='sum by (instance) (nas_worker_trials_total{outcome="completed"})'
if query_ok "${q}"; then
  series="$(jq '.data.result | length' "${TMP}/query.json")"
  worker_completed="$(jq '[.data.result[].value[1] | tonumber] | add' "${TMP}/query.json")"
  ((series == 2)) || fail "${q}: ${series} series, want one per worker (2)"
  cache_hits="$(status_field cache_hits "${TMP}/status.csv")"
  ((worker_completed + cache_hits == completed)) ||
    fail "workers completed ${worker_completed} + ${cache_hits} cache hits != ${completed} completed"
  log "workers' counters: ${worker_completed} completed over ${series} workers + ${cache_hits} cache hits = ${completed}"
else
  fail "${q} returned nothing: $(head -c 300 "${TMP}/query.json")"
fi
if ((${#failed_exprs[@]} > 0)); then
  fail "${#failed_exprs[@]} of ${n} dashboard expressions failed or returned no data:"
  printf '  %s\n' "${failed_exprs[@]}" >&2
else
  log "all ${n} dashboard expressions returned data"
fi

# --- 6. the alerting rules evaluate ------------------------------------------
curl -sf "${PROM}/api/v1/rules" >"${TMP}/rules.json" || fail "GET /api/v1/rules failed"
loaded="$(jq '[.data.groups[].rules[]] | length' "${TMP}/rules.json")"
healthy="$(jq '[.data.groups[].rules[] | select(.health == "ok")] | length' "${TMP}/rules.json")"
((rules_in_files > 0 && loaded == rules_in_files)) ||
  fail "Prometheus loaded ${loaded} rules, promtool counted ${rules_in_files}"
((healthy == loaded)) || fail "$((loaded - healthy)) alerting rules do not evaluate: $(jq -c \
  '[.data.groups[].rules[] | select(.health != "ok") | {name, health, lastError}]' "${TMP}/rules.json")"
active="$(jq -r '[.data.groups[].rules[] | select(.state != "inactive") | .name] | join(", ")' "${TMP}/rules.json")"
log "alerting rules: ${healthy} of ${loaded} evaluate; pending/firing: ${active:-none}"

if ((failures > 0)); then
  echo "--- controller stderr (tail)" >&2; tail -20 "${TMP}/controller.err" >&2
  echo "${failures} check(s) failed" >&2
  exit 1
fi
echo "prometheus_dashboard_test: ${n} expressions returned data, ${loaded} alerting rules evaluate, overlays rendered: ok"
