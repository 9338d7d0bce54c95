#!/usr/bin/env bash
# The GPU check, in one script (about 5 minutes on one H100/H200; sized for under 8):
#   1. configures and builds only the vision library, its GPU check and its tests against the
#      machine's libtorch (PyTorch's: python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'),
#      with fmt and GoogleTest from $DEPS when the machine has no packages for them;
#   2. runs the vision and fusion tests on CUDA (WOUNDPHASE_TEST_DEVICE=cuda);
#   3. checks that the CPU and the GPU agree from the same weights, before and after one training
#      step (fp32, TF32 off);
#   4. measures training and inference throughput at 128 px for simple, resnet18, efficientnet_b0
#      and densenet121 in fp32 and bf16;
#   5. estimates the full four-modality, 5-fold search at 128 px from the measured rates;
#   6. with $DEPS/fashion-mnist, pretrains bench/transfer.sh's source backbone there
#      ($OUT/source.pth; copy it to $WORK/source.pth here and run bench/transfer.sh).
# On a machine without a GPU it says so, runs the CPU-side checks and exits 0.
#
# usage: bash bench/gpu.sh [OUT_DIR]
#   DEPS=DIR   folder with include/fmt/ and googletest/ (default .gpu-deps; bench/gpu_deps.sh makes
#              it from Debian's libfmt-dev and libgtest-dev, to carry to a GPU machine)
#   BUILD=DIR  build folder (default build-gpu)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-gpu-out}
deps=$(realpath -m "${DEPS:-.gpu-deps}")
build=${BUILD:-build-gpu}
mkdir -p "$out"
status=0
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null ||
  echo "nvidia-smi: none"
python=python3
has_gpu=$($python -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
if [ "$has_gpu" != 1 ]; then
  echo "no CUDA device visible to $python's torch: CPU-side checks only"
  bin=${CPU_BUILD:-build}
  if [ -x "$bin/woundphase_gpu_check" ]; then
    "$bin/woundphase_gpu_check" agree || status=1
  else
    echo "build the project first (make build) for the CPU-side checks"
  fi
  exit $status
fi
$python -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda,
      torch.cuda.get_device_name(0))'
g++ --version | head -1
cmake --version | head -1

step "configure and build the vision library alone"
prefix=$($python -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DWOUNDPHASE_VISION_ONLY=ON \
  -DCMAKE_PREFIX_PATH="$prefix" -DWOUNDPHASE_FMT_INCLUDE_DIR="$deps/include" \
  -DWOUNDPHASE_GTEST_SOURCE="$deps/googletest" >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
grep -E "vision-only|GoogleTest" "$out/configure.log"
keep_going=(-k)
[ ${#generator[@]} -gt 0 ] && keep_going=(-k 0)
start=$(date +%s)
if ! cmake --build "$build" -j"$(nproc)" -- "${keep_going[@]}" >"$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  status=1
fi
echo "built in $(($(date +%s) - start)) s"

step "vision and fusion tests on CUDA"
if [ -x "$build/test_vision" ]; then
  # VisionLinkage and the search probe run the woundphase program, which a vision-only build
  # does not have.
  WOUNDPHASE_TEST_DEVICE=cuda timeout 200 "$build/test_vision" --gtest_brief=1 \
    --gtest_filter=-VisionLinkage.*:VisionTorchScript.ASearchProbesEveryModalityBeforeTraining \
    >"$out/test_vision_cuda.log" 2>&1
  rc=$?
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[==========\]|Failure|error" "$out/test_vision_cuda.log" |
    head -40
  [ $rc = 0 ] || status=1
else
  echo "test_vision was not built"
  status=1
fi

check=$build/woundphase_gpu_check
step "CPU/GPU agreement from the same weights: forward and one training step"
if [ -x "$check" ]; then "$check" agree || status=1; else status=1; fi

step "training throughput at 128 px"
[ -x "$check" ] && "$check" throughput --size 128 --images 1024 --batch-size 64 \
  --backbones simple,resnet18,efficientnet_b0,densenet121 --precisions fp32,bf16 |
  tee "$out/throughput.txt"

step "estimate: the full four-modality, 5-fold search at 128 px"
# Visit-wounds and crops per image modality in the DFU study's box files (bounding_box_depth.csv
# serves depth_rgb and depth_map, bounding_box_thermal.csv thermal_map): counted from
# ../shared/data/dfu when it is there, else these counts of it.
data=../shared/data/dfu
count() { tail -n +2 "$1" | awk -F, '{v[($2+0)"-"($3+0)"-"($4+0)]=1; n++} END {print length(v), n}'; }
read -r depth_visits depth_crops < <([ -f $data/bounding_box_depth.csv ] &&
  count $data/bounding_box_depth.csv || echo 531 2531)
read -r thermal_visits thermal_crops < <([ -f $data/bounding_box_thermal.csv ] &&
  count $data/bounding_box_thermal.csv || echo 529 2456)
epochs=${EPOCHS:-30}  # woundphase's default maximum; early stopping usually ends sooner
awk -v epochs="$epochs" -v dv="$depth_visits" -v dc="$depth_crops" -v tv="$thermal_visits" \
  -v tc="$thermal_crops" '
  BEGIN {
    folds = 5; train_share = 0.8; fit_share = 0.8  # 5 folds; --validation-fraction 0.2
    printf "per fold and epoch, a branch trains once on each fit visit-wound (augmented: host batches)\n"
    printf "and scores its validation crops; after training it embeds every crop once.\n"
    printf "%-16s %-9s %14s   (%d epochs, 3 branches x 5 folds: depth_rgb, depth_map, thermal_map)\n",
           "backbone", "precision", "minutes", epochs
  }
  $1 == "rate" {
    t = 0
    split(dv " " dc " " dv " " dc " " tv " " tc, m, " ")
    for (b = 0; b < 3; b++) {
      visits = m[2 * b + 1]; crops = m[2 * b + 2]
      fit = visits * train_share * fit_share
      val_crops = crops * train_share * (1 - fit_share)
      t += folds * (epochs * (fit / $5 + val_crops / $6) + crops / $6)
    }
    printf "%-16s %-9s %14.1f\n", $2, $3, t / 60
  }
  END { printf "the predecessor (TensorFlow, RTX A5000): 443 minutes for its full four-modality run\n" }
' "$out/throughput.txt" | tee "$out/estimate.txt"

if [ -f "$deps/fashion-mnist/train-images-idx3-ubyte.gz" ]; then
  step "pretrain resnet18 on Fashion-MNIST's source classes (bench/transfer.sh)"
  timeout 240 $python bench/transfer_pretrain.py "$out/source.pth" --device cuda --epochs 15 \
    --per-class 6000 --data "$deps/fashion-mnist" || status=1
fi

step "done: status $status"
exit $status
