#!/usr/bin/env bash
# How a search with image modalities scales over MPI ranks on this machine: the same search (synth
# PATIENTS patients, every combination of metadata and the three image modalities, 32x32 crops, 5
# patient folds, 10 epochs, --threads 1) as one plain process and under mpirun with 2 and 3 ranks
# (rank 0 coordinates, the others compute: 1 and 2 workers), wall time each, the outputs checked
# byte-identical to the single process, and rank 0's busy share ("coordinator: X s busy of Y s").
# Needs build/woundphase built with Open MPI (scripts/setup.sh installs it).
# Usage: bench/mpi_scaling.sh [PATIENTS] [EXTRA SEARCH OPTIONS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WOUNDPHASE_BIN:-build/woundphase}
patients=${1:-120}
shift || true
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "machine load before: $(uptime)"
"$bin" synth --out "$out/study" --patients "$patients" --seed 7 > /dev/null
search=(search --data "$out/study" --modalities all --ensemble weighted --image-size 32
  --cv-folds 5 --epochs 10 --threads 1 --resume fresh "$@")

seconds_of() {  # command... -> wall seconds on stdout, its output in $out/last.txt
  local start end
  start=$(date +%s.%N)
  "$@" > "$out/last.txt" 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

single=$(seconds_of "$bin" -v 1 "${search[@]}" --out "$out/single")
printf "1 process (no mpirun):         %6.1f s\n" "$single"
for ranks in 2 3; do
  # The image crops were decoded into the single run's folder; each run decodes its own.
  t=$(seconds_of mpirun -np "$ranks" --oversubscribe --bind-to none --enable-recovery \
    "$bin" -v 1 "${search[@]}" --out "$out/ranks$ranks")
  busy=$(grep -o "coordinator: .*" "$out/last.txt" | tail -1)
  same=identical
  for f in results.csv folds.csv predictions.csv oof_predictions.csv training_curves.csv; do
    cmp -s "$out/single/$f" "$out/ranks$ranks/$f" || same="DIFFERENT ($f)"
  done
  printf "mpirun -np %d (%d worker%s):    %6.1f s  speed-up %.2f  outputs %s  %s\n" "$ranks" \
    $((ranks - 1)) "$([ "$ranks" -gt 2 ] && echo s || echo " ")" "$t" \
    "$(echo "$single / $t" | bc -l)" "$same" "$busy"
done
echo "machine load after: $(uptime)"
