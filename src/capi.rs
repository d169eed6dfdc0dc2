//! The C ABI declared in `cpp/include/ranked_list_loss.h`.
//!
//! Every entry point checks its pointers and sizes, catches panics, and reports failure as a nonzero return
//! (an [`ErrorKind`] code) with a message for [`rll_last_error`]. Nothing is written on failure.
#![allow(non_camel_case_types)]

use crate::batch::Batch;
use crate::cpu::compute;
use crate::cpu::queries::{compute_queries, query_ln_mass, Queries};
use crate::cpu::references::{compute_references, References};
use crate::cuda::{self, GpuReal};
use crate::device_args::GpuLoss;
use crate::error::{ErrorKind, Result, RllError};
use crate::half_precision::{compute_half, Half};
use crate::params::{Params, Semantics};
use crate::real::Real;
use half::{bf16, f16};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};

/// `rll_semantics` of the header.
pub type rll_semantics = c_int;
pub const RLL_PAPER: rll_semantics = 0;
pub const RLL_OFFICIAL_V2020: rll_semantics = 1;
pub const RLL_OFFICIAL_V2019: rll_semantics = 2;

/// `rll_params` of the header; the fields of [`Params`], with int flags.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct rll_params {
    pub margin: f32,
    pub alpha: f32,
    pub t_n: f32,
    pub t_p: f32,
    pub base_n: f32,
    pub base_p: f32,
    pub lambda: f32,
    pub semantics: i32,
    pub query_only: i32,
    pub detach_weights: i32,
}

impl From<&Params> for rll_params {
    fn from(p: &Params) -> Self {
        rll_params {
            margin: p.margin,
            alpha: p.alpha,
            t_n: p.t_n,
            t_p: p.t_p,
            base_n: p.base_n,
            base_p: p.base_p,
            lambda: p.lambda,
            semantics: p.semantics as i32,
            query_only: p.query_only as i32,
            detach_weights: p.detach_weights as i32,
        }
    }
}

impl TryFrom<&rll_params> for Params {
    type Error = RllError;
    fn try_from(p: &rll_params) -> Result<Params> {
        Ok(Params {
            margin: p.margin,
            alpha: p.alpha,
            t_n: p.t_n,
            t_p: p.t_p,
            base_n: p.base_n,
            base_p: p.base_p,
            lambda: p.lambda,
            // λ_P: the proto's loss (1); the PyTorch package's PML form is the one that sets it.
            lambda_p: 1.0,
            semantics: Semantics::from_i32(p.semantics)?,
            query_only: p.query_only != 0,
            detach_weights: p.detach_weights != 0,
            // PML's bias is the PyTorch package's; the C ABI computes the exact means.
            weight_eps: 0.0,
        })
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(e: &RllError) -> c_int {
    let msg = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = msg);
    e.kind as c_int
}

/// Runs an entry point's body with panics caught (the one place for the C ABI): 0, or the error's code.
fn report(f: impl FnOnce() -> Result<()>) -> c_int {
    match crate::catch(f) {
        Ok(()) => 0,
        Err(e) => set_error(&e),
    }
}

fn null(name: &str) -> RllError {
    RllError::new(ErrorKind::NullPointer, format!("{name} is NULL"))
}

/// The first of the named pointers that is NULL, as an error.
fn non_null(pointers: &[(bool, &str)]) -> Result<()> {
    match pointers.iter().find(|(is_null, _)| *is_null) {
        Some((_, name)) => Err(null(name)),
        None => Ok(()),
    }
}

/// The message of the last nonzero return on this thread ("" if none). Valid until the next failing call on
/// this thread.
#[no_mangle]
pub extern "C" fn rll_last_error() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ptr())
}

/// Fills `*p` with the proto defaults (m 0.4, α 1.2, T_n 10, T_p 0, b 2.71828, λ 1, PAPER, flags 0).
///
/// # Safety
/// `p` is NULL (ignored, and reported by `rll_last_error`) or points to writable memory for one `rll_params`.
#[no_mangle]
pub unsafe extern "C" fn rll_params_default(p: *mut rll_params) {
    report(|| {
        if p.is_null() {
            return Err(null("p"));
        }
        // SAFETY: non-null, and writable by the caller's contract.
        unsafe { p.write(rll_params::from(&Params::default())) };
        Ok(())
    });
}

