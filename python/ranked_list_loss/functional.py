"""``ranked_list_loss(embeddings, labels, ...)``: the Ranked List Loss of one batch as a function."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._ops import SEMANTICS, LossFunction, check_inputs, loss_and_grad
from .distributed import DistributedLossFunction


def ranked_list_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.4,
    alpha: float = 1.2,
    t_n: float = 10.0,
    t_p: float = 0.0,
    lambda_: float = 1.0,
    semantics: str = "paper",
    query_only: bool = False,
    detach_weights: bool = False,
    base_n: float = 2.71828,
    base_p: float = 2.71828,
    normalize: bool = False,
    distributed: bool = False,
    weight_eps: float = 0.0,
    process_group: torch.distributed.ProcessGroup | None = None,
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

    ``weight_eps`` ε (PAPER; 0 by default) adds ε to each of a row's N weights before they are summed, W = Σ w +
    N ε: pytorch-metric-learning 2.9's bias (1e-5, which ``rll.pml`` sets), not the paper's exact means.

    ``distributed=True`` ranks each rank's queries against the whole batch of every rank of ``process_group`` (the
    default group when None) of an initialised ``torch.distributed``: the loss is the single-process loss of the
    concatenated batch on every rank, and the local gradient world_size times its rows for this rank, so that
    ``DistributedDataParallel``'s averaging gives single-process training (docs/distributed.md). Shards may differ
    in size (or be empty); labels are global class ids.
    """
    if semantics not in SEMANTICS:
        raise ValueError(f"RankedListLoss: semantics = {semantics!r}: one of {', '.join(SEMANTICS)} expected")
    for name, value in (("margin", margin), ("alpha", alpha), ("t_n", t_n), ("t_p", t_p), ("lambda_", lambda_),
                        ("base_n", base_n), ("base_p", base_p), ("weight_eps", weight_eps)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"RankedListLoss: {name} = {value!r} must be a finite number")
    if distributed:
        # Checked inside, after every rank has said how its check went (a local raise would leave the others
        # waiting in a collective).
        if normalize and isinstance(embeddings, Tensor) and embeddings.dim() == 2:
            embeddings = torch.nn.functional.normalize(embeddings, dim=1)
        need_grad = isinstance(embeddings, Tensor) and embeddings.requires_grad and torch.is_grad_enabled()
        return DistributedLossFunction.apply(embeddings, labels, process_group, float(margin), float(alpha),
                                             float(t_n), float(t_p), float(lambda_), float(base_n), float(base_p),
                                             SEMANTICS[semantics], bool(query_only), bool(detach_weights),
                                             float(weight_eps), need_grad)
    check_inputs(embeddings, labels)
    fused = normalize and embeddings.dtype in (torch.float32, torch.float64)
    if normalize and not fused:
        embeddings = torch.nn.functional.normalize(embeddings, dim=1)
    need_grad = embeddings.requires_grad and torch.is_grad_enabled()
    parameters = (float(margin), float(alpha), float(t_n), float(t_p), float(lambda_), float(base_n), float(base_p),
                  SEMANTICS[semantics], bool(query_only), bool(detach_weights), float(weight_eps), need_grad, fused)
    if torch.compiler.is_compiling():
        return loss_and_grad(embeddings, labels, *parameters)[0]
    return LossFunction.apply(embeddings, labels, *parameters)[0]
