"""Global ranking across processes (``distributed=True``): 2, 3 and 4 gloo processes on this machine over loopback,
unequal (and empty) shards, every semantics and option, float64 and float32, against the single-process loss of the
concatenated batch; and a small DistributedDataParallel run whose parameters match single-process training step
for step. Run by `make test-torch`."""

from __future__ import annotations

import re
import time

import pytest
import ranked_list_loss as rll
import torch
import torch.multiprocessing as mp
from distributed_worker import (
    fault_sizes,
    faults,
    full_batch,
    losses,
    memory_steps,
    model,
    shard,
    train,
)
from test_torch import OPTIONS

SHARDS = {2: [[13, 19]], 3: [[10, 0, 22], [11, 11, 10]], 4: [[1, 9, 7, 15]]}


def cases(world: int) -> list[dict]:
    out = []
    for sizes in SHARDS[world]:
        for k, options in enumerate(OPTIONS):
            for dtype in (torch.float64, torch.float32):
                out.append({"n": sum(sizes), "d": 12, "classes": 5, "seed": 100 * world + k, "dtype": dtype,
                            "sizes": sizes, "options": options})
    return out


@pytest.mark.parametrize("world", [2, 3, 4])
def test_every_rank_gets_the_single_process_loss_and_its_rows_times_world(world, tmp_path):
    todo = cases(world)
    mp.spawn(losses, args=(world, str(tmp_path / "rendezvous"), todo, str(tmp_path)), nprocs=world)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    for k, case in enumerate(todo):
        x, labels = full_batch(case["n"], case["d"], case["classes"], case["seed"], case["dtype"])
        x.requires_grad_(True)
        want = rll.RankedListLoss(**case["options"])(x, labels)
        want.backward()
        tol = 1e-12 if case["dtype"] == torch.float64 else 2e-6
        start = 0
        for r, size in enumerate(case["sizes"]):
            loss, grad = ranks[r][k]
            what = f"world {world}, rank {r}, {case['options']}, {case['dtype']}, shards {case['sizes']}"
            assert abs(loss.item() - want.item()) <= tol * abs(want.item()), f"{what}: {loss.item()} vs {want.item()}"
            rows = x.grad[start : start + size] * world
            scale = x.grad.abs().max().item() * world
            assert grad.shape == rows.shape, what
            err = (grad - rows).abs().max().item() / scale if size else 0.0
            assert err <= 50 * tol, f"{what}: gradient off by {err:.3e}"
            start += size
        assert x.grad.abs().max() > 0


def test_ddp_training_matches_single_process_step_for_step(tmp_path):
    steps = [{"n": 24, "d": 6, "classes": 4, "seed": 900 + s, "sizes": [7, 17]} for s in range(4)]
    mp.spawn(train, args=(2, str(tmp_path / "rendezvous"), steps, str(tmp_path)), nprocs=2)
    history = torch.load(tmp_path / "train.pt")
    net = model(steps[0]["d"])
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    crit = rll.RankedListLoss(t_p=1.0)
    start = [p.detach().clone() for p in net.parameters()]
    for step, params in zip(steps, history):
        x, labels = full_batch(step["n"], step["d"], step["classes"], step["seed"], torch.float64)
        opt.zero_grad()
        crit(net(x), labels).backward()
        opt.step()
        for p, q in zip(net.parameters(), params):
            assert (p - q).abs().max().item() <= 1e-12 * max(1.0, p.abs().max().item())
    moved = max((p - s).abs().max().item() for p, s in zip(net.parameters(), start))
    assert moved > 1e-3, "the parameters did not move"


def test_distributed_without_an_initialised_group_is_a_value_error():
    x, labels = full_batch(8, 4, 2, 1, torch.float64)
    with pytest.raises(ValueError, match="init_process_group"):
        rll.ranked_list_loss(x, labels, distributed=True)