/// Sets the number of worker threads (n > 0: exactly n; 0: `RLL_NUM_THREADS`, else chosen per call from the work
/// size, see `parallel::threads_for`). Results do not depend on it.
#[no_mangle]
pub extern "C" fn rll_set_num_threads(n: c_int) -> c_int {
    report(|| {
        if n < 0 {
            return Err(RllError::param(format!("rll_set_num_threads: n = {n} is negative")));
        }
        crate::cpu::parallel::set_num_threads(n as usize);
        Ok(())
    })
}

/// The shared body of `rll_loss_f32` and `rll_loss_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_c<T: Real>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    d: i64,
    loss_weight: T,
    loss: *mut T,
    grad: *mut T,
) -> c_int {
    report(|| {
        non_null(&[
            (p.is_null(), "p"),
            (x.is_null(), "x"),
            (labels.is_null(), "labels"),
            (loss.is_null(), "loss"),
        ])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, nd) = host_dims(n, d, std::mem::size_of::<T>())?;
        // SAFETY: non-null; the caller guarantees n·d readable values at x, n at labels, and n·d writable values
        // at grad when it is non-null.
        let (xs, ls) = unsafe { (std::slice::from_raw_parts(x, nd), std::slice::from_raw_parts(labels, n)) };
        let g = if grad.is_null() {
            None
        } else {
            Some(unsafe { std::slice::from_raw_parts_mut(grad, nd) })
        };
        let value = compute(
            &params,
            Batch {
                x: xs,
                labels: ls,
                n,
                d,
            },
            loss_weight,
            g,
            None,
        )?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// n and d of a C call, positive, and n·d values of `elem` bytes within what a slice can address.
fn host_dims(n: i64, d: i64, elem: usize) -> Result<(usize, usize, usize)> {
    crate::validate::c_dims(n, d, elem)
}

/// The shared body of `rll_loss_f16` and `rll_loss_bf16`: labels widened exactly, then [`compute_half`].
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_half_c<H: Half>(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
) -> c_int {
    report(|| {
        non_null(&[
            (p.is_null(), "p"),
            (x.is_null(), "x"),
            (labels.is_null(), "labels"),
            (loss.is_null(), "loss"),
        ])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, nd) = host_dims(n, d, 2)?;
        // SAFETY: non-null; the caller guarantees n·d readable values at x, n at labels, n·d writable values at
        // grad when it is non-null; H is a 16-bit pattern like u16 (half's types are repr(transparent) over u16).
        let (xs, ls) = unsafe {
            (
                std::slice::from_raw_parts(x as *const H, nd),
                std::slice::from_raw_parts(labels as *const H, n),
            )
        };
        let ls: Vec<f32> = ls.iter().map(|h| h.widen()).collect();
        let g = if grad.is_null() {
            None
        } else {
            Some(unsafe { std::slice::from_raw_parts_mut(grad as *mut H, nd) })
        };
        let value = compute_half::<H>(&params, xs, &ls, n, d, loss_weight, g)?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// Loss of a batch of `n` rows of `d` IEEE binary16 values (as `uint16_t` bit patterns, row-major) with `n`
/// binary16 labels, computed in float32: `*loss` receives E and `grad` (n·d values, may be NULL) receives
/// loss_weight · ∂E/∂x rounded to nearest even and saturated at ±65504.
///
/// # Safety
/// Non-null pointers must address the sizes stated; `grad` must not overlap the inputs.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_f16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_half_c::<f16>(p, x, labels, n, d, loss_weight, loss, grad) }
}

/// `rll_loss_f16` with bfloat16 inputs, labels and gradient (saturated at ±bfloat16's MAX).
///
/// # Safety
/// As `rll_loss_f16`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_bf16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_half_c::<bf16>(p, x, labels, n, d, loss_weight, loss, grad) }
}

/// Loss of a batch of `n` rows of `d` floats (row-major) with `n` float labels; `*loss` receives E and `grad`
/// (n·d values, may be NULL) receives loss_weight · ∂E/∂x. Returns 0, or an `rll_error` code.
///
/// # Safety
/// Non-null pointers must address the sizes stated; `grad` must not overlap the inputs.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_c(p, x, labels, n, d, loss_weight, loss, grad) }
}

/// `rll_loss_f32` in double precision.
///
/// # Safety
/// As `rll_loss_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    d: i64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_c(p, x, labels, n, d, loss_weight, loss, grad) }
}

