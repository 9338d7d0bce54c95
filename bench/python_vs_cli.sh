#!/usr/bin/env bash
# The Python package's cost over the program (issue 17): the same metadata search (5 patient folds
# x 3 runs, random forest, the real study's metadata by default) run by `woundphase search` and by
# `woundphase.search` in Debian's python3, import of the package (pandas, the module) included;
# hyperfine times both (--resume fresh each time), then the outputs are checked byte-identical.
# Other processes on the machine slow both: read the load lines it prints.
# Usage: bench/python_vs_cli.sh [DATA_DIR] [RUNS]   (default: ../shared/data/dfu 3)
#   WOUNDPHASE_BIN selects the program (build/woundphase); the package is built beside it
#   (BUILD/python), or PYTHONPATH names another.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath "${1:-../shared/data/dfu}")
runs=${2:-3}
bin=$(realpath "${WOUNDPHASE_BIN:-build/woundphase}")
export PYTHONPATH=${PYTHONPATH:-$(dirname "$bin")/python}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
mkdir -p "$out"
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
threads=2
echo "load before: $(uptime | sed 's/.*load average/load average/')"
cli="$bin --verbosity 0 --threads $threads search --data $data --out $out/cli --runs $runs \
--resume fresh"
py="/usr/bin/python3 -c \"import woundphase as wp; wp.search('$data', '$out/py', runs=$runs, \
threads=$threads, resume='fresh')\""
import="/usr/bin/python3 -c 'import woundphase'"
hyperfine --warmup 1 --runs 5 --export-markdown "$out/times.md" -n cli "$cli" -n python "$py" \
  -n "python import only" "$import"
same=yes
for f in results.csv folds.csv predictions.csv oof_predictions.csv splits.csv comparisons.csv \
  settings.json; do
  cmp -s "$out/cli/$f" "$out/py/$f" || { same=no; echo "DIFFERS: $f"; }
done
echo "outputs identical (program and package): $same"
echo "load after: $(uptime | sed 's/.*load average/load average/')"
[ "$same" = yes ]