def spawn_within(fn, args: tuple, nprocs: int, seconds: float) -> None:
    """mp.spawn with a deadline: a rank still running after ``seconds`` (a hang) fails the test, killed."""
    context = mp.spawn(fn, args=args, nprocs=nprocs, join=False)
    deadline = time.monotonic() + seconds
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail(f"a rank was still running after {seconds} s (it hangs)")


RAISING = {
    "labels_of_the_wrong_length": r"labels has 7 values but embeddings has N = 8 rows \(on rank 1 of \d",
    "float32_beside_float64": r"dtypes \['float64', 'float32'",
    "a_nan": r"gathered embeddings\[8\]\[1\] = NaN is not finite",
    "a_different_margin": r"margin = \[0.4, 0.3(, 0.4)?\]: every rank needs the same parameters",
    "float_labels_on_one_rank": r"labels are \['integer', 'floating-point'",
}


FINISHING = ["no_grad", "empty_shard_without_grad", "float_labels"]


@pytest.mark.parametrize("world", [2, 3])
def test_a_fault_on_one_rank_never_leaves_another_waiting(world, tmp_path):
    """Faults on rank 1, one call each, in one process group: every rank raises the same error (naming rank 1)
    within 10 s of its call, or, for a rank that needs no gradient, every rank finishes and the others get the
    exact gradient (as they do with floating-point labels on every rank, compared exactly)."""
    names = [*RAISING, *FINISHING]
    spawn_within(faults, (world, str(tmp_path / "rendezvous"), names, str(tmp_path)), world, 120)
    ranks = [torch.load(tmp_path / f"fault{r}.pt") for r in range(world)]
    for fault in names:
        outcomes = [ranks[r][fault] for r in range(world)]
        for r, outcome in enumerate(outcomes):
            assert outcome["seconds"] < 10, f"{fault}, rank {r}: {outcome['seconds']:.1f} s"
        if fault in RAISING:
            messages = {outcome["error"] for outcome in outcomes}
            assert len(messages) == 1 and None not in messages, (fault, messages)
            assert re.search(RAISING[fault], messages.pop()), fault
            continue
        assert all(outcome["error"] is None for outcome in outcomes), (fault, [o["error"] for o in outcomes])
        sizes = fault_sizes(fault, world)
        x, labels = full_batch(sum(sizes), 5, 3, 77, torch.float64)
        x.requires_grad_(True)
        want = rll.RankedListLoss(t_p=1.0)(x, labels)
        want.backward()
        for r, outcome in enumerate(outcomes):
            assert abs(outcome["loss"].item() - want.item()) <= 1e-12 * abs(want.item()), (fault, r)
            if outcome["grad"] is None:
                assert r == 1, fault
                continue
            rows = shard(x.grad, sizes, r) * world
            assert (outcome["grad"] - rows).abs().max().item() <= 1e-12 * rows.abs().max().item(), (fault, r)


def test_a_distributed_memory_is_the_single_process_memory_of_the_global_batch(tmp_path):
    # 2 ranks with unequal shards, a memory that wraps: every rank holds the global queue, its loss is the
    # single-process memory loss of the concatenated batch and its gradient world_size times its rows.
    steps = [{"n": 12, "d": 6, "classes": 3, "seed": 700 + k, "sizes": [5, 7] if k % 2 == 0 else [8, 4],
              "memory": 30} for k in range(4)]
    mp.spawn(memory_steps, args=(2, str(tmp_path / "rendezvous"), steps, str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    single = rll.CrossBatchMemory(rll.RankedListLoss(t_p=1.0), embedding_size=6, memory_size=30)
    for k, step in enumerate(steps):
        x, labels = full_batch(step["n"], step["d"], step["classes"], step["seed"], torch.float64)
        x.requires_grad_(True)
        want = single(x, labels)
        want.backward()
        start = 0
        for r, size in enumerate(step["sizes"]):
            loss, grad = ranks[r][k]
            assert loss.item() == pytest.approx(want.item(), rel=1e-12), (k, r)
            assert torch.allclose(grad, 2 * x.grad[start:start + size], rtol=1e-9, atol=1e-13), (k, r)
            start += size
