#!/usr/bin/env bash
# --threads runs (run, fold) jobs at once without changing a byte (issue: compute). Times the full
# 15-combination search (metadata + thermal_map + depth_map + depth_rgb, weighted ensemble, 5
# folds, 1 run) on the demo cohort built from the real study's files (synth --from DATA) at
# --threads 1 and at --threads N, checks that every CSV output is identical, and prints the ratio.
# Targets: <= 150 s at --threads 2 on 2 cores, and --threads 2 <= 0.65 x the --threads 1 time.
# Other processes on the machine slow both runs: run it on an idle machine and read `uptime` first.
# Usage: bench/threads_speedup.sh [DATA_DIR] [SIZE] [N]   (default: ../shared/data/dfu 64 2)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
size=${2:-64}
n=${3:-2}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
echo "load before: $(uptime | sed 's/.*load average/load average/')"
build/woundphase synth --from "$data" --out "$out/study" --seed 7 > /dev/null
for threads in 1 "$n"; do
  /usr/bin/time -f "%e" -o "$out/time_$threads" \
    build/woundphase -v 1 search --data "$out/study" --modalities all --ensemble weighted \
    --image-size "$size" --cv-folds 5 --runs 1 --threads "$threads" --out "$out/search_$threads" \
    > /dev/null 2> "$out/log_$threads.txt"
  echo "--threads $threads: $(cat "$out/time_$threads") s wall (${size}x${size})"
done
same=yes
for f in results.csv folds.csv predictions.csv oof_predictions.csv training_curves.csv splits.csv; do
  cmp -s "$out/search_1/$f" "$out/search_$n/$f" || { same=no; echo "DIFFERS: $f"; }
done
echo "outputs identical at --threads 1 and $n: $same"
awk -v a="$(cat "$out/time_1")" -v b="$(cat "$out/time_$n")" -v n="$n" \
  'BEGIN { printf "ratio --threads %s / --threads 1: %.2f\n", n, b / a }'
echo "load after: $(uptime | sed 's/.*load average/load average/')"
[ "$same" = yes ]
