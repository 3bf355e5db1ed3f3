# Sourced by bench/*/run.sh: builds one benchmark binary with -c opt and
# starts a private PostgreSQL (tools/pg.sh) that is stopped on exit.
#
#   source tools/bench_lib.sh
#   bench_start //bench/store_bench:store_bench store-bench
# sets: bench (the binary), tmp (a scratch dir), pgbin, base (DSN without the
# database), NAS_TEST_PG_ADMIN_DSN (from tools/pg.sh).

bench_start() {
  local target=$1 name=$2
  local bazel_cmd=${BAZEL:-bazel}
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  $bazel_cmd build -c opt "$target" >/dev/null 2>&1 || $bazel_cmd build -c opt "$target"
  local path=${target#//}
  bench="$($bazel_cmd info -c opt bazel-bin 2>/dev/null)/${path%%:*}/${path##*:}"
  tmp=$(mktemp -d "/tmp/$name.XXXXXX")
  chmod 755 "$tmp"
  trap 'bash tools/pg.sh stop "$tmp/pg" || true; rm -rf "$tmp"' EXIT INT TERM
  eval "$(bash tools/pg.sh start "$tmp/pg")"
  base=${NAS_TEST_PG_ADMIN_DSN%/*}
}
