#!/usr/bin/env bash
# Issue 11's recipe table: the predecessor's training recipe, one option at a time against the
# plain trainer, on the planted-signal cohort the real study's box files name (synth --from,
# --image-signal 0.5), image branch depth_rgb alone at 32 px, 5 patient folds, RUNS runs (seeds).
# Prints mean +- sd of the runs' visit-wound QWK per option and the paired difference to the plain
# trainer (same seeds, so same folds). Defaults change only where a gain is clear of that noise.
# Usage: bench/recipe.sh [RUNS] [DATA_DIR] [MODALITY]     (BUILD=dir for another build folder)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
data=${2:-../shared/data/dfu}
modality=${3:-depth_rgb}
build=${BUILD:-build}
out=${WORK:-$(mktemp -d)}
mkdir -p "$out"
[ -f "$out/study/bounding_box_depth.csv" ] ||
  "$build/woundphase" synth --from "$data" --out "$out/study" --image-signal 0.5 --seed 7 > /dev/null
declare -A options=(
  [plain]=""
  [mixup]="--mixup 0.2"
  [label_smoothing]="--label-smoothing 0.1"
  [plateau_lr]="--lr-plateau-factor 0.5 --lr-plateau-patience 2"
  [grad_clip]="--grad-clip 1"
  [projection]="--projection auto"
  [freeze_bn]="--freeze-bn"
)
order=(plain mixup label_smoothing plateau_lr grad_clip projection freeze_bn)
for name in "${order[@]}"; do
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$build/woundphase" -v 0 search --data "$out/study" --modalities "$modality" --image-size 32 \
    --cv-folds 5 --runs "$runs" --seed 11 --threads 2 ${options[$name]} --out "$out/$name" > /dev/null
  echo "$name: $(($(date +%s) - start)) s" >&2
done
# Per run: the mean over folds of the visit-wound QWK (folds.csv), then mean +- sd over runs and
# the paired difference to plain.
/usr/bin/python3 - "$out" "$modality" "${order[@]}" <<'PY'
import csv, statistics, sys
out, modality, names = sys.argv[1], sys.argv[2], sys.argv[3:]
def per_run(name):
    runs = {}
    with open(f"{out}/{name}/folds.csv") as f:
        for row in csv.DictReader(f):
            if row["modalities"] != modality: continue
            runs.setdefault(row["run"], []).append(float(row["qwk"]))
    return [statistics.mean(v) for _, v in sorted(runs.items())]
plain = per_run("plain")
print(f"{'option':<16} {'QWK mean':>9} {'sd':>6} {'paired diff':>12} {'sd':>6}")
for name in names:
    q = per_run(name)
    d = [a - b for a, b in zip(q, plain)]
    sd = statistics.stdev(q) if len(q) > 1 else float("nan")
    dsd = statistics.stdev(d) if len(d) > 1 else float("nan")
    print(f"{name:<16} {statistics.mean(q):9.3f} {sd:6.3f} {statistics.mean(d):12.3f} {dsd:6.3f}")
PY
