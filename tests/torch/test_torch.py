"""The PyTorch package (python/ranked_list_loss) against independent references: pytorch-metric-learning (PAPER),
the C ABI of the same engine (every semantics and option, float32 and float64), torch.autograd.gradcheck in float64,
plus labels above 2^24, every error path, determinism, torch.compile and a small training run.

Run by `make test-torch` (RLL_LIB: target/release/libranked_list_loss.so)."""

from __future__ import annotations

import ctypes
import math
import os

import pytest
import ranked_list_loss as rll
import torch
import torch.nn.functional as F
from ranked_list_loss import _engine

SEMANTICS = {"paper": 0, "official_v2020": 1, "official_v2019": 2}
OPTIONS = [
    {"semantics": "paper"},
    {"semantics": "paper", "t_p": 2.0},
    {"semantics": "paper", "query_only": True},
    {"semantics": "paper", "detach_weights": True},
    {"semantics": "paper", "query_only": True, "detach_weights": True, "lambda_": 0.5},
    {"semantics": "official_v2020"},
    {"semantics": "official_v2019", "t_p": 2.0},
]


def batch(n: int, d: int, classes: int, seed: int, dtype=torch.float64, radius: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % classes
    x = centres[labels] + 0.6 * torch.randn(n, d, generator=g, dtype=torch.float64)
    x = radius * F.normalize(x, dim=1)
    return x.to(dtype), labels


class RllParams(ctypes.Structure):
    _fields_ = [(name, ctypes.c_float) for name in ("margin", "alpha", "t_n", "t_p", "base_n", "base_p", "lambda_")] + [
        (name, ctypes.c_int32) for name in ("semantics", "query_only", "detach_weights")]


def c_abi(x: torch.Tensor, labels: torch.Tensor, options: dict):
    """(loss, grad) from the C ABI's rll_loss_f32/f64 of libranked_list_loss.so (labels as floats)."""
    lib = ctypes.CDLL(os.environ.get("RLL_LIB", "target/release/libranked_list_loss.so"))
    p = RllParams()
    lib.rll_params_default(ctypes.byref(p))
    for key, value in options.items():
        if key == "semantics":
            p.semantics = SEMANTICS[value]
        else:
            setattr(p, key, value)
    real = ctypes.c_double if x.dtype == torch.float64 else ctypes.c_float
    fn = lib.rll_loss_f64 if x.dtype == torch.float64 else lib.rll_loss_f32
    xc = x.detach().contiguous()
    yc = labels.to(x.dtype).contiguous()
    grad = torch.empty_like(xc)
    loss = real()
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, real,
                   ctypes.c_void_p, ctypes.c_void_p]
    rc = fn(ctypes.byref(p), xc.data_ptr(), yc.data_ptr(), x.shape[0], x.shape[1], real(1.0), ctypes.byref(loss),
            grad.data_ptr())
    assert rc == 0, ctypes.c_char_p(lib.rll_last_error()).value
    return loss.value, grad


def ours(x: torch.Tensor, labels: torch.Tensor, options: dict):
    x = x.detach().clone().requires_grad_(True)
    loss = rll.ranked_list_loss(x, labels, **options)
    loss.backward()
    return loss, x.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_same_as_the_c_abi(dtype, options):
    for n, d, classes, seed in [(60, 32, 12, 1), (97, 16, 9, 2)]:
        x, labels = batch(n, d, classes, seed, dtype, radius=0.8)
        loss, grad = ours(x, labels, options)
        loss_c, grad_c = c_abi(x, labels, options)
        assert loss.dtype == dtype and loss.dim() == 0
        # One engine, the same inputs: the same bits.
        assert loss.item() == loss_c
        assert torch.equal(grad, grad_c)


def test_module_and_function_agree():
    x, labels = batch(40, 8, 5, 3)
    crit = rll.RankedListLoss(margin=0.5, alpha=1.1, t_n=7.0, t_p=1.0, lambda_=0.7)
    assert crit(x, labels).item() == rll.ranked_list_loss(x, labels, margin=0.5, alpha=1.1, t_n=7.0, t_p=1.0,
                                                          lambda_=0.7).item()
    assert "semantics='paper'" in repr(crit)


