//! The CUDA path: the kernels of `cuda/` on the host's device memory (Caffe's `gpu_data()`), launched through
//! cudarc on the device's primary context and the host's stream. Nothing here frees or owns host memory;
//! temporaries live for one call. Every failure is an `ErrorKind::Device` error, never a panic.
//!
//! The sequence mirrors the CPU backend: centring and power-of-two scaling (bit-identical to the CPU's), the
//! distance matrix (tiled Gram product), one block per query for the sets, weights and coefficients, then
//! ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product that skips the all-zero tiles of A.

//! Stages, each in its module like the CPU backend's: [`distances`], [`semantics`] (the row stage), [`gradient`];
//! [`call`] holds the call's device, stream and launch macro; [`kernels`] loads the PTX.

mod call;
mod distances;
mod gradient;
mod kernels;
mod semantics;

use crate::error::{ErrorKind, Result, RllError};
use crate::params::Params;
use crate::real::{ldexp, saturate, Real};
use crate::validate;
use call::{cfg, dev_err, launch, Call, THREADS};
use cudarc::driver::{DeviceRepr, PushKernelArg, ValidAsZeroBits};

/// The element types the kernels are instantiated for.
pub trait GpuReal: Real + DeviceRepr + ValidAsZeroBits {
    /// The kernels' name suffix.
    const SUFFIX: &'static str;
}
impl GpuReal for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuReal for f64 {
    const SUFFIX: &'static str = "f64";
}

pub use crate::device::GpuArgs;

/// The loss of a batch in device memory: `loss_gpu` of the C ABI and of the cxx bridge.
pub fn compute_gpu<T: GpuReal>(params: &Params, a: GpuArgs, loss_weight: T) -> Result<T> {
    crate::catch(|| {
        let nd = validate::dims(params, a.n, a.d)?;
        // The kernels index rows and columns with int.
        if a.n > i32::MAX as usize / 2 || a.d > i32::MAX as usize {
            return Err(RllError::size(format!(
                "n = {}, d = {}: too large for the GPU kernels",
                a.n, a.d
            )));
        }
        for (ptr, name) in [(a.x, "x"), (a.labels, "labels")] {
            if ptr == 0 {
                return Err(RllError::new(ErrorKind::NullPointer, format!("{name} is NULL")));
            }
        }
        validate::loss_weight(loss_weight)?;
        let call = Call::new(a.device, a.stream)?;
        run::<T>(&call, params, &a, loss_weight, nd)
    })
}

/// Distances → rows → gradient, on the call's stream; the value once the stream is done.
fn run<T: GpuReal>(call: &Call, params: &Params, a: &GpuArgs, loss_weight: T, nd: usize) -> Result<T> {
    let dm = distances::distances::<T>(call, a, nd)?;
    let n = a.n;
    let flags = call.zeros::<u8>((n.div_ceil(64)) * n.div_ceil(16))?;
    let r = semantics::rows(call, params, a, &dm, &flags)?;
    if a.grad != 0 {
        let factor = ldexp(loss_weight, r.grad_scale);
        gradient::gradient(call, a, &dm, &flags, r.symmetric, factor)?;
    }
    call.stream.synchronize().map_err(dev_err)?;
    Ok(saturate(r.value))
}

/// L2 normalisation of the rows of a device array (the Normalization layer's Forward_gpu).
#[allow(clippy::too_many_arguments)]
pub fn l2_forward_gpu<T: GpuReal>(
    x: u64,
    n: usize,
    d: usize,
    y: u64,
    norms: u64,
    stream: u64,
    device: i32,
) -> Result<()> {
    crate::catch(|| {
        if x == 0 || y == 0 || norms == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "x, y or norms is NULL"));
        }
        let call = Call::new(device, stream)?;
        let (ni, di) = (n as i64, d as i64);
        launch!(
            call,
            Call::name::<T>("l2_forward"),
            cfg((n as u32, 1, 1), (THREADS, 1, 1)),
            &x,
            &ni,
            &di,
            &y,
            &norms
        );
        call.stream.synchronize().map_err(dev_err)
    })
}

/// dx = (dy − (y·dy) y)/‖x‖ per row of device arrays (the Normalization layer's Backward_gpu).
#[allow(clippy::too_many_arguments)]
pub fn l2_backward_gpu<T: GpuReal>(
    y: u64,
    dy: u64,
    norms: u64,
    n: usize,
    d: usize,
    dx: u64,
    stream: u64,
    device: i32,
) -> Result<()> {
    crate::catch(|| {
        if y == 0 || dy == 0 || norms == 0 || dx == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "y, dy, norms or dx is NULL"));
        }
        let call = Call::new(device, stream)?;
        let (ni, di) = (n as i64, d as i64);
        launch!(
            call,
            Call::name::<T>("l2_backward"),
            cfg((n as u32, 1, 1), (THREADS, 1, 1)),
            &y,
            &dy,
            &norms,
            &ni,
            &di,
            &dx
        );
        call.stream.synchronize().map_err(dev_err)
    })
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
        let args = GpuArgs {
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
            let e = compute_gpu::<f32>(&Params::default(), args, 1.0).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Device);
            assert!(e.message.contains("no CUDA driver"), "{e}");
        } else {
            let ctx = cudarc::driver::CudaContext::new(0).unwrap();
            let s = ctx.default_stream();
            let xd = s.clone_htod(&x).unwrap();
            let yd = s.clone_htod(&[0.0f32, 1.0]).unwrap();
            use cudarc::driver::DevicePtr;
            let args = GpuArgs {
                x: xd.device_ptr(&s).0,
                labels: yd.device_ptr(&s).0,
                ..args
            };
            let loss = compute_gpu::<f32>(&Params::default(), args, 1.0).unwrap();
            assert!((loss - 0.2).abs() < 1e-6, "{loss}");
        }
    }
}