/// The host-side checks of a device entry point and its arguments: the parameters, n and d positive, and the
/// device call's struct (the same one the cxx bridge passes, src/device_args.rs), filled once here.
///
/// # Safety
/// `p` is NULL or a valid `rll_params`.
#[allow(clippy::too_many_arguments)]
unsafe fn gpu_call(
    p: *const rll_params,
    x: usize,
    labels: usize,
    n: i64,
    d: i64,
    grad: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> Result<(Params, GpuLoss)> {
    non_null(&[(p.is_null(), "p")])?;
    // SAFETY: non-null; the caller provides a valid rll_params.
    let params = Params::try_from(unsafe { &*p })?;
    let (n, d, _) = crate::validate::c_dims(n, d, 1)?;
    let args = GpuLoss {
        x,
        labels,
        n,
        d,
        grad,
        stats: 0,
        stream: stream as usize,
        device,
    };
    Ok((params, args))
}

/// The shared body of `rll_loss_gpu_f32` and `rll_loss_gpu_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_gpu_c<T: GpuReal>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    d: i64,
    loss_weight: T,
    loss: *mut T,
    grad: *mut T,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    report(|| {
        // SAFETY: forwarded under the same contract.
        let (params, args) = unsafe {
            non_null(&[(p.is_null(), "p"), (loss.is_null(), "loss")])?;
            gpu_call(p, x as usize, labels as usize, n, d, grad as usize, stream, device)?
        };
        // SAFETY: the device pointers are the caller's, under this function's contract.
        let value = unsafe { cuda::compute_gpu::<T>(&params, &args, loss_weight)? };
        // SAFETY: non-null host pointer, writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// The shared body of `rll_loss_gpu_f16` and `rll_loss_gpu_bf16`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_gpu_half_c<H: cuda::GpuHalf>(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    report(|| {
        // SAFETY: forwarded under the same contract.
        let (params, args) = unsafe {
            non_null(&[(p.is_null(), "p"), (loss.is_null(), "loss")])?;
            gpu_call(p, x as usize, labels as usize, n, d, grad as usize, stream, device)?
        };
        // SAFETY: the device pointers are the caller's, under this function's contract.
        let value = unsafe { cuda::compute_gpu_half::<H>(&params, &args, cuda::Labels::SameAsX, loss_weight)? };
        // SAFETY: non-null host pointer, writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// `rll_loss_f16` on device memory (as `rll_loss_gpu_f32`): binary16 `x`, `labels` and `grad` on `device`.
///
/// # Safety
/// As `rll_loss_gpu_f32`, with 16-bit values.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_f16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_half_c::<f16>(p, x, labels, n, d, loss_weight, loss, grad, stream, device) }
}

/// `rll_loss_bf16` on device memory (as `rll_loss_gpu_f32`): bfloat16 `x`, `labels` and `grad` on `device`.
///
/// # Safety
/// As `rll_loss_gpu_f32`, with 16-bit values.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_bf16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_half_c::<bf16>(p, x, labels, n, d, loss_weight, loss, grad, stream, device) }
}

/// `rll_loss_f32` on device memory: `x` (n·d), `labels` (n) and `grad` (n·d, may be NULL) are device pointers of
/// `device`, work is ordered on `stream` (a cudaStream_t; NULL: the legacy default stream); `*loss` is host memory.
///
/// # Safety
/// The device pointers must address the sizes stated on `device`; `stream` must be NULL or a live stream there.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_c(p, x, labels, n, d, loss_weight, loss, grad, stream, device) }
}

