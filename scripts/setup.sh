#!/usr/bin/env bash
# Installs the Debian packages woundphase needs, only those missing (idempotent). Runs as root;
# as another user it prints what to install and fails if anything is missing.
#
#   bash scripts/setup.sh [GROUP...]     GROUP: build (the default), test, bench
#
# build: what `make build`, `make demo` and `make install` need (compilers, libraries, libtorch,
#        pybind11 and pandas for the Python package).
# test:  what only the tests and CI add (`make test`): chromium for the report's render test,
#        Debian's torch for python (TorchScript export), Open MPI (mpirun tests; woundphase built
#        with it), clang-format/clang-tidy (the format and lint gates), help2man and dpkg-dev (the
#        man page and the Debian package CI builds).
# bench: `make bench` and bench/*.sh: scikit-learn, hyperfine, a real image data set, clang's
#        fuzzing runtimes. WOUNDPHASE_BENCH_DEPS=1 adds this group too.
set -euo pipefail

build_packages=(
  cmake g++ make pkg-config
  libxgboost-dev xgboost libcsv-dev libtomlplusplus-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libsqlite3-dev
  libgtest-dev libbenchmark-dev libopenblas0-pthread
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev  # not libopencv-dev (1.2 GB)
  libtorch-dev  # image networks (libwoundphase_vision.so, loaded only for image modalities)
  python3-dev pybind11-dev python3-numpy python3-pandas  # the Python package (python/)
)
test_packages=(
  chromium                           # headless render test of the HTML report (tests/report)
  python3-torch python3-torchvision  # the tests export a TorchScript model with Debian's torch
  libopenmpi-dev openmpi-bin         # mpirun -np N woundphase search (tests/app/test_mpi.cpp)
  clang-format clang-tidy            # make format-check, make lint
  help2man dpkg-dev fakeroot         # the man page; cpack -G DEB with dpkg-shlibdeps
  python3-pytest                     # the Python package's tests (python/tests, under ctest)
)
# Benchmarks compare against scikit-learn and time whole processes; bench/fuzz.sh needs clang
# with its sanitizer/libFuzzer runtimes and OpenMP.
bench_packages=(
  python3-sklearn python3-pandas python3-scipy python3-statsmodels hyperfine bc time dataset-fashion-mnist clang
  libclang-rt-14-dev libomp-dev
)

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(build)
[ "${WOUNDPHASE_BENCH_DEPS:-0}" = 1 ] && groups+=(bench)
packages=()
for group in "${groups[@]}"; do
  case "$group" in
    build) packages+=("${build_packages[@]}") ;;
    test) packages+=("${build_packages[@]}" "${test_packages[@]}") ;;
    bench) packages+=("${build_packages[@]}" "${test_packages[@]}" "${bench_packages[@]}") ;;
    *)
      echo "woundphase setup: unknown group '$group' (build, test, bench)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "woundphase setup: missing packages: ${missing[*]}" >&2
  echo "install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
# The build group alone goes without apt's recommended packages: on a bare Debian 12 they are 232
# of its 623 packages and 230 of its 559 MB download (pandas recommends matplotlib, numba with
# LLVM, PyTables and the desktop libraries they pull in), and building, the demo and the Python
# package use none of them. The test and bench groups keep apt's default (chromium renders the
# report with its recommended fonts).
recommends=(--no-install-recommends)
for group in "${groups[@]}"; do
  [ "$group" = build ] || recommends=()
done
echo "woundphase setup (${groups[*]}): installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
  "${recommends[@]}" "${missing[@]}"
