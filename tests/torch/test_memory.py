"""Queries against references (``ref_emb``) and ``rll.CrossBatchMemory``: against a dense torch implementation of
the same loss written here (plain tensor ops, gradients by autograd), torch.autograd.gradcheck, the batch loss
where the two must agree, and pytorch-metric-learning's CrossBatchMemory contract (enqueue before the loss,
self-comparisons removed, enqueue_mask, reset_queue), plus the state dict."""

from __future__ import annotations

import pytest
import ranked_list_loss as rll
import torch
import torch.nn.functional as F


def dense_reference(q, yq, r, yr, own, margin=0.4, alpha=1.2, t_n=10.0, t_p=0.0, lambda_=1.0, lambda_p=1.0,
                    weight_eps=0.0):
    """E = (1/N_q) Σ_i [λ_P L_P(i) + λ L_N(i)] over the N_q × N_r distances, own copies left out, as plain torch
    ops (differentiable by autograd). The parameters are rounded to float32 first, as the engine keeps them."""
    margin, alpha, t_n, t_p, lambda_, lambda_p, weight_eps = (
        float(torch.tensor(v, dtype=torch.float32)) for v in (margin, alpha, t_n, t_p, lambda_, lambda_p, weight_eps))
    # Not torch.cdist: its gradient at a zero distance (a query and its copy) is NaN; this one's is 0 there.
    dist = (q[:, None, :] - r[None, :, :]).pow(2).sum(-1).clamp_min(1e-300).sqrt()
    same = yq[:, None] == yr[None, :]
    not_own = torch.ones_like(same)
    if own is not None:
        rows = torch.arange(len(q))[own >= 0]
        not_own[rows, own[own >= 0]] = False
    bp, bn = alpha - margin, alpha
    pos = same & not_own & (dist > bp)
    neg = ~same & (dist < bn)
    eps = weight_eps * r.shape[0]
    wp = torch.where(pos, torch.exp(t_p * (dist - bp)), 0.0)
    wn = torch.where(neg, torch.exp(t_n * (bn - dist)), 0.0)
    # An empty set's mean is 0 (its sums 0 over a floor: no 0/0, whose NaN would reach the gradient).
    lp = (wp * (dist - bp)).sum(1) / (wp.sum(1) + eps).clamp_min(1e-300)
    ln = (wn * (bn - dist)).sum(1) / (wn.sum(1) + eps).clamp_min(1e-300)
    return (lambda_p * lp + lambda_ * ln).mean()


def case(nq=12, nr=40, d=8, seed=0, radius=0.8):
    g = torch.Generator().manual_seed(seed)
    r = radius * F.normalize(torch.randn(nr, d, generator=g, dtype=torch.float64), dim=1)
    yr = torch.randint(0, 4, (nr,), generator=g)
    own = torch.randperm(nr, generator=g)[:nq]
    q = r[own].clone()
    return q, yr[own].clone(), r, yr, own


@pytest.mark.parametrize("options", [{}, {"t_p": 2.0}, {"lambda_": 0.5},
                                     {"margin": 0.4, "alpha": 0.3, "t_n": -3.0, "t_p": -2.0},
                                     {"weight_eps": 1e-5, "lambda_p": 0.6}])
def test_queries_against_references_match_a_dense_torch_implementation(options):
    q, yq, r, yr, own = case()
    r = r + 0.0  # a leaf that requires a gradient below
    params = rll.LossParams(**options)
    mine_q, mine_r = q.clone().requires_grad_(True), r.clone().requires_grad_(True)
    from ranked_list_loss.references import references_loss

    mine = references_loss(mine_q, yq, mine_r, yr, params, own=own)
    mine.backward()
    ref_q, ref_r = q.clone().requires_grad_(True), r.clone().requires_grad_(True)
    want = dense_reference(ref_q, yq, ref_r, yr, own, **options)
    want.backward()
    assert mine.item() == pytest.approx(want.item(), rel=1e-12)
    assert torch.allclose(mine_q.grad, ref_q.grad, rtol=1e-9, atol=1e-12)
    assert torch.allclose(mine_r.grad, ref_r.grad, rtol=1e-9, atol=1e-12)


def test_ref_emb_gradients_pass_gradcheck():
    q, yq, r, yr, _ = case(6, 15, 4, seed=3, radius=0.7)
    q, r = q + 0.01 * torch.randn_like(q), r.clone()  # no exact copies: no distance at 0
    qq, rr = q.requires_grad_(True), r.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: rll.ranked_list_loss(a, yq, t_p=1.0, ref_emb=b, ref_labels=yr),
                                    (qq, rr), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_the_batch_as_its_own_references_gives_the_batch_loss():
    from ranked_list_loss.references import references_loss

    g = torch.Generator().manual_seed(4)
    x = F.normalize(torch.randn(20, 6, generator=g, dtype=torch.float64), dim=1)
    y = torch.arange(20) % 5
    e = x.clone().requires_grad_(True)
    got = references_loss(e, y, x, y, rll.LossParams(t_p=1.0), own=torch.arange(20))
    got.backward()
    b = x.clone().requires_grad_(True)
    want = rll.ranked_list_loss(b, y, t_p=1.0, query_only=True)
    want.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-13)
    assert torch.allclose(e.grad, b.grad, rtol=1e-10, atol=1e-14)