/// `rll_loss_gpu_f32` in double precision.
///
/// # Safety
/// As `rll_loss_gpu_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    d: i64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_c(p, x, labels, n, d, loss_weight, loss, grad, stream, device) }
}

/// The workspace bytes of `rll_loss_gpu_async_*` for the given element type: 0 (with the message for
/// `rll_last_error`) when the parameters or sizes are invalid.
///
/// # Safety
/// `p` is NULL or a valid `rll_params`.
unsafe fn workspace_bytes_c(
    p: *const rll_params,
    n: i64,
    d: i64,
    bytes: impl FnOnce(&Params, usize, usize) -> Result<usize>,
) -> usize {
    let mut out = 0;
    let rc = report(|| {
        non_null(&[(p.is_null(), "p")])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, _) = crate::validate::c_dims(n, d, 1)?;
        out = bytes(&params, n, d)?;
        Ok(())
    });
    if rc == 0 {
        out
    } else {
        0
    }
}

/// The device workspace bytes that `rll_loss_gpu_async_f32` needs for n rows of d values (0 on invalid input).
///
/// # Safety
/// `p` is NULL or a valid `rll_params`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_workspace_bytes_f32(p: *const rll_params, n: i64, d: i64) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe { workspace_bytes_c(p, n, d, cuda::gpu_workspace_bytes::<f32>) }
}

/// `rll_gpu_workspace_bytes_f32` for `rll_loss_gpu_async_f64`.
///
/// # Safety
/// As `rll_gpu_workspace_bytes_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_workspace_bytes_f64(p: *const rll_params, n: i64, d: i64) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe { workspace_bytes_c(p, n, d, cuda::gpu_workspace_bytes::<f64>) }
}

/// `rll_gpu_workspace_bytes_f32` for `rll_loss_gpu_async_f16`.
///
/// # Safety
/// As `rll_gpu_workspace_bytes_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_workspace_bytes_f16(p: *const rll_params, n: i64, d: i64) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe {
        workspace_bytes_c(p, n, d, |q, n, d| {
            cuda::gpu_half_workspace_bytes(q, n, d, cuda::Labels::SameAsX)
        })
    }
}

/// `rll_gpu_workspace_bytes_f32` for `rll_loss_gpu_async_bf16`.
///
/// # Safety
/// As `rll_gpu_workspace_bytes_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_workspace_bytes_bf16(p: *const rll_params, n: i64, d: i64) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe {
        workspace_bytes_c(p, n, d, |q, n, d| {
            cuda::gpu_half_workspace_bytes(q, n, d, cuda::Labels::SameAsX)
        })
    }
}

/// The device pointers of an asynchronous call's outputs and workspace, as the engine takes them.
fn async_out<L>(
    loss: *mut L,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
) -> cuda::GpuOutputs {
    cuda::GpuOutputs {
        loss: loss as usize,
        status: status as usize,
        workspace: workspace as usize,
        workspace_bytes,
    }
}

/// `rll_loss_gpu_f32` ordered on `stream` and nothing else: `*loss` (1 value), `grad` (n·d or NULL) and `*status`
/// (1 value or NULL) are device memory, `workspace` is `workspace_bytes` of device memory (at least
/// `rll_gpu_workspace_bytes_f32`). Between entry and return it allocates nothing, copies nothing to the host and
/// synchronises nothing. `*status` becomes −1 when every input is finite, else the smallest flat index of a
/// non-finite x (or n·d + i for labels[i]), and then `*loss` and every gradient value are NaN. Argument errors
/// return at once with nothing enqueued.
///
/// # Safety
/// The device pointers address the sizes stated on `device` and stay alive (the workspace untouched by anyone else)
/// until the stream has run the call's work; `stream` is NULL or a live stream there.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_async_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_async_c(p, x, labels, n, d, loss_weight, &out, grad, stream, device) }
}

