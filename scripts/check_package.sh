#!/usr/bin/env bash
# make package-check: unpacks the build folder's Debian package into a scratch root (no install,
# no root) and runs the program from there: --version, the man page, and a tiny image search that
# must load the packaged vision library (found relative to the program, not in the build folder).
#   bash scripts/check_package.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
debs=("$build"/woundphase_*.deb)
if [ ! -f "${debs[0]}" ]; then
  echo "package-check: no woundphase_*.deb in $build (make package)" >&2
  exit 2
fi
deb=${debs[0]}
root=$(mktemp -d /tmp/woundphase_pkg.XXXXXX)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root/fs"
echo "package-check: $deb ($(du -h "$deb" | cut -f1)), depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -c "$deb" | awk '{print "  " $6}'
bin="$root/fs/usr/bin/woundphase"
# Neither the build folder's library nor a WOUNDPHASE_VISION_LIB may stand in for the packaged one.
unset WOUNDPHASE_VISION_LIB
"$bin" --version
test -s "$root/fs/usr/share/man/man1/woundphase.1"
test -f "$root/fs/usr/lib/woundphase/libwoundphase_vision.so"
"$bin" --verbosity 0 synth --out "$root/study" --patients 24 --seed 3 --image-scale 0.05
"$bin" --verbosity 0 --threads 2 search --data "$root/study" --out "$root/run" \
  --modalities thermal_map --image-size 32 --epochs 1 --cv-folds 2 --trees 20
grep -q '^thermal_map,' "$root/run/results.csv"
echo "package-check: the unpacked program ran an image search with its packaged vision library"
