#!/usr/bin/env bash
# Cost of `predict --explain` (issue 15): trains a metadata bundle (default forest: 300 trees, depth
# 10; or --model gbdt) on the real study's metadata, then times `predict` with and without
# --explain on the same visit-wounds, REPEATS times each (/usr/bin/time, median), and prints the
# extra seconds per 100 visit-wounds. Also checks the additivity of explanations.csv against the
# predictions (max |base + sum of contributions - probability|, rf only).
# Other processes on the machine slow both runs: read the `uptime` lines it prints.
# Usage: bench/explain_cost.sh [DATA_DIR] [MODEL] [REPEATS]   (default: ../shared/data/dfu rf 3)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
model=${2:-rf}
repeats=${3:-3}
bin=${WOUNDPHASE_BIN:-build/woundphase}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
echo "load before: $(uptime | sed 's/.*load average/load average/')"
"$bin" -v 0 train --data "$data" --model "$model" --out "$out/bundle" > /dev/null
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for mode in plain explain; do
  flag=""
  [ "$mode" = explain ] && flag="--explain"
  for i in $(seq "$repeats"); do
    /usr/bin/time -f "%e" -a -o "$out/time_$mode" \
      "$bin" -v 0 predict --model "$out/bundle" --data "$data" --out "$out/$mode/preds.csv" \
      $flag > /dev/null
  done
  echo "$mode: $(median < "$out/time_$mode") s (median of $repeats)"
done
rows=$(($(wc -l < "$out/plain/preds.csv") - 1))
lines=$(($(wc -l < "$out/explain/explanations.csv") - 1))
echo "visit-wounds: $rows; explanations.csv: $lines rows, $(du -h "$out/explain/explanations.csv" | cut -f1)"
awk -v a="$(median < "$out/time_plain")" -v b="$(median < "$out/time_explain")" -v n="$rows" \
  'BEGIN { printf "--explain costs %.3f s per 100 visit-wounds (%.2f s -> %.2f s)\n", (b - a) / n * 100, a, b }'
if [ "$model" = rf ]; then
  python3 - "$out/explain" <<'PY'
import csv, sys, collections
d = sys.argv[1]
probs = {}
for r in csv.DictReader(open(d + "/preds.csv")):
    if r["pred"]:
        probs[(r["patient"], r["appt"], r["dfu"])] = [float(r[k]) for k in r if k.startswith("prob_")]
total = collections.defaultdict(float)
for r in csv.DictReader(open(d + "/explanations.csv")):
    total[(r["patient"], r["appt"], r["dfu"], r["class"])] += float(r["contribution"])
classes = sorted({k[3] for k in total}, key="IPR".index)
err = max(abs(total[k + (c,)] - p[i]) for k, p in probs.items() for i, c in enumerate(classes))
print(f"additivity: max |base + sum - probability| = {err:.2e} (predictions have 6 decimals)")
PY
fi
echo "load after: $(uptime | sed 's/.*load average/load average/')"