/// `rll_loss_gpu_async_f32` in double precision (`*loss` one double).
///
/// # Safety
/// As `rll_loss_gpu_async_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_async_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    d: i64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_async_c(p, x, labels, n, d, loss_weight, &out, grad, stream, device) }
}

/// `rll_loss_gpu_async_f32` for binary16 `x`, `labels` and `grad` (`*loss` one float).
///
/// # Safety
/// As `rll_loss_gpu_async_f32`, with 16-bit values.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_async_f16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_half_async_c::<f16>(p, x, labels, n, d, loss_weight, &out, grad, stream, device) }
}

/// `rll_loss_gpu_async_f16` for bfloat16.
///
/// # Safety
/// As `rll_loss_gpu_async_f32`, with 16-bit values.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_gpu_async_bf16(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut u16,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    // SAFETY: forwarded under the same contract.
    unsafe { loss_gpu_half_async_c::<bf16>(p, x, labels, n, d, loss_weight, &out, grad, stream, device) }
}

/// The shared body of `rll_loss_gpu_async_f32` and `_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_gpu_async_c<T: GpuReal>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    d: i64,
    loss_weight: T,
    out: &cuda::GpuOutputs,
    grad: *mut T,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    report(|| {
        // SAFETY: `p` is NULL or valid, under this function's contract.
        let (params, args) = unsafe { gpu_call(p, x as usize, labels as usize, n, d, grad as usize, stream, device)? };
        // SAFETY: the device pointers are the caller's, under this function's contract.
        unsafe { cuda::compute_gpu_async::<T>(&params, &args, loss_weight, out) }
    })
}

/// The shared body of `rll_loss_gpu_async_f16` and `_bf16`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_gpu_half_async_c<H: cuda::GpuHalf>(
    p: *const rll_params,
    x: *const u16,
    labels: *const u16,
    n: i64,
    d: i64,
    loss_weight: f32,
    out: &cuda::GpuOutputs,
    grad: *mut u16,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    report(|| {
        // SAFETY: `p` is NULL or valid, under this function's contract.
        let (params, args) = unsafe { gpu_call(p, x as usize, labels as usize, n, d, grad as usize, stream, device)? };
        // SAFETY: the device pointers are the caller's, under this function's contract.
        unsafe { cuda::compute_gpu_half_async::<H>(&params, &args, cuda::Labels::SameAsX, loss_weight, out) }
    })
}

/// `rll_gpu_workspace_bytes_f32` for `rll_loss_references_gpu_async_f32`: n stacked rows of d values, the first
/// `queries` of them the queries (0 on invalid input).
///
/// # Safety
/// `p` is NULL or a valid `rll_params`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_references_workspace_bytes_f32(
    p: *const rll_params,
    n: i64,
    queries: i64,
    d: i64,
) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe {
        workspace_bytes_c(p, n, d, |q, n, d| {
            cuda::gpu_references_workspace_bytes::<f32>(q, n, d, queries.max(0) as usize)
        })
    }
}

/// `rll_gpu_references_workspace_bytes_f32` for `rll_loss_references_gpu_async_f64`.
///
/// # Safety
/// As `rll_gpu_references_workspace_bytes_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_gpu_references_workspace_bytes_f64(
    p: *const rll_params,
    n: i64,
    queries: i64,
    d: i64,
) -> usize {
    // SAFETY: forwarded under the same contract.
    unsafe {
        workspace_bytes_c(p, n, d, |q, n, d| {
            cuda::gpu_references_workspace_bytes::<f64>(q, n, d, queries.max(0) as usize)
        })
    }
}

