//! `ranked_list_loss._engine`: the one engine call behind the PyTorch package (python/ranked_list_loss). It takes
//! the tensors themselves (through DLPack, [`tensors`]) and the package's parameter record, checks the batch, maps
//! the labels to dense class ids ([`labels`]), and runs [`rll::compute`] on host memory (or, for CUDA tensors,
//! [`rll::cuda::compute_gpu`] on the tensor's device and the caller's stream) with the GIL released, writing the
//! gradient into the tensor the package allocated.
//!
//! Errors come back as Python exceptions: `ValueError` for bad input (sizes, dtypes, non-finite values,
//! parameters), `RuntimeError` for the device and for internal errors; a panic is caught and becomes a
//! `RuntimeError`. Nothing a Python caller passes makes the engine read or write memory it does not own.

mod labels;
mod references;
mod tensors;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rll::cuda::GpuOutputs;
use rll::half_precision::{compute_half, Half};
use rll::{Batch, ErrorKind, GpuLoss, Params, RllError, Semantics};
use tensors::{check_batch, check_output, internal, AsyncTensors, Device, Dtype, Tensor};

/// The semantics' names, in the engine's order (`Semantics as i32`): the package validates against these.
const SEMANTICS: [&str; 3] = ["paper", "official_v2020", "official_v2019"];

/// The `len` values of `T` at address `ptr`: an empty slice when `len` is 0, whatever the address (an empty
/// tensor's data pointer may be null, and no slice may be made from a null pointer, even of length 0).
///
/// # Safety
/// For `len` > 0, `ptr` addresses `len` initialised, aligned values of `T`, alive and not written for `'a`.
pub(crate) unsafe fn values_at<'a, T>(ptr: usize, len: usize) -> &'a [T] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller's contract, for a non-empty range.
    unsafe { std::slice::from_raw_parts(ptr as *const T, len) }
}

/// [`values_at`], writable.
///
/// # Safety
/// For `len` > 0, `ptr` addresses `len` aligned values of `T`, alive and used by nothing else for `'a`.
unsafe fn values_at_mut<'a, T>(ptr: usize, len: usize) -> &'a mut [T] {
    if len == 0 {
        return &mut [];
    }
    // SAFETY: the caller's contract, for a non-empty range.
    unsafe { std::slice::from_raw_parts_mut(ptr as *mut T, len) }
}

/// The element types of the features, with their dtype tag.
pub(crate) trait Feature: Copy + Send + Sync + 'static {
    const DTYPE: Dtype;
}
impl Feature for f32 {
    const DTYPE: Dtype = Dtype::F32;
}
impl Feature for i64 {
    const DTYPE: Dtype = Dtype::Int(64);
}
impl Feature for f64 {
    const DTYPE: Dtype = Dtype::F64;
}
impl Feature for half::f16 {
    const DTYPE: Dtype = Dtype::F16;
}
impl Feature for half::bf16 {
    const DTYPE: Dtype = Dtype::Bf16;
}

impl Tensor {
    /// The values of a CPU tensor of `T`'s dtype, for as long as the tensor is borrowed.
    fn values<T: Feature>(&self) -> PyResult<&[T]> {
        self.host_of(T::DTYPE)?;
        // SAFETY: imported, so alive while `self` is; a contiguous CPU tensor of `len()` values of T.
        Ok(unsafe { values_at(self.addr, self.len()) })
    }

    /// [`Tensor::values`], writable: `&mut self`, and an output is checked not to overlap its inputs.
    fn values_mut<T: Feature>(&mut self) -> PyResult<&mut [T]> {
        self.host_of(T::DTYPE)?;
        // SAFETY: as in `values`; exclusive through `&mut self`, and `check_output` rules out overlap.
        Ok(unsafe { values_at_mut(self.addr, self.len()) })
    }

    fn host_of(&self, dtype: Dtype) -> PyResult<()> {
        if self.dtype != dtype || self.device != Device::Cpu || !self.contiguous {
            return Err(internal(format!(
                "a contiguous CPU {} tensor expected",
                dtype.torch_name()
            )));
        }
        Ok(())
    }
}

/// Python's spelling of a non-finite float ("nan", "inf", "-inf"), as `float.__repr__` writes it.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}