def pml_formula(x: torch.Tensor, labels: torch.Tensor, margin, tn, imbalance, alpha, tp) -> float:
    """PML 2.9's RankedListLoss written pair by pair in float64, with its 1e-5 added to each of a row's N weights
    before they are summed."""
    alpha = 1 + margin / 2 if alpha is None else alpha
    e = F.normalize(x.double(), dim=1).tolist()
    y = labels.tolist()
    n, total = len(e), 0.0
    for i in range(n):
        wp = hp = wn = hn = 0.0
        for j in range(n):
            if j == i:
                continue
            dij = math.sqrt(sum((a - b) ** 2 for a, b in zip(e[i], e[j])))
            if y[j] == y[i] and dij > alpha - margin:
                w = math.exp(tp * (dij - (alpha - margin)))
                wp, hp = wp + w, hp + w * (dij - (alpha - margin))
            elif y[j] != y[i] and 0 < dij < alpha:
                w = math.exp(tn * (alpha - dij))
                wn, hn = wn + w, hn + w * (alpha - dij)
        total += (1 - imbalance) * hp / (wp + n * 1e-5) + imbalance * hn / (wn + n * 1e-5)
    return total / n


@pytest.mark.parametrize("imbalance,tn,tp,alpha,margin", [(0.5, 10, 0, None, 0.4), (0.3, 4, 2, 1.25, 0.4),
                                                          (0.0, 5, 1, None, 0.4), (0.9, -10, -10, 3.0, 1.2),
                                                          (0.5, 0.3, 0, 0.3, 0.4), (1.0, 4, 1, None, 0.4)])
@pytest.mark.filterwarnings("ignore:Values of Tp or Tn are too high")
def test_pml_parity(imbalance, tn, tp, alpha, margin):
    from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

    x, labels = batch(60, 12, 10, 4, radius=3.0)  # PML normalises the rows; ours (pml) too
    x = x.double()
    theirs_x = x.clone().requires_grad_(True)
    theirs = PmlLoss(margin=margin, Tn=tn, imbalance=imbalance, alpha=alpha, Tp=tp)(theirs_x, labels)
    theirs.backward()
    ours_x = x.clone().requires_grad_(True)
    mine = rll.pml.RankedListLoss(margin=margin, Tn=tn, imbalance=imbalance, alpha=alpha, Tp=tp)(ours_x, labels)
    mine.backward()
    # PML's formula (a plain pair-by-pair reference), to the rounding of the parameters to float32 (the proto's
    # type, which the engine takes), negative temperatures and α below the margin included ...
    assert mine.item() == pytest.approx(pml_formula(x, labels, margin, tn, imbalance, alpha, tp), rel=1e-6)
    # ... and PML itself, its N·1e-5 in each weight sum included, value and gradient.
    assert mine.item() == pytest.approx(theirs.item(), rel=1e-6)
    scale = theirs_x.grad.abs().max().item()
    assert (ours_x.grad - theirs_x.grad).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize("options", [{}, {"t_p": 2.0, "lambda_": 0.5}, {"alpha": 1.0, "margin": 0.6, "t_n": 3.0}])
def test_gradcheck_float64(options):
    x, labels = batch(14, 4, 3, 5, radius=0.7)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: rll.ranked_list_loss(e, labels, **options), (x,), eps=1e-6,
                                    atol=1e-7, rtol=1e-5)


