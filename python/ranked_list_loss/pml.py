"""``pml.RankedListLoss``: pytorch-metric-learning's arguments and value, computed by this package's engine, so
that a PML user changes one import::

    from pytorch_metric_learning.losses import RankedListLoss   # before
    from ranked_list_loss.pml import RankedListLoss             # after

PML 2.9 L2-normalises the embeddings (its default LpDistance), then averages over the N queries
(1 − imbalance)·L_P(i) + imbalance·L_N(i) with positives beyond α − m and negatives within α (α = 1 + m/2 unless
given). That is ours on the normalised rows with λ = imbalance / (1 − imbalance), times (1 − imbalance), with PML's
1e-5 added to each of a row's N weights before they are summed (the engine's ``weight_eps``), so the values are
PML's (docs/pytorch.md).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.distributed import ProcessGroup

from ._params import LossParams
from .functional import loss_with

# What PML 2.9 adds to each weight of a row before summing them (`torch.sum(w + 1e-5, dim=1)`).
PML_WEIGHT_EPS = 1e-5


class RankedListLoss(nn.Module):
    """PML's ``RankedListLoss(margin, Tn, imbalance=0.5, alpha=None, Tp=0)`` on this package's engine;
    ``distributed=True`` replaces PML's ``DistributedLossWrapper`` (each rank ranks only its own queries against the
    gathered batch, docs/distributed.md)."""

    def __init__(self, margin: float, Tn: float, imbalance: float = 0.5, alpha: float | None = None,
                 Tp: float = 0, *, distributed: bool = False, process_group: ProcessGroup | None = None,
                 **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(f"RankedListLoss (pml): {', '.join(sorted(kwargs))} not supported (PML's distance, "
                            "reducer and regularizers; the loss uses PML's defaults)")
        if not 0 <= imbalance <= 1:
            # PML asserts this range; its test expects the AssertionError.
            raise AssertionError(f"RankedListLoss (pml): imbalance = {imbalance} must be in [0, 1]")
        if imbalance == 1:
            raise ValueError("RankedListLoss (pml): imbalance = 1 (negatives only) is not supported yet: it has no "
                             "finite λ in this engine's L_P + λ L_N")
        self.margin, self.Tn, self.Tp, self.imbalance = margin, Tn, Tp, imbalance
        self.alpha = 1 + margin / 2 if alpha is None else alpha
        self.distributed, self.process_group = distributed, process_group
        self.params = LossParams(margin=margin, alpha=self.alpha, t_n=Tn, t_p=Tp,
                                 lambda_=imbalance / (1 - imbalance), semantics="paper", normalize=True,
                                 weight_eps=PML_WEIGHT_EPS)

    def forward(self, embeddings: Tensor, labels: Tensor, indices_tuple: Any = None, ref_emb: Any = None,
                ref_labels: Any = None) -> Tensor:
        if indices_tuple is not None or ref_emb is not None or ref_labels is not None:
            raise ValueError("RankedListLoss (pml): indices_tuple, ref_emb and ref_labels are not supported (as in PML)")
        loss = loss_with(embeddings, labels, self.params, distributed=self.distributed,
                         process_group=self.process_group)
        return (1 - self.imbalance) * loss