/// `rll_loss_references_f32` on device memory, stream-ordered as `rll_loss_gpu_async_f32`: `x` (n·d) and `labels`
/// (n) are the stacked rows [queries; references], the first `queries` rows the queries; `own` (queries values,
/// −1 for none, or NULL) each query's own copy among the references; `grad` (queries·d, or NULL) receives
/// loss_weight · ∂E/∂queries and `ref_grad` ((n − queries)·d, or NULL) loss_weight · ∂E/∂references; `*loss`,
/// `*status`, `workspace` as in
/// `rll_loss_gpu_async_f32` (`rll_gpu_references_workspace_bytes_f32` bytes). PAPER semantics.
///
/// # Safety
/// As `rll_loss_gpu_async_f32`, with the sizes above.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_references_gpu_async_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    queries: i64,
    d: i64,
    own: *const i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
    ref_grad: *mut f32,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    let a = RefsArgs {
        x: x as usize,
        labels: labels as usize,
        n,
        queries,
        d,
        own: own as usize,
        grad: grad as usize,
        ref_grad: ref_grad as usize,
    };
    // SAFETY: forwarded under the same contract.
    unsafe { references_gpu_async_c::<f32>(p, a, loss_weight, &out, stream, device) }
}

/// `rll_loss_references_gpu_async_f32` in double precision.
///
/// # Safety
/// As `rll_loss_references_gpu_async_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_references_gpu_async_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    queries: i64,
    d: i64,
    own: *const i64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
    ref_grad: *mut f64,
    status: *mut i64,
    workspace: *mut std::ffi::c_void,
    workspace_bytes: usize,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    let out = async_out(loss, status, workspace, workspace_bytes);
    let a = RefsArgs {
        x: x as usize,
        labels: labels as usize,
        n,
        queries,
        d,
        own: own as usize,
        grad: grad as usize,
        ref_grad: ref_grad as usize,
    };
    // SAFETY: forwarded under the same contract.
    unsafe { references_gpu_async_c::<f64>(p, a, loss_weight, &out, stream, device) }
}

/// The device addresses and sizes of a `rll_loss_references_gpu_async_*` call.
struct RefsArgs {
    x: usize,
    labels: usize,
    n: i64,
    queries: i64,
    d: i64,
    own: usize,
    grad: usize,
    ref_grad: usize,
}

/// The shared body of `rll_loss_references_gpu_async_f32` and `_f64`.
///
/// # Safety
/// As documented on those functions.
unsafe fn references_gpu_async_c<T: GpuReal>(
    p: *const rll_params,
    a: RefsArgs,
    loss_weight: T,
    out: &cuda::GpuOutputs,
    stream: *mut std::ffi::c_void,
    device: c_int,
) -> c_int {
    report(|| {
        // SAFETY: `p` is NULL or valid, under this function's contract.
        let (params, args) = unsafe { gpu_call(p, a.x, a.labels, a.n, a.d, a.grad, stream, device)? };
        let queries =
            usize::try_from(a.queries).map_err(|_| RllError::size(format!("queries = {} is negative", a.queries)))?;
        // SAFETY: the device pointers are the caller's, under this function's contract.
        unsafe { cuda::compute_gpu_references_async::<T>(&params, &args, queries, a.own, a.ref_grad, loss_weight, out) }
    })
}

/// A query range of a C call: start ≥ 0 and count ≥ 0 (their place in the batch is checked by the engine).
fn query_range(start: i64, count: i64) -> Result<(usize, usize)> {
    if start < 0 || count < 0 {
        return Err(RllError::size(format!(
            "query rows start = {start}, count = {count} must be ≥ 0"
        )));
    }
    Ok((start as usize, count as usize))
}

