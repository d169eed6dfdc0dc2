"""``LossParams``: the loss's parameters, built and checked once, shared by the module, the function, the PML form
and the distributed path (the extension reads them by name)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from . import _engine

#: The semantics' names, in the engine's order (docs/semantics.md).
SEMANTICS: tuple[str, ...] = tuple(_engine.SEMANTICS)

_NUMBERS = ("margin", "alpha", "t_n", "t_p", "lambda_", "lambda_p", "base_n", "base_p", "weight_eps")
_FLAGS = ("query_only", "detach_weights", "normalize", "check_finite")


@dataclass(frozen=True)
class LossParams:
    """The Ranked List Loss's parameters; the defaults are the proto's (docs/semantics.md).

    margin m, alpha α (negatives within α, positives beyond α − m), t_n / t_p the weights' temperatures (any
    finite value), lambda_ λ and lambda_p λ_P (each query's λ_P L_P + λ L_N; λ_P = 1 in the proto's loss), base_n / base_p the official layer's bases, semantics ("paper",
    "official_v2020", "official_v2019"), query_only and detach_weights (the gradient's options), weight_eps ε
    (PAPER: N ε added to each weight sum, pytorch-metric-learning's bias), normalize (the loss of x_i/‖x_i‖),
    check_finite (CUDA: a non-finite input raises the error naming it, at the cost of one host synchronization;
    without it, the default, a CUDA call never waits for the GPU and a non-finite input gives a NaN loss and NaN
    gradients, which ``torch.amp.GradScaler`` skips; on the CPU the error is always raised).
    """

    margin: float = 0.4
    alpha: float = 1.2
    t_n: float = 10.0
    t_p: float = 0.0
    lambda_: float = 1.0
    semantics: str = "paper"
    query_only: bool = False
    detach_weights: bool = False
    base_n: float = 2.71828
    base_p: float = 2.71828
    weight_eps: float = 0.0
    normalize: bool = False
    lambda_p: float = 1.0
    check_finite: bool = False

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"RankedListLoss: semantics = {self.semantics!r}: one of {', '.join(SEMANTICS)} expected")
        for name in _NUMBERS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"RankedListLoss: {name} = {value!r} must be a finite number")
            object.__setattr__(self, name, float(value))
        for name in _FLAGS:
            object.__setattr__(self, name, bool(getattr(self, name)))
        _engine.check_params(self)  # the engine's own checks of the values (signs, combinations)

    def replace(self, **changes: object) -> LossParams:
        """A copy with ``changes``, checked again."""
        return dataclasses.replace(self, **changes)

    def values(self) -> list[float]:
        """Every field as a float, in field order (semantics by its index): what ranks compare, what the custom op
        takes (``from_values`` inverts it)."""
        return [float(SEMANTICS.index(v)) if isinstance(v, str) else float(v) for v in dataclasses.astuple(self)]

    @classmethod
    def from_values(cls, values: list[float]) -> LossParams:
        fields = dataclasses.fields(cls)
        given = {}
        for f, v in zip(fields, values):
            given[f.name] = SEMANTICS[int(v)] if f.type == "str" else (bool(v) if f.type == "bool" else v)
        return cls(**given)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))


#: The defaults, which the function and module forms' signatures show.
DEFAULTS = LossParams()
