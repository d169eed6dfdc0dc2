#!/usr/bin/env python3
"""GPU benchmark (tests/gpu/engine_check.sh): forward+backward of ours (C ABI rll_loss_gpu_f32 on torch's device memory and
stream) against pytorch-metric-learning's RankedListLoss on the same GPU, and against one N×D by D×N matmul (the
physical floor of the distance step; TF32 off, as both losses compute in float32). Median of timed runs.
"""
import argparse
import ctypes
import statistics
import time

import torch

SHAPES = [(180, 512), (1024, 512), (4096, 512), (8192, 128)]


class Params(ctypes.Structure):
    _fields_ = [(f, ctypes.c_float) for f in ("margin", "alpha", "t_n", "t_p", "base_n", "base_p", "lambda_")] + [
        (f, ctypes.c_int32) for f in ("semantics", "query_only", "detach_weights")
    ]


def timed(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    from pytorch_metric_learning.losses import RankedListLoss

    lib = ctypes.CDLL(args.lib)
    vp = ctypes.c_void_p
    lib.rll_loss_gpu_f32.argtypes = [ctypes.POINTER(Params), vp, vp, ctypes.c_int64, ctypes.c_int64, ctypes.c_float,
                                     ctypes.POINTER(ctypes.c_float), vp, vp, ctypes.c_int]
    lib.rll_loss_f32.argtypes = [ctypes.POINTER(Params), vp, vp, ctypes.c_int64, ctypes.c_int64, ctypes.c_float,
                                 ctypes.POINTER(ctypes.c_float), vp]
    lib.rll_last_error.restype = ctypes.c_char_p
    p = Params()
    lib.rll_params_default(ctypes.byref(p))
    pml = RankedListLoss(margin=0.4, Tn=10, alpha=1.2, Tp=0)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, float32, forward+backward, median of 20 runs")
    print("| N×D | ours (ms) | pytorch-metric-learning (ms) | speed-up | N×D·D×N matmul (ms) | ours / matmul |")
    print("|---|---|---|---|---|---|")
    for n, d in SHAPES:
        g = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(n, d, device="cuda", generator=g)
        x = x / x.norm(dim=1, keepdim=True)
        y = (torch.arange(n, device="cuda") // 3).float()
        grad = torch.empty_like(x)
        loss = ctypes.c_float()

        def ours():
            rc = lib.rll_loss_gpu_f32(ctypes.byref(p), x.data_ptr(), y.data_ptr(), n, d, 1.0, ctypes.byref(loss),
                                      grad.data_ptr(), torch.cuda.current_stream().cuda_stream, x.device.index)
            if rc:
                raise RuntimeError(lib.rll_last_error().decode())

        xt = x.clone().requires_grad_(True)
        yl = y.long()

        def theirs():
            xt.grad = None
            pml(xt, yl).backward()

        def matmul():
            torch.matmul(x, x.t())

        ours()
        # The GPU result must be the CPU path's (same library, host copies) before its time means anything.
        xh, yh = x.cpu().contiguous(), y.cpu().contiguous()
        gh = torch.empty_like(xh)
        cpu_loss = ctypes.c_float()
        if lib.rll_loss_f32(ctypes.byref(p), xh.data_ptr(), yh.data_ptr(), n, d, 1.0, ctypes.byref(cpu_loss),
                            gh.data_ptr()):
            raise RuntimeError(lib.rll_last_error().decode())
        torch.cuda.synchronize()
        # A pair within float32 rounding of a set boundary (d = alpha - m or alpha) can fall on either side in two
        # correct implementations, and the loss jumps there: such rows are left out of the comparison (and counted).
        dist = torch.cdist(x.double(), x.double())
        same = y[:, None] == y[None, :]
        tie = (same & ((dist - 0.8).abs() < 1e-5)) | (~same & ((dist - 1.2).abs() < 1e-5))
        tie_rows = tie.any(dim=1)
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        active = (~same & (dist < 1.2)) | (same & (dist > 0.8) & ~eye)
        # ...and the rows in a tie row's list, which receive its (changed) coefficients as gallery.
        affected = tie_rows | (active & tie_rows[:, None]).any(dim=0)
        keep = ~affected.cpu()
        diff = (grad.cpu() - gh).abs().max(dim=1).values
        err = diff[keep].max().item() / max(gh.abs().max().item(), 1e-30)
        ties = int((~keep).sum())
        if abs(loss.value - cpu_loss.value) > 1e-5 * abs(cpu_loss.value) or err > 1e-5:
            raise SystemExit(f"{n}x{d}: GPU {loss.value} vs CPU {cpu_loss.value}, gradient error {err}")
        ref = pml(x, yl).item()
        t_ours, t_pml, t_mm = timed(ours), timed(theirs), timed(matmul)
        print(f"| {n}×{d} | {t_ours * 1e3:.3f} | {t_pml * 1e3:.3f} | {t_pml / t_ours:.1f}× | {t_mm * 1e3:.3f} | "
              f"{t_ours / t_mm:.1f}× |  (GPU = CPU: loss {loss.value:.6f}, gradient error {err:.1e}, {ties} rows at a "
              f"set boundary left out; "
              f"½·ours / pytorch-metric-learning = {0.5 * loss.value / ref:.4f})", flush=True)


if __name__ == "__main__":
    main()
