#!/usr/bin/env bash
# Prepares DIR (default .gpu-deps, git-ignored) for bench/gpu.sh on a GPU machine that has PyTorch
# but not this project's Debian packages: fmt's headers (used header-only) from libfmt-dev and
# GoogleTest's sources from libgtest-dev. About 4 MB; carry it with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.gpu-deps}
rm -rf "$dir"
mkdir -p "$dir/include"
cp -r /usr/include/fmt "$dir/include/fmt"
cp -r /usr/src/googletest "$dir/googletest"
du -sh "$dir"