/// The package's parameter record (`ranked_list_loss.LossParams`), read by attribute name.
#[derive(FromPyObject)]
pub(crate) struct LossParams {
    margin: f32,
    alpha: f32,
    t_n: f32,
    t_p: f32,
    lambda_: f32,
    lambda_p: f32,
    base_n: f32,
    base_p: f32,
    semantics: String,
    query_only: bool,
    detach_weights: bool,
    weight_eps: f32,
    normalize: bool,
}

impl LossParams {
    pub(crate) fn engine(&self) -> PyResult<Params> {
        let semantics = match SEMANTICS.iter().position(|s| *s == self.semantics) {
            Some(k) => Semantics::from_i32(k as i32).map_err(|e| to_py(e, ""))?,
            None => return Err(internal(format!("semantics = {:?}", self.semantics))),
        };
        Ok(Params {
            margin: self.margin,
            alpha: self.alpha,
            t_n: self.t_n,
            t_p: self.t_p,
            base_n: self.base_n,
            base_p: self.base_p,
            lambda: self.lambda_,
            lambda_p: self.lambda_p,
            semantics,
            query_only: self.query_only,
            detach_weights: self.detach_weights,
            weight_eps: self.weight_eps,
        })
    }
}

/// An engine error as a Python exception; the engine names the features `x`, renamed `features` here.
pub(crate) fn to_py(e: RllError, features: &str) -> PyErr {
    match e.kind {
        ErrorKind::Device | ErrorKind::Internal => PyRuntimeError::new_err(e.message),
        _ => {
            let message = match e.message.strip_prefix("x[") {
                Some(rest) if !features.is_empty() => format!("{features}[{rest}"),
                _ => e.message,
            };
            PyValueError::new_err(format!("RankedListLoss: {message}"))
        }
    }
}

/// `f` with the GIL released and a panic caught (no unwinding into Python).
pub(crate) fn detached<R: Send>(
    py: Python<'_>,
    features: &str,
    f: impl FnOnce() -> rll::Result<R> + Send,
) -> PyResult<R> {
    let outcome = py.detach(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    match outcome {
        Ok(r) => r.map_err(|e| to_py(e, features)),
        Err(_) => Err(PyRuntimeError::new_err(
            "ranked_list_loss: internal error (a panic in the engine; please report)",
        )),
    }
}

/// The per-query side of a host call: `weights` u for E = Σ_i u_i ℓ_i (None: the mean), and `stats`, n×4 values
/// (L_P(i), L_N(i), |P*_i|, |N*_i|) from which the caller takes the per-query losses ℓ_i = λ_P L_P(i) + λ L_N(i).
struct PerQuery<'a, T> {
    weights: Option<&'a [T]>,
    stats: Option<&'a mut [T]>,
}

/// E on host memory and, with `grad`, ∂E/∂x; with `normalize`, E is the loss of the rows x_i/‖x_i‖ and the
/// gradient is taken back through the normalisation (scratch from the heap).
fn host<T: rll::Real>(
    p: &Params,
    x: &[T],
    ids: &[T],
    d: usize,
    grad: Option<&mut [T]>,
    normalize: bool,
    per_query: PerQuery<'_, T>,
) -> rll::Result<f64> {
    let n = ids.len();
    let PerQuery { weights, mut stats } = per_query;
    let mut run = |x: &[T], grad: Option<&mut [T]>| {
        let batch = Batch { x, labels: ids, n, d };
        match weights {
            None => rll::compute(p, batch, T::one(), grad, stats.as_deref_mut()),
            Some(u) => rll::compute_weighted(p, batch, u, T::one(), grad, stats.as_deref_mut()),
        }
    };
    let value = if !normalize {
        run(x, grad)?
    } else {
        let (mut y, mut norms) = (vec![T::zero(); x.len()], vec![T::zero(); n]);
        rll::normalize::l2_forward(x, n, d, &mut y, &mut norms)?;
        match grad {
            None => run(&y, None)?,
            Some(grad) => {
                let mut dy = vec![T::zero(); x.len()];
                let value = run(&y, Some(&mut dy))?;
                rll::normalize::l2_backward(&y, &dy, &norms, n, d, grad)?;
                value
            }
        }
    };
    Ok(value.f64())
}

