"""The loss's one engine call, ``compute``: the loss and its gradient on the tensor's own memory (the CPU engine,
or the CUDA kernels on the tensor's device and current stream). Two ways into it with the same backward (the saved
gradient times the incoming scalar; differentiating that gradient again is refused):
- ``loss_and_grad``, the custom op ``torch.ops.ranked_list_loss.loss_and_grad`` registered with
  ``torch.library.custom_op`` and a fake implementation, which ``torch.compile`` traces;
- ``LossFunction``, a ``torch.autograd.Function`` for eager mode and ``torch.func``, which skips the custom op's
  Python dispatch (about 0.25 ms a call, a quarter of the engine's time at 180×512), and its twin
  ``EagerLossFunction`` for eager calls outside ``torch.func`` transforms."""

from __future__ import annotations

import torch
from torch import Tensor

from . import _engine
from ._params import LossParams


def _fail(message: str) -> ValueError:
    return ValueError(f"RankedListLoss: {message}")


def check_tensors(embeddings: object, labels: object) -> None:
    """What the extension cannot see through DLPack: both are tensors, and the embeddings are on the CPU or CUDA
    (the extension checks the rest: shapes, dtypes, values)."""
    if not isinstance(embeddings, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("RankedListLoss: embeddings and labels must be tensors")
    if embeddings.device.type not in ("cpu", "cuda"):
        raise _fail(f"embeddings are on {embeddings.device}: CPU and CUDA tensors are supported")


def exact_labels(labels: Tensor, device: torch.device) -> Tensor:
    """The labels on ``device`` (moved there, as PML does) in a dtype that holds every value exactly: int64 for
    integer and bool labels, float64 for floating-point ones."""
    return labels.to(device=device, dtype=torch.float64 if labels.dtype.is_floating_point else torch.int64)


def _cuda_ids(labels: Tensor, dtype: torch.dtype) -> Tensor:
    """CUDA labels as the engine's CUDA path takes them: dense class ids 0..K-1, equal for equal labels (compared
    exactly, as int64 or float64), in float32 (float64 for float64 features). Fixed-size tensor operations only (a
    sort, a scan, a scatter: no host synchronization, unlike ``torch.unique``); a non-finite label's id is NaN,
    which the engine reports as a non-finite label. On the CPU the extension maps labels itself."""
    if labels.dim() != 1 or labels.dtype.is_complex:
        return labels  # the extension names what is wrong
    keys = exact_labels(labels, labels.device)
    ordered, order = torch.sort(keys)
    starts = torch.ones_like(ordered, dtype=torch.bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    ids = torch.empty_like(order).scatter_(0, order, torch.cumsum(starts, 0) - 1)
    ids = ids.to(torch.float64 if dtype == torch.float64 else torch.float32)
    if keys.dtype.is_floating_point:
        ids = torch.where(torch.isfinite(keys), ids, torch.nan)
    return ids


def compute(embeddings: Tensor, labels: Tensor, params: LossParams, need_grad: bool) -> tuple[Tensor, Tensor]:
    """(loss, ∂loss/∂embeddings) of one batch through the extension's one call; the gradient is an empty tensor
    when ``need_grad`` is False. ``params.normalize``: the loss of the L2-normalised rows, normalised in the same
    call (float32/float64; the 16-bit dtypes are normalised by the caller)."""
    x = embeddings.detach().contiguous()
    if labels.device != x.device:
        labels = labels.to(x.device)
    labels = labels.detach().contiguous()
    grad = torch.empty_like(x) if need_grad else None
    if not x.is_cuda:
        return _call(x, labels, params, grad), x.new_empty(0) if grad is None else grad
    loss = _call(x, _cuda_ids(labels, x.dtype), params, grad, raw_labels=labels)
    return loss, x.new_empty(0) if grad is None else grad


def _call(x: Tensor, labels: Tensor, params: LossParams, grad: Tensor | None, raw_labels: Tensor | None = None,
          **per_query: Tensor) -> Tensor:
    """The extension's one call on prepared tensors (CUDA labels as dense ids, ``raw_labels`` the labels they came
    from, for an error message): the loss as a 0-dim tensor of x's dtype on x's device; ``per_query``: ``weights``
    and/or ``stats``. On CUDA the call only enqueues work on the current stream, into outputs and a workspace from
    PyTorch's caching allocator, unless ``params.check_finite`` (then the engine's host-synchronous call, which
    raises for a non-finite input)."""
    if not x.is_cuda:
        return torch.tensor(_engine.loss(x, labels, params, grad, **per_query), dtype=x.dtype)
    scratch = (torch.empty_like(x), torch.empty_like(x), x.new_empty(x.shape[0])) if params.normalize else None
    stream = torch.cuda.current_stream(x.device).cuda_stream
    if params.check_finite:
        try:
            value = _engine.loss(x, labels, params, grad, stream, scratch, **per_query)
        except ValueError as e:
            raise _with_label_value(e, labels if raw_labels is None else raw_labels) from None
        return torch.tensor(value, dtype=x.dtype, device=x.device)
    loss = torch.empty((), dtype=torch.float64 if x.dtype == torch.float64 else torch.float32, device=x.device)
    workspace = torch.empty(_engine.gpu_workspace_bytes(x, params), dtype=torch.uint8, device=x.device)
    _engine.loss_async(x, labels, params, loss, workspace, grad, stream, scratch, **per_query)
    return loss if loss.dtype == x.dtype else loss.to(x.dtype)


def _with_label_value(e: ValueError, labels: Tensor) -> ValueError:
    """The engine's error for a non-finite label id (NaN in ``_cuda_ids``) in the CPU path's words, with the
    label's own value (read back: this is the error path)."""
    message = str(e)
    prefix = "RankedListLoss: labels["
    if not message.startswith(prefix):
        return e
    k = int(message[len(prefix):].split("]", 1)[0])
    return _fail(f"labels[{k}] = {labels[k].item()} is not finite (class ids are compared exactly)")


def _compute_values(embeddings: Tensor, labels: Tensor, params: list[float], need_grad: bool) -> tuple[Tensor, Tensor]:
    return compute(embeddings, labels, LossParams.from_values(params), need_grad)


loss_and_grad = torch.library.custom_op("ranked_list_loss::loss_and_grad", _compute_values, mutates_args=())


@loss_and_grad.register_fake
def _(embeddings, labels, params, need_grad):
    grad = torch.empty_like(embeddings) if need_grad else embeddings.new_empty(0)
    return embeddings.new_empty(()), grad


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1], inputs[0])
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)  # no zeros for the gradient output's (unused) incoming gradient


