#!/usr/bin/env python3
"""Carry the shipped MNIST model's manifest metrics over to newly trained EMA weights.

`scorelab strip` on the GPU machine writes a manifest whose `metrics` describe only the last
training call. Shipping needs the whole story (every phase's command, the history of
held-out bits/dim, the new figure with its command and NFE): this copies `metrics` from the
currently shipped file, appends to `command` and `history`, sets `bits_per_dim_heldout`,
and keeps the new file's loss/seconds/steps-per-second. Only the safetensors header JSON
(`__metadata__.scorelab`) is rewritten (padded to 8 bytes); the tensors are copied as they
are. Check the result with `scorelab info OUT`.

  python3 scripts/ship-mnist-manifest.py NEW_EMA.safetensors models/mnist-unet-ve.safetensors \
      OUT.safetensors --bpd 2.8263 --nfe 812 --lik-seconds 121 \
      --command "steps 33438-42255: the same at --batch 128 --lr 2e-4" \
      --history "39055: 2.860, 42255: 2.826 (all 1000; this file)"

Optional: --lik-command (the likelihood command, when it differs from the shipped one's),
--where (where it ran, default "one H100"), --backend (replaces metrics.backend), and
--extra KEY=JSON (more metrics, e.g. the same figure at another epsilon).
"""
import argparse, json, struct


def read(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('new'); ap.add_argument('shipped'); ap.add_argument('out')
    ap.add_argument('--bpd', type=float, required=True, help='held-out bits/dim, 1,000 digits')
    ap.add_argument('--nfe', type=int, required=True)
    ap.add_argument('--lik-seconds', type=float, required=True)
    ap.add_argument('--command', required=True, help='appended to metrics.command after "; "')
    ap.add_argument('--history', required=True, help='appended to metrics.history after "; "')
    ap.add_argument('--lik-command', help='the likelihood command, if not the shipped one')
    ap.add_argument('--where', default='one H100', help='where the likelihood ran')
    ap.add_argument('--backend', help='replaces metrics.backend')
    ap.add_argument('--extra', action='append', default=[], help='KEY=JSON, another metric')
    a = ap.parse_args()
    hdr, body = read(a.new)
    old, _ = read(a.shipped)
    man = json.loads(hdr['__metadata__']['scorelab'])
    prev = json.loads(old['__metadata__']['scorelab'])['metrics']
    bpd = prev['bits_per_dim_heldout']
    cmd = a.lik_command or bpd['command'].split(' (')[0]
    man['metrics'] = {
        'backend': a.backend or prev['backend'],
        'bits_per_dim_heldout': {
            'command': f"{cmd} ({a.lik_seconds:.0f} s on {a.where})",
            'digits': 1000, 'nfe': a.nfe, 'value': a.bpd},
        'command': prev['command'] + '; ' + a.command,
        'history': prev['history'].replace('; this file', '') + '; ' + a.history,
        'loss_ema': man['metrics']['loss_ema'],
        'seconds': man['metrics']['seconds'],
        'steps_per_second': man['metrics']['steps_per_second'],
    }
    for kv in a.extra:
        k, v = kv.split('=', 1)
        man['metrics'][k] = json.loads(v)
    hdr['__metadata__']['scorelab'] = json.dumps(man, separators=(',', ':'))
    h = json.dumps(hdr, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(a.out, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + body)


if __name__ == '__main__':
    main()
