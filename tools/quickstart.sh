#!/usr/bin/env bash
# The main job (README's first command): installs what is needed, builds,
# starts a controller on the embedded SQLite store under ./var/, two workers,
# submits examples/quickstart.yaml (regularized evolution over DARTS cells on
# Fashion-MNIST with a proxy recipe), watches it to the end, prints the best
# architectures, and stops everything it started.
#
#   tools/quickstart.sh [SPEC]      (default: examples/quickstart.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
spec=${1:-examples/quickstart.yaml}

bash tools/setup.sh

echo "quickstart: building (a cold build takes ~10 minutes on 2 cores)"
bazel build -c opt --show_progress_rate_limit=10 \
  //controller/service:nas-controller //worker:nas-worker //cli:nasctl
bin=$(bazel info -c opt bazel-bin 2>/dev/null)

mkdir -p var
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
port=$(free_port)
metrics_port=$(free_port)
export NAS_CONTROLLER=127.0.0.1:$port

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$bin/controller/service/nas-controller" --listen="127.0.0.1:$port" \
  --store="sqlite://$root/var/nas.db" \
  --metrics_listen="127.0.0.1:$metrics_port" >var/controller.log 2>&1 &
pids+=($!)

nasctl() { "$bin/cli/nasctl" "$@"; }
for _ in $(seq 1 100); do
  nasctl jobs >/dev/null 2>&1 && break
  sleep 0.2
done
nasctl jobs >/dev/null || { echo "quickstart: the controller did not start; see var/controller.log" >&2; exit 1; }
echo "quickstart: controller on 127.0.0.1:$port (store var/nas.db, metrics http://127.0.0.1:$metrics_port/metrics)"

for i in 1 2; do
  "$bin/worker/nas-worker" --controller="127.0.0.1:$port" --threads=1 \
    --name="quickstart-$i" >"var/worker-$i.log" 2>&1 &
  pids+=($!)
done
echo "quickstart: 2 workers started (logs under var/)"

job=$(nasctl submit "$spec")
echo "quickstart: submitted $spec as job $job"
status=0
nasctl watch "$job" || status=$?

echo
echo "quickstart: the 5 best architectures of job $job"
nasctl trials "$job" --top 5
echo
nasctl status "$job"
nasctl report "$job" --out var/quickstart-report.html >/dev/null
echo
echo "quickstart: report with plots and the best cells: var/quickstart-report.html"
echo "quickstart: the trial store is var/nas.db; try"
echo "  sqlite3 var/nas.db 'SELECT * FROM best_trials LIMIT 5'"
exit $status
