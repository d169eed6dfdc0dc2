"""``RankedListLoss``: the loss as an ``nn.Module``."""

from __future__ import annotations

from torch import Tensor, nn
from torch.distributed import ProcessGroup

from ._params import DEFAULTS, LossParams
from .functional import check_reduction, loss_with
from .references import references_loss


class RankedListLoss(nn.Module):
    """The Ranked List Loss (``ranked_list_loss`` with fixed parameters): ``loss = crit(embeddings, labels)``.

    The defaults are the proto's: margin m = 0.4, α = 1.2, T_n = 10, T_p = 0, λ = 1, semantics "paper";
    ``normalize=True`` L2-normalises the rows first, in the same engine call; ``check_finite=True`` makes a CUDA
    call raise for a non-finite input (one host synchronization) instead of returning NaN. ``distributed=True`` ranks each
    rank's queries against the batch of every rank of ``process_group`` (docs/distributed.md); ``reduction`` as in
    ``ranked_list_loss`` ("mean", "sum" or "none": the per-query losses). The parameters are
    checked here, once, and kept in ``self.params`` (a frozen ``LossParams``).
    """

    def __init__(
        self,
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
        process_group: ProcessGroup | None = None,
        weight_eps: float = DEFAULTS.weight_eps,
        reduction: str = "mean",
        lambda_p: float = DEFAULTS.lambda_p,
        check_finite: bool = DEFAULTS.check_finite,
    ) -> None:
        super().__init__()
        self.params = LossParams(margin=margin, alpha=alpha, t_n=t_n, t_p=t_p, lambda_=lambda_, semantics=semantics,
                                 query_only=query_only, detach_weights=detach_weights, base_n=base_n, base_p=base_p,
                                 weight_eps=weight_eps, normalize=normalize, lambda_p=lambda_p,
                                 check_finite=check_finite)
        check_reduction(reduction, distributed)
        self.distributed, self.process_group, self.reduction = distributed, process_group, reduction

    def forward(self, embeddings: Tensor, labels: Tensor, ref_emb: Tensor | None = None,
                ref_labels: Tensor | None = None) -> Tensor:
        """The loss of the batch, or with ``ref_emb`` and ``ref_labels`` of its queries ranked against those
        references (docs/memory.md)."""
        if ref_emb is not None or ref_labels is not None:
            if ref_emb is None or ref_labels is None:
                raise ValueError("RankedListLoss: ref_emb and ref_labels go together")
            if self.distributed:
                raise ValueError("RankedListLoss: ref_emb with distributed=True is not supported")
            return references_loss(embeddings, labels, ref_emb, ref_labels, self.params, reduction=self.reduction)
        return loss_with(embeddings, labels, self.params, distributed=self.distributed,
                         process_group=self.process_group, reduction=self.reduction)

    def extra_repr(self) -> str:
        fields = [f"{name}={getattr(self.params, name)!r}" for name in LossParams.names()]
        extra = (["distributed=True"] if self.distributed else []) + (
            [f"reduction={self.reduction!r}"] if self.reduction != "mean" else [])
        return ", ".join(fields + extra)
