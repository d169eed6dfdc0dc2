//! `ranked_list_loss._engine`: the one engine call behind the PyTorch package (python/ranked_list_loss). The
//! package hands over a tensor's memory by address, with its own checks of dtype, device, shape and contiguity
//! done first; this module builds the engine's inputs from those addresses and runs [`rll::compute`] (or, for CUDA
//! tensors, [`rll::cuda::compute_gpu`] on the tensor's device and stream) with the GIL released.
//!
//! Errors come back as Python exceptions: `ValueError` for bad input (sizes, non-finite values, parameters),
//! `RuntimeError` for the device and for internal errors; a panic is caught and becomes a `RuntimeError`.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rll::half_precision::{compute_half, Half};
use rll::{Batch, ErrorKind, GpuLoss, Params, RllError, Semantics};

/// n·d, the values of a tensor's n rows of d.
fn values(n: usize, d: usize) -> rll::Result<usize> {
    n.checked_mul(d)
        .ok_or_else(|| RllError::new(ErrorKind::Size, format!("n = {n}, d = {d}: too large")))
}

/// The `len` values of `T` at address `ptr`: an empty slice when `len` is 0, whatever the address (an empty
/// tensor's data pointer may be null, and no slice may be made from a null pointer, even of length 0).
///
/// # Safety
/// For `len` > 0, `ptr` addresses `len` initialised, aligned values of `T`, alive and not written for `'a`.
unsafe fn values_at<'a, T>(ptr: usize, len: usize) -> &'a [T] {
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

fn to_py(e: RllError) -> PyErr {
    match e.kind {
        ErrorKind::Device | ErrorKind::Internal => PyRuntimeError::new_err(e.message),
        _ => PyValueError::new_err(e.message),
    }
}

fn caught<R>(f: impl FnOnce() -> rll::Result<R>) -> PyResult<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(to_py),
        Err(_) => Err(PyRuntimeError::new_err(
            "ranked_list_loss: internal error (a panic in the engine; please report)",
        )),
    }
}

/// Scratch buffers for L2-normalising the rows inside the call (`normalize=True`): y and ∂E/∂y (n·d) and the
/// row norms (n), at addresses of the call's device (host memory for the CPU path).
#[derive(Clone, Copy)]
struct NormScratch {
    y: usize,
    dy: usize,
    norms: usize,
}

/// The engine on host memory: `x` (n·d values of `T`), `labels` (n values of `T`, dense class ids), `grad` (n·d
/// values or 0). Returns E; writes ∂E/∂x into `grad`. With `norm`, E is the loss of the rows x_i/‖x_i‖ and the
/// gradient is taken back through the normalisation.
///
/// # Safety
/// `x` and `labels` address n·d and n initialised values of `T`, `grad` n·d writable values not overlapping them
/// (or is 0), and `norm`'s buffers n·d, n·d and n writable values of `T`, all alive and unaliased for the call.
unsafe fn host<T: rll::Real>(
    p: &Params,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    grad: usize,
    norm: Option<NormScratch>,
) -> rll::Result<f64> {
    let nd = values(n, d)?;
    // SAFETY (both): the caller's contract.
    let read = |ptr: usize, len: usize| unsafe { values_at::<T>(ptr, len) };
    let part = |ptr: usize, len: usize| unsafe { values_at_mut::<T>(ptr, len) };
    let (xs, ls) = (read(x, nd), read(labels, n));
    let Some(s) = norm else {
        let g = (grad != 0).then(|| part(grad, nd));
        let batch = Batch {
            x: xs,
            labels: ls,
            n,
            d,
        };
        return rll::compute(p, batch, T::one(), g, None).map(|v| v.f64());
    };
    let (y, dy, norms) = (part(s.y, nd), part(s.dy, nd), part(s.norms, n));
    rll::normalize::l2_forward(xs, n, d, y, norms)?;
    let batch = Batch { x: y, labels: ls, n, d };
    let g = (grad != 0).then_some(&mut *dy);
    let value = rll::compute(p, batch, T::one(), g, None)?;
    if grad != 0 {
        rll::normalize::l2_backward(y, dy, norms, n, d, part(grad, nd))?;
    }
    Ok(value.f64())
}

/// The device twin of [`host`]'s normalisation: l2_forward_gpu, the loss on y, l2_backward_gpu.
///
/// # Safety
/// `args` and `s` address device memory of `args.device` of the sizes [`host`] states.
unsafe fn device_normalized<T: rll::cuda::GpuReal>(p: &Params, args: &GpuLoss, s: NormScratch) -> rll::Result<f64> {
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
    let value = unsafe { rll::cuda::compute_gpu::<T>(p, &on_y, T::one())? };
    if args.grad != 0 {
        unsafe { rll::cuda::l2_backward_gpu::<T>(&l2)? };
    }
    Ok(value.f64())
}

