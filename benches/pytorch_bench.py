#!/usr/bin/env python3
"""The same measurements as `cargo bench --bench train`, in PyTorch on the same machine
(not part of CI; `pip install torch safetensors numpy`). Architectures are the notebook's ScoreNet (U-Net,
channels 32/64/128/256, embed 256, GroupNorm, output / std) and the toy MLP (16 Gaussian
Fourier frequencies, 3 x 128 SiLU, output / std); losses are the notebook's DSM.

    python3 benches/pytorch_bench.py [--threads N] [--save scorenet.safetensors]

Prints images/s (U-Net training, batch 32), evaluations/s (U-Net score, batch 64), steps/s
(toy MLP Adam step, batch 512), and steps/s of the toy MLP step with what scorelab's trainer
also does (minibatch from a data set, per-tensor gradient clipping, EMA) at batch 512 and 64. `--save` writes the ScoreNet's state_dict with
safetensors, a file `scorelab info` / `scorelab sample --model` read directly.
"""
import argparse, math, time
import numpy as np
import torch
import torch.nn as nn

SIGMA = 25.0


def marginal_prob_std(t):
    return torch.sqrt((SIGMA ** (2 * t) - 1.0) / 2.0 / math.log(SIGMA))


class GaussianFourierProjection(nn.Module):
    def __init__(self, embed_dim, scale=30.0):
        super().__init__()
        self.W = nn.Parameter(torch.randn(embed_dim // 2) * scale, requires_grad=False)

    def forward(self, x):
        x_proj = x[:, None] * self.W[None, :] * 2 * np.pi
        return torch.cat([torch.sin(x_proj), torch.cos(x_proj)], dim=-1)


class Dense(nn.Module):
    def __init__(self, input_dim, output_dim):
        super().__init__()
        self.dense = nn.Linear(input_dim, output_dim)

    def forward(self, x):
        return self.dense(x)[..., None, None]


class ScoreNet(nn.Module):
    """The notebook's time-dependent U-Net (Song's tutorial), verbatim in structure."""

    def __init__(self, channels=(32, 64, 128, 256), embed_dim=256):
        super().__init__()
        self.embed = nn.Sequential(GaussianFourierProjection(embed_dim=embed_dim), nn.Linear(embed_dim, embed_dim))
        self.conv1 = nn.Conv2d(1, channels[0], 3, stride=1, bias=False)
        self.dense1 = Dense(embed_dim, channels[0])
        self.gnorm1 = nn.GroupNorm(4, num_channels=channels[0])
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, stride=2, bias=False)
        self.dense2 = Dense(embed_dim, channels[1])
        self.gnorm2 = nn.GroupNorm(32, num_channels=channels[1])
        self.conv3 = nn.Conv2d(channels[1], channels[2], 3, stride=2, bias=False)
        self.dense3 = Dense(embed_dim, channels[2])
        self.gnorm3 = nn.GroupNorm(32, num_channels=channels[2])
        self.conv4 = nn.Conv2d(channels[2], channels[3], 3, stride=2, bias=False)
        self.dense4 = Dense(embed_dim, channels[3])
        self.gnorm4 = nn.GroupNorm(32, num_channels=channels[3])
        self.tconv4 = nn.ConvTranspose2d(channels[3], channels[2], 3, stride=2, bias=False)
        self.dense5 = Dense(embed_dim, channels[2])
        self.tgnorm4 = nn.GroupNorm(32, num_channels=channels[2])
        self.tconv3 = nn.ConvTranspose2d(channels[2] + channels[2], channels[1], 3, stride=2, bias=False, output_padding=1)
        self.dense6 = Dense(embed_dim, channels[1])
        self.tgnorm3 = nn.GroupNorm(32, num_channels=channels[1])
        self.tconv2 = nn.ConvTranspose2d(channels[1] + channels[1], channels[0], 3, stride=2, bias=False, output_padding=1)
        self.dense7 = Dense(embed_dim, channels[0])
        self.tgnorm2 = nn.GroupNorm(32, num_channels=channels[0])
        self.tconv1 = nn.ConvTranspose2d(channels[0] + channels[0], 1, 3, stride=1)
        self.act = lambda x: x * torch.sigmoid(x)

    def forward(self, x, t):
        embed = self.act(self.embed(t))
        h1 = self.act(self.gnorm1(self.conv1(x) + self.dense1(embed)))
        h2 = self.act(self.gnorm2(self.conv2(h1) + self.dense2(embed)))
        h3 = self.act(self.gnorm3(self.conv3(h2) + self.dense3(embed)))
        h4 = self.act(self.gnorm4(self.conv4(h3) + self.dense4(embed)))
        h = self.act(self.tgnorm4(self.tconv4(h4) + self.dense5(embed)))
        h = self.act(self.tgnorm3(self.tconv3(torch.cat([h, h3], dim=1)) + self.dense6(embed)))
        h = self.act(self.tgnorm2(self.tconv2(torch.cat([h, h2], dim=1)) + self.dense7(embed)))
        h = self.tconv1(torch.cat([h, h1], dim=1))
        return h / marginal_prob_std(t)[:, None, None, None]


class ToyMLP(nn.Module):
    def __init__(self, dim=2, hidden=128, layers=3, features=16, scale=16.0):
        super().__init__()
        self.W = nn.Parameter(torch.randn(features) * scale, requires_grad=False)
        mods = [nn.Linear(dim + 2 * features, hidden)]
        mods += [nn.Linear(hidden, hidden) for _ in range(layers - 1)]
        self.hidden = nn.ModuleList(mods)
        self.out = nn.Linear(hidden, dim)

    def forward(self, x, t, std):
        proj = t[:, None] * self.W[None, :] * 2 * np.pi
        h = torch.cat([x, torch.sin(proj), torch.cos(proj)], dim=1)
        for layer in self.hidden:
            h = nn.functional.silu(layer(h))
        return self.out(h) / std[:, None]


def dsm_loss(model, x, eps=1e-5):
    t = torch.rand(x.shape[0], device=x.device) * (1.0 - eps) + eps
    z = torch.randn_like(x)
    std = marginal_prob_std(t)
    perturbed = x + z * std[:, None, None, None]
    score = model(perturbed, t)
    return torch.mean(torch.sum((score * std[:, None, None, None] + z) ** 2, dim=(1, 2, 3)))


def timeit(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def trainer_step(mlp, mopt, data):
    """One step as scorelab's Trainer::step does it: a minibatch drawn from the data set, the
    gradient norm clipped per parameter tensor (1.0), the EMA (0.999) updated, the loss read
    back and checked. Returns step(n) for batch n."""
    dev = data.device
    params = list(mlp.parameters())
    ema = [p.detach().clone() for p in params]

    def full_step(n):
        x0 = data[torch.randint(0, data.shape[0], (n,), device=dev)]
        t = torch.rand(n, device=dev) * (1 - 1e-5) + 1e-5
        log_mean = -0.25 * t ** 2 * 19.9 - 0.5 * t * 0.1
        std = torch.sqrt(1.0 - torch.exp(2.0 * log_mean))
        z = torch.randn_like(x0)
        xt = x0 * torch.exp(log_mean)[:, None] + z * std[:, None]
        loss = torch.mean(torch.sum((mlp(xt, t, std) * std[:, None] + z) ** 2, dim=1))
        if not torch.isfinite(loss).item():
            raise RuntimeError("loss")
        mopt.zero_grad()
        loss.backward()
        with torch.no_grad():  # PyTorch's fused multi-tensor (foreach) forms
            grads = [p.grad for p in params if p.grad is not None]
            norms = torch._foreach_norm(grads)
            torch._foreach_mul_(grads, [torch.clamp(1.0 / (n + 1e-6), max=1.0) for n in norms])
        mopt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, params, 1 - 0.999)

    return full_step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    ap.add_argument("--save", help="write the ScoreNet state_dict as safetensors")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU figures of scripts/bench-gpu.sh)")
    a = ap.parse_args()
    if a.device != "cpu":
        return gpu(a.device)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    net = ScoreNet()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x = torch.rand(32, 1, 28, 28)

    def train_step():
        opt.zero_grad()
        dsm_loss(net, x).backward()
        opt.step()

    s = timeit(train_step, 3, 20)
    print(f"unet train step, batch 32: {s * 1e3:.1f} ms = {32 / s:.0f} images/s")
    xe = torch.randn(64, 1, 28, 28)
    te = torch.full((64,), 0.5)
    with torch.no_grad():
        s = timeit(lambda: net(xe, te), 3, 20)
    print(f"unet score evaluation, batch 64: {s * 1e3:.1f} ms = {64 / s:.0f} evaluations/s")

    mlp = ToyMLP()
    mopt = torch.optim.Adam(mlp.parameters(), lr=2e-3)
    xm = torch.randn(512, 2) * 5

    def mlp_step():
        t = torch.rand(512) * (1 - 1e-5) + 1e-5
        # VP marginal std with beta 0.1..20
        log_mean = -0.25 * t ** 2 * 19.9 - 0.5 * t * 0.1
        std = torch.sqrt(1.0 - torch.exp(2.0 * log_mean))
        z = torch.randn_like(xm)
        xt = xm * torch.exp(log_mean)[:, None] + z * std[:, None]
        loss = torch.mean(torch.sum((mlp(xt, t, std) * std[:, None] + z) ** 2, dim=1))
        mopt.zero_grad()
        loss.backward()
        mopt.step()

    s = timeit(mlp_step, 10, 200)
    print(f"toy mlp adam step, batch 512: {s * 1e3:.2f} ms = {1 / s:.0f} steps/s")

    # The same step with what scorelab's Trainer::step also does: a minibatch drawn from the
    # data set, the gradient norm clipped per parameter tensor (1.0), the EMA (0.999) updated,
    # the loss read back and checked; and at batch 64 (the fixed per-step cost).
    full_step = trainer_step(mlp, mopt, torch.randn(20_000, 2) * 5)

    for n in (512, 64):
        s = timeit(lambda: full_step(n), 10, 200)
        print(f"toy mlp trainer step (minibatch, clip, EMA), batch {n}: {s * 1e3:.2f} ms = {1 / s:.0f} steps/s")

    if a.save:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, a.save)
        x = torch.tensor([((i * 37) % 101) / 101.0 for i in range(2 * 784)]).reshape(2, 1, 28, 28)
        with torch.no_grad():
            s = net(x, torch.full((2,), 0.5)).reshape(-1)
        print(f"wrote {a.save}; score at the check input: {s[:4].tolist()} sum {s.sum().item()}")
        print(f"compare: cargo run --release --example check_pytorch {a.save}")


