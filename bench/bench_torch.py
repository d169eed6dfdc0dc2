#!/usr/bin/env python3
"""Ours and pytorch-metric-learning's RankedListLoss through PyTorch, side by side in one run (make bench-torch).

Forward+backward of the loss module on the same inputs (float32 CPU tensors: L2-normalised random features,
P×K labels with K = 4), framework overhead included: `rll.pml.RankedListLoss` (PML's arguments and formula on
our engine) against `pytorch_metric_learning.losses.RankedListLoss`, both normalising their input as PML does.
The same thread count for both (torch.set_num_threads and rll.set_num_threads), runs alternating between the two;
the median of repeated runs and its spread (min-max), and the ratio PML / ours. Ours normalises inside its engine
call (`normalize=True`, as rll.pml does), PML with its LpDistance.
Usage: bench/bench_torch.py [--threads 1 2] [--repeats N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import ranked_list_loss as rll
import torch
from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

SHAPES = [(60, 512), (180, 512), (1024, 512), (4096, 128)]


def inputs(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n * 7 + d)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
    return x, torch.arange(n) % (n // 4)


def one_step(crit: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> float:
    e = x.clone().requires_grad_(True)
    t0 = time.perf_counter()
    crit(e, labels).backward()
    return (time.perf_counter() - t0) * 1e3


def time_pair(ours: torch.nn.Module, theirs: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor,
              repeats: int) -> tuple[list[float], list[float]]:
    """Alternating runs (ours, theirs, ours, ...) after two warm-up runs each, so that a slow spell of the machine
    falls on both."""
    a, b = [], []
    for k in range(repeats + 2):
        ta, tb = one_step(ours, x, labels), one_step(theirs, x, labels)
        if k >= 2:
            a.append(ta)
            b.append(tb)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    print(f"# bench-torch: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads "
          f"available, torch {torch.__version__}")
    print("| threads | N×D | ours (ms) | PML (ms) | PML / ours |")
    print("|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        rll.set_num_threads(threads)
        for n, d in SHAPES:
            x, labels = inputs(n, d)
            repeats = args.repeats if n * n * d <= 1024 * 1024 * 512 else max(5, args.repeats // 3)
            ours, theirs = time_pair(rll.pml.RankedListLoss(margin=0.4, Tn=10), PmlLoss(margin=0.4, Tn=10), x, labels,
                                     repeats)
            mo, mt = statistics.median(ours), statistics.median(theirs)
            print(f"| {threads} | {n}×{d} | {mo:.2f} ({min(ours):.2f}-{max(ours):.2f}) | "
                  f"{mt:.2f} ({min(theirs):.2f}-{max(theirs):.2f}) | {mt / mo:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
