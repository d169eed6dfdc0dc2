//! The CUDA path: the kernels of `cuda/` on the host's device memory (Caffe's `gpu_data()`), launched through
//! cudarc on the device's primary context and the host's stream. Nothing here frees or owns host memory. The
//! asynchronous calls only enqueue work (their temporaries in the caller's workspace, nothing read back); the
//! synchronous ones add one allocation, one read-back and one synchronisation. Every failure is an error, never
//! a panic.
//!
//! The sequence mirrors the CPU backend: centring and power-of-two scaling (bit-identical to the CPU's), the
//! distance matrix (tiled Gram product), one block per query for the sets, weights and coefficients, then
//! ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product that skips the all-zero tiles of A.

//! Stages, each in its module as in the CPU backend: [`distance`], [`semantics`] (the row stage), [`gradient`];
//! [`call`] holds the call's device and stream; [`workspace`] lays out the temporaries; [`table`] is the one table of the kernels (parameters, launch
//! rules) and [`launch`] launches from it with checked, named arguments; [`convert`] widens and narrows half
//! precision; [`kernels`] loads the PTX. `src/no_cuda.rs` stands in for this module without the `cuda` feature.
//! Panics are caught by the hosts, not here.

mod call;
mod convert;
mod distance;
mod gradient;
pub mod kernels;
mod launch;
mod semantics;
pub mod table;
mod workspace;

pub use crate::device_args::GpuOutputs;
use crate::device_args::{GpuL2, GpuLoss};
use crate::error::{ErrorKind, Result, RllError};
use crate::params::Params;
use crate::real::Real;
use crate::validate;
use call::{dev_err, Call};
use cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use launch::{args, launch, DevAddr, KernelArg, Shape};
use workspace::{Lists, Scratch, Size};

pub use workspace::ALIGN;

pub use convert::{convert_gpu, Direction, GpuHalf, Labels};

/// The element types the kernels are instantiated for.
pub trait GpuReal: Real + DeviceRepr + ValidAsZeroBits + KernelArg {
    /// The kernels' name suffix.
    const SUFFIX: &'static str;
}
impl GpuReal for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuReal for f64 {
    const SUFFIX: &'static str = "f64";
}

/// The workspace bytes of [`compute_gpu_async`] and [`compute_gpu_weighted_async`] for n rows of d values of T.
pub fn gpu_workspace_bytes<T: GpuReal>(params: &Params, n: usize, d: usize) -> Result<usize> {
    validate::dims(params, n, d)?;
    validate::device_dims(n, d)?;
    Ok(Scratch::<T>::bytes(Size::batch(n, d)))
}

/// The workspace bytes of [`compute_gpu_half_async`] for n rows of d 16-bit values and labels of kind `labels`.
pub fn gpu_half_workspace_bytes(params: &Params, n: usize, d: usize, labels: Labels) -> Result<usize> {
    validate::dims(params, n, d)?;
    validate::device_dims(n, d)?;
    Ok(Scratch::<f32>::bytes(Size::half(n, d, labels)))
}

/// The loss of a batch in device memory, as [`crate::compute`] on the host, ordered on `a.stream` and nothing
/// else: between entry and return it allocates nothing, copies nothing to the host and waits for nothing. It
/// writes E to `out.loss`, loss_weight · ∂E/∂x to `a.grad` (when not 0) and the statistics to `a.stats` (when not
/// 0). `*out.status` (when not 0) becomes −1 when every value of x and labels is finite, else the smallest flat
/// index of a non-finite x, or n·d + i for labels[i]; then the loss and every gradient value are NaN (the
/// statistics unspecified). Argument errors are found on the host and returned at once, with nothing enqueued.
///
/// # Safety
/// The addresses in `a` are device memory of `a.device` (or 0 where the field allows none), each holding the
/// values its field documents (src/device_args.rs: n·d features, n labels, n·d gradient, n·4 statistics), and
/// those of `out` as [`GpuOutputs`] says; all stay alive, and none but x and labels is read or written by anyone
/// else, until the stream has run the call's work; `a.stream` is 0 or a live stream of that device.
pub unsafe fn compute_gpu_async<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    loss_weight: T,
    out: &GpuOutputs,
) -> Result<()> {
    check_async::<T>(params, a, out, loss_weight)?;
    enqueue::<T>(params, a, Lists::batch(a.n), 0, loss_weight, out)
}

