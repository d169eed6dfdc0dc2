#!/usr/bin/env python3
"""Forward+backward of ours (C ABI through ctypes) and pytorch-metric-learning's RankedListLoss, side by side.

Same inputs (L2-normalised features, P×K labels with K = 3), float32, CPU, same thread count for both; prints the
median of repeated runs, the ratio, and our peak resident memory per shape (measured in a fresh child process).
Usage: python3 bench/compare_pml.py [--lib target/release/libranked_list_loss.so] [--threads 1 2]
"""
import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPES = [(60, 512), (180, 512), (1024, 512), (4096, 128)]


class Params(ctypes.Structure):
    _fields_ = [(f, ctypes.c_float) for f in ("margin", "alpha", "t_n", "t_p", "base_n", "base_p", "lambda_")] + [
        (f, ctypes.c_int32) for f in ("semantics", "query_only", "detach_weights")
    ]


def load(path):
    lib = ctypes.CDLL(path)
    f = ctypes.POINTER(ctypes.c_float)
    lib.rll_loss_f32.argtypes = [ctypes.POINTER(Params), f, f, ctypes.c_int64, ctypes.c_int64, ctypes.c_float, f, f]
    lib.rll_last_error.restype = ctypes.c_char_p
    return lib


def batch(n, d, seed=0, radius=1.0):
    """Features on a sphere of `radius`: 1 is a normalised embedding (random pairs at d ≈ 1.41, few inside the
    margins); 0.5 puts every pair inside them (d ≈ 0.71: all negatives active), the dense worst case."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x *= radius / np.linalg.norm(x, axis=1, keepdims=True)
    return x, (np.arange(n) // 3).astype(np.float32)


def median_time(fn, min_runs=5, min_seconds=1.0):
    fn()  # warm-up
    times, start = [], time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= 200:
            break
    return statistics.median(times)


def ours(lib, x, y):
    n, d = x.shape
    p = Params()
    lib.rll_params_default(ctypes.byref(p))
    g = np.empty_like(x)
    loss = ctypes.c_float()
    fp = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def run():
        rc = lib.rll_loss_f32(ctypes.byref(p), fp(x), fp(y), n, d, 1.0, ctypes.byref(loss), fp(g))
        if rc:
            raise RuntimeError(lib.rll_last_error().decode())

    return run, (lambda: (loss.value, g))


def check_agreement(lib, n=180, d=512):
    """Both compute the PAPER loss on normalised features: the values must agree before the times mean anything.
    pytorch-metric-learning returns ½(L_P + L_N) (imbalance 0.5) and adds 1e-5 per entry to its denominators."""
    import torch
    from pytorch_metric_learning.losses import RankedListLoss

    x, y = batch(n, d)
    run, result = ours(lib, x, y)
    run()
    ref = RankedListLoss(margin=0.4, Tn=10, alpha=1.2, Tp=0)(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))
    ratio = 0.5 * result()[0] / ref.item()
    print(f"check {n}×{d}: ½·ours = {0.5 * result()[0]:.6f}, pytorch-metric-learning = {ref.item():.6f} (ratio {ratio:.4f})")
    if abs(ratio - 1) > 0.01:
        raise SystemExit("the two losses disagree: timings would compare different computations")


def pml(x, y):
    import torch
    from pytorch_metric_learning.losses import RankedListLoss

    loss_fn = RankedListLoss(margin=0.4, Tn=10, alpha=1.2, Tp=0)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.from_numpy(y.astype(np.int64))

    def run():
        xt.grad = None
        loss = loss_fn(xt, yt)
        loss.backward()

    return run


def two_products(x):
    """The floor: two N×D·D×N products (the Gram matrix and, as large, the gradient's N×N·N×D), torch float32."""
    import torch

    xt = torch.from_numpy(x)

    def run():
        (xt @ xt.T) @ xt  # N×N·N×D costs what N×D·D×N does
        xt @ xt.T

    return run


def peak_rss_child(lib_path, n, d, threads, radius):
    """Peak RSS (MB) that one call of our loss adds, in a fresh process (Linux VmHWM)."""
    code = f"""
import sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import compare_pml as c
def hwm():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM'))
lib = c.load({lib_path!r}); lib.rll_set_num_threads({threads})
x, y = c.batch({n}, {d}, radius={radius})
run, _ = c.ours(lib, x, y)
open('/proc/self/clear_refs', 'w').write('5')  # resets VmHWM (ru_maxrss would carry the parent's peak)
base = hwm()
run()
print((hwm() - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lib", default="target/release/libranked_list_loss.so")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 0],
                    help="thread counts; 0: ours chooses per call (the default of the library), torch every core")
    ap.add_argument("--radius", type=float, nargs="+", default=[1.0, 0.5],
                    help="feature norms to run (1: normalised embeddings; 0.5: every negative active)")
    args = ap.parse_args()
    import torch

    lib = load(args.lib)
    check_agreement(lib)
    print(f"torch {torch.__version__}, CPU, float32, forward+backward, median of >= 5 runs")
    print("| N×D | ‖x‖ | threads | ours (ms) | pytorch-metric-learning (ms) | speed-up | two products (ms) | "
          "ours / two products | our extra peak RSS (MB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for radius in args.radius:
        for threads in args.threads:
            torch.set_num_threads(threads or os.cpu_count())
            lib.rll_set_num_threads(threads)
            label = threads or f"auto (torch {os.cpu_count()})"
            for n, d in SHAPES:
                x, y = batch(n, d, radius=radius)
                run, _ = ours(lib, x, y)
                t_ours = median_time(run)
                t_pml = median_time(pml(x, y))
                t_mm = median_time(two_products(x))
                rss = peak_rss_child(os.path.abspath(args.lib), n, d, threads, radius)
                print(f"| {n}×{d} | {radius:g} | {label} | {t_ours * 1e3:.2f} | {t_pml * 1e3:.2f} | "
                      f"{t_pml / t_ours:.1f}× | {t_mm * 1e3:.2f} | {t_ours / t_mm:.1f}× | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
