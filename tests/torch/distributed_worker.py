"""The rank side of test_distributed.py: started by torch.multiprocessing.spawn, one process per rank of a gloo
group over loopback. Each rank rebuilds the whole batch from the case's seed, takes its shard, and saves what
``ranked_list_loss`` returns for it; the test compares that with the single-process result."""

from __future__ import annotations

import os

import ranked_list_loss as rll
import torch
import torch.distributed as dist
import torch.nn.functional as F


def full_batch(n: int, d: int, classes: int, seed: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-norm clustered features and labels with large global ids (so ids are compared as integers)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g) * 1_000_003 + 2**40
    centres = torch.randn(classes, d, generator=g, dtype=torch.float64)
    x = centres[(labels - 2**40) // 1_000_003] + 0.7 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return F.normalize(x, dim=1).to(dtype), labels


def shard(t: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
    start = sum(sizes[:rank])
    return t[start : start + sizes[rank]]


def leave() -> None:
    """Leaves the group together: a rank that tore gloo down while another still talked to it was seen to abort
    at exit ("terminate called without an active exception", 1 run in ~10)."""
    dist.barrier()
    dist.destroy_process_group()


def init(rank: int, world: int, rendezvous: str) -> None:
    """Joins the gloo group through a file (a fresh path per group: no port to race for)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)


def losses(rank: int, world: int, rendezvous: str, cases: list[dict], out: str) -> None:
    """Each case: the loss and local gradient of this rank's shard under ``distributed=True``."""
    init(rank, world, rendezvous)
    results = []
    for case in cases:
        x, labels = full_batch(case["n"], case["d"], case["classes"], case["seed"], case["dtype"])
        local = shard(x, case["sizes"], rank).clone().requires_grad_(True)
        crit = rll.RankedListLoss(distributed=True, **case["options"])
        loss = crit(local, shard(labels, case["sizes"], rank))
        loss.backward()
        results.append((loss.detach(), local.grad))
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    leave()


def memory_steps(rank: int, world: int, rendezvous: str, steps: list[dict], out: str) -> None:
    """Each step: this rank's shard through one CrossBatchMemory of a distributed=True loss (the loss, the local
    gradient)."""
    init(rank, world, rendezvous)
    memory = rll.CrossBatchMemory(rll.RankedListLoss(distributed=True, t_p=1.0), embedding_size=steps[0]["d"],
                                  memory_size=steps[0]["memory"])
    results = []
    for step in steps:
        x, labels = full_batch(step["n"], step["d"], step["classes"], step["seed"], torch.float64)
        local = shard(x, step["sizes"], rank).clone().requires_grad_(True)
        loss = memory(local, shard(labels, step["sizes"], rank))
        loss.backward()
        results.append((loss.detach(), local.grad))
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    leave()


def model(d: int) -> torch.nn.Module:
    torch.manual_seed(5)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8)).double()


def train(rank: int, world: int, rendezvous: str, steps: list[dict], out: str) -> None:
    """A few SGD steps of a small model under DistributedDataParallel, each rank on its shard of every step's
    batch; rank 0 saves the parameters after each step."""
    init(rank, world, rendezvous)
    net = torch.nn.parallel.DistributedDataParallel(model(steps[0]["d"]))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    crit = rll.RankedListLoss(distributed=True, t_p=1.0)
    history = []
    for step in steps:
        x, labels = full_batch(step["n"], step["d"], step["classes"], step["seed"], torch.float64)
        opt.zero_grad()
        loss = crit(net(shard(x, step["sizes"], rank)), shard(labels, step["sizes"], rank))
        loss.backward()
        opt.step()
        history.append([p.detach().clone() for p in net.module.parameters()])
    if rank == 0:
        torch.save(history, os.path.join(out, "train.pt"))
    leave()


def fault_sizes(fault: str, world: int) -> list[int]:
    return [6, 0, 9][:world] if fault == "empty_shard_without_grad" else [6, 8, 9][:world]


def one_fault(rank: int, world: int, fault: str) -> dict:
    """One call of the loss with ``fault`` on rank 1 (the others as in ``losses``): this rank's outcome, the error
    message or None, the seconds from the call to that outcome, and its loss and local gradient."""
    import time

    sizes = fault_sizes(fault, world)
    x, labels = full_batch(sum(sizes), 5, 3, 77, torch.float64)
    local, lab = shard(x, sizes, rank).clone(), shard(labels, sizes, rank)
    local.requires_grad_(not (rank == 1 and fault == "empty_shard_without_grad"))
    if rank == 1 and fault == "labels_of_the_wrong_length":
        lab = lab[:-1]
    if fault == "float_labels" or (rank == 1 and fault == "float_labels_on_one_rank"):
        lab = lab.to(torch.float64) / 7  # the same classes, as distinct floats
    if rank == 1 and fault == "float32_beside_float64":
        local = local.detach().float().requires_grad_(True)
    if rank == 1 and fault == "a_nan":
        local = local.detach().clone()
        local[2, 1] = float("nan")
        local.requires_grad_(True)
    crit = rll.RankedListLoss(distributed=True, t_p=1.0)
    if rank == 1 and fault == "a_different_margin":
        crit = rll.RankedListLoss(distributed=True, t_p=1.0, margin=0.3)
    start = time.monotonic()
    error, loss, grad = None, None, None
    try:
        with torch.set_grad_enabled(not (rank == 1 and fault == "no_grad")):
            value = crit(local, lab)
        if value.requires_grad:
            value.backward()
        loss, grad = value.detach(), local.grad
    except ValueError as e:
        error = str(e)
    return {"error": error, "seconds": time.monotonic() - start, "loss": loss, "grad": grad}


def faults(rank: int, world: int, rendezvous: str, names: list[str], out: str) -> None:
    """Each fault in turn in one process group (a call that raised on every rank leaves the group usable, which
    the next call shows): saves this rank's outcomes."""
    init(rank, world, rendezvous)
    outcomes = {fault: one_fault(rank, world, fault) for fault in names}
    torch.save(outcomes, os.path.join(out, f"fault{rank}.pt"))
    leave()