/// [`compute_gpu_async`] of E = Σ_i u_i [L_P(i) + λ L_N(i)] for per-query weights u at `weights` (n values of T
/// on the device; PAPER only), as [`crate::compute_weighted`] on the host. A non-finite weight gives a
/// non-finite value and gradient.
///
/// # Safety
/// As [`compute_gpu_async`], and `weights` holds n values of T on that device, alive and unchanged until the stream
/// has run the call's work.
pub unsafe fn compute_gpu_weighted_async<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    weights: usize,
    loss_weight: T,
    out: &GpuOutputs,
) -> Result<()> {
    check_async::<T>(params, a, out, loss_weight)?;
    check_weights(params, weights)?;
    enqueue::<T>(params, a, Lists::batch(a.n), weights, loss_weight, out)
}

/// [`compute_gpu_async`] for half-precision features (`a.x`, `a.grad`: n·d 16-bit patterns of `H`), as
/// [`crate::compute_half`] on the host: widened exactly into float32 in the workspace, the float32 pipeline, the
/// gradient narrowed (nearest even, saturated; NaN stays NaN). `labels` says what `a.labels` holds; the loss is
/// one f32.
///
/// # Safety
/// As [`compute_gpu_async`], with n·d 16-bit values of H at `a.x` and `a.grad`, and n values at `a.labels` of the
/// kind `labels` says.
pub unsafe fn compute_gpu_half_async<H: GpuHalf>(
    params: &Params,
    a: &GpuLoss,
    labels: Labels,
    loss_weight: f32,
    out: &GpuOutputs,
) -> Result<()> {
    check_async::<f32>(params, a, out, loss_weight)?;
    let call = Call::new(a.device, a.stream)?;
    let w = Scratch::<f32>::in_workspace(out.workspace, out.workspace_bytes, Size::half(a.n, a.d, labels))?;
    half_pipeline::<H>(&call, params, a, loss_weight, &w, out).map(|_| ())
}

/// The loss of a batch in device memory, as [`crate::compute`] on the host: [`compute_gpu_async`] on a workspace
/// it allocates, then one copy of the status and the value to the host and one synchronisation of the stream
/// (`loss_gpu` of the C ABI and of the cxx bridge). A non-finite input is the error naming it, as on the CPU (the
/// gradient then holds NaN).
///
/// # Safety
/// As [`compute_gpu_async`], without `out`; everything need only stay alive until the call returns.
pub unsafe fn compute_gpu<T: GpuReal>(params: &Params, a: &GpuLoss, loss_weight: T) -> Result<T> {
    check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    blocking::<T>(params, a, Lists::batch(a.n), 0, loss_weight)
}

/// [`compute_gpu`] of E = Σ_i u_i [L_P(i) + λ L_N(i)] (as [`compute_gpu_weighted_async`]). The weights are not
/// read back: a non-finite weight gives a non-finite value and gradient.
///
/// # Safety
/// As [`compute_gpu`], and `weights` holds n values of T on that device, alive and unchanged until the call returns.
pub unsafe fn compute_gpu_weighted<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    weights: usize,
    loss_weight: T,
) -> Result<T> {
    check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    check_weights(params, weights)?;
    blocking::<T>(params, a, Lists::batch(a.n), weights, loss_weight)
}

/// [`compute_gpu`] for half-precision features (as [`compute_gpu_half_async`]).
///
/// # Safety
/// As [`compute_gpu`], with n·d 16-bit values of H at `a.x` and `a.grad`, and n values at `a.labels` of the kind
/// `labels` says.
pub unsafe fn compute_gpu_half<H: GpuHalf>(
    params: &Params,
    a: &GpuLoss,
    labels: Labels,
    loss_weight: f32,
) -> Result<f32> {
    check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    let call = Call::new(a.device, a.stream)?;
    let size = Size::half(a.n, a.d, labels);
    let bytes = Scratch::<f32>::bytes(size);
    synchronously::<f32>(&call, bytes, a.d, |out| {
        let w = Scratch::<f32>::in_workspace(out.workspace, out.workspace_bytes, size)?;
        half_pipeline::<H>(&call, params, a, loss_weight, &w, out)
    })
}

/// The workspace bytes of [`compute_gpu_references_async`] for a stacked batch of n rows of d values of T whose
/// first `queries` rows are the queries.
pub fn gpu_references_workspace_bytes<T: GpuReal>(
    params: &Params,
    n: usize,
    d: usize,
    queries: usize,
) -> Result<usize> {
    validate::dims(params, n, d)?;
    validate::device_dims(n, d)?;
    check_queries(params, n, queries)?;
    Ok(Scratch::<T>::bytes(Size {
        m: queries,
        ..Size::batch(n, d)
    }))
}

