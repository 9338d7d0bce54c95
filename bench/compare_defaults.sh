#!/usr/bin/env bash
# Patient-grouped CV on the shared DFU metadata for the tree-branch choices behind the defaults:
# model (rf | gbdt | stack), --ordinal, --decision, class weights, sampling, forest parameters,
# --clean (honest and optimistic), --tune, the treatment columns, and the label-shuffle control.
# Every setting runs 5 folds x RUNS runs with the same seed (so the same patient folds) and is
# compared with the default, paired per fold: mean QWK difference, patient-bootstrap interval,
# Nadeau-Bengio corrected t-test (Holm-adjusted over all settings) and Wilcoxon
# (bench/compare_runs.cpp, the project's src/stats). Seconds are wall-clock per search.
# The optimistic cleaning protocol scores fewer visit-wounds (it removes its flags from the test
# folds), so it is shown next to its honest twin, not paired.
# Usage: bench/compare_defaults.sh [DATA_DIR] [RUNS]     (nice -n 10 when the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
runs=${2:-5}
bin=${WOUNDPHASE_BIN:-build/woundphase}
compare=${WOUNDPHASE_COMPARE:-build/compare_runs}
if [ ! -x "$compare" ]; then
  cmake -S . -B build -DWOUNDPHASE_BUILD_BENCH=ON > /dev/null
  cmake --build build -j2 --target compare_runs > /dev/null
fi
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out"
# The treatment columns back (the DFU preset before it left them out).
cat > "$out/with_treatments.toml" <<'TOML'
excluded_columns = ["Healing Phase", "Phase Confidence (%)", "ID", "Patient#", "Appt Days", "Location"]
TOML

names=()
printf '%-46s %s\n' "setting" "QWK mean ± std | kappa mean ± std | macro-F1 | seconds"
# WOUNDPHASE_BENCH_KEEP=1 with WOUNDPHASE_BENCH_OUT: settings already searched there are kept.
run() {
  local name=$1; shift
  local dir="$out/$(echo "$name" | tr -c 'A-Za-z0-9_\n-' '_')"
  if [ "${WOUNDPHASE_BENCH_KEEP:-0}" != 1 ] || [ ! -f "$dir/seconds" ]; then
    local start end
    start=$(date +%s.%N)
    "$bin" -v 0 search --data "$data" --cv-folds 5 --runs "$runs" --seed 42 --out "$dir" \
      --resume fresh "$@" > /dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc > "$dir/seconds"
  fi
  awk -F, -v n="$name" -v s="$(cat "$dir/seconds")" \
    'NR==2 {printf "%-46s %.3f ± %.3f | %.3f ± %.3f | %.3f | %.1f\n", n, $3, $4, $5, $6, $8, s}' \
    "$dir/results.csv"
  names+=("$name=$dir")
}
run "rf (default)"
base="$out/rf__default_"
run "treatment columns back (--schema)" --schema "$out/with_treatments.toml"
run "--decision expected" --decision expected
run "--decision thresholds" --decision thresholds
run "--ordinal" --ordinal
run "--ordinal --decision thresholds" --ordinal --decision thresholds
run "--model gbdt" --model gbdt
run "--model stack" --model stack
run "--clean confident (honest)" --clean confident
run "--clean confident --clean-action downweight" --clean confident --clean-action downweight
run "--clean misclass --clean-repeats 3 (honest)" --clean misclass --clean-repeats 3
run "--tune 10" --tune 10
run "rf --class-weight none" --class-weight none
run "rf --max-features 0.33" --max-features 0.33
run "rf --min-samples-leaf 2" --min-samples-leaf 2
run "rf --sampling smote" --sampling smote
run "rf --shuffle-labels (control)" --shuffle-labels
echo
echo "paired against rf (default), same folds (Holm over the settings below):"
"$compare" "$base" "${names[@]:1}"
echo
echo "honest vs optimistic cleaning (the optimistic protocol removes its flags from the test folds):"
run "--clean confident --clean-protocol optimistic" --clean confident --clean-protocol optimistic
run "--clean misclass --clean-protocol optimistic" --clean misclass --clean-protocol optimistic
