#!/usr/bin/env bash
# make bench: every benchmark, results in bench/results/*.json (+ .md tables).
#   bench_matmul   the matrix-multiply peak LibTorch reaches here (reference for GFLOP/s)
#   bench_augment  augmentation throughput per op and for the canonical pipeline
#   bench_teacher  the frozen teacher: fp32, BatchNorm folded, channels-last, bf16 (speed, agreement)
#   augment_vs_torchvision.py  the canonical pipeline, kdaug batched vs torchvision per image
#   e2e.py         end-to-end training speed of the arms beside a PyTorch implementation
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
mkdir -p bench/results
"$BUILD/bench_matmul" --json bench/results/matmul.json
"$BUILD/bench_augment" --json bench/results/augment.json
"$BUILD/bench_teacher" --json bench/results/teacher.json
# Debian's python3 (with python3-torch); the one first on PATH may be another.
PY=${PYTHON:-/usr/bin/python3}
"$PY" bench/augment_vs_torchvision.py --build "$BUILD"
"$PY" bench/e2e.py --build "$BUILD" ${KDAUG_BENCH_ARGS:-}
