#!/usr/bin/env bash
# Does fusion help, honestly? A synthetic cohort with complementary planted signal (metadata
# --signal S, images --image-signal S: the images carry phase appearance the metadata lacks), every
# combination of metadata + the three image modalities, 5 patient folds, 1 run, for each --fusion
# strategy. Expected: with S = 0.5 the best fused combination beats metadata alone and each image
# modality alone; with S = 0 no fusion beats metadata alone by more than noise (all near 0).
# The image branches do not depend on --fusion, so the first strategy's saved branch networks
# (OUT/models) are copied to the others' output folders, which then load them (resume semantics)
# and train only their heads.
# Usage: [RUNS=1] [SIGNALS="0.5 0"] bench/fusion_evidence.sh [PATIENTS] [EXTRA SEARCH OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
patients=${1:-214}
shift || true
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
kinds="feature_concat fixed learned_weights prob_concat gated"
runs=${RUNS:-1}
for signal in ${SIGNALS:-0.5 0}; do
  build/woundphase synth --out "$out/study_$signal" --patients "$patients" --seed 7 \
    --signal "$signal" --image-signal "$signal" > /dev/null
  first=""
  for kind in $kinds; do
    dir="$out/search_${signal}_$kind"
    if [ -n "$first" ]; then mkdir -p "$dir" && cp -r "$first/models" "$dir/"; fi
    start=$(date +%s.%N)
    build/woundphase -v 0 search --data "$out/study_$signal" --modalities all --fusion "$kind" \
      --ensemble weighted --image-size 32 --cv-folds 5 --runs "$runs" --out "$dir" "$@" > "$dir.txt"
    end=$(date +%s.%N)
    [ -n "$first" ] || first=$dir
    echo "== --signal $signal --image-signal $signal --fusion $kind ($(printf %.0f "$(echo "$end - $start" | bc -l)") s)"
    # modalities, QWK mean, QWK std, kappa mean; single modalities, the best fused, the mean over
    # fused combinations, the ensemble
    awk -F, 'NR > 1 { printf "%-40s %7.3f %6.3f %7.3f\n", $1, $3, $4, $5 }' "$dir/results.csv" |
      awk '$1 !~ /\+/ { print; next } { n += 1; sum += $2; if (n == 1 || $2 > best) { best = $2; line = $0 } }
           END { print "best fused: " line; printf "mean QWK over the %d fused combinations: %.3f\n", n, sum / n }'
  done
done
