#!/usr/bin/env bash
# Byte-identity check of two woundphase binaries (a refactoring must not change results):
#   bash bench/byte_identity.sh BIN_BEFORE BIN_AFTER [WORK_DIR]
# Runs with each binary (a) a metadata search of ../shared/data/dfu with default options, (b) a
# fused `--modalities all` search at 32 px on a small synthetic cohort, (c) train -> predict of a
# metadata+depth_rgb bundle, then compares the CSV outputs (results, folds, predictions,
# oof_predictions, splits), settings.json and the predictions with `cmp`. Exit 0 when every file
# is identical, 1 otherwise. Each binary needs libwoundphase_vision.so beside it.
# The predictions of the image runs depend on --threads (README): both binaries run with 2.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 BIN_BEFORE BIN_AFTER [WORK_DIR]" >&2
  exit 2
fi
before=$(realpath "$1")
after=$(realpath "$2")
work=${3:-$(mktemp -d /tmp/byte_identity.XXXXXX)}
here=$(cd "$(dirname "$0")/.." && pwd)
dfu=${WOUNDPHASE_DFU:-$here/../shared/data/dfu}
threads=2  # image networks are deterministic for a seed and a thread count: same count on both
mkdir -p "$work"

# One cohort for both binaries, written by the first (synth is part of neither comparison).
if [[ ! -f "$work/syn/DataMaster_Processed_V12_WithMissing.csv" ]]; then
  "$before" synth --out "$work/syn" --patients 40 --seed 9 --verbosity 0 >/dev/null
fi

run_all() {  # BIN TAG
  local bin=$1 out=$work/$2
  rm -rf "$out"
  mkdir -p "$out"
  local t0=$SECONDS
  "$bin" search --data "$dfu" --out "$out/meta" --threads "$threads" --verbosity 0 >/dev/null
  "$bin" search --data "$work/syn" --modalities all --image-size 32 --cv-folds 3 --epochs 3 \
    --threads "$threads" --verbosity 0 --out "$out/fused" >/dev/null
  "$bin" train --data "$work/syn" --modalities metadata+depth_rgb --image-size 32 --epochs 3 \
    --threads "$threads" --verbosity 0 --out "$out/bundle" >/dev/null
  "$bin" predict --model "$out/bundle" --data "$work/syn" --out "$out/preds.csv" \
    --threads "$threads" --verbosity 0 >/dev/null
  echo "$2: $((SECONDS - t0)) s"
}

# KEEP_BEFORE=1 reuses the first binary's outputs of an earlier call with the same WORK_DIR.
if [[ "${KEEP_BEFORE:-0}" == 1 && -f "$work/before/done" ]]; then
  echo "before: kept from an earlier call"
else
  run_all "$before" before
  touch "$work/before/done"
fi
run_all "$after" after

status=0
compare() {  # RELATIVE_PATH
  if cmp -s "$work/before/$1" "$work/after/$1"; then
    echo "identical  $1"
  else
    echo "DIFFERENT  $1"
    status=1
  fi
}
for run in meta fused; do
  for f in results.csv folds.csv predictions.csv oof_predictions.csv splits.csv settings.json; do
    compare "$run/$f"
  done
done
compare bundle/train_predictions.csv
compare preds.csv
echo "outputs in $work"
exit $status