/// The tensors of one CPU call, checked by [`loss`]: features, labels, and the optional gradient, per-query weights
/// and statistics.
struct HostTensors<'t> {
    x: &'t Tensor,
    labels: &'t Tensor,
    grad: Option<&'t mut Tensor>,
    weights: Option<&'t Tensor>,
    stats: Option<&'t mut Tensor>,
}

/// The CPU call: labels mapped here, 16-bit features computed in float32 by [`compute_half`].
fn cpu_loss(py: Python<'_>, p: &Params, normalize: bool, t: HostTensors<'_>) -> PyResult<f64> {
    fn full<T: Feature + rll::Real>(py: Python<'_>, p: &Params, normalize: bool, t: HostTensors<'_>) -> PyResult<f64> {
        // SAFETY: `labels` is a checked, live, contiguous CPU tensor.
        let ids = unsafe { labels::dense_ids::<T>(t.labels)? };
        let (xs, g) = (t.x.values::<T>()?, t.grad.map(|g| g.values_mut::<T>()).transpose()?);
        let per_query = PerQuery {
            weights: t.weights.map(|w| w.values::<T>()).transpose()?,
            stats: t.stats.map(|s| s.values_mut::<T>()).transpose()?,
        };
        let d = t.x.shape[1];
        detached(py, "embeddings", || host(p, xs, &ids, d, g, normalize, per_query))
    }
    fn sixteen<H: Feature + Half>(py: Python<'_>, p: &Params, t: HostTensors<'_>) -> PyResult<f64> {
        // SAFETY: as in `full`.
        let ids = unsafe { labels::dense_ids::<f32>(t.labels)? };
        let (xs, g) = (t.x.values::<H>()?, t.grad.map(|g| g.values_mut::<H>()).transpose()?);
        let (n, d) = (t.x.shape[0], t.x.shape[1]);
        detached(py, "embeddings", || {
            compute_half::<H>(p, xs, &ids, n, d, 1.0, g).map(f64::from)
        })
    }
    let dtype = t.x.dtype;
    if normalize && matches!(dtype, Dtype::F16 | Dtype::Bf16) {
        return Err(internal(format!("normalize in the call for {}", dtype.torch_name())));
    }
    if (t.weights.is_some() || t.stats.is_some()) && !matches!(dtype, Dtype::F32 | Dtype::F64) {
        return Err(internal(format!("per-query losses of {}", dtype.torch_name())));
    }
    match dtype {
        Dtype::F32 => full::<f32>(py, p, normalize, t),
        Dtype::F64 => full::<f64>(py, p, normalize, t),
        Dtype::F16 => sixteen::<half::f16>(py, p, t),
        Dtype::Bf16 => sixteen::<half::bf16>(py, p, t),
        other => Err(internal(format!("features of {}", other.torch_name()))),
    }
}

/// Scratch buffers for L2-normalising the rows inside a CUDA call: y and ∂E/∂y (n·d) and the row norms (n).
#[derive(Clone, Copy)]
struct NormScratch {
    y: usize,
    dy: usize,
    norms: usize,
}

