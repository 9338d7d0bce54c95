#!/usr/bin/env bash
# libFuzzer campaign over the data stage: builds fuzz/fuzz_*.cpp with clang
# (-fsanitize=fuzzer,address,undefined) into build-fuzz and runs each target in turn for SECONDS.
# Anything but an InputError (crash, sanitizer report, other exception, hang > 10 s, > 2 GB) is a
# finding: libFuzzer writes the input to fuzz/findings/<target>-crash-..., keep it as a
# regression test under tests/data/fuzz_regressions/.
#
#   bash bench/fuzz.sh [SECONDS=600] [TARGET...]     (targets: csv dataset image_name; all)
#
# Seeds: fuzz/corpus/<target>/ (committed), tests/hostile/*/ CSVs, tests/data/fuzz_regressions/,
# and the first rows of ../shared/data/dfu/*.csv when present. The growing corpus stays in
# build-fuzz/corpus/<target>/ so later runs resume from it. Targets run one after another: the
# machine's cores are shared.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(csv dataset image_name)
build=${FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-2}

WOUNDPHASE_BENCH_DEPS=1 bash scripts/setup.sh
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWOUNDPHASE_FUZZ=ON -DWOUNDPHASE_BUILD_TESTS=OFF -DWOUNDPHASE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

mkdir -p fuzz/findings
real=../shared/data/dfu
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  seeds="$build/seeds/$t"
  mkdir -p "$corpus" "$seeds"
  if [ "$t" != image_name ]; then
    # Study-shaped seeds: the hostile corpus (small files only) and the real header with rows.
    for f in tests/hostile/*/*.csv; do
      [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 8192 ] && cp "$f" "$seeds/hostile_$(basename "$(dirname "$f")").csv"
    done
    if [ -f "$real/DataMaster_Processed_V12_WithMissing.csv" ]; then
      head -n 4 "$real/DataMaster_Processed_V12_WithMissing.csv" >"$seeds/real_metadata.csv"
      head -n 4 "$real/bounding_box_depth.csv" >"$seeds/real_boxes.csv"
    fi
  elif [ -f "$real/bounding_box_depth.csv" ]; then
    # A few real names, depth and thermal.
    for f in "$real"/bounding_box_*.csv; do
      tail -n +2 "$f" | awk -F, 'NR % 400 == 1 { print $1 }' | while read -r name; do
        printf '%s' "$name" >"$seeds/real_$name.txt"
      done
    done
  fi
  if [ -d "tests/data/fuzz_regressions/$t" ]; then cp tests/data/fuzz_regressions/"$t"/* "$seeds/" 2>/dev/null || true; fi
  max_len=8192
  [ "$t" = image_name ] && max_len=256
  dict=fuzz/csv.dict
  [ "$t" = image_name ] && dict=fuzz/image_name.dict
  echo "== fuzz_$t for ${seconds}s (log: $build/fuzz_$t.log)"
  # -timeout: an input running 10 s is a hang; -rss_limit_mb: a run above 2 GB is a finding.
  rc=0
  "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -dict="$dict" -artifact_prefix="fuzz/findings/$t-" -print_final_stats=1 \
    "$corpus" "fuzz/corpus/$t" "$seeds" >"$build/fuzz_$t.log" 2>&1 || rc=$?
  grep -E "^#[0-9]+ +(INITED|DONE)|^stat::|ERROR|SUMMARY|Test unit written" "$build/fuzz_$t.log" || true
  if [ "$rc" != 0 ]; then
    echo "fuzz_$t: FINDING (exit $rc); input saved under fuzz/findings/"
    failed=1
  fi
done
exit "${failed:-0}"
