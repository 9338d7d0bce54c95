#!/usr/bin/env bash
# Leakage and signal check of the image branches on the real study's structure: synthesise the frames
# that ../shared/data/dfu's box files name, with --image-signal 0.5 and 0, and cross-validate each image
# modality at 32x32 (5 patient folds, 1 run). Expected: QWK clearly above 0 with 0.5 for the modalities
# that carry the planted appearance, and |QWK| < 0.1 for depth_rgb/depth_map with 0 (thermal_map keeps
# the signal of the temperature columns it encodes, which is metadata, by design).
# Usage: bench/image_signal_evidence.sh [DATA_DIR] [EXTRA SEARCH OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
shift || true
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for signal in 0.5 0; do
  build/woundphase synth --from "$data" --out "$out/study_$signal" --image-signal "$signal" --seed 7 > /dev/null
  start=$(date +%s.%N)
  build/woundphase -v 0 search --data "$out/study_$signal" --modalities thermal_map,depth_map,depth_rgb \
    --image-size 32 --cv-folds 5 --runs 1 --out "$out/search_$signal" "$@" > /dev/null
  end=$(date +%s.%N)
  echo "--image-signal $signal ($(printf %.0f "$(echo "$end - $start" | bc -l)") s):"
  cut -d, -f1-6 "$out/search_$signal/results.csv" | column -s, -t
done
