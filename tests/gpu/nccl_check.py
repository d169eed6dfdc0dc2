#!/usr/bin/env python3
"""``distributed=True`` on NCCL with a world of 1 on one GPU (tests/gpu/engine_check.sh): the same code path as
several GPUs (all-gather, the rank's query rows, reduce-scatter), against the single-process loss on CUDA tensors,
every semantics, float32 and float64. Several GPUs (NCCL across devices) stay unverified until a machine has them."""

from __future__ import annotations

import os
import socket

import ranked_list_loss as rll
import torch
import torch.distributed as dist
import torch.nn.functional as F

OPTIONS = [{"semantics": "paper", "t_p": 2.0}, {"semantics": "paper", "query_only": True},
           {"semantics": "official_v2020"}, {"semantics": "official_v2019"}]


def main() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", rank=0, world_size=1)
    failed = 0
    g = torch.Generator().manual_seed(3)
    for options in OPTIONS:
        for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-6)):
            x = F.normalize(torch.randn(96, 32, generator=g, dtype=torch.float64), dim=1).to(dtype).cuda()
            labels = (torch.arange(96) % 12).cuda()
            a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            la = rll.RankedListLoss(distributed=True, **options)(a, labels)
            lb = rll.RankedListLoss(**options)(b, labels)
            la.backward()
            lb.backward()
            err = ((a.grad - b.grad).abs().max() / b.grad.abs().max()).item()
            ok = abs(la.item() - lb.item()) <= tol * abs(lb.item()) and err <= 50 * tol and a.grad.is_cuda
            failed += not ok
            print(f"{'ok' if ok else 'FAILED'}: NCCL world 1, {options}, {dtype}: loss {la.item():.9g} vs "
                  f"{lb.item():.9g}, gradient off by {err:.2e}", flush=True)
    dist.destroy_process_group()
    print("nccl_check: " + ("all passed" if not failed else f"{failed} FAILED")
          + " (one GPU, world 1; NCCL across several GPUs is unverified)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
