"""``ranked_list_loss(embeddings, labels, ...)``: the Ranked List Loss of one batch as a function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._ops import EagerLossFunction, LossFunction, PerQueryLossFunction, check_tensors, loss_and_grad
from ._params import DEFAULTS, LossParams
from .distributed import DistributedLossFunction
from .references import references_loss

_SIXTEEN_BIT = (torch.float16, torch.bfloat16)


def ranked_list_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = DEFAULTS.margin,
    alpha: float = DEFAULTS.alpha,
    t_n: float = DEFAULTS.t_n,
    t_p: float = DEFAULTS.t_p,
    lambda_: float = DEFAULTS.lambda_,
    semantics: str = DEFAULTS.semantics,
    query_only: bool = DEFAULTS.query_only,
    detach_weights: bool = DEFAULTS.detach_weights,
    base_n: float = DEFAULTS.base_n,
    base_p: float = DEFAULTS.base_p,
    normalize: bool = DEFAULTS.normalize,
    distributed: bool = False,
    weight_eps: float = DEFAULTS.weight_eps,
    process_group: torch.distributed.ProcessGroup | None = None,
    reduction: str = "mean",
    lambda_p: float = DEFAULTS.lambda_p,
    check_finite: bool = DEFAULTS.check_finite,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
) -> Tensor:
    """The Ranked List Loss of a batch (Wang et al., CVPR 2019; formulas in docs/semantics.md).

    ``semantics="paper"``: L = (1/N) Σ_i [L_P(i) + λ L_N(i)] over the Euclidean distances d_ij of the rows of
    ``embeddings``, with L_P(i) the T_p-weighted mean of d_ij − (α − m) over the positives beyond α − m and L_N(i)
    the T_n-weighted mean of α − d_ij over the negatives within α, and its exact gradient. ``"official_v2020"`` and
    ``"official_v2019"``: the official Caffe layer's gradient and the value it reports.

    embeddings: (N, D) float32, float64, float16 or bfloat16, CPU or CUDA; labels: (N,) of any integer, bool or
    real floating-point dtype, on any device (moved to the embeddings', as PML does), compared exactly. Returns a
    0-dim tensor of the embeddings' dtype, and the gradient comes in that dtype too:
    16-bit inputs are computed in float32 (no overflow at any temperature) and the gradient rounded to nearest even.
    The defaults are the proto's (docs/semantics.md). ``normalize=True`` computes the loss of the L2-normalised
    rows x_i/‖x_i‖ (a zero row stays zero and gets no gradient), normalised inside the same engine call for float32
    and float64 (the Caffe Normalization layer's maths), with ``F.normalize`` for the 16-bit dtypes.

    ``lambda_p`` λ_P (PAPER; 1 by default) weighs L_P: each query's λ_P L_P(i) + λ L_N(i) (``rll.pml`` sets
    λ_P = 1 − imbalance, λ = imbalance). ``weight_eps`` ε (PAPER; 0 by default) adds ε to each of a row's N weights before they are summed, W = Σ w +
    N ε: pytorch-metric-learning 2.9's bias (1e-5, which ``rll.pml`` sets), not the paper's exact means.

    ``reduction``: "mean" (the loss above), "sum" (N times it) or "none": the per-query losses
    ℓ_i = L_P(i) + λ L_N(i), shape (N,), whose backward is one more engine call with the incoming gradient as
    per-query weights (PAPER semantics; 16-bit embeddings computed in float32).

    ``distributed=True`` ranks each rank's queries against the whole batch of every rank of ``process_group`` (the
    default group when None) of an initialised ``torch.distributed``: the loss is the single-process loss of the
    concatenated batch on every rank, and the local gradient world_size times its rows for this rank, so that
    ``DistributedDataParallel``'s averaging gives single-process training (docs/distributed.md). Shards may differ
    in size (or be empty); labels are global class ids.

    On CUDA a call never waits for the GPU (labels are mapped and compared on the device, the engine's workspace
    and outputs come from PyTorch's caching allocator on the current stream): a non-finite embedding or label then
    gives a NaN loss and NaN gradients, which ``torch.amp.GradScaler`` skips. ``check_finite=True`` raises the
    error naming it instead, at the cost of one host synchronization; on the CPU the error is always raised.

    ``ref_emb`` (N_r, D) and ``ref_labels`` (N_r,): each query (row of ``embeddings``) is ranked against these
    references instead of its own batch (PAPER; reduction "mean" or "sum"; CPU tensors; docs/memory.md), the
    gradient reaching ``ref_emb`` too when it requires one. ``rll.CrossBatchMemory`` builds them from a queue.
    """
    params = LossParams(margin=margin, alpha=alpha, t_n=t_n, t_p=t_p, lambda_=lambda_, semantics=semantics,
                        query_only=query_only, detach_weights=detach_weights, base_n=base_n, base_p=base_p,
                        weight_eps=weight_eps, normalize=normalize, lambda_p=lambda_p, check_finite=check_finite)
    if ref_emb is not None or ref_labels is not None:
        if ref_emb is None or ref_labels is None:
            raise ValueError("RankedListLoss: ref_emb and ref_labels go together")
        if distributed:
            raise ValueError("RankedListLoss: ref_emb with distributed=True is not supported")
        return references_loss(embeddings, labels, ref_emb, ref_labels, params, reduction=reduction)
    return loss_with(embeddings, labels, params, distributed=distributed, process_group=process_group,
                     reduction=reduction)


REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str, distributed: bool) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"RankedListLoss: reduction = {reduction!r}: one of {', '.join(REDUCTIONS)} expected")
    if reduction != "mean" and distributed:
        raise ValueError(f"RankedListLoss: reduction = {reduction!r} with distributed=True: only 'mean' is supported")


def loss_with(embeddings: Tensor, labels: Tensor, params: LossParams, distributed: bool = False,
              process_group: torch.distributed.ProcessGroup | None = None, reduction: str = "mean") -> Tensor:
    """``ranked_list_loss`` with a parameter record built (and checked) beforehand, as the modules keep it."""
    check_reduction(reduction, distributed)
    if reduction == "none":
        check_tensors(embeddings, labels)
        if params.semantics != "paper":
            raise ValueError(f"RankedListLoss: reduction = 'none' with semantics = {params.semantics!r}: per-query "
                             "losses are the paper semantics' (the official layer's value has no per-query split)")
        if embeddings.dtype in _SIXTEEN_BIT:  # computed in float32, as the 16-bit mean is
            return PerQueryLossFunction.apply(embeddings.float(), labels, params).to(embeddings.dtype)
        return PerQueryLossFunction.apply(embeddings, labels, params)
    if reduction == "sum":
        mean = loss_with(embeddings, labels, params, distributed, process_group)
        return mean * embeddings.shape[0]
    if params.normalize and isinstance(embeddings, Tensor) and embeddings.dtype in _SIXTEEN_BIT + ((
            torch.float32, torch.float64) if distributed else ()):
        # Normalised in the engine call for float32/float64 on one process; otherwise by torch first.
        if embeddings.dim() == 2:
            embeddings = F.normalize(embeddings, dim=1)
        params = params.replace(normalize=False)
    if distributed:
        # Checked inside, after every rank has said how its check went (a local raise would leave the others
        # waiting in a collective).
        need_grad = isinstance(embeddings, Tensor) and embeddings.requires_grad and torch.is_grad_enabled()
        return DistributedLossFunction.apply(embeddings, labels, process_group, params, need_grad)
    check_tensors(embeddings, labels)
    need_grad = embeddings.requires_grad and torch.is_grad_enabled()
    if torch.compiler.is_compiling():
        return loss_and_grad(embeddings, labels, params.values(), need_grad)[0]
    if torch._C._are_functorch_transforms_active():
        return LossFunction.apply(embeddings, labels, params, need_grad)[0]
    return EagerLossFunction.apply(embeddings, labels, params, need_grad)[0]
