#!/usr/bin/env python3
"""The PyTorch package on a GPU (tests/gpu/engine_check.sh; the wheel from `make gpu-bundle`, built with the cuda
feature): torch.autograd.gradcheck on CUDA in float64, CPU against CUDA for every semantics in float32, float64,
float16 and bfloat16,
the stream-ordered call (no host synchronization under torch.cuda.set_sync_debug_mode("error"), the workspace in
torch's allocator and nothing growing over 100 steps, CUDA-graph capture and torch.compile(mode="reduce-overhead")
against eager, a tensor on cuda:1 while cuda:0 is current, NaN outputs or check_finite's error for a non-finite
input), ours (pml) against pytorch-metric-learning on CUDA, and forward+backward timings at 180×512 and 1024×512."""

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


def stream_ordered(dev: str) -> None:
    """The package's CUDA call only enqueues work: issue 39's device checks."""
    from ranked_list_loss import _engine

    x, y = batch(180, 512, torch.float32, dev, 4)
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        e = x.to(dtype).clone().requires_grad_(True)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            rll.ranked_list_loss(e, y).backward()
            if dtype in (torch.float32, torch.float64):
                rll.ranked_list_loss(e, y, reduction="none").sum().backward()
                rll.RankedListLoss(normalize=True)(e, y).backward()
            what = "ok"
        except RuntimeError as err:
            what = str(err).splitlines()[0]
        finally:
            torch.cuda.set_sync_debug_mode(0)
        check(what == "ok", f"no host synchronization in forward+backward, {dtype}: {what}")
    # The workspace comes from torch's caching allocator (inside memory_allocated's peak), and nothing grows.
    e = x.clone().requires_grad_(True)
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    rll.ranked_list_loss(e, y).backward()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    need = _engine.gpu_workspace_bytes(x, rll.LossParams())
    check(peak >= need, f"the workspace ({need} bytes) is in torch's accounting (peak grew by {peak})")
    levels = []
    for step in range(100):
        e.grad = None
        rll.ranked_list_loss(e, y).backward()
        if step in (9, 99):
            torch.cuda.synchronize()
            levels.append(torch.cuda.memory_allocated())
    check(levels[0] == levels[1], f"memory_allocated after 10 and 100 steps: {levels}")
    # CUDA-graph capture of forward+backward, replayed on new inputs, equals eager bit for bit.
    static = x.clone().requires_grad_(True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            static.grad = None
            rll.ranked_list_loss(static, y).backward()
    torch.cuda.current_stream().wait_stream(side)
    static.grad = None
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            static_loss = rll.ranked_list_loss(static, y)
            static_loss.backward()
        for trial in range(3):
            fresh, _ = batch(180, 512, torch.float32, dev, 20 + trial)
            with torch.no_grad():
                static.copy_(fresh)
            graph.replay()
            eager = fresh.clone().requires_grad_(True)
            eager_loss = rll.ranked_list_loss(eager, y)
            eager_loss.backward()
            check(torch.equal(static_loss, eager_loss) and torch.equal(static.grad, eager.grad),
                  f"graph replay {trial} equals eager: {static_loss.item()} vs {eager_loss.item()}")
    except RuntimeError as err:
        check(False, f"CUDA-graph capture: {err}")
    try:
        compiled = torch.compile(lambda v: rll.ranked_list_loss(v, y), mode="reduce-overhead")
        for trial in range(3):
            v, _ = batch(180, 512, torch.float32, dev, 30 + trial)
            got, want = compiled(v).clone(), rll.ranked_list_loss(v, y)
            check(torch.equal(got, want), f"torch.compile(mode='reduce-overhead') call {trial}: {got} vs {want}")
    except Exception as err:  # noqa: BLE001 - any failure of compilation is this check's finding
        check(False, f"torch.compile(mode='reduce-overhead'): {type(err).__name__}: {err}")
    # A non-finite input: NaN loss and gradients by default, the error naming it with check_finite=True.
    bad = x.clone()
    bad[7, 3] = float("nan")
    e = bad.clone().requires_grad_(True)
    loss = rll.ranked_list_loss(e, y)
    loss.backward()
    check(bool(torch.isnan(loss)) and bool(torch.isnan(e.grad).all()), "a NaN input: NaN loss and gradients")
    try:
        rll.ranked_list_loss(bad, y, check_finite=True)
        check(False, "check_finite=True raised nothing")
    except ValueError as err:
        check("embeddings[7][3] = NaN is not finite" in str(err), f"check_finite=True: {err}")
    # Queries against references and the cross-batch memory on CUDA: the CPU's values, no host synchronization.
    from ranked_list_loss.references import references_loss

    g = torch.Generator().manual_seed(12)
    r = F.normalize(torch.randn(4096, 128, generator=g, dtype=torch.float64), dim=1)
    yr = torch.randint(0, 50, (4096,), generator=g)
    own = torch.randperm(4096, generator=g)[:256]
    q, yq = r[own].clone(), yr[own].clone()
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        out = []
        for device in ("cpu", dev):
            e = q.to(dtype=dtype, device=device).requires_grad_(True)
            rr = r.to(dtype=dtype, device=device).requires_grad_(True)
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error" if device != "cpu" else 0)
            try:
                loss = references_loss(e, yq.to(device), rr, yr.to(device), rll.LossParams(t_p=1.0),
                                       own=own.to(device))
                loss.backward()
                what = "ok"
            except RuntimeError as err:
                what = str(err).splitlines()[0]
            finally:
                torch.cuda.set_sync_debug_mode(0)
            check(what == "ok", f"ref_emb on {device} {dtype}: {what}")
            out.append((loss.detach().cpu(), e.grad.cpu(), rr.grad.cpu()))
        (lc, gc, rc), (lg, gg, rg) = out
        check(rel(lg, lc) < tol and rel(gg, gc) < tol and rel(rg, rc) < tol,
              f"ref_emb CPU vs CUDA {dtype}: loss {rel(lg, lc):.2e}, grad {rel(gg, gc):.2e}, ref grad "
              f"{rel(rg, rc):.2e}")
    memories = [rll.CrossBatchMemory(rll.RankedListLoss(), 64, 600).to(device) for device in ("cpu", dev)]
    for step in range(5):
        x, y = batch(120, 64, torch.float32, "cpu", 40 + step)
        values = [m(x.to(m.embedding_memory.device), y.to(m.embedding_memory.device)).item() for m in memories]
        check(abs(values[0] - values[1]) <= 1e-5 * abs(values[0]), f"CrossBatchMemory step {step}: {values}")
    if torch.cuda.device_count() >= 2:
        torch.cuda.set_device(0)
        xc, yc = batch(60, 32, torch.float32, "cpu", 8)
        on1 = rll.ranked_list_loss(xc.to("cuda:1"), yc.to("cuda:1"))
        check(torch.cuda.current_device() == 0 and on1.device == torch.device("cuda:1")
              and abs(on1.item() - rll.ranked_list_loss(xc, yc).item()) <= 1e-5,
              f"a tensor on cuda:1 with cuda:0 current: {on1}")
    else:
        print("cuda:1 against a current cuda:0: one GPU here, not checked", flush=True)


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
    stream_ordered(dev)
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