def test_labels_are_compared_exactly():
    x, labels = batch(30, 6, 3, 6)
    big = labels.to(torch.int64) + 2**24  # 2^24 and 2^24 + 1 would be one float32 value
    assert float(2**24) == float(torch.tensor(2**24 + 1, dtype=torch.float32))
    for dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        lab = (big if dtype in (torch.int64, torch.int32) else labels).to(dtype)
        assert rll.ranked_list_loss(x, lab).item() == rll.ranked_list_loss(x, labels).item(), dtype


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda x, y: (x.clone().index_put_((torch.tensor(3), torch.tensor(1)), torch.tensor(math.nan, dtype=x.dtype)), y),
         r"embeddings\[3\]\[1\] = NaN is not finite"),
        (lambda x, y: (x.clone().index_put_((torch.tensor(2), torch.tensor(0)), torch.tensor(math.inf, dtype=x.dtype)), y),
         r"embeddings\[2\]\[0\] = inf is not finite"),
        (lambda x, y: (x, y[:-1]), r"labels has 11 values but embeddings has N = 12 rows"),
        (lambda x, y: (x[0], y), r"embeddings must be \(N, D\), got shape \(3,\)"),
        (lambda x, y: (x, y.to(torch.complex64)), r"labels.dtype = torch.complex64: integer, bool or real"),
        (lambda x, y: (x, y.to(torch.float32).index_fill_(0, torch.tensor(5), math.nan)),
         r"labels\[5\] = nan is not finite"),
        (lambda x, y: (x.to(torch.int32), y), r"embeddings.dtype = torch.int32"),
        (lambda x, y: (x[:, :0], y), r"N and D must be > 0"),
        (lambda x, y: (x, y.view(3, 4)), r"labels must be \(N,\)"),
    ],
)
def test_bad_input_is_a_value_error(make, match):
    x, labels = batch(12, 3, 4, 7)
    e, y = make(x, labels)
    with pytest.raises(ValueError, match=match):
        rll.ranked_list_loss(e, y)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"margin": -0.1}, "margin"),
        ({"alpha": math.nan}, "alpha = nan must be a finite number"),
        ({"t_n": math.inf}, "t_n = inf must be a finite number"),
        ({"semantics": "v3"}, "semantics = 'v3'"),
        ({"lambda_": math.inf}, "lambda_ = inf"),
    ],
)
def test_bad_parameters_are_value_errors(kwargs, match):
    x, labels = batch(12, 3, 4, 7)
    with pytest.raises(ValueError, match=match):
        rll.ranked_list_loss(x, labels, **kwargs)


def test_pml_arguments_are_checked():
    for outside in (-1, 2):  # PML's assertion, and so its exception type
        with pytest.raises(AssertionError, match=f"imbalance = {outside} must be in"):
            rll.pml.RankedListLoss(margin=0.4, Tn=10, imbalance=outside)
    from pytorch_metric_learning.distances import CosineSimilarity, LpDistance

    with pytest.raises(ValueError, match=r"distance = .*CosineSimilarity.* is not supported"):
        rll.pml.RankedListLoss(margin=0.4, Tn=10, distance=CosineSimilarity())
    with pytest.raises(ValueError, match="not supported"):
        rll.pml.RankedListLoss(margin=0.4, Tn=10, distance=LpDistance(p=1))
    x, labels = batch(12, 3, 4, 7)
    with pytest.raises(ValueError, match="ref_emb"):
        rll.pml.RankedListLoss(margin=0.4, Tn=10)(x, labels, ref_emb=x)


def test_double_backward_is_refused_only_through_the_gradient():
    x, labels = batch(12, 3, 4, 8)
    x.requires_grad_(True)
    _, want = ours(x.detach(), labels, {})
    (g,) = torch.autograd.grad(rll.ranked_list_loss(x, labels), x, create_graph=True)
    assert g.requires_grad and torch.equal(g.detach(), want)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(g.sum(), x)


def test_torch_func_grad_gives_the_engines_gradient():
    x, labels = batch(14, 4, 3, 8)
    _, want = ours(x, labels, {"t_p": 1.0})
    got = torch.func.grad(lambda e: rll.ranked_list_loss(e, labels, t_p=1.0))(x)
    assert torch.equal(got, want)


def test_the_custom_ops_gradient_output_is_not_differentiable():
    x, labels = batch(12, 3, 4, 8)
    x.requires_grad_(True)
    loss, grad = torch.ops.ranked_list_loss.loss_and_grad(x, labels, rll.LossParams().values(), True)
    assert loss.requires_grad and not grad.requires_grad


