#!/usr/bin/env bash
# Installs the Debian packages woundphase needs, only those missing (idempotent). Runs as root;
# as another user it prints what to install and fails if anything is missing.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libxgboost-dev xgboost libcsv-dev libtomlplusplus-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libsqlite3-dev
  libgtest-dev libbenchmark-dev libopenblas0-pthread
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev  # not libopencv-dev (1.2 GB)
  chromium  # headless render test of the HTML report (tests/report)
  libtorch-dev  # image networks (libwoundphase_vision.so, loaded only for image modalities)
  python3-torch python3-torchvision  # the tests export a TorchScript model with Debian's torch
  libopenmpi-dev openmpi-bin  # mpirun -np N woundphase search (tests/app/test_mpi.cpp)
)
# Benchmarks compare against scikit-learn and time whole processes; bench/fuzz.sh needs clang
# with its sanitizer/libFuzzer runtimes and OpenMP.
if [ "${WOUNDPHASE_BENCH_DEPS:-0}" = 1 ]; then
  packages+=(python3-sklearn python3-pandas python3-scipy python3-statsmodels hyperfine bc time dataset-fashion-mnist clang libclang-rt-14-dev libomp-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "woundphase setup: missing packages: ${missing[*]}" >&2
  echo "install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "woundphase setup: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "${missing[@]}"