/// The CUDA call on the tensors' device: labels are the package's dense ids (float32 for the 16-bit dtypes, else
/// the features' dtype), `scratch` its buffers for `normalize` (float32/float64).
#[allow(clippy::too_many_arguments)]
fn cuda_loss(
    py: Python<'_>,
    p: &Params,
    x: &Tensor,
    labels: &Tensor,
    grad: Option<&Tensor>,
    device: i32,
    stream: usize,
    scratch: Option<NormScratch>,
    (weights, stats): (usize, usize),
    out: Option<GpuOutputs>,
) -> PyResult<f64> {
    let wanted = if x.dtype == Dtype::F64 { Dtype::F64 } else { Dtype::F32 };
    if labels.dtype != wanted {
        return Err(internal(format!(
            "CUDA labels of {}: dense ids of {} expected",
            labels.dtype.torch_name(),
            wanted.torch_name()
        )));
    }
    let args = GpuLoss {
        x: x.addr,
        labels: labels.addr,
        n: x.shape[0],
        d: x.shape[1],
        grad: grad.map_or(0, |g| g.addr),
        stats,
        stream,
        device,
    };
    let dtype = x.dtype;
    detached(py, "embeddings", move || {
        let f32_labels = rll::cuda::Labels::F32;
        // SAFETY: `args` holds the addresses of live contiguous CUDA tensors of `device` (imported, and alive for
        // this call), of the checked sizes and dtypes, and the caller's current stream there; `scratch` as stated.
        unsafe {
            match (dtype, scratch) {
                (Dtype::F32, Some(s)) => device_normalized::<f32>(p, &args, s, weights, out.as_ref()),
                (Dtype::F64, Some(s)) => device_normalized::<f64>(p, &args, s, weights, out.as_ref()),
                (Dtype::F32, None) => device_loss::<f32>(p, &args, weights, out.as_ref()),
                (Dtype::F64, None) => device_loss::<f64>(p, &args, weights, out.as_ref()),
                (Dtype::F16, None) => device_half::<half::f16>(p, &args, f32_labels, out.as_ref()),
                (Dtype::Bf16, None) => device_half::<half::bf16>(p, &args, f32_labels, out.as_ref()),
                (other, _) => Err(RllError::new(
                    ErrorKind::Internal,
                    format!(
                        "{} with normalize in the call (float32 and float64 only)",
                        other.torch_name()
                    ),
                )),
            }
        }
    })
}

/// The loss on the device: the mean, or with `weights` (a device address, 0 for none) E = Σ_i u_i ℓ_i; with `out`
/// stream-ordered into its loss and workspace (the value returned is then 0: it is on the device).
///
/// # Safety
/// `args` addresses device memory of `args.device` of the sizes it states; `weights` 0 or n values of T there;
/// `out`'s loss and workspace are device memory there of the sizes it states, kept alive by the caller until the
/// stream has run the call.
unsafe fn device_loss<T: rll::cuda::GpuReal>(
    p: &Params,
    args: &GpuLoss,
    weights: usize,
    out: Option<&GpuOutputs>,
) -> rll::Result<f64> {
    use rll::cuda::{compute_gpu, compute_gpu_async, compute_gpu_weighted, compute_gpu_weighted_async};
    // SAFETY (every call): this function's contract.
    unsafe {
        match (out, weights) {
            (None, 0) => compute_gpu::<T>(p, args, T::one()).map(|v| v.f64()),
            (None, w) => compute_gpu_weighted::<T>(p, args, w, T::one()).map(|v| v.f64()),
            (Some(o), 0) => compute_gpu_async::<T>(p, args, T::one(), o).map(|()| 0.0),
            (Some(o), w) => compute_gpu_weighted_async::<T>(p, args, w, T::one(), o).map(|()| 0.0),
        }
    }
}

/// [`device_loss`] for 16-bit features (the mean only).
///
/// # Safety
/// As [`device_loss`], with 16-bit features and gradient of H and float32 labels.
unsafe fn device_half<H: rll::cuda::GpuHalf>(
    p: &Params,
    args: &GpuLoss,
    labels: rll::cuda::Labels,
    out: Option<&GpuOutputs>,
) -> rll::Result<f64> {
    // SAFETY (both): this function's contract.
    unsafe {
        match out {
            None => rll::cuda::compute_gpu_half::<H>(p, args, labels, 1.0).map(f64::from),
            Some(o) => rll::cuda::compute_gpu_half_async::<H>(p, args, labels, 1.0, o).map(|()| 0.0),
        }
    }
}

/// The device twin of [`host`]'s normalisation: l2_forward_gpu, the loss on y, l2_backward_gpu.
///
/// # Safety
/// `args` and `s` address device memory of `args.device` of the sizes [`host`] states; `weights` as in
/// [`device_loss`].
unsafe fn device_normalized<T: rll::cuda::GpuReal>(
    p: &Params,
    args: &GpuLoss,
    s: NormScratch,
    weights: usize,
    out: Option<&GpuOutputs>,
) -> rll::Result<f64> {
    let l2 = rll::GpuL2 {
        x: args.x,
        y: s.y,
        norms: s.norms,
        dy: s.dy,
        dx: args.grad,
        n: args.n,
        d: args.d,
        stream: args.stream,
        device: args.device,
    };
    // SAFETY (the three calls): this function's contract.
    unsafe { rll::cuda::l2_forward_gpu::<T>(&l2)? };
    let on_y = GpuLoss {
        x: s.y,
        grad: if args.grad != 0 { s.dy } else { 0 },
        ..*args
    };
    let value = unsafe { device_loss::<T>(p, &on_y, weights, out)? };
    if args.grad != 0 {
        unsafe { rll::cuda::l2_backward_gpu::<T>(&l2)? };
    }
    Ok(value)
}