/// Queries against references on the device, as [`crate::compute_references`] on the host, stream-ordered as
/// [`compute_gpu_async`]: `a` is the stacked batch [Q; R] (n rows: the first `queries` are the queries, the rest the
/// references; n labels), `a.grad` 0 or queries·d values receiving loss_weight · ∂E/∂Q, `ref_grad` 0 or
/// (n − queries)·d values receiving loss_weight · ∂E/∂R, `a.stats` 0 or queries·4 values; `own` 0 or `queries` i64
/// on the device, each query's own copy among the references (−1: none), left out of its list (an index outside
/// the references, or one of another label, leaves nothing out: the host does not read them). PAPER semantics.
///
/// # Safety
/// As [`compute_gpu_async`], with the sizes above.
pub unsafe fn compute_gpu_references_async<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    queries: usize,
    own: usize,
    ref_grad: usize,
    loss_weight: T,
    out: &GpuOutputs,
) -> Result<()> {
    check_async::<T>(params, a, out, loss_weight)?;
    check_queries(params, a.n, queries)?;
    let lists = Lists {
        m: queries,
        col0: queries,
        own,
        ref_grad,
    };
    enqueue::<T>(params, a, lists, 0, loss_weight, out)
}

/// [`compute_gpu_references_async`] on a workspace it allocates, then one read-back and one synchronisation (as
/// [`compute_gpu`]); a non-finite input is the error naming it.
///
/// # Safety
/// As [`compute_gpu_references_async`], without `out`; everything need only stay alive until the call returns.
pub unsafe fn compute_gpu_references<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    queries: usize,
    own: usize,
    ref_grad: usize,
    loss_weight: T,
) -> Result<T> {
    check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    check_queries(params, a.n, queries)?;
    let lists = Lists {
        m: queries,
        col0: queries,
        own,
        ref_grad,
    };
    blocking::<T>(params, a, lists, 0, loss_weight)
}

/// PAPER, and at least one query and one reference among the n rows.
fn check_queries(params: &Params, n: usize, queries: usize) -> Result<()> {
    if params.semantics != crate::params::Semantics::Paper {
        return Err(validate::references_semantics(params));
    }
    if queries == 0 || queries >= n {
        return Err(RllError::size(format!(
            "queries = {queries} of n = {n} rows: at least one query and one reference expected"
        )));
    }
    Ok(())
}

/// The sizes, the pointers and the parameters of a device call; returns n·d.
fn check_args(params: &Params, a: &GpuLoss) -> Result<usize> {
    let nd = validate::dims(params, a.n, a.d)?;
    validate::device_dims(a.n, a.d)?;
    for (ptr, name) in [(a.x, "x"), (a.labels, "labels")] {
        if ptr == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, format!("{name} is NULL")));
        }
    }
    Ok(nd)
}

/// [`check_args`], the loss weight and the asynchronous call's loss pointer.
fn check_async<V: Real>(params: &Params, a: &GpuLoss, out: &GpuOutputs, loss_weight: V) -> Result<()> {
    check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    if out.loss == 0 {
        return Err(RllError::new(ErrorKind::NullPointer, "loss is NULL"));
    }
    Ok(())
}

fn check_weights(params: &Params, weights: usize) -> Result<()> {
    validate::weighted_semantics(params)?;
    if weights == 0 {
        return Err(RllError::new(ErrorKind::NullPointer, "weights is NULL"));
    }
    Ok(())
}

/// The stream-ordered calls' shared body, after their checks: the call's device and stream, the layout in `out`'s
/// workspace, the pipeline.
///
/// # Safety
/// As [`compute_gpu_async`].
unsafe fn enqueue<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    lists: Lists,
    weights: usize,
    loss_weight: T,
    out: &GpuOutputs,
) -> Result<()> {
    let call = Call::new(a.device, a.stream)?;
    let size = Size {
        m: lists.m,
        ..Size::batch(a.n, a.d)
    };
    let w = Scratch::<T>::in_workspace(out.workspace, out.workspace_bytes, size)?;
    run_async::<T>(&call, params, a, lists, weights, loss_weight, &w, out)
}

