#!/usr/bin/env bash
# What classifier-free guidance does to a class-conditional MNIST model: for each scale w,
# N samples of every digit (`scorelab sample --class D --guidance W`), the fraction the
# project's digit classifier assigns to the digit asked for (`scorelab classify`), and the
# samples' bits/dim under the model's unconditional density (its null label; `scorelab
# likelihood --bpd`, the samples quantised to 8 bits and dequantised). Not part of CI.
#   MODEL=models/mnist-unet-ve-cond.safetensors CLASSIFIER=models/mnist-classifier.safetensors \
#     N=20 BPD=30 scripts/guidance-table.sh
# Optional: SCALES ("0 1 3 7"), SAMPLER (pc), STEPS (250), OUT (runs/guidance), SCORELAB (the
# binary; default target/release/scorelab), BPD (samples per w whose bits/dim are computed;
# 0 skips; ~3 s each on 2 CPU cores).
set -euo pipefail
MODEL=${MODEL:-models/mnist-unet-ve-cond.safetensors}
CLASSIFIER=${CLASSIFIER:-models/mnist-classifier.safetensors}
N=${N:-20}; BPD=${BPD:-30}; SCALES=${SCALES:-0 1 3 7}; SAMPLER=${SAMPLER:-pc}; STEPS=${STEPS:-250}
OUT=${OUT:-runs/guidance}; S=${SCORELAB:-target/release/scorelab}
mkdir -p "$OUT"
echo "| w | fraction classified as the digit asked for | bits/dim of the samples (unconditional density) |"
echo "|---|---|---|"
for w in $SCALES; do
  right=0; total=0
  for d in 0 1 2 3 4 5 6 7 8 9; do
    f="$OUT/w$w-d$d.npy"
    "$S" sample --model "$MODEL" --class "$d" --guidance "$w" --sampler "$SAMPLER" --steps "$STEPS" \
      --n "$N" --seed "$d" --denoise --out "$f" --png "$OUT/w$w-d$d.png" 2> "$OUT/w$w-d$d.log"
    k=$("$S" classify --classifier "$CLASSIFIER" --images "$f" --class "$d" |
      sed -n 's/^fraction classified as [0-9]*: [0-9.]* (\([0-9]*\) of.*/\1/p')
    right=$((right + k)); total=$((total + N))
  done
  bpd="-"
  if [ "$BPD" -gt 0 ]; then
    # BPD samples spread over the digits, quantised to 8 bits and dequantised by `likelihood`
    python3 - "$OUT" "$w" "$BPD" <<'EOF'
import struct, sys, pathlib
out, w, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = []
def read(path):
    b = pathlib.Path(path).read_bytes()
    hl = struct.unpack('<H', b[8:10])[0]
    head = b[10:10 + hl].decode()
    n = int(head.split("'shape': (")[1].split(',')[0])
    data = struct.unpack('<%df' % (n * 784), b[10 + hl:10 + hl + 4 * n * 784])
    return [data[i * 784:(i + 1) * 784] for i in range(n)]
per = [read(f"{out}/w{w}-d{d}.npy") for d in range(10)]
i = 0
while len(rows) < want:
    d, j = i % 10, i // 10
    if j < len(per[d]):
        rows.append([min(1.0, max(0.0, round(v * 255) / 255)) for v in per[d][j]])
    i += 1
    if i > 10 * max(len(p) for p in per):
        break
head = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 784), }" % len(rows)
head += ' ' * (63 - (10 + len(head)) % 64) + '\n'
body = b''.join(struct.pack('<784f', *r) for r in rows)
pathlib.Path(f"{out}/w{w}-bpd-input.npy").write_bytes(
    b'\x93NUMPY\x01\x00' + struct.pack('<H', len(head)) + head.encode() + body)
EOF
    "$S" likelihood --model "$MODEL" --data "$OUT/w$w-bpd-input.npy" --dequantize true \
      --estimator hutchinson --bpd --out "$OUT/w$w-bpd.npy" > "$OUT/w$w-bpd.log" 2>&1
    bpd=$(sed -n 's/.*nats (\([0-9.-]*\) bits\/dim.*/\1/p' "$OUT/w$w-bpd.log" | head -1)
  fi
  echo "| $w | $(python3 -c "print(f'{$right/$total:.3f} ({$right} of {$total})')") | $bpd |"
done
