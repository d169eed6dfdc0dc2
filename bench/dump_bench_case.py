#!/usr/bin/env python3
"""Writes bench/gpu_bench.py's batch of one shape (torch.randn, seed 0, normalised rows, labels i // 3) as raw files
for tests/gpu.rs's RLL_GPU_CASE test: <prefix>.x, <prefix>.y, <prefix>.shape."""
import sys

import torch

n, d, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
g = torch.Generator(device="cuda").manual_seed(0)
x = torch.randn(n, d, device="cuda", generator=g)
x = (x / x.norm(dim=1, keepdim=True)).cpu().contiguous()
y = (torch.arange(n) // 3).float()
x.numpy().tofile(prefix + ".x")
y.numpy().tofile(prefix + ".y")
open(prefix + ".shape", "w").write(f"{n} {d}\n")
