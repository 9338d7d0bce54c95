#!/usr/bin/env bash
# Whole-process timing of `woundphase search --modalities metadata --cv-folds 5 --runs 3` against the
# scikit-learn script doing the same 15 forest fits, alternating, REPS times each. Prints each time, the
# median ratio and both QWKs. Usage: bench/metadata_vs_sklearn.sh [DATA_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
reps=${2:-7}
bin=build/woundphase
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }

now() { date +%s.%N; }
wp_times=(); sk_times=()
for i in $(seq "$reps"); do
  t0=$(now); "$bin" --threads 2 -v 0 search --data "$data" --modalities metadata --cv-folds 5 --runs 3 \
    --out "$out/wp" --resume fresh > "$out/wp.txt"; t1=$(now)
  /usr/bin/python3 bench/sklearn_metadata_cv.py "$data" > "$out/sk.txt"; t2=$(now)
  wp_times+=("$(echo "$t1 - $t0" | bc -l)"); sk_times+=("$(echo "$t2 - $t1" | bc -l)")
  echo "rep $i: woundphase $(printf %.3f "${wp_times[-1]}") s   scikit-learn $(printf %.3f "${sk_times[-1]}") s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
wp=$(median "${wp_times[@]}"); sk=$(median "${sk_times[@]}")
echo "median woundphase: $(printf %.3f "$wp") s   median scikit-learn: $(printf %.3f "$sk") s   ratio: $(printf %.1f "$(echo "$sk / $wp" | bc -l)")x"
echo "woundphase: $(sed -n 2p "$out/wp.txt")"
echo "$(cat "$out/sk.txt")"
