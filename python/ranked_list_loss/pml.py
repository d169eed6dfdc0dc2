"""``pml.RankedListLoss``: pytorch-metric-learning's loss class, computed by this package's engine, so that a PML
user changes one import::

    from pytorch_metric_learning.losses import RankedListLoss   # before
    from ranked_list_loss.pml import RankedListLoss             # after

It is a PML ``BaseMetricLossFunction`` (so PML's reducers, ``embedding_regularizer``, recordable attributes,
trainers and hooks work with it as with PML's own), with PML 2.9's value: each query's
(1 − imbalance)·L_P(i) + imbalance·L_N(i) with positives beyond α − m and negatives within α (α = 1 + m/2 unless
given), on the distances of ``LpDistance(p=2, power=1)`` (rows L2-normalised unless
``normalize_embeddings=False``), PML's 1e-5 added to each of a row's N weights before they are summed (the engine's
``weight_eps``). That is ours with λ_P = 1 − imbalance and λ = imbalance (docs/pytorch.md).
With PML's default reducer (the mean) and no regularizer, the mean comes from one engine call per forward; any
other reducer gets the per-query losses (``reduction="none"``, CPU tensors).
``ref_emb``/``ref_labels`` (beyond PML, whose loss refuses them) rank the queries against references, and
``rll.CrossBatchMemory`` takes this class (docs/memory.md).
Needs pytorch-metric-learning installed (``import ranked_list_loss`` does not).
"""

from __future__ import annotations

from typing import Any

from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import BaseMetricLossFunction
from pytorch_metric_learning.reducers import MeanReducer
from pytorch_metric_learning.utils import common_functions as c_f
from torch import Tensor
from torch.distributed import ProcessGroup

from ._params import LossParams
from .functional import loss_with
from .references import references_loss

# What PML 2.9 adds to each weight of a row before summing them (`torch.sum(w + 1e-5, dim=1)`).
PML_WEIGHT_EPS = 1e-5


def _normalizes(distance: object) -> bool:
    """Whether ``distance`` L2-normalises the rows, for the one distance the engine computes: the Euclidean
    distance, LpDistance(p=2, power=1)."""
    if type(distance) is LpDistance and distance.p == 2 and distance.power == 1:
        return bool(distance.normalize_embeddings)
    raise ValueError(f"RankedListLoss (pml): distance = {distance!r} is not supported: the engine computes "
                     "LpDistance(p=2, power=1, normalize_embeddings=True or False)")


class RankedListLoss(BaseMetricLossFunction):
    """PML's ``RankedListLoss(margin, Tn, imbalance=0.5, alpha=None, Tp=0, **kwargs)`` on this package's engine;
    ``kwargs`` are PML's (``distance``, ``reducer``, ``embedding_regularizer``, ``embedding_reg_weight``,
    ``collect_stats``). ``distributed=True`` replaces PML's ``DistributedLossWrapper`` (each rank ranks only its
    own queries against the gathered batch, docs/distributed.md; the mean reducer only)."""

    def __init__(self, margin: float, Tn: float, imbalance: float = 0.5, alpha: float | None = None,
                 Tp: float = 0, *, distributed: bool = False, process_group: ProcessGroup | None = None,
                 **kwargs: Any) -> None:
        if not 0 <= imbalance <= 1:
            # PML asserts this range; its test expects the AssertionError.
            raise AssertionError(f"RankedListLoss (pml): imbalance = {imbalance} must be in [0, 1]")
        super().__init__(**kwargs)
        self.margin, self.Tn, self.Tp, self.imbalance = margin, Tn, Tp, imbalance
        self.alpha = 1 + margin / 2 if alpha is None else alpha
        self.distributed, self.process_group = distributed, process_group
        self.params = LossParams(margin=margin, alpha=self.alpha, t_n=Tn, t_p=Tp, lambda_p=1 - imbalance,
                                 lambda_=imbalance, semantics="paper", normalize=_normalizes(self.distance),
                                 weight_eps=PML_WEIGHT_EPS)
        if distributed and not self._mean_only():
            raise ValueError("RankedListLoss (pml): distributed=True takes PML's default reducer (the mean) and no "
                             "embedding_regularizer")
        self.add_to_recordable_attributes(list_of_names=["imbalance", "alpha", "margin", "Tp", "Tn"], is_stat=False)

    def _mean_only(self) -> bool:
        return type(self.reducer) is MeanReducer and self.embedding_regularizer is None and not self.collect_stats

    def forward(self, embeddings: Tensor, labels: Tensor | None = None, indices_tuple: Any = None,
                ref_emb: Any = None, ref_labels: Any = None) -> Tensor:
        if not self._mean_only():
            return super().forward(embeddings, labels, indices_tuple, ref_emb, ref_labels)
        # PML's default reducer: the mean of the per-query losses, from one engine call (PML's checks first).
        c_f.labels_required(labels)
        c_f.indices_tuple_not_supported(indices_tuple)
        if ref_emb is not None or ref_labels is not None:
            # Beyond PML (whose RankedListLoss refuses ref_emb): the queries ranked against the references.
            if ref_emb is None or ref_labels is None:
                raise ValueError("RankedListLoss (pml): ref_emb and ref_labels go together")
            if self.distributed:
                raise ValueError("RankedListLoss (pml): ref_emb with distributed=True is not supported")
            return references_loss(embeddings, labels, ref_emb, ref_labels, self.params)
        return loss_with(embeddings, labels, self.params, distributed=self.distributed,
                         process_group=self.process_group)

    def compute_loss(self, embeddings: Tensor, labels: Tensor, indices_tuple: Any, ref_emb: Tensor,
                     ref_labels: Tensor) -> dict:
        c_f.labels_required(labels)
        if ref_emb is not None and ref_emb is not embeddings:  # PML's forward passes the batch as its own ref_emb
            raise ValueError("RankedListLoss (pml): ref_emb takes PML's default reducer (the mean) and no "
                             "embedding_regularizer")
        c_f.indices_tuple_not_supported(indices_tuple)
        losses = loss_with(embeddings, labels, self.params, reduction="none")
        return {"loss": {"losses": losses, "indices": c_f.torch_arange_from_size(losses),
                         "reduction_type": "element"}}

    def get_default_distance(self) -> LpDistance:
        return LpDistance()
