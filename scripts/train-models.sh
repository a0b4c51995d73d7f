#!/usr/bin/env bash
# Train the shipped models under models/ with the native trainer (not part of CI).
#   scripts/train-models.sh toy      one MLP per 2-D set and SDE (VE, VP): models/toy/<set>-<sde>.safetensors
#   scripts/train-models.sh mnist    the notebook U-Net on MNIST (VE, sigma = 25): models/mnist-unet-ve.safetensors
# Each manifest records the command, seconds, steps/s and final loss.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SCORELAB:-${CARGO_TARGET_DIR:-target}/release/scorelab}
[ -x "$BIN" ] || cargo build --release --bin scorelab
case "${1:-toy}" in
  toy)
    for set in swiss-roll moons eight-gaussians checkerboard rings pinwheel spirals; do
      for sde in ve vp; do
        "$BIN" train --data "$set" --model mlp --sde "$sde" --steps "${STEPS:-3000}" --batch 512 \
          --lr 2e-3 --seed 0 --no-state --checkpoint-every 100000 \
          --out "models/toy/$set-$sde.safetensors" --log /dev/null
      done
    done ;;
  mnist)
    # Resumable: rerun with a larger STEPS to continue from the checkpoint (kept in runs/).
    mkdir -p runs
    args=(train --data mnist --model unet --sde ve-notebook --steps "${STEPS:-30000}" --batch 32
          --lr 5e-4 --warmup 500 --ema 0.999 --checkpoint-every 250 --seed 1
          --out runs/mnist-unet-ve.safetensors)
    [ -f runs/mnist-unet-ve.safetensors ] && args+=(--resume)
    "$BIN" "${args[@]}"
    "$BIN" strip runs/mnist-unet-ve.safetensors models/mnist-unet-ve.safetensors ;;
  *) echo "usage: $0 toy|mnist" >&2; exit 2 ;;
esac
