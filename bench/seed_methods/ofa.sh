#!/usr/bin/env bash
# Runs a Once-for-All job (default examples/once_for_all.yaml) on a local
# controller (SQLite store) with 2 workers sharing an artifact directory,
# then prints the accuracy-vs-MACs table of the measured subnets, the
# Pareto set, and whether the Pareto curve's best accuracy per MAC bin is
# monotone within noise (2 binomial standard errors of the validation set).
#
#   bash bench/seed_methods/ofa.sh [SPEC]
#   NAS_BIN=$(bazel info bazel-bin) bash bench/seed_methods/ofa.sh  # no opt build
#
# Output under var/bench-ofa/ (store, logs, trials.csv). Exit 1 when the
# job fails or the curve is not monotone within noise.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
spec=${1:-examples/once_for_all.yaml}
out=$root/var/bench-ofa
rm -rf "$out"
mkdir -p "$out"

if [[ -z "${NAS_BIN:-}" ]]; then
  bazel build -c opt //controller/service:nas-controller //worker:nas-worker //cli:nasctl
  NAS_BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
port=$(free_port)
export NAS_CONTROLLER=127.0.0.1:$port
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$NAS_BIN/controller/service/nas-controller" --listen="127.0.0.1:$port" \
  --store="sqlite://$out/nas.db" >"$out/controller.log" 2>&1 &
pids+=($!)
nasctl() { "$NAS_BIN/cli/nasctl" "$@"; }
for _ in $(seq 1 100); do
  nasctl jobs >/dev/null 2>&1 && break
  sleep 0.2
done
for i in 1 2; do
  "$NAS_BIN/worker/nas-worker" --controller="127.0.0.1:$port" --threads=1 \
    --name="ofa-bench-$i" --supernet_dir="$out/supernets" \
    >"$out/worker-$i.log" 2>&1 &
  pids+=($!)
done

start=$(date +%s)
job=$(nasctl submit "$spec")
echo "ofa bench: job $job from $spec"
nasctl watch "$job" >/dev/null || true
echo "ofa bench: wall time $(( $(date +%s) - start )) s"
nasctl status "$job"
nasctl trials "$job" --format=csv >"$out/trials.csv"
validation=$(python3 -c 'import sys,re; t=open(sys.argv[1]).read(); m=re.search(r"validation_size:\s*(\d+)", t); print(m.group(1) if m else 10000)' "$spec")

python3 bench/seed_methods/ofa_table.py "$out/trials.csv" "$validation"