/// The loss of one batch, E, and (into `grad`, when given) ∂E/∂embeddings, for `ranked_list_loss._ops`.
///
/// `embeddings` (N, D) float32, float64, float16 or bfloat16, contiguous, on the CPU or a CUDA device; `labels`
/// (N,) on the same device: on the CPU of any integer, bool or real dtype (mapped exactly here), on CUDA the
/// package's dense ids; `grad` a contiguous tensor like `embeddings`; `params` a `LossParams`; `stream` the
/// cudaStream_t (as an integer) a CUDA call is ordered on; `scratch` the CUDA call's (y, ∂E/∂y, norms) for
/// `params.normalize`; `weights` (N,) of the features' dtype (float32/float64): E = Σ_i weights_i ℓ_i instead of
/// the mean (PAPER); `stats` (N, 4) of that dtype: (L_P(i), L_N(i), |P*_i|, |N*_i|) per query.
#[pyfunction]
#[pyo3(signature = (embeddings, labels, params, grad=None, stream=0, scratch=None, weights=None, stats=None))]
#[allow(clippy::too_many_arguments)] // called from Python by keyword
fn loss(
    py: Python<'_>,
    embeddings: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    params: LossParams,
    grad: Option<&Bound<'_, PyAny>>,
    stream: usize,
    scratch: Option<Scratch<'_>>,
    weights: Option<&Bound<'_, PyAny>>,
    stats: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let t = CallTensors {
        embeddings,
        labels,
        grad,
        scratch,
        weights,
        stats,
    };
    loss_call(py, params, t, stream, None)
}

/// `loss` on CUDA tensors, stream-ordered: nothing is allocated, read back or waited for; E goes into `loss` (a
/// 0-dim CUDA tensor of float32, float64 for float64 features) and the call's temporaries into `workspace` (a 1-D
/// uint8 CUDA tensor of at least `gpu_workspace_bytes` bytes), both kept alive by PyTorch's caching allocator on
/// the stream. A non-finite input gives a NaN loss and NaN gradients (no error: that needs a synchronisation).
#[pyfunction]
#[pyo3(signature = (embeddings, labels, params, loss, workspace, grad=None, stream=0, scratch=None, weights=None,
                    stats=None))]
#[allow(clippy::too_many_arguments)] // called from Python by keyword
fn loss_async(
    py: Python<'_>,
    embeddings: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    params: LossParams,
    loss: &Bound<'_, PyAny>,
    workspace: &Bound<'_, PyAny>,
    grad: Option<&Bound<'_, PyAny>>,
    stream: usize,
    scratch: Option<Scratch<'_>>,
    weights: Option<&Bound<'_, PyAny>>,
    stats: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let t = CallTensors {
        embeddings,
        labels,
        grad,
        scratch,
        weights,
        stats,
    };
    loss_call(py, params, t, stream, Some((loss, workspace))).map(|_| ())
}

/// The device workspace bytes `loss_async` needs for `embeddings` (N, D) of its dtype.
#[pyfunction]
fn gpu_workspace_bytes(embeddings: &Bound<'_, PyAny>, params: LossParams) -> PyResult<usize> {
    let p = params.engine()?;
    let x = Tensor::import(embeddings, "embeddings")?;
    let [n, d] = x.shape[..] else {
        return Err(internal(format!("embeddings of shape {:?}", x.shape)));
    };
    let bytes = match x.dtype {
        Dtype::F32 => rll::cuda::gpu_workspace_bytes::<f32>(&p, n, d),
        Dtype::F64 => rll::cuda::gpu_workspace_bytes::<f64>(&p, n, d),
        Dtype::F16 | Dtype::Bf16 => rll::cuda::gpu_half_workspace_bytes(&p, n, d, rll::cuda::Labels::F32),
        other => return Err(internal(format!("workspace for {}", other.torch_name()))),
    };
    bytes.map_err(|e| to_py(e, "embeddings"))
}

