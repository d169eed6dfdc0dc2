#!/usr/bin/env python3
"""The PyTorch package on a GPU (tests/gpu/engine_check.sh; the wheel from `make gpu-bundle`, built with the cuda
feature): torch.autograd.gradcheck on CUDA in float64, CPU against CUDA for every semantics in float32, float64,
float16 and bfloat16,
ours (pml) against pytorch-metric-learning on CUDA, and forward+backward timings at 180×512 and 1024×512."""

from __future__ import annotations

import statistics
import time
import warnings

import ranked_list_loss as rll
import torch
import torch.nn.functional as F

passed = failed = 0


def check(ok: bool, what: str) -> None:
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAILED: {what}", flush=True)


def batch(n: int, d: int, dtype: torch.dtype, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1) * 0.8
    return x.to(dtype=dtype, device=device), (torch.arange(n) % max(1, n // 4)).to(device)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-30)).item()


def main() -> None:
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    dev = "cuda"
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    x, y = batch(16, 6, torch.float64, dev, 1)
    x.requires_grad_(True)
    check(torch.autograd.gradcheck(lambda e: rll.ranked_list_loss(e, y), (x,), eps=1e-6, atol=1e-7, rtol=1e-5),
          "gradcheck on CUDA, float64")
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        for semantics in ("paper", "official_v2020", "official_v2019"):
            for n, d in ((60, 32), (301, 64)):
                xc, yc = batch(n, d, dtype, "cpu", n)
                out = []
                for device in ("cpu", dev):
                    e = xc.to(device).requires_grad_(True)
                    loss = rll.ranked_list_loss(e, yc.to(device), semantics=semantics, t_p=1.0)
                    loss.backward()
                    out.append((loss.detach().cpu(), e.grad.cpu()))
                (lc, gc), (lg, gg) = out
                check(rel(lg, lc) < tol and rel(gg, gc) < tol,
                      f"CPU vs CUDA {semantics} {dtype} {n}x{d}: loss {rel(lg, lc):.2e}, grad {rel(gg, gc):.2e}")
    for dtype in (torch.float16, torch.bfloat16):
        for semantics in ("paper", "official_v2020", "official_v2019"):
            xc, yc = batch(120, 32, dtype, "cpu", 5)
            out = []
            for device in ("cpu", dev):
                e = xc.to(device).requires_grad_(True)
                loss = rll.ranked_list_loss(e, yc.to(device), semantics=semantics, t_n=100.0)
                loss.backward()
                out.append((loss.detach().cpu().float(), e.grad.cpu().float()))
            (lc, gc), (lg, gg) = out
            ok = bool(torch.isfinite(lg)) and bool(torch.isfinite(gg).all())
            cos = F.cosine_similarity(gg.double().flatten(), gc.double().flatten(), dim=0).item()
            check(ok and rel(lg, lc) < 1e-2 and cos > 0.999,
                  f"CPU vs CUDA {semantics} {dtype} at T_n 100: loss {rel(lg, lc):.2e}, gradient cosine {cos}")
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):  # per-query losses, weighted backward
        xc, yc = batch(97, 48, dtype, "cpu", 9)
        u = torch.randn(97, dtype=dtype, generator=torch.Generator().manual_seed(2))
        out = []
        for device in ("cpu", dev):
            e = xc.to(device).requires_grad_(True)
            per = rll.ranked_list_loss(e, yc.to(device), t_p=1.0, reduction="none")
            (per * u.to(device)).sum().backward()
            out.append((per.detach().cpu(), e.grad.cpu()))
        (lc, gc), (lg, gg) = out
        check(rel(lg, lc) < tol and rel(gg, gc) < tol,
              f"CPU vs CUDA reduction='none' {dtype}: losses {rel(lg, lc):.2e}, weighted grad {rel(gg, gc):.2e}")
    from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

    x, y = batch(180, 512, torch.float32, dev, 3)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours = rll.pml.RankedListLoss(margin=0.4, Tn=10)(a, y)
    theirs = PmlLoss(margin=0.4, Tn=10)(b, y)
    ours.backward()
    theirs.backward()
    cos = F.cosine_similarity(a.grad.flatten(), b.grad.flatten(), dim=0).item()
    check(abs(ours.item() - theirs.item()) <= 1e-3 * abs(theirs.item()) and cos > 0.9999,
          f"ours vs PML on CUDA: {ours.item()} vs {theirs.item()}, gradient cosine {cos}")
    print("| N×D | ours (ms) | PML (ms) | PML / ours |")
    print("|---|---|---|---|")
    for n, d in ((180, 512), (1024, 512)):
        x, y = batch(n, d, torch.float32, dev, n)
        times = {}
        for name, crit in (("ours", rll.pml.RankedListLoss(margin=0.4, Tn=10)), ("pml", PmlLoss(margin=0.4, Tn=10))):
            runs = []
            for k in range(25):
                e = x.clone().requires_grad_(True)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                crit(e, y).backward()
                torch.cuda.synchronize()
                if k >= 5:
                    runs.append((time.perf_counter() - t0) * 1e3)
            times[name] = statistics.median(runs)
        print(f"| {n}×{d} | {times['ours']:.3f} | {times['pml']:.3f} | {times['pml'] / times['ours']:.1f}× |")
    print(f"torch_check: {passed} passed, {failed} failed")
    raise SystemExit(failed != 0)


if __name__ == "__main__":
    main()
