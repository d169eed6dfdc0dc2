"""Global ranking across processes (``distributed=True``): 2, 3 and 4 gloo processes on this machine over loopback,
unequal (and empty) shards, every semantics and option, float64 and float32, against the single-process loss of the
concatenated batch; and a small DistributedDataParallel run whose parameters match single-process training step
for step. Run by `make test-torch`."""

from __future__ import annotations

import socket

import pytest
import ranked_list_loss as rll
import torch
import torch.multiprocessing as mp
from distributed_worker import full_batch, losses, model, train
from test_torch import OPTIONS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    mp.spawn(losses, args=(world, free_port(), todo, str(tmp_path)), nprocs=world)
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
    mp.spawn(train, args=(2, free_port(), steps, str(tmp_path)), nprocs=2)
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