def test_labels_of_any_dtype_are_compared_exactly():
    x, labels = batch(30, 6, 3, 6)
    want = rll.ranked_list_loss(x, labels).item()
    # float and bool labels, as PML takes them: equal values are one class, others distinct, exactly.
    assert rll.ranked_list_loss(x, labels.to(torch.float64) / 8 + 0.1).item() == want
    assert rll.ranked_list_loss(x, labels.to(torch.float16)).item() == want
    signed = torch.where(labels == 0, -0.0, labels.to(torch.float32))  # -0.0 and 0.0 are one class, as in ==
    assert rll.ranked_list_loss(x, signed).item() == want
    assert rll.ranked_list_loss(x, labels.to(torch.uint8) + 250).item() == want
    two = (labels % 2).to(torch.bool)
    assert rll.ranked_list_loss(x, two).item() == rll.ranked_list_loss(x, two.to(torch.int64)).item()
    # 1 + 2^-20 and 1 are two classes in float64 (one in float16).
    near = torch.where(labels % 2 == 0, 1.0, 1.0 + 2.0**-20).to(torch.float64)
    assert rll.ranked_list_loss(x, near).item() == rll.ranked_list_loss(x, (labels % 2)).item()


def test_backward_scales_by_the_incoming_gradient():
    x, labels = batch(20, 5, 4, 9)
    _, g = ours(x, labels, {})
    x2 = x.clone().requires_grad_(True)
    (3.5 * rll.ranked_list_loss(x2, labels)).backward()
    assert torch.allclose(x2.grad, 3.5 * g, rtol=0, atol=0)


def test_no_grad_computes_the_value_only():
    x, labels = batch(20, 5, 4, 9)
    with torch.no_grad():
        v = rll.ranked_list_loss(x.requires_grad_(True), labels)
    assert not v.requires_grad and v.item() == ours(x, labels, {})[0].item()


def test_deterministic_run_to_run():
    x, labels = batch(300, 64, 30, 10, torch.float32)
    a = ours(x, labels, {})
    b = ours(x, labels, {})
    assert a[0].item() == b[0].item() and torch.equal(a[1], b[1])


def test_torch_compile_aot_eager():
    x, labels = batch(50, 8, 6, 11)
    model = torch.nn.Linear(8, 8, dtype=torch.float64)
    crit = rll.RankedListLoss(t_p=1.0)

    def step(inp):
        return crit(model(inp), labels)

    eager = step(x)
    eager.backward()
    g_eager = model.weight.grad.clone()
    model.zero_grad()
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    out = compiled(x)
    out.backward()
    assert out.item() == pytest.approx(eager.item(), rel=1e-12)
    assert torch.allclose(model.weight.grad, g_eager, rtol=1e-10, atol=1e-12)


