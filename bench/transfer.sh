#!/usr/bin/env bash
# Issue 11's evidence that pretrained weights really travel: resnet18 pretrained (Debian's
# python3-torch) on Fashion-MNIST's 7 SOURCE classes, exported by scripts/export_backbone.py, then
# frozen in woundphase (--unfreeze 0: only a new classifier trains) on 1,000 training images of the
# 3 held-out TARGET classes (T-shirt/top, dress, sneaker) given as 1-channel images, which the
# backbone takes as 3 copies with ImageNet normalisation. Control: the same architecture exported
# with random weights, frozen the same way. Prints both test accuracies (3,000 test images).
# Needs dataset-fashion-mnist, python3-torchvision, libtorch-dev.
# Usage: bench/transfer.sh [PRETRAIN_EPOCHS] [THREADS]     (BUILD=dir for another build folder)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
threads=${2:-2}
build=${BUILD:-build}
work=${WORK:-/tmp/woundphase_transfer}
target=0,3,7
source=1,2,4,5,6,8,9
mkdir -p "$work"
cmake --build "$build" -j2 --target woundphase_vision_bench > /dev/null
if [ ! -f "$work/source.pth" ]; then
  /usr/bin/time -f "pretraining: %e s" /usr/bin/python3 bench/transfer_pretrain.py "$work/source.pth" \
    --classes "$source" --epochs "$epochs" --threads "$threads"
fi
/usr/bin/python3 scripts/export_backbone.py resnet18 "$work/pretrained.pt" --weights "$work/source.pth" --force
/usr/bin/python3 scripts/export_backbone.py resnet18 "$work/random.pt" --random --force
for backbone in pretrained random; do
  echo "== frozen $backbone resnet18, new head on 1,000 target images"
  "$build/woundphase_vision_bench" fashion-mnist --backbone "torchscript:$work/$backbone.pt" \
    --classes "$target" --train-limit 1000 --validation 600 --unfreeze 0 --freeze-bn --imagenet \
    --epochs 30 --learning-rate 3e-3 --threads "$threads" | grep -E "^(fashion|trainable|best)"
done