/// The host-synchronous calls' shared body, after their checks: [`enqueue`]'s pipeline on a workspace allocated
/// here, then [`synchronously`]'s read-back and wait.
fn blocking<T: GpuReal>(params: &Params, a: &GpuLoss, lists: Lists, weights: usize, loss_weight: T) -> Result<T> {
    let call = Call::new(a.device, a.stream)?;
    let size = Size {
        m: lists.m,
        ..Size::batch(a.n, a.d)
    };
    synchronously::<T>(&call, Scratch::<T>::bytes(size), a.d, |out| {
        let w = Scratch::<T>::in_workspace(out.workspace, out.workspace_bytes, size)?;
        run_async::<T>(&call, params, a, lists, weights, loss_weight, &w, out)?;
        Ok(*a)
    })
}

/// Distances → rows → gradient, enqueued on the call's stream over the scratch `w`, for the ranked lists `lists`.
/// `weights`: PAPER's per-query weights (device address) or 0 for the mean.
#[allow(clippy::too_many_arguments)]
fn run_async<T: GpuReal>(
    call: &Call,
    params: &Params,
    a: &GpuLoss,
    lists: Lists,
    weights: usize,
    loss_weight: T,
    w: &Scratch<T>,
    out: &GpuOutputs,
) -> Result<()> {
    distance::distances::<T>(call, a, w, out.status, lists)?;
    let stage = semantics::rows(call, params, a, w, weights, out.loss, lists)?;
    if a.grad != 0 || lists.ref_grad != 0 {
        gradient::gradient(call, a, w, &stage, loss_weight, lists)?;
    }
    Ok(())
}

/// Widen → the float32 pipeline → narrow; returns the float32 pipeline's arguments.
fn half_pipeline<H: GpuHalf>(
    call: &Call,
    params: &Params,
    a: &GpuLoss,
    loss_weight: f32,
    w: &Scratch<f32>,
    out: &GpuOutputs,
) -> Result<GpuLoss> {
    let wide = w.wide.as_ref().ok_or_else(|| {
        RllError::new(
            ErrorKind::Internal,
            "internal error: a half call without its float32 copies",
        )
    })?;
    let args = convert::widen::<H>(call, a, wide)?;
    run_async::<f32>(call, params, &args, Lists::batch(a.n), 0, loss_weight, w, out)?;
    if a.grad != 0 {
        convert::narrow_grad::<H>(call, wide, a.grad, a.n * a.d)?;
    }
    Ok(args)
}

/// Runs `enqueue` (an asynchronous pipeline of loss type V over a workspace of `bytes`, returning the pipeline's
/// own arguments) on a workspace allocated here, then reads the status and the value back in one copy and waits
/// for the stream: the value, or the error naming the first non-finite input (read from the pipeline's x or labels).
fn synchronously<V: GpuReal>(
    call: &Call,
    bytes: usize,
    d: usize,
    enqueue: impl FnOnce(&GpuOutputs) -> Result<GpuLoss>,
) -> Result<V> {
    use cudarc::driver::DevicePtr;
    let ws = call.workspace(ALIGN.saturating_add(bytes))?;
    let base = ws.device_ptr(&call.stream).0 as usize;
    // The status (i64) and the value (V) side by side at the allocation's start, the workspace after them.
    let out = GpuOutputs {
        status: base,
        loss: base + std::mem::size_of::<i64>(),
        workspace: base + ALIGN,
        workspace_bytes: bytes,
    };
    let args = enqueue(&out)?;
    let mut back = [0u8; 16];
    // SAFETY: 16 bytes at the start of the allocation above (status and value), read into host memory that lives
    // until the stream is synchronised just below.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut back, base as u64, call.stream.cu_stream()) }
        .map_err(dev_err)?;
    call.stream.synchronize().map_err(dev_err)?;
    let status = i64::from_ne_bytes(back[..8].try_into().unwrap_or_default());
    if status >= 0 {
        let k = status as usize;
        let nd = args.n * args.d;
        return Err(if k < nd {
            validate::non_finite_x(k, d, value_at::<V>(call, args.x, k)?)
        } else {
            validate::non_finite_label(k - nd, value_at::<V>(call, args.labels, k - nd)?)
        });
    }
    // SAFETY: bytes 8.. hold one V as the finish kernel wrote it (V is 4 or 8 bytes of plain data).
    Ok(unsafe { std::ptr::read_unaligned(back[8..].as_ptr() as *const V) })
}

/// Element `k` of the device array of V at `ptr`, for an error message (the call's stream is idle here).
fn value_at<V: GpuReal>(call: &Call, ptr: usize, k: usize) -> Result<V> {
    let mut v = [V::zero()];
    let at = (ptr + k * std::mem::size_of::<V>()) as u64;
    // SAFETY: k indexes the array the non-finite search read (n·d features or n labels), which the host keeps
    // alive for the call; `v` is one V of host memory, and the copy is complete when the stream synchronises.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut v, at, call.stream.cu_stream()) }.map_err(dev_err)?;
    call.stream.synchronize().map_err(dev_err)?;
    Ok(v[0])
}