class _ScaledGradient(torch.autograd.Function):
    """grad_loss × the engine's gradient, the backward's one product. The embeddings are an input (unused), so that
    with ``create_graph=True`` the gradient it returns depends on them in the graph: only differentiating it
    further (the engine has no second derivative) is refused."""

    @staticmethod
    def forward(grad_loss: Tensor, grad: Tensor, _embeddings: Tensor) -> Tensor:
        return grad_loss * grad

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, _upstream: Tensor):
        raise RuntimeError(
            "RankedListLoss: double backward (differentiating the loss's gradient) is not supported: the engine "
            "computes the loss's first derivative only"
        )


def _scaled_gradient(ctx, grad_loss: Tensor | None, eager: bool = False) -> Tensor | None:
    """The embeddings' gradient for an incoming ``grad_loss`` (None: no gradient flows into the loss)."""
    if grad_loss is None:
        return None
    grad, embeddings = ctx.saved_tensors
    if grad.numel() == 0:
        raise RuntimeError("RankedListLoss: backward through a call made without need_grad")
    if torch.is_grad_enabled():  # create_graph=True: the product in the graph
        return _ScaledGradient.apply(grad_loss, grad, embeddings)
    if eager and not grad_loss.is_cuda and grad_loss.item() == 1.0:
        # loss.backward(): the engine's gradient itself (× 1 exactly), no third tensor. Autograd releases the saved
        # gradient before accumulating, so it is taken over as .grad; with retain_graph=True it is copied.
        return grad
    return grad_loss * grad


def _backward(ctx, grad_loss: Tensor | None, _grad_of_grad: Tensor | None, eager: bool = False):
    return _scaled_gradient(ctx, grad_loss, eager), None, None, None


loss_and_grad.register_autograd(_backward, setup_context=_setup_context)


class EagerLossFunction(torch.autograd.Function):
    """``LossFunction`` without ``setup_context``, for eager calls outside ``torch.func`` transforms: its ``apply``
    skips the signature binding that ``setup_context`` Functions pay on every call (about 30 µs, 6 % of the
    engine's time at 180×512 on one thread)."""

    @staticmethod
    def forward(ctx, embeddings: Tensor, labels: Tensor, params: LossParams, need_grad: bool) -> tuple[Tensor, Tensor]:
        output = compute(embeddings, labels, params, need_grad)
        _setup_context(ctx, (embeddings,), output)
        return output

    @staticmethod
    def backward(ctx, grad_loss: Tensor | None, _grad_of_grad: Tensor | None):
        return _backward(ctx, grad_loss, _grad_of_grad, eager=True)


class LossFunction(torch.autograd.Function):
    """``compute`` under autograd in eager mode and under ``torch.func`` transforms:
    ``LossFunction.apply(embeddings, labels, params, need_grad)`` returns (loss, gradient), the gradient
    non-differentiable (callers take the loss)."""

    @staticmethod
    def forward(embeddings: Tensor, labels: Tensor, params: LossParams, need_grad: bool) -> tuple[Tensor, Tensor]:
        return compute(embeddings, labels, params, need_grad)

    setup_context = staticmethod(_setup_context)

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_of_grad: Tensor):
        return _backward(ctx, grad_loss, _grad_of_grad)


class PerQueryLossFunction(torch.autograd.Function):
    """The per-query losses ℓ_i = λ_P L_P(i) + λ L_N(i) (PAPER, float32/float64, CPU or CUDA) under autograd:
    ``PerQueryLossFunction.apply(embeddings, labels, params)``. The backward is one more engine call, with the
    incoming gradient u as per-query weights: ∂(Σ_i u_i ℓ_i)/∂embeddings in one pass."""

    @staticmethod
    def forward(ctx, embeddings: Tensor, labels: Tensor, params: LossParams) -> Tensor:
        x = embeddings.detach().contiguous()
        if labels.device != x.device:
            labels = labels.to(x.device)
        labels = labels.detach().contiguous()
        raw_labels = labels
        if x.is_cuda:
            labels = _cuda_ids(labels, x.dtype)
        stats = x.new_empty(x.shape[0], 4)  # (L_P, L_N, |P*|, |N*|) per query
        _call(x, labels, params, None, raw_labels=raw_labels, stats=stats)
        ctx.save_for_backward(x, labels)
        ctx.params = params
        return params.lambda_p * stats[:, 0] + params.lambda_ * stats[:, 1]

    @staticmethod
    def backward(ctx, grad_losses: Tensor | None):
        if grad_losses is None:
            return None, None, None
        if torch.is_grad_enabled():
            raise RuntimeError("RankedListLoss: double backward through per-query losses is not supported")
        x, labels = ctx.saved_tensors
        grad = torch.empty_like(x)
        _call(x, labels, ctx.params, grad, weights=grad_losses.to(x.dtype).contiguous())
        return grad, None, None
