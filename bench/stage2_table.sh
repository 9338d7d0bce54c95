#!/usr/bin/env bash
# Issue 11's stage-2 table: for every fusion head, on the planted-signal cohort the real study's box
# files name (synth --from, --image-signal 0.5), metadata+depth_rgb at 32 px, 5 patient folds, one
# run: stage 2's first-epoch training loss against stage 1's, how often stage 2 is kept (chosen on
# the validation patients, never the test fold), and its test-fold QWK gain over stage 1.
# Usage: bench/stage2_table.sh [DATA_DIR] [STAGE2_EPOCHS]     (BUILD=dir for another build folder)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/dfu}
epochs=${2:-5}
build=${BUILD:-build}
out=${WORK:-$(mktemp -d)}
mkdir -p "$out"
[ -f "$out/study/bounding_box_depth.csv" ] ||
  "$build/woundphase" synth --from "$data" --out "$out/study" --image-signal 0.5 --seed 7 > /dev/null
heads=(fixed learned_weights prob_concat feature_concat gated)
for head in "${heads[@]}"; do
  start=$(date +%s)
  "$build/woundphase" -v 0 search --data "$out/study" --modalities metadata+depth_rgb \
    --image-size 32 --cv-folds 5 --seed 11 --threads 2 --fusion "$head" --stage2-epochs "$epochs" \
    --out "$out/$head" > /dev/null
  echo "$head: $(($(date +%s) - start)) s" >&2
done
/usr/bin/python3 - "$out" "${heads[@]}" <<'PY'
import csv, statistics, sys
out, heads = sys.argv[1], sys.argv[2:]
print(f"{'head':<16} {'stage1 ep1 loss':>15} {'stage2 ep1 loss':>15} {'kept':>6} {'QWK s1':>7} {'QWK s2':>7} {'gain (kept)':>11}")
for head in heads:
    first = {}
    with open(f"{out}/{head}/training_curves.csv") as f:
        for row in csv.DictReader(f):
            if row["epoch"] == "1" and row["component"] in ("head stage1", "head stage2"):
                first.setdefault(row["component"].split()[1], []).append(float(row["loss"]))
    s1, s2, kept, gain = [], [], 0, []
    with open(f"{out}/{head}/folds.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["modalities"] == "metadata+depth_rgb"]
    for r in rows:
        s1.append(float(r["qwk_stage1"]))
        s2.append(float(r["qwk_stage2"]))
        if r["final_stage"] == "stage2":
            kept += 1
            gain.append(float(r["qwk_stage2"]) - float(r["qwk_stage1"]))
    mean = lambda v: statistics.mean(v) if v else float("nan")
    print(f"{head:<16} {mean(first.get('stage1', [])):15.3f} {mean(first.get('stage2', [])):15.3f} "
          f"{kept:>3}/{len(rows):<2} {mean(s1):7.3f} {mean(s2):7.3f} {mean(gain):11.3f}")
PY
