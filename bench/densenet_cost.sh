#!/usr/bin/env bash
# What one image branch costs on this machine's CPUs (issue: real wound photos): the default
# `simple` CNN against `densenet121` (the predecessor's default backbone, 7.0 M parameters) at 32
# and 64 px. Each cell trains thermal_map branches on the demo cohort built from the real study's
# files (synth --from DATA; 2 folds x 1 run, one job at a time: --threads 1, one intra-op thread
# per network) for EPOCHS epochs with early stopping off, and reads the search log (-v 2): the
# seconds per epoch (a training and a validation pass) from the epoch lines' time stamps (first to
# last), and the rest of each branch as its fixed cost (building the network, the embeddings of
# every crop for the fusion heads). Printed: both, a 30-epoch branch (the default's upper bound:
# early stopping usually ends sooner) and the full 3-modality, 5-fold search at --threads 2 from
# it (a 5-fold branch trains and validates on 4/5 of the patients, not 1/2: its epochs are scaled
# by 1.6; the fixed cost embeds every crop either way). Other processes slow every cell: read
# `uptime`.
# Usage: bench/densenet_cost.sh [DATA_DIR] [EPOCHS]     (default: ../shared/data/dfu 6)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
epochs=${2:-6}
bin=${WOUNDPHASE_BIN:-build/woundphase}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
echo "load before: $(uptime | sed 's/.*load average/load average/')"
"$bin" synth --from "$data" --out "$out/study" --seed 7 > /dev/null
printf '%-12s %4s %9s %9s %16s %20s\n' backbone px "s/epoch" "fixed s" "30-epoch branch" "5-fold search, 2 cores"
for backbone in simple densenet121; do
  for size in 32 64; do
    log="$out/${backbone}_$size.log"
    "$bin" -v 2 search --data "$out/study" --modalities thermal_map --backbone "$backbone" \
      --image-size "$size" --cv-folds 2 --runs 1 --threads 1 --epochs "$epochs" \
      --patience "$epochs" --out "$out/${backbone}_$size" > /dev/null 2> "$log"
    # Per branch: "[hh:mm:ss]   thermal_map epoch N: ..." lines, then "... branch trained in S s".
    awk -v b="$backbone" -v px="$size" '
      function secs(t) { return substr(t, 2, 2) * 3600 + substr(t, 5, 2) * 60 + substr(t, 8, 2) }
      / thermal_map epoch [0-9]+:/ { if (n == 0) first = secs($1); last = secs($1); n += 1 }
      / branch trained in / {
        for (i = 1; i <= NF; ++i) if ($i == "in") total = $(i + 1)
        per = (last - first) / (n - 1); epoch_s += per; fixed_s += total - n * per
        branches += 1; n = 0
      }
      END {
        per = epoch_s / branches; fixed = fixed_s / branches; branch = fixed + 30 * per
        five_fold = fixed + 30 * per * (4 / 5) / (1 / 2)
        printf "%-12s %4d %9.1f %9.1f %16.0f %20.0f\n", b, px, per, fixed, branch, five_fold * 3 * 5 / 2
      }' "$log"
  done
done
echo "load after: $(uptime | sed 's/.*load average/load average/')"
