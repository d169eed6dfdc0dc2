"""Queries ranked against references (``ref_emb``, ``ref_labels``): the loss of each query's ranked list over the
reference rows instead of its own batch, with the query's own copy among them left out by index (``own``: what
``CrossBatchMemory`` passes). One engine call (PAPER semantics; docs/memory.md): ``_engine.loss_references`` on the
CPU; on CUDA ``_engine.loss_references_async`` on the stacked rows [Q; R], stream-ordered."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from . import _engine
from ._ops import _cuda_ids, exact_labels
from ._params import LossParams

_SIXTEEN_BIT = (torch.float16, torch.bfloat16)


def _fail(message: str) -> ValueError:
    return ValueError(f"RankedListLoss: {message}")


def _keys(labels: Tensor, ref_labels: Tensor, device: torch.device) -> Tensor:
    """Both label sets on ``device`` in one dtype that holds every value exactly (one mapping to class ids for
    both)."""
    a, b = exact_labels(labels, device), exact_labels(ref_labels, device)
    if a.dtype != b.dtype:
        a, b = a.to(torch.float64), b.to(torch.float64)
    return torch.cat([a, b]).contiguous()


class ReferencesFunction(torch.autograd.Function):
    """``ReferencesFunction.apply(embeddings, ref_emb, labels, ref_labels, own, params)``: the mean loss of the
    queries against the references; backward returns the engine's gradients (for ``ref_emb`` only when it
    requires one) times the incoming scalar."""

    @staticmethod
    def forward(ctx, embeddings: Tensor, ref_emb: Tensor, labels: Tensor, ref_labels: Tensor, own: Tensor | None,
                params: LossParams) -> Tensor:
        x = embeddings.detach().contiguous()
        r = ref_emb.detach().to(x.dtype).contiguous()
        need_grad, need_ref_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad = torch.empty_like(x) if need_grad else None
        ref_grad = torch.empty_like(r) if need_ref_grad else None
        own = None if own is None else own.to(device=x.device, dtype=torch.int64).contiguous()
        keys = _keys(labels, ref_labels, x.device)
        if x.is_cuda:
            loss = _cuda_call(x, r, keys, params, own, grad, ref_grad)
        else:
            loss = torch.tensor(_engine.loss_references(x, r, keys, params, own, grad, ref_grad), dtype=x.dtype)
        ctx.save_for_backward(x.new_empty(0) if grad is None else grad, r.new_empty(0) if ref_grad is None
                              else ref_grad)
        return loss

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("RankedListLoss: double backward through ref_emb's loss is not supported")
        grad, ref_grad = ctx.saved_tensors
        g = grad_loss * grad if ctx.needs_input_grad[0] else None
        rg = grad_loss * ref_grad if ctx.needs_input_grad[1] else None
        return g, rg, None, None, None, None


def _cuda_call(x: Tensor, r: Tensor, keys: Tensor, params: LossParams, own: Tensor | None,
               grad: Tensor | None, ref_grad: Tensor | None) -> Tensor:
    """The stream-ordered CUDA call on the stacked rows [Q; R] (outputs and workspace from PyTorch's caching
    allocator on the current stream; nothing read back: a non-finite input gives NaN)."""
    stacked = torch.cat([x, r]).contiguous()
    ids = _cuda_ids(keys, x.dtype)
    loss = torch.empty((), dtype=x.dtype, device=x.device)
    workspace = torch.empty(_engine.gpu_references_workspace_bytes(stacked, params, len(x)), dtype=torch.uint8,
                            device=x.device)
    stream = torch.cuda.current_stream(x.device).cuda_stream
    _engine.loss_references_async(stacked, ids, params, len(x), loss, workspace, own, grad, ref_grad, stream)
    return loss


def references_loss(embeddings: Tensor, labels: Tensor, ref_emb: Tensor, ref_labels: Tensor, params: LossParams,
                    own: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """The loss of ``embeddings`` (N_q, D) ranked against ``ref_emb`` (N_r, D): "mean" E = (1/N_q) Σ_i ℓ_i or
    "sum" N_q E, ℓ_i = λ_P L_P(i) + λ L_N(i) over the references (PAPER); ``own`` (N_q,) the index of each
    query's copy in ``ref_emb`` (−1: none), left out of its list."""
    for name, t in (("embeddings", embeddings), ("labels", labels), ("ref_emb", ref_emb), ("ref_labels", ref_labels)):
        if not isinstance(t, Tensor):
            raise TypeError(f"RankedListLoss: {name} must be a tensor")
    if params.semantics != "paper":
        raise _fail(f"ref_emb with semantics = {params.semantics!r}: queries against references are computed for "
                    "the paper semantics only")
    if reduction not in ("mean", "sum"):
        raise _fail(f"reduction = {reduction!r} with ref_emb: 'mean' or 'sum' expected")
    if embeddings.device != ref_emb.device:
        raise _fail(f"embeddings on {embeddings.device} and ref_emb on {ref_emb.device}: one device expected")
    if embeddings.dim() != 2 or ref_emb.dim() != 2 or ref_emb.shape[1] != embeddings.shape[1]:
        raise _fail(f"embeddings {tuple(embeddings.shape)} and ref_emb {tuple(ref_emb.shape)}: two (N, D) "
                    "tensors of one D expected")
    if labels.shape != (embeddings.shape[0],) or ref_labels.shape != (ref_emb.shape[0],):
        raise _fail(f"labels {tuple(labels.shape)} and ref_labels {tuple(ref_labels.shape)}: one label per row of "
                    "embeddings and of ref_emb expected")
    if params.normalize:
        embeddings, ref_emb = F.normalize(embeddings, dim=1), F.normalize(ref_emb, dim=1)
        params = params.replace(normalize=False)
    dtype = embeddings.dtype
    if dtype in _SIXTEEN_BIT:  # computed in float32, as the 16-bit batch loss is
        embeddings, ref_emb = embeddings.float(), ref_emb.float()
    elif ref_emb.dtype != dtype:
        ref_emb = ref_emb.to(dtype)
    mean = ReferencesFunction.apply(embeddings, ref_emb, labels, ref_labels, own, params).to(dtype)
    return mean if reduction == "mean" else mean * embeddings.shape[0]