def test_a_small_model_trains():
    torch.manual_seed(0)
    x, labels = batch(240, 16, 8, 12, torch.float32, radius=1.0)
    x = x + 0.5 * torch.randn_like(x)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    crit = rll.RankedListLoss()
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = crit(F.normalize(model(x), dim=1), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.6 * sum(losses[:10]), losses


def hard_half_batch(dtype: torch.dtype):
    """Unit rows, 6 classes × 8, with a negative of another class at d ≈ 0.02 from the first row of each class: its
    weight exp(T_n (α − d)) exceeds float16's 65504 from T_n ≈ 9.3."""
    x, labels = batch(48, 16, 6, 13)
    for c in range(6):
        src, dst = c, (c + 1) % 6 + 6  # rows c and 6 + (c + 1) % 6 belong to classes c and (c + 1) % 6
        x[dst] = F.normalize(x[src] + 0.02 * F.normalize(torch.randn(16, dtype=torch.float64), dim=0), dim=0)
    return x.to(dtype), labels


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("semantics", ["paper", "official_v2020", "official_v2019"])
@pytest.mark.parametrize("t_n", [10.0, 100.0])
def test_half_precision_is_finite_and_the_rounded_float32_result(dtype, semantics, t_n):
    xh, labels = hard_half_batch(dtype)
    loss, grad = ours(xh, labels, {"semantics": semantics, "t_n": t_n})
    assert loss.dtype == dtype and grad.dtype == dtype
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    # The float32 engine on the same rounded values: the same loss, and the gradient rounded to the dtype.
    loss32, grad32 = ours(xh.float(), labels, {"semantics": semantics, "t_n": t_n})
    assert loss.item() == loss32.to(dtype).item()
    assert torch.equal(grad, grad32.to(dtype))
    assert F.cosine_similarity(grad.double().flatten(), grad32.double().flatten(), dim=0).item() >= 0.999


@pytest.mark.filterwarnings("ignore:Values of Tp or Tn are too high")
def test_pml_overflows_in_float16_where_ours_does_not():
    from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

    xh, labels = hard_half_batch(torch.float16)
    theirs = PmlLoss(margin=0.4, Tn=10, alpha=1.2)(xh.clone().requires_grad_(True), labels)
    assert torch.isnan(theirs)  # exp(10 (1.2 - 0.02)) = 1.3e5 > 65504 in its float16 weights
    mine = rll.pml.RankedListLoss(margin=0.4, Tn=10, alpha=1.2)(xh.clone().requires_grad_(True), labels)
    assert torch.isfinite(mine)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_an_autocast_training_loop(dtype):
    torch.manual_seed(1)
    x, labels = batch(120, 16, 6, 14, torch.float32)
    x = x + 0.5 * torch.randn_like(x)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    crit = rll.RankedListLoss()
    losses, seen = [], set()
    for _ in range(80):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=dtype):
            e = F.normalize(model(x), dim=1)
            seen.add(e.dtype)
            loss = crit(e, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert dtype in seen, seen  # autocast handed the loss the 16-bit dtype
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10]), losses


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_normalize_inside_the_call_is_the_loss_of_the_normalised_rows(dtype):
    x, labels = batch(50, 12, 7, 15, dtype, radius=1.0)
    x = (x.double() * torch.linspace(0.5, 3.0, 50, dtype=torch.float64)[:, None]).to(dtype)  # rows of many norms
    a = x.clone().requires_grad_(True)
    fused = rll.ranked_list_loss(a, labels, t_p=1.0, normalize=True)
    fused.backward()
    b = x.clone().requires_grad_(True)
    plain = rll.ranked_list_loss(F.normalize(b, dim=1), labels, t_p=1.0)
    plain.backward()
    tol = {torch.float64: 1e-12, torch.float32: 1e-5, torch.bfloat16: 0.0}[dtype]
    assert fused.item() == pytest.approx(plain.item(), rel=tol, abs=0)
    assert ((a.grad.double() - b.grad.double()).abs().max() / b.grad.double().abs().max()).item() <= max(tol, 0) * 10


def test_gradcheck_float64_through_the_normalisation():
    x, labels = batch(14, 4, 3, 16, radius=1.5)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: rll.ranked_list_loss(e, labels, t_p=1.0, normalize=True), (x,),
                                    eps=1e-6, atol=1e-7, rtol=1e-5)


def test_the_parameter_record_defaults_to_the_protos_and_is_checked_once():
    record = rll.LossParams()
    for name, value in _engine.proto_defaults().items():
        got = getattr(record, name)
        assert (got == value if isinstance(value, str) else math.isclose(got, value, rel_tol=1e-7)), name
    assert rll.LossParams.from_values(rll.LossParams(t_n=-3.0, semantics="official_v2019").values()) == \
        rll.LossParams(t_n=-3.0, semantics="official_v2019")
    with pytest.raises(ValueError, match="margin = -0.5 is negative"):
        rll.RankedListLoss(margin=-0.5)  # refused when the module is built, not at its first call
    with pytest.raises(ValueError, match="weight_eps = 0.1 applies to the PAPER semantics only"):
        rll.LossParams(weight_eps=0.1, semantics="official_v2020")
    with pytest.raises(ValueError, match="t_p = 'x' must be a finite number"):
        rll.LossParams(t_p="x")


