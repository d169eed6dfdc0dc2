#!/usr/bin/env python3
"""Queries against a large memory (make bench-memory): our engine call (``rll.ranked_list_loss(q, y, ref_emb=R,
ref_labels=yr)``) beside a dense torch implementation of the same Q × R loss (torch.cdist, masks, exp, sums:
what a user writes without the engine), forward and backward (the gradient for the queries; the memory is
detached), float32 CPU tensors, N_q = 256 queries, D = 512, N_r references.

Each (contender, N_r) runs in its own process, so that its peak resident memory (ru_maxrss) can be read: the peak
above the process's resident size once the inputs exist. Time: the median of the runs after one warm-up, with the
spread (min-max). Both compute the same value (checked: relative difference printed). The queries have no copy in
the memory here (own = none), so the dense version's cdist has no zero distance to differentiate.
Usage: bench/bench_memory.py [--refs 8192 65536] [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

NQ, D = 256, 512


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def dense(q, yq, r, yr, margin=0.4, alpha=1.2, t_n=10.0):
    """The PAPER loss of Q against R in plain torch ops (T_p = 0, λ = 1)."""
    import torch

    dist = torch.cdist(q, r)
    same = yq[:, None] == yr[None, :]
    bp, bn = alpha - margin, alpha
    pos, neg = same & (dist > bp), ~same & (dist < bn)
    wp = pos.to(q.dtype)
    wn = torch.where(neg, torch.exp(t_n * (bn - dist)), 0.0)
    lp = (wp * (dist - bp)).sum(1) / wp.sum(1).clamp_min(1e-30)
    ln = (wn * (bn - dist)).sum(1) / wn.sum(1).clamp_min(1e-30)
    return (lp + ln).mean()


def child(name: str, nr: int, runs: int, threads: int) -> None:
    import ranked_list_loss as rll
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    rll.set_num_threads(threads)
    g = torch.Generator().manual_seed(nr)
    r = F.normalize(torch.randn(nr, D, generator=g), dim=1)
    yr = torch.randint(0, nr // 4, (nr,), generator=g)
    q = F.normalize(torch.randn(NQ, D, generator=g), dim=1)
    yq = yr[torch.randint(0, nr, (NQ,), generator=g)]
    base = rss_kib()

    def step():
        e = q.clone().requires_grad_(True)
        loss = rll.ranked_list_loss(e, yq, ref_emb=r, ref_labels=yr) if name == "ours" else dense(e, yq, r, yr)
        loss.backward()
        return loss.item(), e.grad

    value, _ = step()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    print(json.dumps({"value": value, "times": times, "peak_mib": peak / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refs", type=int, nargs="+", default=[8192, 65536])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.runs, a.threads)
        return
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {a.threads} threads; N_q = {NQ}, D = {D}, "
          f"float32 CPU, forward+backward, median of {a.runs} runs (min-max)")
    print("| N_r | ours (ms) | dense torch (ms) | dense / ours | ours peak (MiB) | dense peak (MiB) | value rel. diff |")
    print("|---|---|---|---|---|---|---|")
    for nr in a.refs:
        out = {}
        for name in ("ours", "dense"):
            cmd = [sys.executable, __file__, "--child", name, str(nr), "--runs", str(a.runs), "--threads",
                   str(a.threads)]
            out[name] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        o, d = out["ours"], out["dense"]
        mo, md = statistics.median(o["times"]), statistics.median(d["times"])
        rel = abs(o["value"] - d["value"]) / abs(d["value"])
        print(f"| {nr} | {mo:.0f} ({min(o['times']):.0f}-{max(o['times']):.0f}) | {md:.0f} ({min(d['times']):.0f}-"
              f"{max(d['times']):.0f}) | {md / mo:.2f}× | {o['peak_mib']:.0f} | {d['peak_mib']:.0f} | {rel:.1e} |",
              flush=True)


if __name__ == "__main__":
    main()
