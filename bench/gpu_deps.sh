#!/usr/bin/env bash
# Prepares DIR (default .gpu-deps, git-ignored) for bench/gpu.sh on a GPU machine that has PyTorch
# but not this project's Debian packages: fmt's headers (used header-only) from libfmt-dev and
# GoogleTest's sources from libgtest-dev (and Fashion-MNIST when installed). About 35 MB; carry it with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpu-deps}
rm -rf "$dir"
mkdir -p "$dir/include"
cp -r /usr/include/fmt "$dir/include/fmt"
cp -r /usr/src/googletest "$dir/googletest"
# Fashion-MNIST (dataset-fashion-mnist, 30 MB) for bench/transfer.sh's pretraining step.
fashion=/usr/share/datasets/fashion-mnist
[ -d "$fashion" ] && cp -r "$fashion" "$dir/fashion-mnist"
du -sh "$dir"
