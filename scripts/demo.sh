#!/usr/bin/env bash
# The main job on the embedded default data: trains a compact classifier on Fashion-MNIST
# (Debian's dataset-fashion-mnist) and prints its test accuracy. Rerunning resumes/re-reports.
set -euo pipefail
BUILD=${1:-build}
KDAUG="$BUILD/kdaug"
OUT=${KDAUG_DEMO_OUT:-runs/demo}
"$KDAUG" train --model resnet8 --epochs 2 --out "$OUT/train-resnet8" --resume
