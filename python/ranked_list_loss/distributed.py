"""Global ranking on ``torch.distributed``: each rank's queries ranked against the whole distributed batch, with
the exact gradient (docs/distributed.md).

Contract: on every rank the loss equals the single-process loss of the concatenated batch (ranks in order), and
the local embeddings' gradient equals ``world_size`` × that loss's gradient rows for this rank, so that
``DistributedDataParallel``'s averaging of parameter gradients gives single-process training.

No rank is ever left waiting: before the first collective of a call, every rank shares a status (whether its
inputs passed the local checks, its shard's N and D, dtype, parameters and whether it needs a gradient); when any
rank is at fault, every rank raises the same ValueError naming the first such rank, and a rank that needs no
gradient still takes part in every collective when another rank needs one.

Per call: one all-gather of the ranks' statuses (with the shard sizes), of the features and of the labels (padded
to the largest shard inside); OFFICIAL also all-gathers each row's ln(S⁺ + S⁻) (N float64), for the global
normaliser Z; each rank computes its own N_local query rows against the gathered N (O(N_local · N · D) work,
O(N_local · N) memory, one engine call); one reduce-scatter of the N × D gradient contributions, and one all-gather
of the ranks' loss parts, summed in rank order on every rank. Every rank must call the loss, with the same
parameters.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from . import _engine
from ._ops import _fail, check_tensors, exact_labels
from ._params import LossParams

# The dtypes a status names, by code (the index).
_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def world(group: dist.ProcessGroup | None) -> tuple[int, int]:
    """(rank, world size) in ``group``; a ValueError when torch.distributed is not initialised."""
    if not dist.is_available() or not dist.is_initialized():
        raise _fail("distributed=True needs an initialised torch.distributed (torch.distributed.init_process_group)")
    return dist.get_rank(group), dist.get_world_size(group)


def _comm_device(group: dist.ProcessGroup | None, x: object) -> torch.device:
    """Where the group's collectives take their tensors: the embeddings' CUDA device (or the current one) when
    the group's backend serves CUDA and, for a backend per device type ("cpu:gloo,cuda:nccl"), the embeddings are
    on CUDA or the CPU is not served; else the CPU."""
    backend = str(dist.get_backend(group))
    if ":" in backend:
        served = {part.split(":")[0] for part in backend.split(",")}
    else:
        served = {"cuda"} if backend == "nccl" else {"cpu"}
    on_cuda = isinstance(x, Tensor) and x.is_cuda
    if "cuda" in served and (on_cuda or "cpu" not in served):
        return x.device if on_cuda else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _share_status(embeddings: object, labels: object, group: dist.ProcessGroup | None, device: torch.device,
                  params: LossParams, need_grad: bool) -> tuple[list[int], int, bool]:
    """One all-gather of every rank's status, before any other collective. Returns the shard sizes, D and whether
    any rank needs a gradient; raises the same ValueError on every rank when a rank's inputs failed the local
    checks or the ranks disagree on D, dtype or parameters."""
    try:
        check_tensors(embeddings, labels)
        _engine.check_inputs(embeddings.detach(), labels.detach())
        error = ""
    except (TypeError, ValueError) as e:
        error = str(e)
    ok = not error
    n, d = tuple(embeddings.shape) if ok else (0, 0)
    code = _DTYPES.index(embeddings.dtype) if ok else -1
    floating = int(ok and labels.dtype.is_floating_point)  # gathered as float64, else int64 (exact_labels)
    values = torch.tensor(params.values(), dtype=torch.float64).view(torch.int64).tolist()
    mine = torch.tensor([[int(ok), n, d, code, int(need_grad), floating, *values]], dtype=torch.int64,
                        device=device)
    everyone = torch.zeros(dist.get_world_size(group), mine.shape[1], dtype=torch.int64, device=device)
    dist.all_gather_into_tensor(everyone, mine, group=group)
    rows = everyone.cpu()
    if not bool(rows[:, 0].all()):
        # Only now is a message of unknown length exchanged: every rank knows that some rank failed.
        messages: list[str] = [""] * rows.shape[0]
        dist.all_gather_object(messages, error, group=group)
        bad = int((rows[:, 0] == 0).nonzero()[0])
        raise ValueError(f"{messages[bad]} (on rank {bad} of {rows.shape[0]}; distributed=True, every rank raises)")
    dtypes = [str(_DTYPES[c]).removeprefix("torch.") for c in rows[:, 3].tolist()]
    if len(set(dtypes)) > 1:
        raise _fail(f"the ranks' embeddings have dtypes {dtypes}: every rank needs the same dtype (distributed=True)")
    widths = rows[:, 2].tolist()
    if len(set(widths)) > 1:
        raise _fail(f"the ranks' embeddings have D = {widths}: every rank needs the same D")
    if len(set(rows[:, 5].tolist())) > 1:
        kinds = ["floating-point" if f else "integer" for f in rows[:, 5].tolist()]
        raise _fail(f"the ranks' labels are {kinds}: every rank needs integer (or bool) labels, or every rank "
                    "floating-point ones (distributed=True)")
    given = rows[:, 6:].contiguous().view(torch.float64)
    for k, name in enumerate(LossParams.names()):
        if not bool((given[:, k] == given[0, k]).all()):
            raise _fail(f"the ranks call the loss with {name} = {given[:, k].tolist()}: every rank needs the same "
                        "parameters (distributed=True)")
    return rows[:, 1].tolist(), widths[0], bool(rows[:, 4].any())


def _gather_padded(t: Tensor, sizes: list[int], group: dist.ProcessGroup | None) -> Tensor:
    """The ranks' ``t`` (first dimension ``sizes[r]``) concatenated in rank order, through one all-gather of
    copies padded to the largest size."""
    m = max(sizes)
    padded = t.new_zeros((m,) + tuple(t.shape[1:]))
    padded[: t.shape[0]] = t
    out = t.new_empty((len(sizes) * m,) + tuple(t.shape[1:]))
    dist.all_gather_into_tensor(out, padded, group=group)
    return torch.cat([out[r * m : r * m + s] for r, s in enumerate(sizes)])


def loss_and_local_grad(embeddings: Tensor, labels: Tensor, group: dist.ProcessGroup | None, params: LossParams,
                        need_grad: bool) -> tuple[Tensor, Tensor]:
    """(the global loss, world_size × its gradient rows for the local embeddings; empty without ``need_grad``).
    The inputs are checked here, so that a fault on one rank is an error on every rank (``_share_status``);
    ``params.normalize`` is False (the caller normalised the rows)."""
    rank, size = world(group)
    device = _comm_device(group, embeddings)
    sizes, d, any_grad = _share_status(embeddings, labels, group, device, params, need_grad)
    x = embeddings.detach()
    # The engine's split path runs on the CPU in float32 or float64 (16-bit features are widened exactly).
    wide = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    local = x.to(device=device, dtype=wide)
    features = _gather_padded(local, sizes, group).cpu().contiguous()
    all_labels = _gather_padded(exact_labels(labels, device), sizes, group).cpu()
    start, count = sum(sizes[:rank]), sizes[rank]
    ln_mass = None
    if params.semantics != "paper":
        own = torch.zeros(count, dtype=torch.float64)
        _engine.query_ln_mass(features, all_labels, params, start, count, own)
        ln_mass = _gather_padded(own.to(device), sizes, group).cpu().contiguous()
    # Every rank's queries add to every rank's gradient rows: computed wherever any rank needs a gradient.
    grad = torch.empty_like(features) if any_grad else None
    part = _engine.loss_queries(features, all_labels, params, start, count, ln_mass, grad)
    parts = torch.zeros(size, dtype=torch.float64, device=device)
    dist.all_gather_into_tensor(parts, torch.tensor([part], dtype=torch.float64, device=device), group=group)
    loss = torch.tensor(sum(parts.tolist()), dtype=x.dtype, device=x.device)
    if not any_grad:
        return loss, x.new_empty(0)
    # Rank r's rows of every rank's contribution, summed: one reduce-scatter over the padded layout.
    m = max(sizes)
    padded = torch.zeros(size * m, d, dtype=wide)
    offset = 0
    for r, s in enumerate(sizes):
        padded[r * m : r * m + s] = grad[offset : offset + s]  # type: ignore[index]
        offset += s
    mine = torch.empty(m, d, dtype=wide, device=device)
    dist.reduce_scatter_tensor(mine, padded.to(device), group=group)
    if not need_grad:
        return loss, x.new_empty(0)
    local_grad = (mine[:count] * size).to(device=x.device, dtype=x.dtype)
    return loss, local_grad


class DistributedLossFunction(torch.autograd.Function):
    """``loss_and_local_grad`` under autograd: ``DistributedLossFunction.apply(embeddings, labels, group, params,
    need_grad)``."""

    @staticmethod
    def forward(ctx, embeddings: Tensor, labels: Tensor, group, params: LossParams, need_grad: bool) -> Tensor:
        loss, grad = loss_and_local_grad(embeddings, labels, group, params, need_grad)
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("RankedListLoss: double backward (create_graph=True through the loss) is not supported")
        (grad,) = ctx.saved_tensors
        return grad_loss * grad, None, None, None, None
