#!/usr/bin/env bash
# What a search over every combination costs: the demo cohort built from the real study's files
# (synth --from DATA: its metadata, synthetic frames for every box), metadata + thermal_map +
# depth_map + depth_rgb = 15 combinations, 5 patient folds, 1 run, at the given image sizes.
# Targets (issue 4): <= 5 min at 32x32, <= 20 min at 64x64 on 2 cores. Prints the wall time and
# where it went (from search.log: decoding, each branch's training, the heads).
# Usage: bench/fusion_search_cost.sh [DATA_DIR] [SIZES...]   (default: ../shared/data/dfu 32 64)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
shift || true
sizes=${*:-32 64}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
build/woundphase synth --from "$data" --out "$out/study" --seed 7 > /dev/null
for size in $sizes; do
  /usr/bin/time -f "%e s wall, %M KB max RSS" -o "$out/time_$size" \
    build/woundphase -v 1 search --data "$out/study" --modalities all --ensemble weighted \
    --image-size "$size" --cv-folds 5 --runs 1 --out "$out/search_$size" > "$out/table_$size.txt" 2> "$out/log_$size.txt"
  echo "== ${size}x${size}: $(cat "$out/time_$size")"
  grep -E "decoded" "$out/search_$size/search.log" | sed 's/^.*\] //' | head -1
  # Branch training (once per modality and fold), then every job's own seconds by kind (a job that
  # first needs a branch includes that branch's training: subtract it).
  grep -E "branch (trained|loaded) in" "$out/search_$size/search.log" |
    awk '{ for (i = 1; i <= NF; ++i) if ($i == "in") { t = $(i + 1) } ; n += 1; sum += t }
         END { printf "  %-22s %8.1f s (%d branches)\n", "image branch training", sum, n }'
  grep -E "\[[0-9]+/[0-9]+\] run" "$out/search_$size/search.log" |
    awk '{ for (i = 1; i <= NF; ++i) if ($i ~ /^\[[0-9]+\/[0-9]+\]$/) name = $(i + 5);
           sub(":", "", name); t = $(NF - 1); gsub(/[()]/, "", t);
           kind = name == "ensemble" ? "ensemble" : (name ~ /\+/ ? "fused (heads)" : (name == "metadata" ? "metadata" : "single image"));
           sum[kind] += t } END { for (k in sum) printf "  %-22s %8.1f s (jobs, incl. first branch use)\n", k, sum[k] }'
  head -17 "$out/table_$size.txt"
done