def test_backward_with_retain_graph_keeps_the_engines_gradient():
    x, labels = batch(20, 5, 4, 9)
    x.requires_grad_(True)
    _, want = ours(x.detach(), labels, {})
    loss = rll.ranked_list_loss(x, labels)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward(retain_graph=True)  # the engine's gradient was copied into .grad, not taken: still intact
    assert torch.equal(first, want) and torch.equal(x.grad, 2 * want)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x, y, p: _engine.loss([[1.0]], y, p), TypeError, "embeddings is not a tensor"),
        (lambda x, y, p: _engine.loss(x, "labels", p), TypeError, "labels is not a tensor"),
        (lambda x, y, p: _engine.loss(x, y, p, x), RuntimeError, "grad overlaps an input"),
        (lambda x, y, p: _engine.loss(x, y, p, x[:, 1:].clone()), RuntimeError, "grad: torch.float32"),
        (lambda x, y, p: _engine.loss(x, y, p, torch.empty_like(x).t().contiguous().t()), RuntimeError,
         "contiguous: false"),
        (lambda x, y, p: _engine.loss(x.t(), y, p), ValueError, "labels has 12 values but embeddings has N = 3"),
        (lambda x, y, p: _engine.loss(x[::2], y[::2], p), RuntimeError, "must be contiguous"),
        (lambda x, y, p: _engine.loss(x, y, object()), AttributeError, "margin"),
        (lambda x, y, p: _engine.loss(x[:0], y[:0], p), ValueError, "N and D must be > 0"),
        (lambda x, y, p: _engine.loss(x, y, p, torch.empty_like(x, dtype=torch.float64)), RuntimeError,
         "expected torch.float32"),
        (lambda x, y, p: _engine.loss_queries(x, y, p, 0, 99), ValueError, "count"),
        (lambda x, y, p: _engine.query_ln_mass(x, y, p, 0, 4, torch.zeros(3, dtype=torch.float64)), RuntimeError,
         "out: torch.float64"),
    ],
)
def test_the_extension_refuses_what_would_touch_memory_it_does_not_own(call, error, match):
    """The extension reads shapes, dtypes and lifetimes from the tensors themselves (DLPack), so a wrong call is
    an exception, never a crash."""
    x, labels = batch(12, 3, 4, 7, torch.float32)
    with pytest.raises(error, match=match):
        call(x, labels, rll.LossParams())


def test_the_extension_takes_any_dlpack_producer():
    import numpy as np  # a dependency of pytorch-metric-learning, so in the test environment
    x, labels = batch(12, 3, 4, 7, torch.float32)
    grad = np.zeros((12, 3), dtype=np.float32)
    value = _engine.loss(x.numpy(), labels.numpy(), rll.LossParams(), grad)
    loss, want = ours(x, labels, {})
    assert value == loss.item() and np.array_equal(grad, want.numpy())


def _pml_pair(kwargs: dict, x: torch.Tensor, labels: torch.Tensor):
    """(ours, PML's) value and gradient of one batch, both as PML loss objects with ``kwargs``."""
    from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

    out = []
    for cls in (rll.pml.RankedListLoss, PmlLoss):
        e = x.clone().requires_grad_(True)
        value = cls(margin=0.4, Tn=4, Tp=1, imbalance=0.3, **kwargs)(e, labels)
        if isinstance(value, dict):  # DoNothingReducer: PML's loss dictionary, the per-query losses in it
            value = value["loss"]["losses"]
        value.sum().backward()
        out.append((value.detach(), e.grad))
    return out


def _pml_kwargs():
    from pytorch_metric_learning import distances, reducers, regularizers

    return {
        "mean": {},
        "avg_non_zero": {"reducer": reducers.AvgNonZeroReducer()},
        "threshold": {"reducer": reducers.ThresholdReducer(low=0.05, high=0.6)},
        "sum": {"reducer": reducers.SumReducer()},
        "do_nothing": {"reducer": reducers.DoNothingReducer()},
        "unnormalised": {"distance": distances.LpDistance(normalize_embeddings=False)},
        "regularised": {"embedding_regularizer": regularizers.LpRegularizer(), "embedding_reg_weight": 0.1},
        "stats": {"collect_stats": True},
    }


@pytest.mark.parametrize("name", list(_pml_kwargs()))
def test_pml_reducers_distances_and_regularizers_give_pmls_values(name):
    x, labels = batch(40, 8, 8, 11, radius=0.6)  # radius < 1 so that the unnormalised distances cross α
    (mine, g_mine), (theirs, g_theirs) = _pml_pair(_pml_kwargs()[name], x.double(), labels)
    assert mine.shape == theirs.shape
    assert torch.allclose(mine, theirs, rtol=1e-6, atol=1e-9), (mine, theirs)
    assert (g_mine - g_theirs).abs().max().item() <= 1e-5 * g_theirs.abs().max().item()


