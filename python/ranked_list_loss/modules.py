"""``RankedListLoss``: the loss as an ``nn.Module``."""

from __future__ import annotations

from torch import Tensor, nn
from torch.distributed import ProcessGroup

from .functional import ranked_list_loss


class RankedListLoss(nn.Module):
    """The Ranked List Loss (``ranked_list_loss`` with fixed parameters): ``loss = crit(embeddings, labels)``.

    The defaults are the proto's: margin m = 0.4, α = 1.2, T_n = 10, T_p = 0, λ = 1, semantics "paper";
    ``normalize=True`` L2-normalises the rows first, in the same engine call. ``distributed=True`` ranks each
    rank's queries against the batch of every rank of ``process_group`` (docs/distributed.md).
    """

    def __init__(
        self,
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
        process_group: ProcessGroup | None = None,
    ) -> None:
        super().__init__()
        self.margin, self.alpha, self.t_n, self.t_p, self.lambda_ = margin, alpha, t_n, t_p, lambda_
        self.semantics, self.query_only, self.detach_weights = semantics, query_only, detach_weights
        self.base_n, self.base_p, self.normalize = base_n, base_p, normalize
        self.distributed, self.process_group = distributed, process_group

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return ranked_list_loss(embeddings, labels, margin=self.margin, alpha=self.alpha, t_n=self.t_n, t_p=self.t_p,
                                lambda_=self.lambda_, semantics=self.semantics, query_only=self.query_only,
                                detach_weights=self.detach_weights, base_n=self.base_n, base_p=self.base_p,
                                normalize=self.normalize, distributed=self.distributed,
                                process_group=self.process_group)

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, alpha={self.alpha}, t_n={self.t_n}, t_p={self.t_p}, lambda_={self.lambda_}, "
                f"semantics={self.semantics!r}, query_only={self.query_only}, detach_weights={self.detach_weights}"
                + (", distributed=True" if self.distributed else ""))
