"""Ranked List Loss (Wang et al., CVPR 2019) for PyTorch: the exact loss and gradient of the ranked_list_loss Rust
engine, from one engine call per batch, on CPU and CUDA tensors.

    import ranked_list_loss as rll
    crit = rll.RankedListLoss(margin=0.4, alpha=1.2, t_n=10.0)
    loss = crit(embeddings, labels)
    loss.backward()

``rll.ranked_list_loss`` is the same as a function; ``rll.pml.RankedListLoss`` takes pytorch-metric-learning's
arguments and gives its value. docs/pytorch.md has the details.
"""

from ._engine import set_num_threads
from ._params import LossParams
from .functional import ranked_list_loss
from .memory import CrossBatchMemory
from .modules import RankedListLoss

# rll.pml (pytorch-metric-learning's class) is imported on first use, so it is not in __all__: a star import does not
# need PML.
__all__ = ["CrossBatchMemory", "LossParams", "RankedListLoss", "ranked_list_loss", "set_num_threads"]


def __getattr__(name: str):
    # rll.pml needs pytorch-metric-learning: imported on first use, so that the package itself does not.
    if name == "pml":
        import importlib

        return importlib.import_module(".pml", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

