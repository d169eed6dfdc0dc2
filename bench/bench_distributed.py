#!/usr/bin/env python3
"""Global ranking on gloo processes over loopback (make bench-distributed): the time per training step of the loss
(forward+backward of ``distributed=True``, each rank on its 1/W of the batch) for W = 1..4 processes, beside the
single-process loss on the whole batch, and the bytes each rank sends per step.

Each rank uses one thread (torch and the engine). Bytes are counted from the collectives' sizes as gloo's ring
algorithms move them: an all-gather or a reduce-scatter of W blocks of B bytes sends (W − 1)·B per rank; the
features' and labels' all-gathers, OFFICIAL's ln masses, the gradient's reduce-scatter, shapes and loss parts.
Median of the repeats and its spread (min-max). Usage: bench/bench_distributed.py [--n 1024] [--d 128]
[--worlds 1 2 3 4] [--repeats 15] [--semantics paper]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import tempfile
import time

import ranked_list_loss as rll
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F


def batch(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n + d)
    return F.normalize(torch.randn(n, d, generator=g), dim=1), torch.arange(n) // 4


def bytes_per_rank(n: int, d: int, world: int, official: bool) -> int:
    """What one rank sends per step (float32 features and gradient, int64 labels and shapes, float64 parts)."""
    m = -(-n // world)
    per_block = m * d * 4 + m * 8 + (m * 8 if official else 0) + m * d * 4 + 2 * 8 + 8
    return (world - 1) * per_block


def rank_main(rank: int, world: int, port: int, args: argparse.Namespace, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    rll.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x, labels = batch(args.n, args.d)
    local = x.chunk(world)[rank].clone().requires_grad_(True)
    mine = labels.chunk(world)[rank]
    crit = rll.RankedListLoss(semantics=args.semantics, distributed=True)
    times = []
    for k in range(args.repeats + 2):
        local.grad = None
        dist.barrier()
        t = time.perf_counter()
        crit(local, mine).backward()
        dist.barrier()
        if k >= 2:
            times.append(time.perf_counter() - t)
    if rank == 0:
        torch.save(times, os.path.join(out, "times.pt"))
    dist.destroy_process_group()


def single(args: argparse.Namespace) -> list[float]:
    torch.set_num_threads(1)
    rll.set_num_threads(1)
    x, labels = batch(args.n, args.d)
    x.requires_grad_(True)
    crit = rll.RankedListLoss(semantics=args.semantics)
    times = []
    for k in range(args.repeats + 2):
        x.grad = None
        t = time.perf_counter()
        crit(x, labels).backward()
        if k >= 2:
            times.append(time.perf_counter() - t)
    return times


def ms(times: list[float]) -> str:
    return f"{1e3 * statistics.median(times):.2f} ({1e3 * min(times):.2f}-{1e3 * max(times):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--worlds", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--semantics", default="paper")
    args = ap.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, torch {torch.__version__}; N = {args.n}, "
          f"D = {args.d}, {args.semantics}, float32, one thread per process; ms per step: median (min-max) of "
          f"{args.repeats}")
    base = single(args)
    print("| processes | loss fwd+bwd, ms | vs one process, whole batch | bytes sent per rank per step |")
    print("|---|---|---|---|")
    print(f"| 1 (not distributed) | {ms(base)} | 1.00 | 0 |")
    for world in args.worlds:
        with tempfile.TemporaryDirectory() as out, socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            mp.spawn(rank_main, args=(world, port, args, out), nprocs=world)
            times = torch.load(os.path.join(out, "times.pt"))
        ratio = statistics.median(times) / statistics.median(base)
        sent = bytes_per_rank(args.n, args.d, world, args.semantics != "paper")
        print(f"| {world} | {ms(times)} | {ratio:.2f} | {sent:,} |", flush=True)


if __name__ == "__main__":
    main()