/// The CUDA call's normalisation scratch tensors (y, ∂E/∂y, norms).
type Scratch<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// The tensors of one `loss` or `loss_async` call, as Python passed them.
struct CallTensors<'a, 'py> {
    embeddings: &'a Bound<'py, PyAny>,
    labels: &'a Bound<'py, PyAny>,
    grad: Option<&'a Bound<'py, PyAny>>,
    scratch: Option<Scratch<'py>>,
    weights: Option<&'a Bound<'py, PyAny>>,
    stats: Option<&'a Bound<'py, PyAny>>,
}

/// The shared body of `loss` and `loss_async` (`out`: the latter's loss and workspace tensors).
fn loss_call(
    py: Python<'_>,
    params: LossParams,
    t: CallTensors<'_, '_>,
    stream: usize,
    out: Option<(&Bound<'_, PyAny>, &Bound<'_, PyAny>)>,
) -> PyResult<f64> {
    let CallTensors {
        embeddings,
        labels,
        grad,
        scratch,
        weights,
        stats,
    } = t;
    let p = params.engine()?;
    let x = Tensor::import(embeddings, "embeddings")?;
    let l = Tensor::import(labels, "labels")?;
    let (n, d) = check_batch(&x, &l, false)?;
    if l.device != x.device {
        return Err(internal(format!(
            "labels on {:?}, embeddings on {:?}",
            l.device, x.device
        )));
    }
    let mut g = grad.map(|g| Tensor::import(g, "grad")).transpose()?;
    if let Some(g) = &g {
        check_output(g, "grad", x.dtype, &[n, d], x.device, &[&x, &l])?;
    }
    let u = weights.map(|w| Tensor::import(w, "weights")).transpose()?;
    let mut st = stats.map(|o| Tensor::import(o, "stats")).transpose()?;
    if let Some(u) = &u {
        check_output(u, "weights", x.dtype, &[n], x.device, &[])?;
    }
    if let Some(o) = &st {
        let mut inputs = vec![&x, &l];
        inputs.extend(g.as_ref());
        inputs.extend(u.as_ref());
        check_output(o, "stats", x.dtype, &[n, rll::STATS_PER_SAMPLE], x.device, &inputs)?;
    }
    let Device::Cuda(device) = x.device else {
        if out.is_some() {
            return Err(internal("loss_async with CPU tensors".into()));
        }
        let tensors = HostTensors {
            x: &x,
            labels: &l,
            grad: g.as_mut(),
            weights: u.as_ref(),
            stats: st.as_mut(),
        };
        return cpu_loss(py, &p, params.normalize, tensors);
    };
    if !cfg!(feature = "cuda") {
        return Err(PyRuntimeError::new_err(
            "RankedListLoss: this ranked_list_loss was built without CUDA; to use CUDA tensors reinstall it with \
             MATURIN_PEP517_ARGS=\"--features cuda\" pip install ./python (docs/pytorch.md)",
        ));
    }
    if (u.is_some() || st.is_some()) && !matches!(x.dtype, Dtype::F32 | Dtype::F64) {
        return Err(internal(format!("per-query losses of {}", x.dtype.torch_name())));
    }
    let scratch = match (params.normalize, scratch) {
        (false, _) => None,
        (true, Some((y, dy, norms))) => {
            let (y, dy, norms) = (
                Tensor::import(&y, "y")?,
                Tensor::import(&dy, "dy")?,
                Tensor::import(&norms, "norms")?,
            );
            let mut inputs = vec![&x, &l];
            inputs.extend(g.as_ref());
            check_output(&y, "y", x.dtype, &[n, d], x.device, &inputs)?;
            check_output(&dy, "dy", x.dtype, &[n, d], x.device, &[&x, &l, &y])?;
            check_output(&norms, "norms", x.dtype, &[n], x.device, &[&x, &l, &y, &dy])?;
            Some((
                NormScratch {
                    y: y.addr,
                    dy: dy.addr,
                    norms: norms.addr,
                },
                [y, dy, norms],
            ))
        }
        (true, None) => return Err(internal("normalize on CUDA without scratch".into())),
    };
    let (s, _alive) = match scratch {
        Some((s, t)) => (Some(s), Some(t)),
        None => (None, None),
    };
    let per_query = (u.as_ref().map_or(0, |u| u.addr), st.as_ref().map_or(0, |s| s.addr));
    let outputs = match out {
        None => None,
        Some((loss, workspace)) => {
            let mut inputs = vec![&x, &l];
            inputs.extend(g.as_ref());
            inputs.extend(u.as_ref());
            inputs.extend(st.as_ref());
            let wanted = if x.dtype == Dtype::F64 { Dtype::F64 } else { Dtype::F32 };
            Some(AsyncTensors::import(loss, workspace, wanted, x.device, &inputs)?)
        }
    };
    let target = outputs.as_ref().map(AsyncTensors::outputs);
    cuda_loss(py, &p, &x, &l, g.as_ref(), device, stream, s, per_query, target)
}

