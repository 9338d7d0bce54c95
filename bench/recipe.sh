#!/usr/bin/env bash
# Issue 11's recipe table: the predecessor's training recipe, one option at a time against the
# plain trainer, on the planted-signal cohort the real study's box files name (synth --from,
# --image-signal 0.5), image branch depth_rgb alone at 32 px, 5 patient folds, RUNS runs (seeds).
# Prints mean +- sd of the runs' visit-wound QWK per option and the paired difference to the plain
# trainer (same seeds, so same folds): mean and sd over runs, and the Nadeau-Bengio corrected
# t-test over the runs x folds paired differences (folds of repeated CV share training patients).
# Defaults change only where a gain is clear of that noise. Each search runs on THREADS threads
# (default 1: QWK does not depend on the thread count, so it can run niced beside other work).
# Usage: bench/recipe.sh [RUNS] [DATA_DIR] [MODALITY]     (BUILD=dir for another build folder,
#        ONLY="plain rot90 ..." for a subset, WORK=dir to keep and reuse the searches)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
data=${2:-../shared/data/dfu}
modality=${3:-depth_rgb}
build=${BUILD:-build}
threads=${THREADS:-1}
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
  [rot90]="--aug-rot90 0.5"
  [zoom]="--aug-zoom 0.2"
  [cutout]="--aug-cutout 0.1"
)
# shellcheck disable=SC2206
order=(${ONLY:-plain rot90 zoom cutout mixup label_smoothing plateau_lr grad_clip projection freeze_bn})
for name in "${order[@]}"; do
  [ -f "$out/$name/results.csv" ] && continue
  start=$(date +%s)
  # shellcheck disable=SC2086
  "$build/woundphase" -v 0 search --data "$out/study" --modalities "$modality" --image-size 32 \
    --cv-folds 5 --runs "$runs" --seed 11 --threads "$threads" ${options[$name]} --out "$out/$name" > /dev/null
  echo "$name: $(($(date +%s) - start)) s" >&2
done
# Per run: the mean over folds of the visit-wound QWK (folds.csv), then mean +- sd over runs and
# the paired difference to plain; the corrected t-test pairs the folds themselves.
/usr/bin/python3 - "$out" "$modality" "${order[@]}" <<'PY'
import csv, math, statistics, sys
from scipy import stats
out, modality, names = sys.argv[1], sys.argv[2], sys.argv[3:]
FOLDS = 5
def per_fold(name):
    q = {}
    with open(f"{out}/{name}/folds.csv") as f:
        for row in csv.DictReader(f):
            if row["modalities"] == modality:
                q[(int(row["run"]), int(row["fold"]))] = float(row["qwk"])
    return q
def per_run(q):
    runs = {}
    for (run, _), v in sorted(q.items()):
        runs.setdefault(run, []).append(v)
    return [statistics.mean(v) for _, v in sorted(runs.items())]
plain = per_fold("plain")
print(f"{'option':<16} {'QWK mean':>9} {'sd':>6} {'paired diff':>12} {'sd':>6} {'t (NB)':>7} {'p':>6}")
for name in names:
    q = per_fold(name)
    runs, base = per_run(q), per_run(plain)
    d = [a - b for a, b in zip(runs, base)]
    sd = statistics.stdev(runs) if len(runs) > 1 else float("nan")
    dsd = statistics.stdev(d) if len(d) > 1 else float("nan")
    # Nadeau & Bengio (2003): variance of the fold differences times 1/n + n_test/n_train.
    fd = [q[k] - plain[k] for k in sorted(q) if k in plain]
    t = p = float("nan")
    if name != "plain" and len(fd) > 1 and statistics.variance(fd) > 0:
        t = statistics.mean(fd) / math.sqrt((1 / len(fd) + 1 / (FOLDS - 1)) * statistics.variance(fd))
        p = 2 * stats.t.sf(abs(t), len(fd) - 1)
    print(f"{name:<16} {statistics.mean(runs):9.3f} {sd:6.3f} {statistics.mean(d):12.3f} {dsd:6.3f} "
          f"{t:7.2f} {p:6.3f}")
PY
