#!/usr/bin/env bash
# GPU figures for the README (issue 19's `make bench-gpu`): scorelab on CUDA (and on wgpu
# through Vulkan when the loader is there) next to PyTorch eager on the same GPU, from one
# run, as ratios. Runs on the lent GPU machine (no cargo, no internet) from one folder that
# `make bench-gpu` packs here:
#   DIR=.dev/bench bash .dev/bench/bench-gpu.sh        (on the GPU machine; < 8 minutes)
# DIR holds gpu_bench.xz and launches.xz (`cargo build --release --features cuda,wgpu
# --example gpu_bench --example launches`, stripped, xz), pytorch_bench.py, this script, and optionally vulkan/*.deb (see
# ../shared/PLATFORM.md: libvulkan1 and friends, unpacked into / for wgpu on Vulkan).
# SECONDS_EACH (3): timing window per figure.
set -uo pipefail
DIR=${DIR:-.dev/bench}; S=${SECONDS_EACH:-3}
cd "$DIR"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
[ -x gpu_bench ] || { xz -dk gpu_bench.xz && chmod +x gpu_bench; }
export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/cuda/lib64:/usr/local/cuda-13.0/targets/x86_64-linux/lib:${LD_LIBRARY_PATH:-}
[ -d /usr/local/cuda ] && export CUDA_PATH=/usr/local/cuda
if ls vulkan/*.deb >/dev/null 2>&1; then
  for d in vulkan/*.deb; do dpkg -x "$d" / ; done; ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
# cubecl keeps autotune results in target/ of the nearest Cargo.toml above the working
# directory (the repository's, here), else ~/.cache/cubecl: the second run below reads them
{
  timeout 200 python3 pytorch_bench.py --device cuda
  timeout 200 ./gpu_bench --backend cuda --seconds "$S"
  echo "second run (cached kernels and autotune results): $(timeout 100 ./gpu_bench --backend cuda --seconds 1 | head -1)"
  if ls vulkan/*.deb >/dev/null 2>&1; then timeout 150 ./gpu_bench --backend wgpu --seconds "$S"; fi
  # kernel launches per step on CUDA (the dispatch budget; lavapipe's counts are in the README)
  if [ -f launches.xz ]; then
    [ -x launches ] || { xz -dk launches.xz && chmod +x launches; }
    timeout 120 ./launches --backend cuda --top 8
  fi
} 2>&1 | tee results.txt
# ratios against PyTorch, figure by figure
python3 - results.txt <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+): (.+?): ([\d.]+)\s*$", line.strip())
    if m:
        rows.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
print("\n| figure | PyTorch | scorelab cuda | ratio | scorelab wgpu | ratio |\n|---|---|---|---|---|---|")
for k, v in rows.items():
    p = v.get("pytorch")
    def cell(b):
        x = v.get(b)
        if x is None: return "–", "–"
        return f"{x:g}", (f"{x / p:.2f}x" if p else "–")
    c, cr = cell("cuda"); w, wr = cell("wgpu")
    print(f"| {k} | {p if p is not None else '–'} | {c} | {cr} | {w} | {wr} |")
PY