def gpu(device):
    """The figures examples/gpu_bench.rs prints, on a GPU: steady state after warm-up, each
    timed over ~3 s with the device synchronised, and seconds from start to the first step."""
    start = time.perf_counter()
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else device}")

    def rate(fn, warmup=3, seconds=3.0):
        for _ in range(warmup):
            fn()
        sync()
        t0 = time.perf_counter()
        n = 0
        while n < 5 or time.perf_counter() - t0 < seconds:
            fn()
            n += 1
        sync()
        return n / (time.perf_counter() - t0)

    torch.manual_seed(0)
    for i, batch in enumerate((32, 128)):
        net = ScoreNet().to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        x = torch.rand(batch, 1, 28, 28, device=dev)

        def step():
            opt.zero_grad()
            dsm_loss(net, x).backward()
            opt.step()

        step()
        sync()
        if i == 0:
            print(f"pytorch: first U-Net training step done {time.perf_counter() - start:.1f} s after start")
        print(f"pytorch: unet train steps/s, batch {batch}: {rate(step):.1f}")
        if i == 0:
            xe = torch.randn(64, 1, 28, 28, device=dev)
            te = torch.full((64,), 0.5, device=dev)
            with torch.no_grad():
                print(f"pytorch: unet score evaluations/s, batch 64: {64 * rate(lambda: net(xe, te)):.0f}")
    mlp = ToyMLP().to(dev)
    mopt = torch.optim.Adam(mlp.parameters(), lr=2e-3)
    full_step = trainer_step(mlp, mopt, torch.randn(20_000, 2, device=dev) * 5)

    for n in (512, 64):
        print(f"pytorch: toy mlp trainer steps/s, batch {n}: {rate(lambda: full_step(n), warmup=10):.1f}")


if __name__ == "__main__":
    main()
