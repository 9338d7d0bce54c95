#!/usr/bin/env bash
# Patient-grouped CV on the shared DFU metadata for the tree-branch choices behind the defaults:
# model (rf | gbdt), class weights, sampling strategy, max_features. 5 folds x 5 runs each.
# Usage: bench/compare_defaults.sh [DATA_DIR] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
runs=${2:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-44s %s\n' "setting" "QWK mean ± std | kappa mean ± std | macro-F1"
run() {
  local name=$1; shift
  build/woundphase -v 0 search --data "$data" --cv-folds 5 --runs "$runs" --out "$out/x" "$@" > /dev/null
  awk -F, -v n="$name" 'NR==2 {printf "%-44s %.3f ± %.3f | %.3f ± %.3f | %.3f\n", n, $3, $4, $5, $6, $8}' "$out/x/results.csv"
}
run "rf (default)"
run "rf --class-weight none" --class-weight none
run "rf --class-weight frequency" --class-weight frequency
run "rf --max-features 0.33" --max-features 0.33
run "rf --max-depth 6" --max-depth 6
run "rf --min-samples-leaf 2" --min-samples-leaf 2
run "rf --trees 1000" --trees 1000
for s in random under combined smote combined_smote; do
  run "rf --sampling $s" --sampling "$s"
done
run "gbdt (default)" --model gbdt
run "gbdt --gbdt-max-depth 2 --gbdt-rounds 200" --model gbdt --gbdt-max-depth 2 --gbdt-rounds 200
run "gbdt --learning-rate 0.05 --gbdt-rounds 200" --model gbdt --learning-rate 0.05 --gbdt-rounds 200
run "rf --shuffle-labels (control)" --shuffle-labels
