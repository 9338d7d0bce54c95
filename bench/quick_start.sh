#!/usr/bin/env bash
# The README's quick start as a new user meets it (issue 18): clone the repository, build the
# program, then paste the quick start's commands in order from the clone's root, each timed. The
# commands are read from README.md itself (the indented `build/woundphase ...` lines of the
# "Quick start" section, continuation lines joined), so the bench fails when the README's quick
# start stops working as pasted. Other processes on the machine slow every step: read `uptime`.
# Usage: bench/quick_start.sh [REPO]   (default: this checkout; WOUNDPHASE_BENCH_OUT keeps the clone)
# PREBUILT=DIR skips the build step (the `cmake` line): DIR's woundphase and
# libwoundphase_vision.so are linked into the clone's build/ (a cold build takes tens of minutes
# on 2 cores; time it on its own).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=${1:-$PWD}
out=${WOUNDPHASE_BENCH_OUT:-$(mktemp -d)}
[ -n "${WOUNDPHASE_BENCH_OUT:-}" ] || trap 'rm -rf "$out"' EXIT
echo "load before: $(uptime | sed 's/.*load average/load average/')"
git clone -q "$repo" "$out/clone"
cd "$out/clone"
# The quick start's commands: from its heading to the next "## " heading.
awk '/^## Quick start/{on=1; next} /^## /{on=0} on' README.md |
  sed -n 's/^ *\(build\/woundphase .*\|cmake .*\)$/\1/p; s/^ \+\(--.*\)$/+\1/p' |
  awk '/^\+/{sub(/^\+/, ""); last = last " " $0; next} {if (last != "") print last; last = $0}
       END {if (last != "") print last}' | sed 's/ \\ / /g; s/ \\$//' > "$out/steps.txt"
if [ -n "${PREBUILT:-}" ]; then
  mkdir -p build
  ln -s "$(realpath "$PREBUILT/woundphase")" build/woundphase
  ln -s "$(realpath "$PREBUILT/libwoundphase_vision.so")" build/libwoundphase_vision.so
  grep -v '^cmake ' "$out/steps.txt" > "$out/steps.kept" || true
  mv "$out/steps.kept" "$out/steps.txt"
  echo "build step skipped: PREBUILT=$PREBUILT"
fi
echo "steps (from README.md):"
sed 's/^/  /' "$out/steps.txt"
total=0
while IFS= read -r step; do
  start=$(date +%s.%N)
  if ! bash -c "$step" > "$out/step.log" 2>&1; then
    echo "FAILED: $step"; tail -20 "$out/step.log"; exit 1
  fi
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  total=$(awk -v a="$total" -v b="$seconds" 'BEGIN {printf "%.1f", a + b}')
  printf '%8.1f s  %s\n' "$seconds" "$step"
  case "$step" in *train*|*predict*) grep -E "trained|predicted|covered|QWK" "$out/step.log" | sed 's/^/            /' ;; esac
done < "$out/steps.txt"
echo "total: $total s (load after: $(uptime | sed 's/.*load average/load average/'))"
