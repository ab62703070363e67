#!/bin/sh
# The PyTorch hand-off end to end, on this machine (opt-in; a few minutes on 2 cores):
#   stride train (bn-convnet, Fashion-MNIST, 2 epochs) -> stride export --format pytorch
#   -> torchrun --nproc_per_node=2 train.py (gloo, 1 epoch) -> checkpoint.pt back into stride -> stride eval.
# Fails unless stride's test accuracy of the returned weights equals the PyTorch script's own.
#   npm run build && sh scripts/check_pytorch_handoff.sh [WORKDIR]
# Needs /usr/bin/python3 with torch and torchvision, and Fashion-MNIST (apt-get install dataset-fashion-mnist).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-$(mktemp -d /tmp/stride-handoff.XXXXXX)}
DATA=/usr/share/datasets/fashion-mnist
STRIDE="node $ROOT/bin/stride.js"
mkdir -p "$WORK"
cd "$WORK"
rm -rf model pytorch back
echo "\$ stride train bn-convnet --dataset fashion-mnist --epochs 2 --model-width 0.5 --out model --progress lines --threads 1"
$STRIDE train bn-convnet --dataset fashion-mnist --epochs 2 --model-width 0.5 --out model --progress lines --threads 1
echo
echo "\$ stride export model --format pytorch --out pytorch"
$STRIDE export model --format pytorch --out pytorch
echo
cd pytorch
# --redirects 1 --tee 1: Debian's torch 1.13 torchrun fails on Python 3.11 with its default of 0 (see README.md).
echo "\$ torchrun --redirects 1 --tee 1 --nproc_per_node=2 train.py --data $DATA --epochs 1"
torchrun --redirects 1 --tee 1 --nproc_per_node=2 train.py --data "$DATA" --epochs 1 | tee ../torchrun.log
cd ..
echo
echo "\$ stride import pytorch/checkpoint.pt --arch model --out back"
$STRIDE import pytorch/checkpoint.pt --arch model --out back
echo
echo "\$ stride eval back --threads 1"
$STRIDE eval back --threads 1 | tee eval.log
torch_line=$(grep -o 'test accuracy [0-9.]*% ([0-9]*/[0-9]*)' torchrun.log)
stride_line=$(head -1 eval.log | grep -o 'accuracy [0-9.]*%')
torch_acc=$(echo "$torch_line" | grep -o '[0-9.]*%' | head -1)
stride_acc=$(echo "$stride_line" | grep -o '[0-9.]*%')
echo
if [ "$torch_acc" = "$stride_acc" ]; then
  echo "OK: PyTorch's train.py reports $torch_acc on the test set; stride evaluates the returned weights at $stride_acc"
else
  echo "MISMATCH: PyTorch's train.py reports $torch_acc, stride evaluates the returned weights at $stride_acc" >&2
  exit 1
fi