/// [`host`] for half-precision features: `labels` are n float32 class ids.
///
/// # Safety
/// As [`host`], with 16-bit values at `x` and `grad`.
unsafe fn host_half<H: Half>(p: &Params, x: usize, labels: usize, n: usize, d: usize, grad: usize) -> rll::Result<f64> {
    let nd = values(n, d)?;
    // SAFETY: the caller's contract; H is a 16-bit pattern.
    let (xs, ls) = unsafe { (values_at::<H>(x, nd), values_at::<f32>(labels, n)) };
    let g = (grad != 0).then(|| unsafe { values_at_mut::<H>(grad, nd) });
    compute_half::<H>(p, xs, ls, n, d, 1.0, g).map(f64::from)
}

/// The loss of one batch for `ranked_list_loss._ops` (private: the package checks every tensor before calling).
///
/// `dtype` is "float32", "float64", "float16" or "bfloat16"; `x` and `grad` are the addresses of contiguous
/// tensors of that dtype (n×d, and n×d or 0 for no gradient), `labels` of n dense class ids in that dtype (float32
/// for the 16-bit dtypes), on the CPU (`device` = -1) or on CUDA device `device`, ordered on `stream` (a
/// cudaStream_t as an integer; 0 = the legacy default stream).
#[pyfunction]
#[pyo3(signature = (dtype, x, labels, n, d, grad, device, stream, margin, alpha, t_n, t_p, lambda_, base_n, base_p,
                    semantics, query_only, detach_weights, weight_eps, norm_y=0, norm_dy=0, norms=0))]
#[allow(clippy::too_many_arguments)] // one flat call from Python, named at the call site
fn loss(
    py: Python<'_>,
    dtype: &str,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    grad: usize,
    device: i32,
    stream: usize,
    margin: f32,
    alpha: f32,
    t_n: f32,
    t_p: f32,
    lambda_: f32,
    base_n: f32,
    base_p: f32,
    semantics: i32,
    query_only: bool,
    detach_weights: bool,
    weight_eps: f32,
    norm_y: usize,
    norm_dy: usize,
    norms: usize,
) -> PyResult<f64> {
    // normalize=True (float32/float64): the rows are L2-normalised in this call, in these scratch buffers.
    let norm = (norm_y != 0).then_some(NormScratch {
        y: norm_y,
        dy: norm_dy,
        norms,
    });
    let params = params_of(
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
    )?;
    let p = &params;
    let dtype = dtype.to_string();
    py.detach(move || {
        caught(|| {
            if device >= 0 {
                let args = GpuLoss {
                    x,
                    labels,
                    n,
                    d,
                    grad,
                    stats: 0,
                    stream,
                    device,
                };
                let f32_labels = rll::cuda::Labels::F32;
                // SAFETY: the package passes the addresses of live contiguous CUDA tensors of `device`, of these
                // sizes and dtype, and its current stream there.
                return unsafe {
                    match (dtype.as_str(), norm) {
                        ("float32", Some(s)) => device_normalized::<f32>(p, &args, s),
                        ("float64", Some(s)) => device_normalized::<f64>(p, &args, s),
                        ("float32", None) => rll::cuda::compute_gpu::<f32>(p, &args, 1.0).map(f64::from),
                        ("float64", None) => rll::cuda::compute_gpu::<f64>(p, &args, 1.0),
                        ("float16", None) => {
                            rll::cuda::compute_gpu_half::<half::f16>(p, &args, f32_labels, 1.0).map(f64::from)
                        }
                        ("bfloat16", None) => {
                            rll::cuda::compute_gpu_half::<half::bf16>(p, &args, f32_labels, 1.0).map(f64::from)
                        }
                        (other, _) => Err(RllError::new(
                            ErrorKind::Parameter,
                            format!("dtype {other} is not supported here (normalize: float32 and float64)"),
                        )),
                    }
                };
            }
            // SAFETY: the package passes the addresses of live contiguous tensors of these sizes and dtype.
            unsafe {
                match dtype.as_str() {
                    "float32" => host::<f32>(p, x, labels, n, d, grad, norm),
                    "float64" => host::<f64>(p, x, labels, n, d, grad, norm),
                    "float16" => host_half::<half::f16>(p, x, labels, n, d, grad),
                    "bfloat16" => host_half::<half::bf16>(p, x, labels, n, d, grad),
                    other => Err(RllError::new(
                        ErrorKind::Parameter,
                        format!("dtype {other} is not float32 or float64"),
                    )),
                }
            }
        })
    })
}

/// The loss parameters of a call from Python.
#[allow(clippy::too_many_arguments)]
fn params_of(
    margin: f32,
    alpha: f32,
    t_n: f32,
    t_p: f32,
    lambda_: f32,
    base_n: f32,
    base_p: f32,
    semantics: i32,
    query_only: bool,
    detach_weights: bool,
    weight_eps: f32,
) -> PyResult<Params> {
    Ok(Params {
        margin,
        alpha,
        t_n,
        t_p,
        base_n,
        base_p,
        lambda: lambda_,
        semantics: Semantics::from_i32(semantics).map_err(to_py)?,
        query_only,
        detach_weights,
        weight_eps,
    })
}