def test_per_query_losses_and_their_gradient():
    x, labels = batch(16, 4, 4, 12, radius=0.7)
    per = rll.ranked_list_loss(x, labels, t_p=1.0, reduction="none")
    assert per.shape == (16,) and per.dtype == x.dtype
    # Their values against PML's own per-query losses: the do_nothing case above.
    assert per.sum().item() == pytest.approx(rll.ranked_list_loss(x, labels, t_p=1.0, reduction="sum").item(),
                                             rel=1e-12)
    e = x.clone().requires_grad_(True)
    u = torch.randn(16, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(lambda v: (rll.ranked_list_loss(v, labels, t_p=1.0, reduction="none") * u).sum(),
                                    (e,), eps=1e-6, atol=1e-7, rtol=1e-5)
    with pytest.raises(ValueError, match="reduction = 'max'"):
        rll.RankedListLoss(reduction="max")
    with pytest.raises(ValueError, match="per-query losses are the paper semantics"):
        rll.ranked_list_loss(x, labels, semantics="official_v2020", reduction="none")


def test_the_package_imports_without_pytorch_metric_learning():
    import subprocess
    import sys

    code = ("import sys; sys.modules['pytorch_metric_learning'] = None\n"  # any import of PML now fails
            "import ranked_list_loss as rll\nfrom ranked_list_loss import *\n"
            "import torch\nx = torch.randn(8, 3); y = torch.arange(8) % 2\nprint(float(rll.ranked_list_loss(x, y)))\n"
            "try:\n    rll.pml\nexcept ImportError:\n    print('pml needs PML')\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "pml needs PML"


def test_the_device_label_mapping_is_torch_uniques_without_a_synchronization():
    # The CUDA path's mapping (sort, scan, scatter: fixed-size, so no host synchronization) is pure torch, so it runs
    # here on CPU tensors against torch.unique's inverse, the mapping it replaces.
    from ranked_list_loss._ops import _cuda_ids, exact_labels

    g = torch.Generator().manual_seed(5)
    big = torch.randint(0, 4, (50,), generator=g) + 2**62  # beyond float64's integers: compared as int64
    cases = [
        torch.randint(0, 7, (60,), generator=g),
        big,
        torch.where(torch.rand(40, generator=g) < 0.5, -0.0, 0.0).to(torch.float64),  # one class, as ==
        torch.randint(0, 9, (33,), generator=g).to(torch.float16) / 4,
        (torch.arange(20) % 3 == 0),
        torch.randint(0, 255, (70,), generator=g).to(torch.uint8),
        torch.tensor([5]),
    ]
    for labels in cases:
        _, inverse = torch.unique(exact_labels(labels, labels.device), return_inverse=True)
        for dtype, wanted in [(torch.float32, torch.float32), (torch.float64, torch.float64),
                              (torch.float16, torch.float32)]:
            ids = _cuda_ids(labels, dtype)
            assert ids.dtype == wanted and torch.equal(ids, inverse.to(wanted)), (labels, ids)
    # A non-finite label's id is NaN (the engine then reports it, or poisons the loss); the others keep theirs.
    labels = torch.tensor([1.0, float("inf"), 2.0, float("nan"), 1.0], dtype=torch.float64)
    ids = _cuda_ids(labels, torch.float32)
    assert torch.isnan(ids[[1, 3]]).all() and ids[[0, 2, 4]].tolist() == [0.0, 1.0, 0.0]


def test_check_finite_is_a_call_option_that_the_cpu_path_always_honours():
    x, labels = batch(12, 4, 3, 13)
    record = rll.LossParams(check_finite=True)
    assert rll.LossParams.from_values(record.values()) == record
    assert rll.RankedListLoss(check_finite=True)(x, labels).item() == rll.ranked_list_loss(x, labels).item()
    bad = x.clone()
    bad[2, 1] = float("nan")
    for check in (False, True):
        with pytest.raises(ValueError, match=r"embeddings\[2\]\[1\] = NaN is not finite"):
            rll.ranked_list_loss(bad, labels, check_finite=check)
