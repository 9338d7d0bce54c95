#!/usr/bin/env bash
# Recomputes a search's paired statistics (comparisons.csv, results.csv's common-row QWK, weighted
# F1, ECE, Brier, log loss) from its predictions.csv with SciPy / statsmodels / scikit-learn
# (bench/stats_reference.py) and checks agreement: 1e-9 for QWK differences, 1e-6 for p-values.
# Without RUN_DIR it first runs a small search with image modalities (common rows differ from the
# metadata's own rows): 60 patients, metadata, thermal_map, depth_map and their fusions, 5 folds x
# 3 runs, 32x32, 3 epochs.
# Needs python3-scipy python3-statsmodels python3-sklearn python3-pandas (WOUNDPHASE_BENCH_DEPS=1
# bash scripts/setup.sh).
# Usage: bench/stats_reference.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WOUNDPHASE_BIN:-build/woundphase}  # another build of the program (e.g. a copy)
if [ $# -ge 1 ]; then
  exec /usr/bin/python3 bench/stats_reference.py "$1"
fi
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
"$bin" synth --out "$out/study" --patients 60 --seed 11 --image-signal 0.5 > /dev/null
"$bin" -v 0 search --data "$out/study" --out "$out/run" --cv-folds 5 --runs 3 \
  --modalities metadata,thermal_map,depth_map,metadata+thermal_map,metadata+depth_map \
  --image-size 32 --epochs 3 --trees 50 > /dev/null
/usr/bin/python3 bench/stats_reference.py "$out/run"
