#!/usr/bin/env bash
# Peak memory of an image search over a study holding a decompression bomb: a 30-patient synthetic
# study (woundphase synth) whose first thermal frame is replaced by a complete 32768 x 32768
# all-zero greyscale PNG (2^30 pixels, OpenCV's own limit; ~1 MB on disk, 3.2 GB decoded). The
# search skips it by its header (--max-image-pixels, default 2^26) and lists it in
# skipped_images.csv. Peak RSS from /usr/bin/time -v, next to the same search without the bomb.
# With RAISED_LIMIT=1 it also runs with --max-image-pixels 1073741824, so the bomb is decoded
# (needs ~4 GB free): the cost of the frame itself with one full-size copy.
# Usage: [WOUNDPHASE=BINARY] [RAISED_LIMIT=1] bench/hostile_memory.sh [PATIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
patients=${1:-30}
bin=${WOUNDPHASE:-build/woundphase}  # another build to compare: WOUNDPHASE=path/to/woundphase
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" -v 0 synth --out "$work/clean" --patients "$patients" --seed 5 > /dev/null
cp -r "$work/clean" "$work/bombed"
frame=$(ls "$work/bombed/Thermal_Map_IMG" | sort | head -1)
python3 bench/make_png_bomb.py "$work/bombed/Thermal_Map_IMG/$frame"
echo "study: $patients patients; bomb: Thermal_Map_IMG/$frame," \
  "$(stat -c %s "$work/bombed/Thermal_Map_IMG/$frame") bytes, 32768x32768"

search() {  # name, data, extra options
  local name=$1 data=$2; shift 2
  /usr/bin/time -v "$bin" -v 1 search --data "$data" --modalities thermal_map --cv-folds 2 \
    --epochs 2 --image-size 32 --out "$work/out_$name" "$@" > "$work/$name.log" 2>&1 || {
    tail -5 "$work/$name.log"; return 1; }
  local kb seconds
  kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/$name.log")
  seconds=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$work/$name.log")
  printf '%-28s peak RSS %6.0f MB   wall %s\n' "$name" "$(echo "$kb / 1024" | bc -l)" "$seconds"
}

search clean "$work/clean"
search bomb "$work/bombed"
grep -F "$frame" "$work/out_bomb/skipped_images.csv" || echo "(the bomb is not in skipped_images.csv)"
if [[ "${RAISED_LIMIT:-0}" == 1 ]]; then
  search bomb_decoded "$work/bombed" --max-image-pixels 1073741824
fi