/// A host batch of `T` at `x` (n·d values) and `labels` (n dense class ids).
///
/// # Safety
/// The addresses hold those values, alive and unchanged for `'a`.
unsafe fn host_batch<'a, T: rll::Real>(x: usize, labels: usize, n: usize, d: usize) -> rll::Result<Batch<'a, T>> {
    let nd = values(n, d)?;
    // SAFETY: the caller's contract.
    let (x, labels) = unsafe { (values_at::<T>(x, nd), values_at::<T>(labels, n)) };
    Ok(Batch { x, labels, n, d })
}

/// [`rll::compute_queries`] on host memory: query rows `start..start + count` of the n×d batch against all of it;
/// `ln_mass` is 0 or the address of n f64 values (OFFICIAL), `grad` 0 or n·d writable values.
///
/// # Safety
/// As [`host_batch`], and `grad` and `ln_mass` as stated, not overlapping the inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn host_queries<T: rll::Real>(
    p: &Params,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    start: usize,
    count: usize,
    ln_mass: usize,
    grad: usize,
) -> rll::Result<f64> {
    // SAFETY (all three): the caller's contract.
    let batch = unsafe { host_batch::<T>(x, labels, n, d)? };
    let ln_mass = (ln_mass != 0).then(|| unsafe { values_at::<f64>(ln_mass, n) });
    let g = (grad != 0).then(|| unsafe { values_at_mut::<T>(grad, n * d) });
    let q = rll::Queries { start, count, ln_mass };
    rll::compute_queries(p, batch, q, T::one(), g).map(|v| v.f64())
}

/// The part of a CPU batch's loss that query rows `start..start + count` contribute, against all n rows, and
/// (when `grad` is not 0) its gradient for every row, for `ranked_list_loss.distributed` (private: the package
/// checks every tensor first). `dtype` is "float32" or "float64"; `ln_mass` is 0 or the address of n float64 ln
/// masses (OFFICIAL).
#[pyfunction]
#[pyo3(signature = (dtype, x, labels, n, d, start, count, ln_mass, grad, margin, alpha, t_n, t_p, lambda_, base_n,
                    base_p, semantics, query_only, detach_weights, weight_eps))]
#[allow(clippy::too_many_arguments)] // one flat call from Python, named at the call site
fn loss_queries(
    py: Python<'_>,
    dtype: &str,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    start: usize,
    count: usize,
    ln_mass: usize,
    grad: usize,
    margin: f32,
    alpha: f32,
    t_n: f32,
    t_p: f32,
    lambda_: f32,
    base_n: f32,
    base_p: f32,
    semantics: i32,
    query_only: bool,
    detach_weights: bool,
    weight_eps: f32,
) -> PyResult<f64> {
    let p = params_of(
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
    )?;
    let dtype = dtype.to_string();
    py.detach(move || {
        caught(|| {
            // SAFETY: the package passes the addresses of live contiguous CPU tensors of these sizes and dtype.
            unsafe {
                match dtype.as_str() {
                    "float32" => host_queries::<f32>(&p, x, labels, n, d, start, count, ln_mass, grad),
                    "float64" => host_queries::<f64>(&p, x, labels, n, d, start, count, ln_mass, grad),
                    other => Err(unsupported(other)),
                }
            }
        })
    })
}

/// OFFICIAL: ln(S⁺_i + S⁻_i) of query rows `start..start + count` of a CPU batch into the `count` float64 values
/// at `out` (what the processes of a split batch gather before [`loss_queries`]).
#[pyfunction]
#[pyo3(signature = (dtype, x, labels, n, d, start, count, out, margin, alpha, t_n, t_p, lambda_, base_n, base_p,
                    semantics, query_only, detach_weights, weight_eps))]
#[allow(clippy::too_many_arguments)] // one flat call from Python, named at the call site
fn query_ln_mass(
    py: Python<'_>,
    dtype: &str,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    start: usize,
    count: usize,
    out: usize,
    margin: f32,
    alpha: f32,
    t_n: f32,
    t_p: f32,
    lambda_: f32,
    base_n: f32,
    base_p: f32,
    semantics: i32,
    query_only: bool,
    detach_weights: bool,
    weight_eps: f32,
) -> PyResult<()> {
    let p = params_of(
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
    )?;
    let dtype = dtype.to_string();
    py.detach(move || {
        caught(|| {
            // SAFETY: the package passes live contiguous CPU tensors of these sizes and dtype, and `count` float64
            // values at `out`.
            unsafe {
                let out = values_at_mut::<f64>(out, count);
                match dtype.as_str() {
                    "float32" => rll::query_ln_mass(&p, host_batch::<f32>(x, labels, n, d)?, start, count, out),
                    "float64" => rll::query_ln_mass(&p, host_batch::<f64>(x, labels, n, d)?, start, count, out),
                    other => Err(unsupported(other)),
                }
            }
        })
    })
}

fn unsupported(dtype: &str) -> RllError {
    RllError::new(ErrorKind::Parameter, format!("dtype {dtype} is not float32 or float64"))
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
    m.add_function(wrap_pyfunction!(loss, m)?)?;
    m.add_function(wrap_pyfunction!(has_cuda, m)?)?;
    m.add_function(wrap_pyfunction!(loss_queries, m)?)?;
    m.add_function(wrap_pyfunction!(query_ln_mass, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    Ok(())
}
