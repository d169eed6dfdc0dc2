//! The cxx bridge used by the C++ Caffe layers: slices in, `rust::Error` exceptions out, no panic across.
//!
//! Parameters arrive as the layer's serialized `LayerParameter` (`layer_param().SerializeAsString()`), decoded
//! with `RllLayerFields` from `proto/ranked_list_loss.proto`.

use crate::cpu::{compute, Batch};
use crate::device::{DeviceReal, GpuArgs};
use crate::error::Result;
use crate::normalize::{l2_backward, l2_forward};
use crate::params::Params;
use crate::real::Real;

#[cxx::bridge(namespace = "rll")]
mod ffi {
    extern "Rust" {
        /// Checks a serialized LayerParameter of a RankedListLoss or DistanceWeightedValidPairLossV12 layer.
        fn check_layer_param(layer_param: &[u8]) -> Result<()>;
        /// The loss of one batch; `grad` (n·d, or empty for none) receives loss_weight · ∂E/∂x, `stats` (n·4, or
        /// empty) receives L_P(i), L_N(i), |P*_i|, |N*_i|.
        #[allow(clippy::too_many_arguments)]
        fn loss_f32(
            layer_param: &[u8],
            x: &[f32],
            labels: &[f32],
            n: usize,
            d: usize,
            loss_weight: f32,
            grad: &mut [f32],
            stats: &mut [f32],
        ) -> Result<f32>;
        #[allow(clippy::too_many_arguments)]
        fn loss_f64(
            layer_param: &[u8],
            x: &[f64],
            labels: &[f64],
            n: usize,
            d: usize,
            loss_weight: f64,
            grad: &mut [f64],
            stats: &mut [f64],
        ) -> Result<f64>;
        /// `loss_f32` on device memory: the pointers (as integers) are the layer's gpu_data()/mutable_gpu_diff();
        /// `grad` and `stats` may be 0; `stream` 0 is the legacy default stream. Fails where built without CUDA.
        #[allow(clippy::too_many_arguments)]
        fn loss_gpu_f32(
            layer_param: &[u8],
            x: usize,
            labels: usize,
            n: usize,
            d: usize,
            loss_weight: f32,
            grad: usize,
            stats: usize,
            stream: usize,
            device: i32,
        ) -> Result<f32>;
        #[allow(clippy::too_many_arguments)]
        fn loss_gpu_f64(
            layer_param: &[u8],
            x: usize,
            labels: usize,
            n: usize,
            d: usize,
            loss_weight: f64,
            grad: usize,
            stats: usize,
            stream: usize,
            device: i32,
        ) -> Result<f64>;
        /// L2 normalisation of device rows (the Normalization layer on the GPU).
        #[allow(clippy::too_many_arguments)]
        fn l2_normalize_gpu(
            is_double: bool,
            x: usize,
            n: usize,
            d: usize,
            y: usize,
            norms: usize,
            stream: usize,
            device: i32,
        ) -> Result<()>;
        #[allow(clippy::too_many_arguments)]
        fn l2_normalize_backward_gpu(
            is_double: bool,
            y: usize,
            dy: usize,
            norms: usize,
            n: usize,
            d: usize,
            dx: usize,
            stream: usize,
            device: i32,
        ) -> Result<()>;
        /// y = x/‖x‖ per row; norms receives ‖x_i‖.
        fn l2_normalize_f32(x: &[f32], n: usize, d: usize, y: &mut [f32], norms: &mut [f32]) -> Result<()>;
        fn l2_normalize_f64(x: &[f64], n: usize, d: usize, y: &mut [f64], norms: &mut [f64]) -> Result<()>;
        /// dx = (dy − (y·dy) y)/‖x‖ per row.
        fn l2_normalize_backward_f32(
            y: &[f32],
            dy: &[f32],
            norms: &[f32],
            n: usize,
            d: usize,
            dx: &mut [f32],
        ) -> Result<()>;
        fn l2_normalize_backward_f64(
            y: &[f64],
            dy: &[f64],
            norms: &[f64],
            n: usize,
            d: usize,
            dx: &mut [f64],
        ) -> Result<()>;
    }
}

fn check_layer_param(layer_param: &[u8]) -> Result<()> {
    crate::catch(|| Params::decode_layer(layer_param).map(|_| ()))
}

#[allow(clippy::too_many_arguments)]
fn loss_any<T: Real>(
    layer_param: &[u8],
    x: &[T],
    labels: &[T],
    n: usize,
    d: usize,
    loss_weight: T,
    grad: &mut [T],
    stats: &mut [T],
) -> Result<T> {
    crate::catch(|| {
        let params = Params::decode_layer(layer_param)?;
        let grad = (!grad.is_empty()).then_some(grad);
        let stats = (!stats.is_empty()).then_some(stats);
        compute(&params, Batch { x, labels, n, d }, loss_weight, grad, stats)
    })
}

