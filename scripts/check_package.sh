#!/usr/bin/env bash
# make package-check: unpacks the build folder's Debian package into a scratch root (no install,
# no root) and runs the program from there: --version, the man page, and a tiny image search that
# must load the packaged vision library (found relative to the program, not in the build folder);
# then the packaged Python module runs the same search.
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
# The Python package, where Debian's python3 finds it: the same search from Python, with the
# packaged module and vision library, writes the program's bytes.
site="$root/fs/usr/lib/python3/dist-packages"
test -f "$site/woundphase/__init__.py"
PYTHONPATH="$site" /usr/bin/python3 - "$root" <<'EOF_PY'
import os, pathlib, sys
import woundphase as wp
root = sys.argv[1]
assert wp.__file__.startswith(root), wp.__file__
assert os.environ["WOUNDPHASE_VISION_LIB"] == f"{root}/fs/usr/lib/woundphase/libwoundphase_vision.so"
run = wp.search(f"{root}/study", f"{root}/pyrun", "thermal_map", threads=2, image_size=32,
                epochs=1, cv_folds=2, trees=20)
for name in ("results.csv", "predictions.csv"):
    assert (run.out / name).read_bytes() == pathlib.Path(f"{root}/run/{name}").read_bytes(), name
EOF_PY
echo "package-check: the packaged Python module ran the same search, byte for byte"