/// The shared body of `rll_loss_queries_f32` and `rll_loss_queries_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_queries_c<T: Real>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *const f64,
    loss_weight: T,
    loss: *mut T,
    grad: *mut T,
) -> c_int {
    report(|| {
        non_null(&[
            (p.is_null(), "p"),
            (x.is_null(), "x"),
            (labels.is_null(), "labels"),
            (loss.is_null(), "loss"),
        ])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, nd) = host_dims(n, d, std::mem::size_of::<T>())?;
        let (start, count) = query_range(start, count)?;
        // SAFETY: non-null; the caller guarantees n·d readable values at x, n at labels and at ln_mass when it is
        // non-null, and n·d writable values at grad when it is non-null.
        let (xs, ls) = unsafe { (std::slice::from_raw_parts(x, nd), std::slice::from_raw_parts(labels, n)) };
        let masses = (!ln_mass.is_null()).then(|| unsafe { std::slice::from_raw_parts(ln_mass, n) });
        let g = (!grad.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(grad, nd) });
        let batch = Batch {
            x: xs,
            labels: ls,
            n,
            d,
        };
        let queries = Queries {
            start,
            count,
            ln_mass: masses,
        };
        let value = compute_queries(&params, batch, queries, loss_weight, g)?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// The shared body of `rll_loss_references_f32` and `_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn loss_references_c<T: Real>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    ref_x: *const T,
    ref_labels: *const T,
    n_ref: i64,
    d: i64,
    own: *const i64,
    loss_weight: T,
    loss: *mut T,
    grad: *mut T,
    ref_grad: *mut T,
) -> c_int {
    report(|| {
        non_null(&[
            (p.is_null(), "p"),
            (x.is_null(), "x"),
            (labels.is_null(), "labels"),
            (ref_x.is_null(), "ref_x"),
            (ref_labels.is_null(), "ref_labels"),
            (loss.is_null(), "loss"),
        ])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, nd) = host_dims(n, d, std::mem::size_of::<T>())?;
        let (n_ref, _, nrd) = host_dims(n_ref, d as i64, std::mem::size_of::<T>())?;
        // SAFETY: non-null; the caller guarantees n·d and n readable values at x and labels, n_ref·d and n_ref at
        // ref_x and ref_labels, n at own when it is non-null, and n·d (n_ref·d) writable values at grad (ref_grad)
        // when non-null.
        let (xs, ls) = unsafe { (std::slice::from_raw_parts(x, nd), std::slice::from_raw_parts(labels, n)) };
        let (rx, rl) = unsafe {
            (
                std::slice::from_raw_parts(ref_x, nrd),
                std::slice::from_raw_parts(ref_labels, n_ref),
            )
        };
        let own = (!own.is_null()).then(|| unsafe { std::slice::from_raw_parts(own, n) });
        let g = (!grad.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(grad, nd) });
        let rg = (!ref_grad.is_null()).then(|| unsafe { std::slice::from_raw_parts_mut(ref_grad, nrd) });
        let batch = Batch {
            x: xs,
            labels: ls,
            n,
            d,
        };
        let refs = References {
            x: rx,
            labels: rl,
            n: n_ref,
            own,
        };
        let value = compute_references(&params, batch, refs, loss_weight, g, rg)?;
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { loss.write(value) };
        Ok(())
    })
}

/// The loss of n queries (`x`, `labels`) ranked against n_ref references (`ref_x`, `ref_labels`; a cross-batch
/// memory, say), PAPER semantics: E = (1/n) Σ_i [L_P(i) + λ L_N(i)] with each query's sets taken over the
/// references, leaving out reference `own[i]` (its own copy; `own` n values, −1 for none, or NULL for none at
/// all). `*loss` receives E, `grad` (n·d, may be NULL) loss_weight · ∂E/∂x and `ref_grad` (n_ref·d, may be NULL)
/// loss_weight · ∂E/∂ref_x.
///
/// # Safety
/// The pointers address the sizes stated (host memory), or are NULL where allowed; `p` is a valid `rll_params`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_references_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    ref_x: *const f32,
    ref_labels: *const f32,
    n_ref: i64,
    d: i64,
    own: *const i64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
    ref_grad: *mut f32,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        loss_references_c(
            p,
            x,
            labels,
            n,
            ref_x,
            ref_labels,
            n_ref,
            d,
            own,
            loss_weight,
            loss,
            grad,
            ref_grad,
        )
    }
}