#[allow(clippy::too_many_arguments)]
fn loss_f32(
    layer_param: &[u8],
    x: &[f32],
    labels: &[f32],
    n: usize,
    d: usize,
    loss_weight: f32,
    grad: &mut [f32],
    stats: &mut [f32],
) -> Result<f32> {
    loss_any(layer_param, x, labels, n, d, loss_weight, grad, stats)
}

#[allow(clippy::too_many_arguments)]
fn loss_f64(
    layer_param: &[u8],
    x: &[f64],
    labels: &[f64],
    n: usize,
    d: usize,
    loss_weight: f64,
    grad: &mut [f64],
    stats: &mut [f64],
) -> Result<f64> {
    loss_any(layer_param, x, labels, n, d, loss_weight, grad, stats)
}

fn l2_normalize_f32(x: &[f32], n: usize, d: usize, y: &mut [f32], norms: &mut [f32]) -> Result<()> {
    crate::catch(|| l2_forward(x, n, d, y, norms))
}

fn l2_normalize_f64(x: &[f64], n: usize, d: usize, y: &mut [f64], norms: &mut [f64]) -> Result<()> {
    crate::catch(|| l2_forward(x, n, d, y, norms))
}

fn l2_normalize_backward_f32(y: &[f32], dy: &[f32], norms: &[f32], n: usize, d: usize, dx: &mut [f32]) -> Result<()> {
    crate::catch(|| l2_backward(y, dy, norms, n, d, dx))
}

fn l2_normalize_backward_f64(y: &[f64], dy: &[f64], norms: &[f64], n: usize, d: usize, dx: &mut [f64]) -> Result<()> {
    crate::catch(|| l2_backward(y, dy, norms, n, d, dx))
}

/// The layers' device call: the serialized LayerParameter decoded, the pointers into [`GpuArgs`].
#[allow(clippy::too_many_arguments)]
fn loss_gpu<T: DeviceReal>(
    layer_param: &[u8],
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    loss_weight: T,
    grad: usize,
    stats: usize,
    stream: usize,
    device: i32,
) -> Result<T> {
    crate::catch(|| {
        let params = Params::decode_layer(layer_param)?;
        let args = GpuArgs {
            x: x as u64,
            labels: labels as u64,
            n,
            d,
            grad: grad as u64,
            stats: stats as u64,
            stream: stream as u64,
            device,
        };
        T::loss_gpu(&params, args, loss_weight)
    })
}

#[allow(clippy::too_many_arguments)]
fn loss_gpu_f32(
    layer_param: &[u8],
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    loss_weight: f32,
    grad: usize,
    stats: usize,
    stream: usize,
    device: i32,
) -> Result<f32> {
    loss_gpu(layer_param, x, labels, n, d, loss_weight, grad, stats, stream, device)
}

#[allow(clippy::too_many_arguments)]
fn loss_gpu_f64(
    layer_param: &[u8],
    x: usize,
    labels: usize,
    n: usize,
    d: usize,
    loss_weight: f64,
    grad: usize,
    stats: usize,
    stream: usize,
    device: i32,
) -> Result<f64> {
    loss_gpu(layer_param, x, labels, n, d, loss_weight, grad, stats, stream, device)
}

#[allow(clippy::too_many_arguments)]
fn l2_normalize_gpu(
    is_double: bool,
    x: usize,
    n: usize,
    d: usize,
    y: usize,
    norms: usize,
    stream: usize,
    device: i32,
) -> Result<()> {
    let (x, y, norms, stream) = (x as u64, y as u64, norms as u64, stream as u64);
    crate::catch(|| {
        if is_double {
            f64::l2_forward_gpu(x, n, d, y, norms, stream, device)
        } else {
            f32::l2_forward_gpu(x, n, d, y, norms, stream, device)
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn l2_normalize_backward_gpu(
    is_double: bool,
    y: usize,
    dy: usize,
    norms: usize,
    n: usize,
    d: usize,
    dx: usize,
    stream: usize,
    device: i32,
) -> Result<()> {
    let (y, dy, norms, dx, stream) = (y as u64, dy as u64, norms as u64, dx as u64, stream as u64);
    crate::catch(|| {
        if is_double {
            f64::l2_backward_gpu(y, dy, norms, n, d, dx, stream, device)
        } else {
            f32::l2_backward_gpu(y, dy, norms, n, d, dx, stream, device)
        }
    })
}
