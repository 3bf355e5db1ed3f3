#!/bin/bash
# Accuracy recipe: DARTS V2 genotype, C=16, 5 cells, 10 epochs, batch 64,
# lr 0.025 cosine, momentum 0.9, wd 3e-4, no augmentation, full 60k
# Fashion-MNIST training split (1000 held out for per-epoch validation),
# trained by the worker's own TrainEvaluator; prints the TEST accuracy and
# the wall time. Usage: bench/train_bench/accuracy.sh [extra accuracy flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
bazel --output_base=/root/.cache/bazel-worker run -c opt \
  //bench/train_bench:accuracy -- --threads 2 --epochs 10 --channels 16 \
  --cells 5 --validation_size 1000 "$@"
