#!/usr/bin/env bash
# make lint: clang-tidy with the repository's .clang-tidy over every translation unit of the build
# folder's compile_commands.json (the program, the vision library, the Python module, tests and
# benches), $JOBS at a time. Fails on any finding (WarningsAsErrors in .clang-tidy).
#   bash scripts/lint.sh [BUILD_DIR] [FILE_REGEX]
set -euo pipefail
build=${1:-build}
files=${2:-/(src|app|tests|bench|python)/}
if [ ! -f "$build/compile_commands.json" ]; then
  echo "lint: $build/compile_commands.json missing: configure first (make build)" >&2
  exit 2
fi
start=$(date +%s)
# run-clang-tidy prints each file's findings; the counts of suppressed warnings are noise.
set +e
run-clang-tidy -p "$build" -j "${JOBS:-2}" -quiet "$files" 2>&1 |
  sed 's/\x1b\[[0-9;]*m//g' |
  grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Running clang-tidy'
status=${PIPESTATUS[0]}
set -e
echo "lint: clang-tidy over $build/compile_commands.json took $(($(date +%s) - start)) s (status $status)"
exit "$status"
