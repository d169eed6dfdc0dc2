#!/usr/bin/env python3
"""Per-rank gradients of a distributed Ranked List Loss: ours (``distributed=True``) and pytorch-metric-learning's
``DistributedLossWrapper(RankedListLoss)``, each against world_size × its own single-process gradient rows (what
DistributedDataParallel's averaging needs), on gloo processes over loopback (make distributed-vs-pml).

Prints, per rank: the largest relative gradient difference of each, the loss each rank sees, and what PML's
``efficient=True`` (its memory-saving mode) does. Float64, a P×K batch in equal shards (PML's wrapper needs them).
Usage: tools/distributed_vs_pml.py [--world 3] [--n 60] [--d 16]
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import warnings

import ranked_list_loss as rll
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from pytorch_metric_learning import losses
from pytorch_metric_learning.utils.distributed import DistributedLossWrapper


def batch(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    labels = torch.arange(n) // 4
    centres = torch.randn(n // 4 + 1, d, generator=g, dtype=torch.float64)
    return F.normalize(centres[labels] + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64), dim=1), labels


def pml_loss() -> losses.RankedListLoss:
    return losses.RankedListLoss(margin=0.4, Tn=10.0, imbalance=0.5, alpha=1.2, Tp=0.0)


def sizes_of(n: int, world: int) -> list[int]:
    """Equal shards (PML's wrapper all-gathers into copies of the local shard's shape: with unequal shards gloo
    aborts the process, 'terminate called after throwing an instance of gloo::EnforceNotMet')."""
    if n % world:
        raise SystemExit(f"--n {n} must be a multiple of --world {world}")
    return [n // world] * world


def rank_main(rank: int, world: int, port: int, n: int, d: int, out: str) -> None:
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x, labels = batch(n, d)
    sizes = sizes_of(n, world)
    start = sum(sizes[:rank])
    rows, mine = x[start : start + sizes[rank]], labels[start : start + sizes[rank]]
    result = {}
    ours = rows.clone().requires_grad_(True)
    loss = rll.pml.RankedListLoss(margin=0.4, Tn=10.0, imbalance=0.5, alpha=1.2, Tp=0.0, distributed=True)(ours, mine)
    loss.backward()
    result["ours"] = (loss.item(), ours.grad)
    theirs = rows.clone().requires_grad_(True)
    loss = DistributedLossWrapper(pml_loss())(theirs, mine)
    loss.backward()
    result["pml"] = (loss.item(), theirs.grad)
    try:
        efficient = rows.clone().requires_grad_(True)
        DistributedLossWrapper(pml_loss(), efficient=True)(efficient, mine).backward()
        result["efficient"] = "ran"
    except Exception as e:  # noqa: BLE001 - what PML raises is the finding
        result["efficient"] = f"{type(e).__name__}: {str(e).splitlines()[0][:90]}"
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", type=int, default=3)
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--d", type=int, default=16)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    x, labels = batch(args.n, args.d)
    single = {}
    for name, crit in (("ours", rll.pml.RankedListLoss(margin=0.4, Tn=10.0, imbalance=0.5, alpha=1.2, Tp=0.0)),
                       ("pml", pml_loss())):
        xs = x.clone().requires_grad_(True)
        loss = crit(xs, labels)
        loss.backward()
        single[name] = (loss.item(), xs.grad)
    with tempfile.TemporaryDirectory() as out, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        mp.spawn(rank_main, args=(args.world, port, args.n, args.d, out), nprocs=args.world)
        ranks = [torch.load(os.path.join(out, f"rank{r}.pt")) for r in range(args.world)]
    sizes = sizes_of(args.n, args.world)
    print(f"N = {args.n}, D = {args.d}, float64, {args.world} gloo processes, shards {sizes}; single-process loss: "
          f"ours {single['ours'][0]:.9f}, PML {single['pml'][0]:.9f}")
    print("| rank | ours: loss | ours: gradient vs world × rows | PML wrapper: loss | PML wrapper: gradient vs world "
          "× rows | PML efficient=True |")
    print("|---|---|---|---|---|---|")
    start = 0
    for r, size in enumerate(sizes):
        cells = []
        for name in ("ours", "pml"):
            loss, grad = ranks[r][name]
            want = single[name][1][start : start + size] * args.world
            err = ((grad - want).abs().max() / want.abs().max()).item()
            cells += [f"{loss:.9f}", f"{err:.1e}"]
        print(f"| {r} | {' | '.join(cells)} | {ranks[r]['efficient']} |")
        start += size


if __name__ == "__main__":
    main()
