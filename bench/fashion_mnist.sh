#!/usr/bin/env bash
# The image trainer's evidence: Fashion-MNIST test accuracy of the `simple` backbone trained by the
# same ImageModel::fit the image branches use (target >= 90%), then training throughput of that loop
# against a bare libtorch loop at 32/64/128 px (target >= 90% of bare at 64). Needs libtorch-dev and
# dataset-fashion-mnist (apt-get install libtorch-dev dataset-fashion-mnist).
# Usage: bench/fashion_mnist.sh [EPOCHS] [THREADS]   (BUILD=dir to use another build folder)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-15}
threads=${2:-1}
build=${BUILD:-build}
data=/usr/share/datasets/fashion-mnist
[ -f "$data/train-images-idx3-ubyte.gz" ] ||
  { echo "dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$build" -j2 --target woundphase_vision_bench > /dev/null
bench="$build/woundphase_vision_bench"
[ -x "$bench" ] || { echo "woundphase_vision_bench was not built (is libtorch installed?)" >&2; exit 1; }
# Threads: on shared, loaded cores libtorch's spinning OpenMP threads slow each other down, so one
# thread is the default here; pass 2 on an idle machine.
time "$bench" fashion-mnist --epochs "$epochs" --threads "$threads"
for t in 1 2; do
  "$bench" throughput --sizes 32,64,128 --threads "$t"
done
