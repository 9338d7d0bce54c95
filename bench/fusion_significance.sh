#!/usr/bin/env bash
# Are the paired comparisons (comparisons.csv) honest? Two checks.
#
# 1. False positives. Null cohorts: `synth --signal 0 --image-signal 0` draws labels independent
#    of the metadata and of the images, so every combination's true QWK is 0 and every pair's true
#    difference is 0. NULL_COHORTS cohorts (seeds 101, 102, ...) of NULL_PATIENTS patients, each
#    searched with every combination of metadata, thermal_map and depth_map (7; 5 folds x 3 runs,
#    32x32, 2 epochs): 6 to 11 comparisons per search (6 against metadata, up to 5 more against the
#    top one when that is not metadata). Prints the share called significant at alpha = 0.05: by the
#    Holm-adjusted corrected t-test (the `significant` column) and by each raw p-value.
#    Expected: <= 5%.
# 2. Power. The planted-signal cohort `synth --from ../shared/data/dfu` (the real study's
#    metadata, synthetic frames whose appearance carries the phase), searched with metadata,
#    thermal_map, depth_rgb and their fusions with metadata (5 folds x 3 runs, 32x32): prints the
#    comparisons against metadata; expected: fusions that beat metadata by > 0.1 QWK are
#    significant. POWER_EPOCHS (default 30, the program's default with early stopping) sets the
#    image branches' epochs; the first measurement used 8, which left the branches undertrained
#    and their gains noisy from fold to fold.
# Usage: [NULL_COHORTS=6] [NULL_PATIENTS=40] [SKIP_NULL=0] [SKIP_POWER=0] [POWER_EPOCHS=30]
#        bench/fusion_significance.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WOUNDPHASE_BIN:-build/woundphase}  # another build of the program (e.g. a copy)
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
cohorts=${NULL_COHORTS:-6}
patients=${NULL_PATIENTS:-40}

if [ "${SKIP_NULL:-0}" != 1 ]; then
  for i in $(seq 1 "$cohorts"); do
    seed=$((100 + i))
    dir="$out/null_$seed"
    if [ ! -f "$dir/run/results.csv" ]; then
      "$bin" synth --out "$dir/study" --patients "$patients" --seed "$seed" \
        --signal 0 --image-signal 0 > /dev/null
      "$bin" -v 0 search --data "$dir/study" --out "$dir/run" --cv-folds 5 --runs 3 \
        --seed "$seed" --image-size 32 --epochs 2 --trees 100 \
        --modalities metadata,thermal_map,depth_map,metadata+thermal_map,metadata+depth_map,thermal_map+depth_map,metadata+thermal_map+depth_map \
        > /dev/null
    fi
  done
  echo "== null cohorts (--signal 0 --image-signal 0): $cohorts cohorts x $patients patients"
  # Columns of comparisons.csv: 9 p_corrected_t, 10 p_wilcoxon, 11 p_mcnemar, 12 p_holm,
  # 13 significant.
  cat "$out"/null_*/run/comparisons.csv | awk -F, '
    $1 == "a" { next }
    { n += 1; sig += ($13 == "yes"); t += ($9 <= 0.05); w += ($10 <= 0.05); m += ($11 <= 0.05) }
    END {
      printf "null comparisons: %d\n", n
      printf "significant (Holm-adjusted corrected t-test, alpha 0.05): %d (%.1f%%)\n", sig, 100 * sig / n
      printf "raw corrected t-test p <= 0.05: %d (%.1f%%)\n", t, 100 * t / n
      printf "raw Wilcoxon p <= 0.05:         %d (%.1f%%)\n", w, 100 * w / n
      printf "raw McNemar p <= 0.05:          %d (%.1f%%)\n", m, 100 * m / n
    }'
fi

if [ "${SKIP_POWER:-0}" != 1 ]; then
  dir="$out/power"
  if [ ! -f "$dir/run/results.csv" ]; then
    "$bin" synth --from ../shared/data/dfu --out "$dir/study" > /dev/null
    "$bin" -v 0 search --data "$dir/study" --out "$dir/run" --cv-folds 5 --runs 3 \
      --image-size 32 --epochs "${POWER_EPOCHS:-30}" \
      --modalities metadata,thermal_map,depth_rgb,metadata+thermal_map,metadata+depth_rgb,metadata+thermal_map+depth_rgb \
      > /dev/null
  fi
  echo "== planted signal (synth --from ../shared/data/dfu), 5 folds x 3 runs"
  echo "results.csv (n, QWK own rows, n common, QWK common rows, ECE):"
  awk -F, 'NR > 1 { printf "  %-34s %5d %7.3f  %5d %7.3f  %6.3f\n", $1, $2, $3, $12, $13, $16 }' \
    "$dir/run/results.csv"
  echo "comparisons.csv (a, b, QWK a, QWK b, diff, 95% CI, p t, p Wilcoxon, p McNemar, p Holm, sig):"
  awk -F, 'NR > 1 { printf "  %-34s %-22s %6.3f %6.3f %+6.3f [%+6.3f, %+6.3f] %8.2g %8.2g %8.2g %8.2g %s\n",
                    $1, $2, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$dir/run/comparisons.csv"
  awk -F, 'NR > 1 && $2 == "metadata" && $1 ~ /\+/ && $6 > 0.1 { n += 1; s += ($13 == "yes") }
           END { printf "fusions beating metadata by > 0.1 QWK: %d, called significant: %d\n", n, s }' \
    "$dir/run/comparisons.csv"
fi
