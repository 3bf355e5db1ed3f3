# Shared helpers of the tests/cluster sh_tests (sourced). Every process a test
# starts is recorded with track_pid and killed by cleanup_processes on exit.

PIDS=()

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

die() {
  echo "FAIL: $*" >&2
  exit 1
}

track_pid() { PIDS+=("$1"); }

# Kills every tracked process (TERM, then KILL after a grace period).
cleanup_processes() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for ${what}"
    sleep 0.2
  done
}

# Absolute path of a runfile given as a Bazel $(rootpath) (tests run from the
# runfiles root of the main repository).
abs() { echo "${PWD}/$1"; }

# The value of FIELD in `nasctl status JOB --format csv` output (field,value).
status_field() {
  local field="$1" file="$2"
  awk -F, -v f="${field}" '$1 == f { print $2 }' "${file}"
}

# render_overlays OUT K8S_FILE...: renders every deploy/k8s/overlays/NAME with
# `kubectl kustomize` into OUT/k8s-NAME.yaml (OUT/k8s-NAME.err on failure).
# K8S_FILE are the test's deploy/k8s runfiles; they are symlinks, which
# kustomize refuses, so a copy (OUT/k8s/) is rendered. Prints one line per
# overlay: "NAME ok" or "NAME failed".
render_overlays() {
  local out="$1" dir name
  shift
  local root="${1%%/deploy/k8s/*}/deploy/k8s"
  rm -rf "${out}/k8s" && cp -rL "${root}" "${out}/k8s" || return 1
  for dir in "${out}"/k8s/overlays/*/; do
    name="$(basename "${dir}")"
    if kubectl kustomize "${dir}" >"${out}/k8s-${name}.yaml" 2>"${out}/k8s-${name}.err"; then
      echo "${name} ok"
    else
      echo "${name} failed"
    fi
  done
}
