#!/usr/bin/env python3
"""The main job's protocol with and without a cross-batch memory (make demo-memory; docs/memory.md): the demo's
convnet and recipe of tools/demo_torch.py (Fashion-MNIST classes 0-4, P×K = 5×12, 2,000 SGD iterations, PAPER with
m = 0.4, α = 1.2, T_n = 10), trained for each seed once with the batch loss and once with
``rll.CrossBatchMemory`` (the batch ranked against a queue of the last ``--memory`` embeddings, from iteration
``--start`` on, before which the queue is not used: early embeddings move fast), then Recall@1/2/4/8 and NMI on the
test images of the seen and the unseen classes, mean ± standard deviation over the seeds, reported as measured.

Usage: tools/demo_memory.py [--seeds 1 2 3] [--memory 1200] [--start 500] [--iters 2000] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import time

import ranked_list_loss as rll
import torch
import torch.nn.functional as F

_spec = importlib.util.spec_from_file_location("demo_torch", os.path.join(os.path.dirname(__file__), "demo_torch.py"))
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


def train(images: torch.Tensor, labels: torch.Tensor, seed: int, iters: int, memory_size: int, start: int):
    torch.manual_seed(seed)
    net = demo.convnet()
    crit = rll.RankedListLoss(margin=0.4, alpha=1.2, t_n=10.0)
    memory = rll.CrossBatchMemory(crit, embedding_size=128, memory_size=memory_size) if memory_size else None
    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, weight_decay=2e-5)
    by_class = [torch.nonzero(labels == c).squeeze(1) for c in range(5)]
    g = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.perf_counter()
    for it in range(iters):
        for group in opt.param_groups:
            group["lr"] = 0.005 * (1 - it / iters)
        idx = torch.cat([members[torch.randperm(len(members), generator=g)[:12]] for members in by_class])
        opt.zero_grad()
        e = F.normalize(net(images[idx]), dim=1)
        loss = memory(e, labels[idx]) if memory is not None and it >= start else crit(e, labels[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (it + 1) % max(1, iters // 4) == 0:
            what = f"memory {memory_size}" if memory_size else "batch"
            print(f"[demo-memory] seed {seed}, {what}: iteration {it + 1}/{iters}, loss "
                  f"{statistics.mean(losses[-50:]):.4f}", flush=True)
    return net, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--memory", type=int, default=1200)
    ap.add_argument("--start", type=int, default=500)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="demo_memory_out/results.json")
    a = ap.parse_args()
    train_x, train_y = demo.load(a.data, "train")
    test_x, test_y = demo.load(a.data, "t10k")
    seen = train_y <= 4
    train_x, train_y = train_x[seen], train_y[seen]
    protocols = {"seen classes 0-4": test_y <= 4, "unseen classes 5-9": test_y >= 5}
    variants = {"batch loss": 0, f"memory {a.memory} from iteration {a.start}": a.memory}
    scores: dict = {p: {v: [] for v in variants} for p in protocols}
    seconds: dict = {v: [] for v in variants}
    for seed in a.seeds:
        for vname, size in variants.items():
            net, s = train(train_x, train_y, seed, a.iters, size, a.start)
            seconds[vname].append(s)
            for pname, mask in protocols.items():
                feats = demo.embed(net, test_x[mask])
                scores[pname][vname].append(demo.recall_at_k(feats, test_y[mask]) + [demo.nmi(feats, test_y[mask],
                                                                                              seed)])
    print(f"\nseeds {a.seeds}, {a.iters} iterations, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| protocol | training | R@1 | R@2 | R@4 | R@8 | NMI | training s |")
    print("|---|---|---|---|---|---|---|---|")
    for pname in protocols:
        for vname in variants:
            cols = list(zip(*scores[pname][vname]))
            cells = [f"{statistics.mean(c):.4f} ± {statistics.stdev(c) if len(c) > 1 else 0.0:.4f}" for c in cols]
            print(f"| {pname} | {vname} | " + " | ".join(cells) + f" | {statistics.mean(seconds[vname]):.0f} |")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"seeds": a.seeds, "iterations": a.iters, "memory": a.memory, "start": a.start,
                   "scores": scores, "seconds": seconds}, f, indent=1)
    print(f"[demo-memory] wrote {a.out}")


if __name__ == "__main__":
    main()
