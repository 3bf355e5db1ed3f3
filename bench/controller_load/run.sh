#!/usr/bin/env bash
# Simulated workers against the real controller on a private PostgreSQL
# (tools/pg.sh), beside Optuna's ask/tell rate on the same server in the same
# run. Prints the table of README.md; stops what it started.
#
#   bench/controller_load/run.sh [SECONDS=10] [LONG_TRIALS=100000] [PREFILL=5000]
#   BAZEL="bazel --output_base=..." LONG_WORKERS=256 bench/controller_load/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
long_trials=${2:-100000}
prefill=${3:-5000}
source tools/bench_lib.sh
bench_start //bench/controller_load:controller_load controller-load
"$pgbin/psql" -qX "$NAS_TEST_PG_ADMIN_DSN" -c "CREATE DATABASE nas_load" \
  -c "CREATE DATABASE optuna_peer"

echo "run: controller_load, ${seconds}s per point" >&2
GLOG_minloglevel=1 "$bench" --url="$base/nas_load" --workers=16,256,1024 \
  --seconds="$seconds" | tee "$tmp/load.txt" >&2
echo "run: Optuna peer (fresh study, then after $prefill trials)" >&2
optuna_url="postgresql+psycopg2://${base#postgresql://}/optuna_peer"
for procs in 1 4; do
  /usr/bin/python3 bench/controller_load/optuna_peer.py --url="$optuna_url" \
    --processes="$procs" --seconds="$seconds" | tee -a "$tmp/optuna.txt" >&2
done
/usr/bin/python3 bench/controller_load/optuna_peer.py --url="$optuna_url" \
  --processes=4 --seconds="$seconds" --prefill="$prefill" | tee -a "$tmp/optuna.txt" >&2
if [ "$long_trials" -gt 0 ]; then
  echo "run: one job of $long_trials trials, ${LONG_WORKERS:-256} workers" >&2
  GLOG_minloglevel=1 "$bench" --url="$base/nas_load" --workers= \
    --long_trials="$long_trials" --long_workers="${LONG_WORKERS:-256}" | tee "$tmp/long.txt" >&2
fi

field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
echo
echo "| workers | trials/s | AcquireTrial p50 (ms) | p99 (ms) |"
echo "| ---: | ---: | ---: | ---: |"
while read -r line; do
  echo "| $(field "$line" workers) | $(field "$line" trials_per_s) |" \
    "$(field "$line" acquire_p50_ms) | $(field "$line" acquire_p99_ms) |"
done <"$tmp/load.txt"
echo
echo "| Optuna peer | trials/s |"
echo "| --- | ---: |"
while read -r line; do
  echo "| $(field "$line" processes) process(es), $(field "$line" prefill) trials before |" \
    "$(field "$line" trials_per_s) |"
done <"$tmp/optuna.txt"
if [ -s "$tmp/long.txt" ] 2>/dev/null; then
  echo
  echo "| long job window | trials/s |"
  echo "| --- | ---: |"
  sed -n 's/long_job window=\([0-9]*\) trials=\([0-9.]*\) trials_per_s=\([0-9]*\)/| \2 | \3 |/p' "$tmp/long.txt"
fi
ours=$(field "$(grep '^workers=256 ' "$tmp/load.txt")" trials_per_s)
peer=$(sort -t= -k4 -g "$tmp/optuna.txt" | tail -n 1 | sed 's/.*trials_per_s=//')
echo
echo "256 workers: $ours trials/s; best Optuna point: $peer trials/s;" \
  "ratio $(awk -v a="$ours" -v b="$peer" 'BEGIN {printf "%.1f", a / b}')x"
