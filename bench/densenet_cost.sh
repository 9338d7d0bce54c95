#!/usr/bin/env bash
# What one image branch costs on this machine's CPUs (issue: real wound photos): the default
# `simple` CNN against `densenet121` (the predecessor's default backbone, 7.0 M parameters) at 32
# and 64 px. Each cell trains thermal_map branches on the demo cohort built from the real study's
# files (synth --from DATA; 2 folds x 1 run, one job at a time: --threads 1, one intra-op thread
# per network, early stopping off) twice: for 1 epoch and for 1 + EPOCHS epochs. The difference
# gives the seconds per epoch (a training pass and a validation pass); the rest of a branch is its
# fixed cost (building the network, the embeddings of every crop for the fusion heads). Printed:
# both, a 30-epoch branch (the default's upper bound: early stopping usually ends sooner) and the
# full 3-modality, 5-fold search at --threads 2 from it. Other processes slow every cell: read
# `uptime`.
# Usage: bench/densenet_cost.sh [DATA_DIR] [EPOCHS]     (default: ../shared/data/dfu 2)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
epochs=${2:-2}
bin=${WOUNDPHASE_BIN:-build/woundphase}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
echo "load before: $(uptime | sed 's/.*load average/load average/')"
"$bin" synth --from "$data" --out "$out/study" --seed 7 > /dev/null
printf '%-12s %4s %9s %9s %16s %20s\n' backbone px "s/epoch" "fixed s" "30-epoch branch" "search, 2 cores"
# Mean seconds of a branch in a run's log ("... branch trained in S s (E epochs, ...)").
branch_seconds() {
  sed -n 's/.* branch trained in \([0-9.]*\) s .*/\1/p' "$1" | awk '{ s += $1; n += 1 } END { print s / n }'
}
for backbone in simple densenet121; do
  for size in 32 64; do
    for e in 1 $((1 + epochs)); do
      "$bin" -v 2 search --data "$out/study" --modalities thermal_map --backbone "$backbone" \
        --image-size "$size" --cv-folds 2 --runs 1 --threads 1 --epochs "$e" --patience "$e" \
        --out "$out/${backbone}_${size}_$e" > /dev/null 2> "$out/${backbone}_${size}_$e.log"
    done
    awk -v b="$backbone" -v px="$size" -v e="$epochs" \
      -v one="$(branch_seconds "$out/${backbone}_${size}_1.log")" \
      -v more="$(branch_seconds "$out/${backbone}_${size}_$((1 + epochs)).log")" 'BEGIN {
        per_epoch = (more - one) / e; fixed = one - per_epoch; branch = fixed + 30 * per_epoch
        printf "%-12s %4d %9.1f %9.1f %16.0f %20.0f\n", b, px, per_epoch, fixed, branch, branch * 3 * 5 / 2
      }'
  done
done
echo "load after: $(uptime | sed 's/.*load average/load average/')"