/// y_i = x_i / ‖x_i‖ and norms_i = ‖x_i‖ per row of device arrays (the Normalization layer's Forward_gpu),
/// ordered on `a.stream` (nothing allocated, read back or waited for: the next work on the stream sees y).
///
/// # Safety
/// The addresses in `a` are device memory of `a.device` holding the n·d (`x`, `y`, `dy`, `dx`) and n (`norms`)
/// values this direction reads and writes, alive until the call returns; `a.stream` is 0 or a live stream there.
pub unsafe fn l2_forward_gpu<T: GpuReal>(a: &GpuL2) -> Result<()> {
    validate::features(a.d)?;
    validate::device_dims(a.n, a.d)?;
    if a.n == 0 {
        return Ok(()); // an empty batch: nothing to normalise (as on the CPU)
    }
    if a.x == 0 || a.y == 0 || a.norms == 0 {
        return Err(RllError::new(ErrorKind::NullPointer, "x, y or norms is NULL"));
    }
    let call = Call::new(a.device, a.stream)?;
    let (ni, di) = (a.n as i64, a.d as i64);
    launch::<T>(
        &call,
        &table::L2_FORWARD,
        Shape::new(a.n, a.d),
        args![
            x = DevAddr(a.x),
            n = ni,
            d = di,
            y = DevAddr(a.y),
            norms = DevAddr(a.norms)
        ],
    )
}

/// dx = (dy − (y·dy) y)/‖x‖ per row of device arrays (the Normalization layer's Backward_gpu), ordered on
/// `a.stream` as [`l2_forward_gpu`].
///
/// # Safety
/// The addresses in `a` are device memory of `a.device` holding the n·d (`x`, `y`, `dy`, `dx`) and n (`norms`)
/// values this direction reads and writes, alive until the call returns; `a.stream` is 0 or a live stream there.
pub unsafe fn l2_backward_gpu<T: GpuReal>(a: &GpuL2) -> Result<()> {
    validate::features(a.d)?;
    validate::device_dims(a.n, a.d)?;
    if a.n == 0 {
        return Ok(());
    }
    if a.y == 0 || a.dy == 0 || a.norms == 0 || a.dx == 0 {
        return Err(RllError::new(ErrorKind::NullPointer, "y, dy, norms or dx is NULL"));
    }
    let call = Call::new(a.device, a.stream)?;
    let (ni, di) = (a.n as i64, a.d as i64);
    launch::<T>(
        &call,
        &table::L2_BACKWARD,
        Shape::new(a.n, a.d),
        args![
            y = DevAddr(a.y),
            dy = DevAddr(a.dy),
            norms = DevAddr(a.norms),
            n = ni,
            d = di,
            dx = DevAddr(a.dx)
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a driver the call fails with a Device error, never a panic; with one, it computes.
    #[test]
    fn missing_driver_is_an_error_and_a_present_one_works() {
        let x = [0.0f32, 0.0, 1.0, 0.0];
        // SAFETY: only asks the dynamic loader.
        let present = unsafe { cudarc::driver::sys::is_culib_present() };
        let args = GpuLoss {
            x: 1,
            labels: 1,
            n: 2,
            d: 2,
            grad: 0,
            stats: 0,
            stream: 0,
            device: 0,
        };
        if !present {
            // SAFETY: fails before any device access (no driver).
            let e = unsafe { compute_gpu::<f32>(&Params::default(), &args, 1.0) }.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Device);
            assert!(e.message.contains("no CUDA driver"), "{e}");
        } else {
            let ctx = cudarc::driver::CudaContext::new(0).unwrap();
            let s = ctx.default_stream();
            let xd = s.clone_htod(&x).unwrap();
            let yd = s.clone_htod(&[0.0f32, 1.0]).unwrap();
            use cudarc::driver::DevicePtr;
            let args = GpuLoss {
                x: xd.device_ptr(&s).0 as usize,
                labels: yd.device_ptr(&s).0 as usize,
                ..args
            };
            // SAFETY: x and labels are the 4 and 2 values uploaded above; no gradient, no stats.
            let loss = unsafe { compute_gpu::<f32>(&Params::default(), &args, 1.0) }.unwrap();
            assert!((loss - 0.2).abs() < 1e-6, "{loss}");
        }
    }
}
