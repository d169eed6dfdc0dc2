//! The CUDA path: the kernels of `cuda/` on the host's device memory (Caffe's `gpu_data()`), launched through
//! cudarc on the device's primary context and the host's stream. Nothing here frees or owns host memory;
//! temporaries live for one call. Every failure is an `ErrorKind::Device` error, never a panic.
//!
//! The sequence mirrors the CPU backend: centring and power-of-two scaling (bit-identical to the CPU's), the
//! distance matrix (tiled Gram product), one block per query for the sets, weights and coefficients, then
//! ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product that skips the all-zero tiles of A.

//! Stages, each in its module as in the CPU backend: [`distance`], [`semantics`] (the row stage), [`gradient`];
//! [`call`] holds the call's device and stream; [`table`] is the one table of the kernels (parameters, launch
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

use crate::device_args::{GpuL2, GpuLoss};
use crate::error::{ErrorKind, Result, RllError};
use crate::kernel_consts::{FLAG_TILE_COLS, FLAG_TILE_ROWS};
use crate::params::Params;
use crate::real::{ldexp, saturate, Real};
use crate::validate;
use call::{dev_err, Call};
use cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use launch::{args, launch, DevAddr, KernelArg, Shape};

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

/// The loss of a batch in device memory, as [`crate::compute`] on the host: `loss_gpu` of the C ABI and of the
/// cxx bridge.
///
/// # Safety
/// The addresses in `a` are device memory of `a.device` (or 0 where the field allows none), each holding the
/// values its field documents (src/device_args.rs: n·d features, n labels, n·d gradient, n·4 statistics), alive and not
/// written by anyone else until the call returns; `a.stream` is 0 or a live stream of that device.
pub unsafe fn compute_gpu<T: GpuReal>(params: &Params, a: &GpuLoss, loss_weight: T) -> Result<T> {
    let nd = check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    let call = Call::new(a.device, a.stream)?;
    run::<T>(&call, params, a, 0, loss_weight, nd)
}

/// [`compute_gpu`] of E = Σ_i u_i [L_P(i) + λ L_N(i)] for per-query weights u at `weights` (n values of T in
/// device memory of `a.device`; PAPER only), as [`crate::compute_weighted`] on the host. The weights are not read
/// back: a non-finite weight gives a non-finite value and gradient.
///
/// # Safety
/// As [`compute_gpu`], and `weights` holds n values of T on that device, alive and unchanged until the call returns.
pub unsafe fn compute_gpu_weighted<T: GpuReal>(
    params: &Params,
    a: &GpuLoss,
    weights: usize,
    loss_weight: T,
) -> Result<T> {
    let nd = check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    validate::weighted_semantics(params)?;
    if weights == 0 {
        return Err(RllError::new(ErrorKind::NullPointer, "weights is NULL"));
    }
    let call = Call::new(a.device, a.stream)?;
    run::<T>(&call, params, a, weights, loss_weight, nd)
}

/// [`compute_gpu`] for half-precision features (`a.x`, `a.grad`: n·d 16-bit patterns of `H`), as
/// [`crate::compute_half`] on the host: widened exactly into float32 on the device, the float32 pipeline, the
/// gradient narrowed (nearest even, saturated). `labels` says what `a.labels` holds.
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
    let nd = check_args(params, a)?;
    validate::loss_weight(loss_weight)?;
    let call = Call::new(a.device, a.stream)?;
    let wide = convert::widen::<H>(&call, a, labels, nd)?;
    let value = run::<f32>(&call, params, &wide.args, 0, loss_weight, nd)?;
    if a.grad != 0 {
        convert::narrow_grad::<H>(&call, &wide, a.grad, nd)?;
        call.stream.synchronize().map_err(dev_err)?;
    }
    Ok(value)
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

/// Distances → rows → gradient, on the call's stream; the value once the stream is done. `weights`: PAPER's
/// per-query weights (device address) or 0 for the mean.
fn run<T: GpuReal>(call: &Call, params: &Params, a: &GpuLoss, weights: usize, loss_weight: T, nd: usize) -> Result<T> {
    let dm = distance::distances::<T>(call, a, nd)?;
    let n = a.n;
    let flags = call.zeros::<u8>(n.div_ceil(FLAG_TILE_ROWS) * n.div_ceil(FLAG_TILE_COLS))?;
    let r = semantics::rows(call, params, a, &dm, &flags, weights)?;
    if a.grad != 0 {
        let factor = ldexp(loss_weight, r.grad_scale);
        gradient::gradient(call, a, &dm, &flags, r.symmetric, factor)?;
    }
    call.stream.synchronize().map_err(dev_err)?;
    Ok(saturate(r.value))
}

/// y_i = x_i / ‖x_i‖ and norms_i = ‖x_i‖ per row of device arrays (the Normalization layer's Forward_gpu).
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
        Shape { n: a.n, d: a.d },
        args![
            x = DevAddr(a.x),
            n = ni,
            d = di,
            y = DevAddr(a.y),
            norms = DevAddr(a.norms)
        ],
    )?;
    call.stream.synchronize().map_err(dev_err)
}

/// dx = (dy − (y·dy) y)/‖x‖ per row of device arrays (the Normalization layer's Backward_gpu).
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
        Shape { n: a.n, d: a.d },
        args![
            y = DevAddr(a.y),
            dy = DevAddr(a.dy),
            norms = DevAddr(a.norms),
            n = ni,
            d = di,
            dx = DevAddr(a.dx)
        ],
    )?;
    call.stream.synchronize().map_err(dev_err)
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