/// The engine's checks of a parameter record (the package's `LossParams` calls it once, when built).
#[pyfunction]
fn check_params(params: LossParams) -> PyResult<()> {
    params.engine()?.validate().map_err(|e| to_py(e, ""))
}

/// The proto's defaults (`Params::default()`), by the package's field names: what `LossParams()` must equal.
#[pyfunction]
fn proto_defaults(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let p = Params::default();
    let out = pyo3::types::PyDict::new(py);
    for (name, v) in [
        ("margin", p.margin),
        ("alpha", p.alpha),
        ("t_n", p.t_n),
        ("t_p", p.t_p),
        ("lambda_", p.lambda),
        ("lambda_p", p.lambda_p),
        ("base_n", p.base_n),
        ("base_p", p.base_p),
        ("weight_eps", p.weight_eps),
    ] {
        out.set_item(name, v)?;
    }
    out.set_item("semantics", SEMANTICS[p.semantics as usize])?;
    out.set_item("query_only", p.query_only)?;
    out.set_item("detach_weights", p.detach_weights)?;
    Ok(out)
}

/// Checks a rank's shard before a distributed call shares its status: the [`loss`] call's checks of shapes and
/// dtypes (N = 0 allowed), with its messages; the values are checked by the call on the gathered batch.
#[pyfunction]
fn check_inputs(embeddings: &Bound<'_, PyAny>, labels: &Bound<'_, PyAny>) -> PyResult<()> {
    let x = Tensor::import(embeddings, "embeddings")?;
    let l = Tensor::import(labels, "labels")?;
    check_batch(&x, &l, true).map(|_| ())
}

/// A CPU batch for the split calls: the features' values, float32 or float64, and the labels' dense ids.
fn host_batch<'t, T: Feature + rll::Real>(x: &'t Tensor, labels: &Tensor) -> PyResult<(&'t [T], Vec<T>)> {
    check_batch(x, labels, false)?;
    if labels.device != Device::Cpu {
        return Err(internal(format!("split call with labels on {:?}", labels.device)));
    }
    // SAFETY: `labels` is a checked, live, contiguous CPU tensor.
    let ids = unsafe { labels::dense_ids::<T>(labels)? };
    Ok((x.values::<T>()?, ids))
}