/// `rll_loss_references_f32` in double precision.
///
/// # Safety
/// As `rll_loss_references_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_references_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    ref_x: *const f64,
    ref_labels: *const f64,
    n_ref: i64,
    d: i64,
    own: *const i64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
    ref_grad: *mut f64,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe {
        loss_references_c(
            p,
            x,
            labels,
            n,
            ref_x,
            ref_labels,
            n_ref,
            d,
            own,
            loss_weight,
            loss,
            grad,
            ref_grad,
        )
    }
}

/// The part of a batch's loss that query rows `start..start + count` contribute, against all n rows (the
/// processes of a split batch each compute theirs; the parts add up to `rll_loss_f32`'s value and gradient):
/// `*loss` receives the part of E and `grad` (n·d values, may be NULL) loss_weight · its gradient with respect to
/// every row. OFFICIAL: `ln_mass` is every row's ln(S⁺ + S⁻) from `rll_query_ln_mass_f32` (n values), or NULL when
/// the query rows are the whole batch; PAPER: NULL.
///
/// # Safety
/// Non-null pointers must address the sizes stated; `grad` must not overlap the inputs.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_queries_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *const f64,
    loss_weight: f32,
    loss: *mut f32,
    grad: *mut f32,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_queries_c(p, x, labels, n, d, start, count, ln_mass, loss_weight, loss, grad) }
}

/// `rll_loss_queries_f32` in double precision.
///
/// # Safety
/// As `rll_loss_queries_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_loss_queries_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *const f64,
    loss_weight: f64,
    loss: *mut f64,
    grad: *mut f64,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { loss_queries_c(p, x, labels, n, d, start, count, ln_mass, loss_weight, loss, grad) }
}

/// The shared body of `rll_query_ln_mass_f32` and `rll_query_ln_mass_f64`.
///
/// # Safety
/// As documented on those functions.
#[allow(clippy::too_many_arguments)]
unsafe fn query_ln_mass_c<T: Real>(
    p: *const rll_params,
    x: *const T,
    labels: *const T,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *mut f64,
) -> c_int {
    report(|| {
        non_null(&[
            (p.is_null(), "p"),
            (x.is_null(), "x"),
            (labels.is_null(), "labels"),
            (ln_mass.is_null(), "ln_mass"),
        ])?;
        // SAFETY: non-null; the caller provides a valid rll_params.
        let params = Params::try_from(unsafe { &*p })?;
        let (n, d, nd) = host_dims(n, d, std::mem::size_of::<T>())?;
        let (start, count) = query_range(start, count)?;
        crate::validate::query_range(start, count, n)?;
        // SAFETY: non-null; n·d and n readable values at x and labels, count writable values at ln_mass (count is
        // within n, checked above).
        let (xs, ls) = unsafe { (std::slice::from_raw_parts(x, nd), std::slice::from_raw_parts(labels, n)) };
        let out = unsafe { std::slice::from_raw_parts_mut(ln_mass, count) };
        let batch = Batch {
            x: xs,
            labels: ls,
            n,
            d,
        };
        query_ln_mass(&params, batch, start, count, out)
    })
}

/// OFFICIAL: ln(S⁺_i + S⁻_i) of query rows `start..start + count` of the batch into `ln_mass` (count values), what
/// the parts of a split batch gather into the n values `rll_loss_queries_f32` takes.
///
/// # Safety
/// Non-null pointers must address the sizes stated.
#[no_mangle]
pub unsafe extern "C" fn rll_query_ln_mass_f32(
    p: *const rll_params,
    x: *const f32,
    labels: *const f32,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *mut f64,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { query_ln_mass_c(p, x, labels, n, d, start, count, ln_mass) }
}

/// `rll_query_ln_mass_f32` in double precision.
///
/// # Safety
/// As `rll_query_ln_mass_f32`.
#[no_mangle]
pub unsafe extern "C" fn rll_query_ln_mass_f64(
    p: *const rll_params,
    x: *const f64,
    labels: *const f64,
    n: i64,
    d: i64,
    start: i64,
    count: i64,
    ln_mass: *mut f64,
) -> c_int {
    // SAFETY: forwarded under the same contract.
    unsafe { query_ln_mass_c(p, x, labels, n, d, start, count, ln_mass) }
}
