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

/// The loss parameters as the package passes them (the proto's fields).
#[derive(Clone, Copy)]
struct LossArgs {
    params: Params,
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

/// The engine on host memory: `x` (n·d values of `T`), `labels` (n values of `T`, dense class ids), `grad` (n·d
/// values or 0). Returns E; writes ∂E/∂x into `grad`.
///
/// # Safety
/// `x` and `labels` address n·d and n initialised values of `T`, `grad` n·d writable values not overlapping them
/// (or is 0), all alive and unaliased by writers for the call.
unsafe fn host<T: rll::Real>(
    a: LossArgs,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    grad: usize,
) -> rll::Result<f64> {
    let nd = n
        .checked_mul(d)
        .ok_or_else(|| RllError::new(ErrorKind::Size, format!("n = {n}, d = {d}: too large")))?;
    // SAFETY: the caller's contract.
    let (xs, ls) = unsafe {
        (
            std::slice::from_raw_parts(x as *const T, nd),
            std::slice::from_raw_parts(labels as *const T, n),
        )
    };
    let g = (grad != 0).then(|| unsafe { std::slice::from_raw_parts_mut(grad as *mut T, nd) });
    let batch = Batch {
        x: xs,
        labels: ls,
        n,
        d,
    };
    rll::compute(&a.params, batch, T::one(), g, None).map(|v| v.f64())
}

/// [`host`] for half-precision features: `labels` are n float32 class ids.
///
/// # Safety
/// As [`host`], with 16-bit values at `x` and `grad`.
unsafe fn host_half<H: Half>(
    a: LossArgs,
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    grad: usize,
) -> rll::Result<f64> {
    let nd = n
        .checked_mul(d)
        .ok_or_else(|| RllError::new(ErrorKind::Size, format!("n = {n}, d = {d}: too large")))?;
    // SAFETY: the caller's contract; H is a 16-bit pattern.
    let (xs, ls) = unsafe {
        (
            std::slice::from_raw_parts(x as *const H, nd),
            std::slice::from_raw_parts(labels as *const f32, n),
        )
    };
    let g = (grad != 0).then(|| unsafe { std::slice::from_raw_parts_mut(grad as *mut H, nd) });
    compute_half::<H>(&a.params, xs, ls, n, d, 1.0, g).map(f64::from)
}

/// The loss of one batch for `ranked_list_loss._ops` (private: the package checks every tensor before calling).
///
/// `dtype` is "float32", "float64", "float16" or "bfloat16"; `x` and `grad` are the addresses of contiguous
/// tensors of that dtype (n×d, and n×d or 0 for no gradient), `labels` of n dense class ids in that dtype (float32
/// for the 16-bit dtypes), on the CPU (`device` = -1) or on CUDA device `device`, ordered on `stream` (a
/// cudaStream_t as an integer; 0 = the legacy default stream).
#[pyfunction]
#[pyo3(signature = (dtype, x, labels, n, d, grad, device, stream, margin, alpha, t_n, t_p, lambda_, base_n, base_p,
                    semantics, query_only, detach_weights))]
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
) -> PyResult<f64> {
    let semantics = Semantics::from_i32(semantics).map_err(to_py)?;
    let a = LossArgs {
        params: Params {
            margin,
            alpha,
            t_n,
            t_p,
            base_n,
            base_p,
            lambda: lambda_,
            semantics,
            query_only,
            detach_weights,
        },
    };
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
                return match dtype.as_str() {
                    "float32" => rll::cuda::compute_gpu::<f32>(&a.params, &args, 1.0).map(f64::from),
                    "float64" => rll::cuda::compute_gpu::<f64>(&a.params, &args, 1.0),
                    "float16" => {
                        rll::cuda::compute_gpu_half::<half::f16>(&a.params, &args, f32_labels, 1.0).map(f64::from)
                    }
                    "bfloat16" => {
                        rll::cuda::compute_gpu_half::<half::bf16>(&a.params, &args, f32_labels, 1.0).map(f64::from)
                    }
                    other => Err(RllError::new(
                        ErrorKind::Parameter,
                        format!("dtype {other} is not float32 or float64"),
                    )),
                };
            }
            // SAFETY: the package passes the addresses of live contiguous tensors of these sizes and dtype.
            unsafe {
                match dtype.as_str() {
                    "float32" => host::<f32>(a, x, labels, n, d, grad),
                    "float64" => host::<f64>(a, x, labels, n, d, grad),
                    "float16" => host_half::<half::f16>(a, x, labels, n, d, grad),
                    "bfloat16" => host_half::<half::bf16>(a, x, labels, n, d, grad),
                    other => Err(RllError::new(
                        ErrorKind::Parameter,
                        format!("dtype {other} is not float32 or float64"),
                    )),
                }
            }
        })
    })
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
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    Ok(())
}
