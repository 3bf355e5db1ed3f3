#!/usr/bin/env bash
# Durable TrialStore throughput beside PostgreSQL's raw commit rate, measured
# in one run on one private server (tools/pg.sh), plus top-10 / Pareto-front
# latency on a job with FILL trials. Prints a table; stops what it started.
#
#   bench/store_bench/run.sh [SECONDS=10] [FILL=1000000]
#   BAZEL="bazel --output_base=..." bench/store_bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-10}
fill=${2:-1000000}
source tools/bench_lib.sh
bench_start //bench/store_bench:store_bench store-bench
"$pgbin/psql" -qX "$NAS_TEST_PG_ADMIN_DSN" -c "CREATE DATABASE nas_bench" -c "CREATE DATABASE raw_bench"
"$pgbin/psql" -qX "$base/raw_bench" -c \
  "CREATE TABLE one_row (id bigserial PRIMARY KEY, v int NOT NULL, t timestamptz NOT NULL DEFAULT now())"
echo "INSERT INTO one_row (v) VALUES (1);" >"$tmp/one_row.sql"

raw_tps() {  # clients
  local jobs=$(( $1 < 2 ? 1 : 2 ))
  "$pgbin/pgbench" -n -f "$tmp/one_row.sql" -c "$1" -j "$jobs" -T "$seconds" \
    "$base/raw_bench" 2>&1 | awk '/^tps = / {printf "%.0f", $3}'
}

echo "run: pgbench one-row insert+commit (${seconds}s per point)" >&2
raw1=$(raw_tps 1)
raw16=$(raw_tps 16)
echo "run: store_bench on PostgreSQL" >&2
"$bench" --url="$base/nas_bench" --clients=1,16 --seconds="$seconds" \
  --fill_trials="$fill" | tee "$tmp/pg.txt" >&2
echo "run: store_bench on SQLite" >&2
"$bench" --url="sqlite://$tmp/bench.db" --clients=1,16 --seconds="$seconds" \
  | tee "$tmp/sqlite.txt" >&2

rate() { awk -v c="clients=$2" '$2 == c {split($3, a, "="); printf "%.0f", a[2]}' "$1"; }
pg1=$(rate "$tmp/pg.txt" 1)
pg16=$(rate "$tmp/pg.txt" 16)
sq1=$(rate "$tmp/sqlite.txt" 1)
sq16=$(rate "$tmp/sqlite.txt" 16)
floor=$(awk -v r="$raw16" 'BEGIN {printf "%.0f", 0.6 * r / 2}')

echo
echo "| measurement | 1 client | 16 clients |"
echo "| --- | ---: | ---: |"
echo "| pgbench one-row insert+commit (commits/s) | $raw1 | $raw16 |"
echo "| PostgreSQL acquire -> complete (trials/s) | $pg1 | $pg16 |"
echo "| SQLite (WAL, synchronous=FULL) acquire -> complete (trials/s) | $sq1 | $sq16 |"
echo "| floor: 0.6 x raw / 2 (trials/s) | | $floor |"
echo
grep '^query:\|^fill:' "$tmp/pg.txt" || true
verdict=PASS
[ "$pg16" -ge "$floor" ] || verdict=FAIL
echo "throughput floor (16 clients, PostgreSQL): $verdict ($pg16 >= $floor)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
