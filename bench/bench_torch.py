#!/usr/bin/env python3
"""The engine alone, our PyTorch package and pytorch-metric-learning, side by side in one run (make bench-torch).

Forward+backward of one batch (float32 CPU tensors: L2-normalised random features, P×K labels with K = 4), in
four contenders timed in turn within each round, so that a slow spell of the machine falls on all of them:
- engine: the C ABI's rll_loss_f32 on preallocated buffers (libranked_list_loss.so, $RLL_LIB), the engine's own time;
- package: ``rll.RankedListLoss()`` forward and backward through autograd (labels as int64, as users pass them);
- rll.pml: ``rll.pml.RankedListLoss`` (PML's arguments and value, normalising inside its engine call);
- PML: ``pytorch_metric_learning.losses.RankedListLoss`` (its LpDistance normalises).
The same thread count for all (torch.set_num_threads, the package's and the C ABI's set_num_threads); the median
of the rounds and its spread (min-max); the ratios package / engine and PML / rll.pml.
Usage: bench/bench_torch.py [--threads 1 2] [--repeats N] [--shapes 180x512 ...]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable

import ranked_list_loss as rll
import torch
from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

SHAPES = [(60, 512), (180, 512), (1024, 512), (4096, 128)]


class RllParams(ctypes.Structure):
    """The C ABI's rll_params (cpp/include/ranked_list_loss.h)."""

    _fields_ = [("margin", ctypes.c_float), ("alpha", ctypes.c_float), ("t_n", ctypes.c_float),
                ("t_p", ctypes.c_float), ("base_n", ctypes.c_float), ("base_p", ctypes.c_float),
                ("lambda_", ctypes.c_float), ("semantics", ctypes.c_int32), ("query_only", ctypes.c_int32),
                ("detach_weights", ctypes.c_int32)]


def inputs(n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(n * 7 + d)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
    return x, torch.arange(n) % (n // 4)


def engine_step(lib: ctypes.CDLL, x: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One C ABI call on buffers allocated once (what the engine costs without any framework)."""
    p = RllParams()
    lib.rll_params_default(ctypes.byref(p))
    ids = labels.to(torch.float32).contiguous()
    grad, loss = torch.empty_like(x), ctypes.c_float()
    fn = lib.rll_loss_f32
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_float,
                   ctypes.c_void_p, ctypes.c_void_p]
    args = (ctypes.byref(p), x.data_ptr(), ids.data_ptr(), x.shape[0], x.shape[1], 1.0, ctypes.byref(loss),
            grad.data_ptr())

    alive = (x, ids, grad, loss, p)  # the addresses in args stay valid while the step lives

    def step() -> None:
        if fn(*args) != 0 or not alive:
            raise RuntimeError(ctypes.c_char_p(lib.rll_last_error()).value)

    return step


def module_step(crit: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    e = x.clone().requires_grad_(True)

    def step() -> None:
        e.grad = None
        crit(e, labels).backward()

    return step


def timed(step: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    step()
    return (time.perf_counter() - t0) * 1e3


def rounds(steps: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """``repeats`` rounds, each timing every contender once in turn, after two warm-up rounds."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for k in range(repeats + 2):
        for name, step in steps.items():
            t = timed(step)
            if k >= 2:
                times[name].append(t)
    return times


def cell(ts: list[float]) -> str:
    return f"{statistics.median(ts):.3f} ({min(ts):.3f}-{max(ts):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--shapes", nargs="+", default=[f"{n}x{d}" for n, d in SHAPES])
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    lib = ctypes.CDLL(os.environ.get("RLL_LIB", "target/release/libranked_list_loss.so"))
    print(f"# bench-torch: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}; forward+backward, float32, ms: median (min-max) of {args.repeats} rounds")
    print("| threads | N×D | engine (C ABI) | package | package / engine | rll.pml | PML | PML / rll.pml |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        rll.set_num_threads(threads)
        lib.rll_set_num_threads(threads)
        for shape in args.shapes:
            n, d = (int(v) for v in shape.split("x"))
            x, labels = inputs(n, d)
            repeats = args.repeats if n * n * d <= 1024 * 1024 * 512 else max(5, args.repeats // 3)
            t = rounds({
                "engine": engine_step(lib, x, labels),
                "package": module_step(rll.RankedListLoss(), x, labels),
                "rll.pml": module_step(rll.pml.RankedListLoss(margin=0.4, Tn=10), x, labels),
                "PML": module_step(PmlLoss(margin=0.4, Tn=10), x, labels),
            }, repeats)
            med = {k: statistics.median(v) for k, v in t.items()}
            print(f"| {threads} | {n}×{d} | {cell(t['engine'])} | {cell(t['package'])} | "
                  f"{med['package'] / med['engine']:.2f}× | {cell(t['rll.pml'])} | {cell(t['PML'])} | "
                  f"{med['PML'] / med['rll.pml']:.1f}× |", flush=True)


if __name__ == "__main__":
    main()
