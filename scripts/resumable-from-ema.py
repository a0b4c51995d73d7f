#!/usr/bin/env python3
"""Make a weights file without training state resumable: its (EMA) weights become the
training weights too.

`scorelab train --resume` continues a checkpoint that holds the training weights under
`train.model.*` (and Adam's moments under `train.adam.*`). A stripped file (`scorelab strip`,
every shipped model) holds only the EMA weights. This writes a copy with each tensor also
under `train.model.`; resuming it starts from the EMA weights with fresh Adam moments (no
`train.adam.*`: the trainer then starts Adam afresh, bias correction included) at the
manifest's step count. Use it
when the checkpoint with training state is lost, e.g. to continue the shipped MNIST U-Net:

  python3 scripts/resumable-from-ema.py models/mnist-unet-ve.safetensors .dev/ckpt.safetensors
  touch .dev/ckpt.safetensors.loss.jsonl

Only the safetensors header and body are rewritten (stdlib only; tensors copied as they are).
"""
import json, struct, sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1:]
    b = open(src, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    hdr, body = json.loads(b[8:8 + n]), b[8 + n:]
    names = [k for k in hdr if k != '__metadata__']
    if any(k.startswith('train.') for k in names):
        sys.exit(f'{src} already holds training state; resume it directly')
    extra, offset = bytearray(), len(body)
    for k in sorted(names, key=lambda k: hdr[k]['data_offsets'][0]):
        lo, hi = hdr[k]['data_offsets']
        hdr['train.model.' + k] = dict(hdr[k], data_offsets=[offset, offset + hi - lo])
        extra += body[lo:hi]
        offset += hi - lo
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(out, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + body + bytes(extra))


if __name__ == '__main__':
    main()