def test_the_module_forms_take_ref_emb_and_refuse_what_they_cannot_compute():
    q, yq, r, yr, _ = case()
    a = rll.RankedListLoss()(q, yq, ref_emb=r, ref_labels=yr)
    b = rll.ranked_list_loss(q, yq, ref_emb=r, ref_labels=yr)
    assert a.item() == b.item() == pytest.approx(dense_reference(q, yq, r, yr, None).item(), rel=1e-12)
    assert rll.RankedListLoss(reduction="sum")(q, yq, r, yr).item() == pytest.approx(len(q) * a.item(), rel=1e-14)
    with pytest.raises(ValueError, match="paper semantics only"):
        rll.ranked_list_loss(q, yq, semantics="official_v2020", ref_emb=r, ref_labels=yr)
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        rll.ranked_list_loss(q, yq, reduction="none", ref_emb=r, ref_labels=yr)
    with pytest.raises(ValueError, match="go together"):
        rll.ranked_list_loss(q, yq, ref_emb=r)
    with pytest.raises(ValueError, match=r"two \(N, D\) tensors of one D"):
        rll.ranked_list_loss(q, yq, ref_emb=r[:, :3], ref_labels=yr)
    pml = pytest.importorskip("pytorch_metric_learning")
    assert pml is not None
    c = rll.pml.RankedListLoss(margin=0.4, Tn=10.0)(q, yq, ref_emb=r, ref_labels=yr)
    want = dense_reference(F.normalize(q, dim=1), yq, F.normalize(r, dim=1), yr, None, alpha=1.2, lambda_=0.5,
                           lambda_p=0.5, weight_eps=1e-5)
    assert c.item() == pytest.approx(want.item(), rel=1e-12)


def test_cross_batch_memory_follows_pmls_contract():
    g = torch.Generator().manual_seed(5)
    d, size = 6, 10
    memory = rll.CrossBatchMemory(rll.RankedListLoss(t_p=1.0), embedding_size=d, memory_size=size)
    batches = [(F.normalize(torch.randn(4, d, generator=g, dtype=torch.float64), dim=1),
                torch.randint(0, 3, (4,), generator=g)) for _ in range(4)]
    queue, queue_labels = torch.zeros(size, d, dtype=torch.float64), torch.zeros(size, dtype=torch.int64)
    position, filled = 0, False
    for step, (x, y) in enumerate(batches):
        e = x.clone().requires_grad_(True)
        loss = memory(e, y)
        # What PML does: enqueue (detached) first, then rank the batch against the queue, own copies left out.
        slots = (position + torch.arange(4)) % size
        queue[slots], queue_labels[slots] = x, y
        position, filled = (position + 4) % size, filled or position + 4 >= size
        end = size if filled else position
        want = dense_reference(x, y, queue[:end], queue_labels[:end], slots, t_p=1.0)
        assert loss.item() == pytest.approx(want.item(), rel=1e-12), step
        assert int(memory.queue_idx) == position and bool(memory.has_been_filled) == filled
        assert torch.equal(memory.embedding_memory, queue) and torch.equal(memory.label_memory, queue_labels)
        loss.backward()
        ref = x.clone().requires_grad_(True)
        dense_reference(ref, y, queue[:end], queue_labels[:end], slots, t_p=1.0).backward()
        assert torch.allclose(e.grad, ref.grad, rtol=1e-9, atol=1e-12)  # the queue is detached: no other path
    # enqueue_mask: the marked rows go into the queue, the others are the queries (none has a copy there).
    x, y = batches[0]
    mask = torch.tensor([True, False, True, False])
    loss = memory(x, y, enqueue_mask=mask)
    slots = (position + torch.arange(2)) % size
    queue[slots], queue_labels[slots] = x[mask], y[mask]
    assert loss.item() == pytest.approx(dense_reference(x[~mask], y[~mask], queue, queue_labels, None,
                                                        t_p=1.0).item(), rel=1e-12)
    memory.reset_queue()
    assert int(memory.queue_idx) == 0 and not bool(memory.has_been_filled)
    assert not memory.embedding_memory.any()
    # The first batch after a reset ranks against itself alone: the batch loss with query-only gradients.
    assert memory(x, y).item() == pytest.approx(rll.ranked_list_loss(x, y, t_p=1.0).item(), rel=1e-12)


def test_a_resumed_memory_continues_where_it_stopped():
    g = torch.Generator().manual_seed(6)
    steps = [(torch.randn(5, 4, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(5)]
    first = rll.CrossBatchMemory(rll.RankedListLoss(), embedding_size=4, memory_size=12)
    for x, y in steps[:3]:
        first(x, y)
    resumed = rll.CrossBatchMemory(rll.RankedListLoss(), embedding_size=4, memory_size=12)
    resumed.load_state_dict(first.state_dict())
    for x, y in steps[3:]:
        assert resumed(x, y).item() == first(x, y).item()
    assert set(first.state_dict()) == {"embedding_memory", "label_memory", "queue_idx", "has_been_filled"}


def test_cross_batch_memory_checks_its_arguments():
    with pytest.raises(TypeError, match="an rll.RankedListLoss"):
        rll.CrossBatchMemory(torch.nn.MSELoss(), 4)
    memory = rll.CrossBatchMemory(rll.RankedListLoss(), embedding_size=4, memory_size=3)
    with pytest.raises(ValueError, match="does not fit a memory of 3"):
        memory(torch.randn(5, 4), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"\(N, 4\) expected"):
        memory(torch.randn(2, 5), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(ValueError, match="one bool per row"):
        memory(torch.randn(2, 4), torch.zeros(2, dtype=torch.int64), enqueue_mask=torch.ones(3, dtype=torch.bool))
