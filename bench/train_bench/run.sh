#!/bin/bash
# Paired, interleaved speed comparison of the worker's LibTorch DARTS V2
# network (train_bench) and the identical Python PyTorch network
# (pytorch_darts.py), same machine, same run. Prints the BLAS and oneDNN in
# use, the load average, every repetition, then medians and the median of the
# paired ratios. Usage: bench/train_bench/run.sh [REPS] [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${1:-5}
THREADS=${2:-2}
STEPS=${3:-30}
OUT=--output_base=/root/.cache/bazel-worker
bazel "$OUT" build -c opt //bench/train_bench:train_bench >/dev/null 2>&1
BIN="$(bazel "$OUT" info -c opt bazel-bin 2>/dev/null)/bench/train_bench/train_bench"
PY=/usr/bin/python3  # Debian's python3-torch, not a pyenv shim.

echo "BLAS: $(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu)"
echo "oneDNN: $(DNNL_VERBOSE=1 "$BIN" --threads 1 --train_steps 1 2>&1 |
  grep -m3 -E '^(onednn|dnnl)_verbose,info,(oneDNN|cpu,runtime|cpu,isa)' |
  tr '\n' ' ')"
"$BIN" --show_config --train_steps 1 --threads "$THREADS" |
  grep -E 'MKL-DNN|CPU capability|get_num_threads|interop' | sort -u
LOG=$(mktemp)
for i in $(seq "$REPS"); do
  echo "rep $i load: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$BIN" --threads "$THREADS" --train_steps "$STEPS" | tee -a "$LOG"
  "$PY" bench/train_bench/pytorch_darts.py --threads "$THREADS" \
    --train_steps "$STEPS" | tee -a "$LOG"
done
"$PY" - "$LOG" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
lt = [r for r in rows if r["impl"] == "libtorch"]
pt = [r for r in rows if r["impl"] == "pytorch"]
for key in ("train_ips", "infer64_ips", "b1_ms"):
    a = [r[key] for r in lt]; b = [r[key] for r in pt]
    ratio = statistics.median(x / y for x, y in zip(a, b))
    print(f"{key:12s} libtorch median {statistics.median(a):8.2f}  "
          f"pytorch median {statistics.median(b):8.2f}  "
          f"paired ratio libtorch/pytorch {ratio:.2f}")
PYEOF
rm -f "$LOG"
