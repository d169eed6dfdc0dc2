//! The device entry points that every host shares (the C ABI and the cxx bridge): one argument struct, and the
//! CUDA backend (`crate::cuda`) when the crate is built with the `cuda` feature, or, without it, one error.

use crate::error::Result;
use crate::params::Params;
use crate::real::Real;

/// Raw device pointers and the stream of a host (0 = the legacy default stream, as Caffe uses).
#[derive(Debug, Clone, Copy)]
pub struct GpuArgs {
    /// n×d features on the device.
    pub x: u64,
    /// n labels on the device.
    pub labels: u64,
    pub n: usize,
    pub d: usize,
    /// n·d values receiving loss_weight · ∂E/∂x, or 0.
    pub grad: u64,
    /// n·4 statistics (L_P, L_N, |P*|, |N*|), or 0.
    pub stats: u64,
    /// A cudaStream_t of `device`, or 0.
    pub stream: u64,
    pub device: i32,
}

/// The device entries of one element type (f32, f64).
pub trait DeviceReal: Real {
    /// The loss of `a`'s batch under `p`, as [`crate::compute`], on device memory.
    fn loss_gpu(p: &Params, a: GpuArgs, loss_weight: Self) -> Result<Self>;
    /// y_i = x_i / ‖x_i‖ and norms_i = ‖x_i‖ on device memory (the Normalization layer's Forward_gpu).
    #[allow(clippy::too_many_arguments)]
    fn l2_forward_gpu(x: u64, n: usize, d: usize, y: u64, norms: u64, stream: u64, device: i32) -> Result<()>;
    /// dx = (dy − (dy·y) y) / ‖x‖ on device memory (its Backward_gpu).
    #[allow(clippy::too_many_arguments)]
    fn l2_backward_gpu(
        y: u64,
        dy: u64,
        norms: u64,
        n: usize,
        d: usize,
        dx: u64,
        stream: u64,
        device: i32,
    ) -> Result<()>;
}

macro_rules! device_real {
    ($t:ty) => {
        impl DeviceReal for $t {
            fn loss_gpu(p: &Params, a: GpuArgs, loss_weight: $t) -> Result<$t> {
                backend::loss::<$t>(p, a, loss_weight)
            }
            fn l2_forward_gpu(x: u64, n: usize, d: usize, y: u64, norms: u64, stream: u64, device: i32) -> Result<()> {
                backend::l2_forward::<$t>(x, n, d, y, norms, stream, device)
            }
            fn l2_backward_gpu(
                y: u64,
                dy: u64,
                norms: u64,
                n: usize,
                d: usize,
                dx: u64,
                stream: u64,
                device: i32,
            ) -> Result<()> {
                backend::l2_backward::<$t>(y, dy, norms, n, d, dx, stream, device)
            }
        }
    };
}
device_real!(f32);
device_real!(f64);

#[cfg(feature = "cuda")]
mod backend {
    pub use crate::cuda::{compute_gpu as loss, l2_backward_gpu as l2_backward, l2_forward_gpu as l2_forward};
}

/// The one stand-in of a build without CUDA: every device call returns the same error.
#[cfg(not(feature = "cuda"))]
#[allow(clippy::extra_unused_type_parameters)] // the CUDA backend's signatures, element type included
mod backend {
    use super::GpuArgs;
    use crate::error::{ErrorKind, Result, RllError};
    use crate::params::Params;

    fn unavailable<R>() -> Result<R> {
        Err(RllError::new(
            ErrorKind::Device,
            "this ranked_list_loss was built without the cuda feature",
        ))
    }
    pub fn loss<T>(_: &Params, _: GpuArgs, _: T) -> Result<T> {
        unavailable()
    }
    pub fn l2_forward<T>(_: u64, _: usize, _: usize, _: u64, _: u64, _: u64, _: i32) -> Result<()> {
        unavailable()
    }
    #[allow(clippy::too_many_arguments)]
    pub fn l2_backward<T>(_: u64, _: u64, _: u64, _: usize, _: usize, _: u64, _: u64, _: i32) -> Result<()> {
        unavailable()
    }
}