/// The part of a CPU batch's loss that query rows `start..start + count` contribute, against all N rows, and
/// (into `grad`, when given) its gradient for every row, for `ranked_list_loss.distributed`. `embeddings` the
/// gathered features (float32 or float64), `labels` their labels (any integer, bool or real dtype), `ln_mass`
/// None or the N float64 ln masses of OFFICIAL.
#[pyfunction]
#[pyo3(signature = (embeddings, labels, params, start, count, ln_mass=None, grad=None))]
#[allow(clippy::too_many_arguments)] // called from Python by keyword
fn loss_queries(
    py: Python<'_>,
    embeddings: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    params: LossParams,
    start: usize,
    count: usize,
    ln_mass: Option<&Bound<'_, PyAny>>,
    grad: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let p = params.engine()?;
    let (x, l) = (
        Tensor::import(embeddings, "embeddings")?,
        Tensor::import(labels, "labels")?,
    );
    let mass = ln_mass.map(|m| Tensor::import(m, "ln_mass")).transpose()?;
    let mut g = grad.map(|g| Tensor::import(g, "grad")).transpose()?;
    if let Some(g) = &g {
        check_output(g, "grad", x.dtype, &x.shape.clone(), Device::Cpu, &[&x, &l])?;
    }
    fn run<T: Feature + rll::Real>(
        py: Python<'_>,
        p: &Params,
        (x, l): (&Tensor, &Tensor),
        q: (usize, usize),
        mass: Option<&Tensor>,
        grad: Option<&mut Tensor>,
    ) -> PyResult<f64> {
        let (xs, ids) = host_batch::<T>(x, l)?;
        let ln_mass = mass.map(|m| m.values::<f64>()).transpose()?;
        let g = grad.map(|g| g.values_mut::<T>()).transpose()?;
        let (n, d) = (x.shape[0], x.shape[1]);
        detached(py, "gathered embeddings", || {
            let batch = Batch {
                x: xs,
                labels: &ids,
                n,
                d,
            };
            let queries = rll::Queries {
                start: q.0,
                count: q.1,
                ln_mass,
            };
            rll::compute_queries(p, batch, queries, T::one(), g).map(|v| v.f64())
        })
    }
    let q = (start, count);
    match x.dtype {
        Dtype::F32 => run::<f32>(py, &p, (&x, &l), q, mass.as_ref(), g.as_mut()),
        Dtype::F64 => run::<f64>(py, &p, (&x, &l), q, mass.as_ref(), g.as_mut()),
        other => Err(internal(format!("split call on {}", other.torch_name()))),
    }
}

/// OFFICIAL: ln(S⁺_i + S⁻_i) of query rows `start..start + count` of a CPU batch into `out` (`count` float64
/// values), what the processes of a split batch gather before [`loss_queries`].
#[pyfunction]
fn query_ln_mass(
    py: Python<'_>,
    embeddings: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    params: LossParams,
    start: usize,
    count: usize,
    out: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let p = params.engine()?;
    let (x, l) = (
        Tensor::import(embeddings, "embeddings")?,
        Tensor::import(labels, "labels")?,
    );
    let mut o = Tensor::import(out, "out")?;
    check_output(&o, "out", Dtype::F64, &[count], Device::Cpu, &[&x, &l])?;
    fn run<T: Feature + rll::Real>(
        py: Python<'_>,
        p: &Params,
        x: &Tensor,
        l: &Tensor,
        q: (usize, usize),
        out: &mut Tensor,
    ) -> PyResult<()> {
        let (xs, ids) = host_batch::<T>(x, l)?;
        let out = out.values_mut::<f64>()?;
        let (n, d) = (x.shape[0], x.shape[1]);
        detached(py, "gathered embeddings", || {
            rll::query_ln_mass(
                p,
                Batch {
                    x: xs,
                    labels: &ids,
                    n,
                    d,
                },
                q.0,
                q.1,
                out,
            )
        })
    }
    match x.dtype {
        Dtype::F32 => run::<f32>(py, &p, &x, &l, (start, count), &mut o),
        Dtype::F64 => run::<f64>(py, &p, &x, &l, (start, count), &mut o),
        other => Err(internal(format!("split call on {}", other.torch_name()))),
    }
}

/// The engine's CPU worker threads: n > 0 exactly n, 0 the engine's choice per call ($RLL_NUM_THREADS, or by
/// batch size up to every core). Results are bit-identical for any count.
#[pyfunction]
fn set_num_threads(n: usize) {
    rll::set_num_threads(n);
}

/// Whether this build has the CUDA path (the `cuda` feature).
#[pyfunction]
fn has_cuda() -> bool {
    cfg!(feature = "cuda")
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SEMANTICS", SEMANTICS)?;
    m.add_function(wrap_pyfunction!(loss, m)?)?;
    m.add_function(wrap_pyfunction!(check_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(check_params, m)?)?;
    m.add_function(wrap_pyfunction!(proto_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(has_cuda, m)?)?;
    m.add_function(wrap_pyfunction!(loss_async, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_workspace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(references::loss_references, m)?)?;
    m.add_function(wrap_pyfunction!(references::loss_references_async, m)?)?;
    m.add_function(wrap_pyfunction!(references::gpu_references_workspace_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(loss_queries, m)?)?;
    m.add_function(wrap_pyfunction!(query_ln_mass, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    Ok(())
}
