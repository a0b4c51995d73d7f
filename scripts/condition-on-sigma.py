#!/usr/bin/env python3
"""Turn a t-conditioned U-Net (`--model unet`, ve-notebook SDE) into one that sees ln σ(t)
(`--model unet-ncsn`) with the same function as far as a linear map allows, as a start for
fine-tuning.

Why: the notebook's U-Net sees t through Gaussian Fourier features of scale 30, which barely
move below t ≈ 1e-4 (the shipped MNIST model's embedding changes by rms 0.007, against its
own rms 0.27, between t = 1e-7 and 1e-5), so at the smallest noise levels the network has
to guess σ from the image. `unet-ncsn` feeds the same features
u = (ln σ(t) − ln 0.01)/(ln σ(1) − ln 0.01) instead (−0.50 at t = 1e-7, −0.17 at 1e-5).
Measured once (2026-11-27): the shipped model converted with SCALE 1.5 and fine-tuned 10,135
steps on the CPU (batch 32, likelihood weighting, importance t, --t-eps 1e-7) scored worse
on the digits with huge bits/dim, not better (ARCHITECTURE.md, "Denoiser clip for image models": the tail was a
runaway ODE trajectory, cured by keeping the denoiser in [0, 1]).

How: only the time embedding's first dense layer reads the features, so the new features
g(u(t)) (frequencies `fourier` × SCALE) get a new dense layer fitted by least squares to
reproduce the old pre-activations g(t)·E + b on a grid of t (log-spaced below 0.01, linear
above). Everything else is copied. The fit is not exact (it prints its residual); training
from the result (`scripts/resumable-from-ema.py`, then `scorelab train --model unet-ncsn
--resume ...`) has to finish the job. Needs numpy.

  python3 scripts/condition-on-sigma.py models/mnist-unet-ve.safetensors out.safetensors [SCALE]
"""
import json, struct, sys

import numpy as np


def read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def tensor(hdr, body, k):
    m = hdr[k]
    assert m['dtype'] == 'F32', f'{k}: {m["dtype"]} (expected F32)'
    lo, hi = m['data_offsets']
    return np.frombuffer(body[lo:hi], dtype='<f4').reshape(m['shape']).astype(np.float64)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    src, out = sys.argv[1:3]
    scale = float(sys.argv[3]) if len(sys.argv) == 4 else 1.5
    hdr, body = read(src)
    manifest = json.loads(hdr['__metadata__']['scorelab'])
    arch, sde = manifest['architecture'], manifest['sde']
    if arch.get('kind') != 'unet' or arch.get('conditioning') != 'time':
        sys.exit(f'{src}: not a t-conditioned U-Net ({arch})')
    if sde.get('kind') != 've-notebook':
        sys.exit(f'{src}: SDE {sde}; only ve-notebook is handled')
    if any(k.startswith('train.') for k in hdr):
        sys.exit(f'{src} holds training state; strip it first (scorelab strip)')
    s = sde['sigma']
    sig = lambda t: np.sqrt((s ** (2 * t) - 1) / (2 * np.log(s)))
    lo = np.log(0.01)
    span = np.log(sig(1.0)) - lo
    u = lambda t: (np.log(sig(t)) - lo) / span

    w = tensor(hdr, body, 'fourier')
    e = tensor(hdr, body, 'embed.weight')  # [in, out]
    b = tensor(hdr, body, 'embed.bias')
    feats = lambda x, f: np.concatenate(
        [np.sin(2 * np.pi * np.outer(x, f)), np.cos(2 * np.pi * np.outer(x, f))], 1)
    t = np.concatenate([np.logspace(-7, -2, 4000), np.linspace(0.01, 1, 4000)])
    z = feats(t, w) @ e + b
    w2 = w * scale
    a = np.concatenate([feats(u(t), w2), np.ones((len(t), 1))], 1)
    x = np.linalg.solve(a.T @ a + 1e-4 * np.eye(a.shape[1]), a.T @ z)
    tt = np.concatenate([np.logspace(-7, -2, 999), np.linspace(0.01, 1, 999) + 3e-4])
    r = (np.concatenate([feats(u(tt), w2), np.ones((len(tt), 1))], 1) @ x
         - (feats(tt, w) @ e + b))
    print(f'fit of the embedding pre-activations (rms {np.sqrt((z ** 2).mean()):.3f}): '
          f'residual rms {np.sqrt((r ** 2).mean()):.3f}, max {np.abs(r).max():.3f}')

    new = {'fourier': w2, 'embed.weight': x[:-1], 'embed.bias': x[-1]}
    arch['conditioning'] = 'log-sigma'
    manifest.setdefault('metrics', {})['conditioning_conversion'] = (
        f'from {src} (step {manifest.get("steps")}, t-conditioned) by '
        f'scripts/condition-on-sigma.py, fourier scale x{scale}, embed refitted '
        f'(residual rms {np.sqrt((r ** 2).mean()):.3f})')
    hdr['__metadata__']['scorelab'] = json.dumps(manifest, separators=(',', ':'))
    chunks, offset = [], 0
    for k in sorted((k for k in hdr if k != '__metadata__'),
                    key=lambda k: hdr[k]['data_offsets'][0]):
        lo_, hi_ = hdr[k]['data_offsets']
        data = (new[k].astype('<f4').tobytes() if k in new else body[lo_:hi_])
        assert len(data) == hi_ - lo_, k
        hdr[k]['data_offsets'] = [offset, offset + len(data)]
        chunks.append(data)
        offset += len(data)
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(out, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(chunks))


if __name__ == '__main__':
    main()
