#!/usr/bin/env python3
"""Set metrics in a scorelab weight file's manifest (the record a shipped model carries:
its history, measured figures and their commands).

Only the safetensors header JSON (`__metadata__.scorelab`) is rewritten (padded to 8 bytes);
the tensors are copied as they are. Check the result with `scorelab info OUT`.

  python3 scripts/manifest-metrics.py IN.safetensors OUT.safetensors \\
      history='"steps 1-6000: ..."' guidance='{"w": [0, 1, 3, 7], ...}'

Each KEY=JSON sets metrics[KEY] (JSON values: quote strings as JSON strings).
"""
import json, struct, sys


def main():
    if len(sys.argv) < 4 or any('=' not in kv for kv in sys.argv[3:]):
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    b = open(src, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    hdr, body = json.loads(b[8:8 + n]), b[8 + n:]
    man = json.loads(hdr['__metadata__']['scorelab'])
    for kv in sys.argv[3:]:
        k, v = kv.split('=', 1)
        man['metrics'][k] = json.loads(v)
    hdr['__metadata__']['scorelab'] = json.dumps(man, ensure_ascii=False)
    h = json.dumps(hdr, ensure_ascii=False).encode()
    h += b' ' * (-len(h) % 8)
    open(out, 'wb').write(struct.pack('<Q', len(h)) + h + body)


if __name__ == '__main__':
    main()
