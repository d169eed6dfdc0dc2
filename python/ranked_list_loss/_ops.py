"""The loss's one engine call, ``compute``: the loss and its gradient on the tensor's own memory (the CPU engine,
or the CUDA kernels on the tensor's device and current stream). Two ways into it with the same backward (the saved
gradient times the incoming scalar; differentiating that gradient again is refused):
- ``loss_and_grad``, the custom op ``torch.ops.ranked_list_loss.loss_and_grad`` registered with
  ``torch.library.custom_op`` and a fake implementation, which ``torch.compile`` traces;
- ``LossFunction``, a ``torch.autograd.Function`` for eager mode, which skips the custom op's Python dispatch
  (about 0.25 ms a call, a quarter of the engine's time at 180×512)."""

from __future__ import annotations

import torch
from torch import Tensor

from . import _engine

SEMANTICS = {"paper": 0, "official_v2020": 1, "official_v2019": 2}


def _fail(message: str) -> ValueError:
    return ValueError(f"RankedListLoss: {message}")


def check_inputs(embeddings: Tensor, labels: Tensor, empty_ok: bool = False) -> None:
    """Shapes, dtypes and devices, named in the error (values are checked by the engine). ``empty_ok``: N = 0 is
    allowed (a rank's shard of a distributed batch)."""
    if not isinstance(embeddings, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("RankedListLoss: embeddings and labels must be tensors")
    if embeddings.dim() != 2:
        raise _fail(f"embeddings must be (N, D), got shape {tuple(embeddings.shape)}")
    if embeddings.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise _fail(f"embeddings.dtype = {embeddings.dtype}: float32, float64, float16 or bfloat16 expected")
    if labels.dim() != 1:
        raise _fail(f"labels must be (N,), got shape {tuple(labels.shape)}")
    if labels.dtype.is_complex:
        raise _fail(f"labels.dtype = {labels.dtype}: integer, bool or real floating-point labels expected")
    n, d = embeddings.shape
    if labels.shape[0] != n:
        raise _fail(f"labels has {labels.shape[0]} values but embeddings has N = {n} rows")
    if (n == 0 and not empty_ok) or d == 0:
        raise _fail(f"embeddings has shape ({n}, {d}): N and D must be > 0")
    if embeddings.device.type not in ("cpu", "cuda"):
        raise _fail(f"embeddings are on {embeddings.device}: CPU and CUDA tensors are supported")
    if labels.dtype.is_floating_point:
        bad = (~torch.isfinite(labels)).nonzero()
        if bad.numel():
            k = int(bad[0])
            raise _fail(f"labels[{k}] = {labels[k].item()} is not finite (class ids are compared exactly)")


def exact_labels(labels: Tensor, device: torch.device) -> Tensor:
    """The labels on ``device`` (moved there, as PML does) in a dtype that holds every value exactly: int64 for
    integer and bool labels, float64 for floating-point ones."""
    return labels.to(device=device, dtype=torch.float64 if labels.dtype.is_floating_point else torch.int64)


def dense_ids(labels: Tensor, dtype: torch.dtype) -> Tensor:
    """Class ids 0..K-1 in the embeddings' dtype: equal labels get equal ids, exactly for any dtype (ids of 2^24
    and 2^24 + 1 stay two classes, which float32 labels would merge)."""
    _, inverse = torch.unique(labels, return_inverse=True)
    return inverse.to(dtype).contiguous()


def _stream(t: Tensor) -> int:
    return torch.cuda.current_stream(t.device).cuda_stream if t.is_cuda else 0


def compute(
    embeddings: Tensor,
    labels: Tensor,
    margin: float,
    alpha: float,
    t_n: float,
    t_p: float,
    lambda_: float,
    base_n: float,
    base_p: float,
    semantics: int,
    query_only: bool,
    detach_weights: bool,
    weight_eps: float,
    need_grad: bool,
    normalize: bool,
) -> tuple[Tensor, Tensor]:
    """(loss, ∂loss/∂embeddings) of one batch; the gradient is an empty tensor when ``need_grad`` is False. With
    ``normalize`` the loss is that of the L2-normalised rows, normalised in the same engine call (float32/float64)."""
    x = embeddings.detach().contiguous()
    # The 16-bit dtypes take float32 ids (float16 holds integers exactly only up to 2048, bfloat16 up to 256).
    ids = dense_ids(exact_labels(labels, x.device), x.dtype if x.dtype in (torch.float32, torch.float64)
                    else torch.float32)
    grad = torch.empty_like(x) if need_grad else x.new_empty(0)
    if x.is_cuda and not _engine.has_cuda():
        raise RuntimeError(
            "RankedListLoss: this ranked_list_loss was built without CUDA; to use CUDA tensors reinstall it with "
            'MATURIN_PEP517_ARGS="--features cuda" pip install ./python (docs/pytorch.md)'
        )
    scratch = (torch.empty_like(x), torch.empty_like(x), x.new_empty(x.shape[0])) if normalize else None
    try:
        value = _call_engine(x, ids, grad, need_grad, margin, alpha, t_n, t_p, lambda_, base_n, base_p, semantics,
                             query_only, detach_weights, weight_eps, scratch)
    except ValueError as e:
        # The engine names the features x; here they are the embeddings.
        message = str(e)
        raise _fail("embeddings" + message[1:] if message.startswith("x[") else message) from None
    return torch.tensor(value, dtype=x.dtype, device=x.device), grad


def _call_engine(x: Tensor, ids: Tensor, grad: Tensor, need_grad: bool, margin: float, alpha: float, t_n: float,
                 t_p: float, lambda_: float, base_n: float, base_p: float, semantics: int, query_only: bool,
                 detach_weights: bool, weight_eps: float, scratch: tuple[Tensor, Tensor, Tensor] | None) -> float:
    n, d = x.shape
    norm = (0, 0, 0) if scratch is None else tuple(t.data_ptr() for t in scratch)
    return _engine.loss(
        str(x.dtype).removeprefix("torch."),
        x.data_ptr(),
        ids.data_ptr(),
        n,
        d,
        grad.data_ptr() if need_grad else 0,
        x.device.index if x.is_cuda else -1,
        _stream(x),
        margin,
        alpha,
        t_n,
        t_p,
        lambda_,
        base_n,
        base_p,
        semantics,
        query_only,
        detach_weights,
        weight_eps,
        *norm,
    )


loss_and_grad = torch.library.custom_op("ranked_list_loss::loss_and_grad", compute, mutates_args=())


@loss_and_grad.register_fake
def _(embeddings, labels, margin, alpha, t_n, t_p, lambda_, base_n, base_p, semantics, query_only, detach_weights,
      weight_eps, need_grad, normalize):
    grad = torch.empty_like(embeddings) if need_grad else embeddings.new_empty(0)
    return embeddings.new_empty(()), grad


def _setup_context(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1], inputs[0])
    ctx.mark_non_differentiable(output[1])


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


def _scaled_gradient(ctx, grad_loss: Tensor) -> Tensor:
    grad, embeddings = ctx.saved_tensors
    if grad.numel() == 0:
        raise RuntimeError("RankedListLoss: backward through a call made without need_grad")
    return _ScaledGradient.apply(grad_loss, grad, embeddings)


def _backward(ctx, grad_loss: Tensor, _grad_of_grad: Tensor):
    return (_scaled_gradient(ctx, grad_loss),) + (None,) * 14


loss_and_grad.register_autograd(_backward, setup_context=_setup_context)


class LossFunction(torch.autograd.Function):
    """``compute`` under autograd in eager mode and under ``torch.func`` transforms:
    ``LossFunction.apply(embeddings, labels, *parameters)`` returns (loss, gradient), the gradient
    non-differentiable (callers take the loss)."""

    @staticmethod
    def forward(embeddings: Tensor, labels: Tensor, *parameters) -> tuple[Tensor, Tensor]:
        return compute(embeddings, labels, *parameters)

    setup_context = staticmethod(_setup_context)

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_of_grad: Tensor):
        return _backward(ctx, grad_loss, _grad_of_grad)
