//! The cxx bridge used by the C++ Caffe layers: slices in, `rust::Error` exceptions out, no panic across.
//!
//! Parameters arrive as the layer's serialized `LayerParameter` (`layer_param().SerializeAsString()`), decoded
//! with `RllLayerFields` from `proto/ranked_list_loss.proto`.

use crate::batch::{Batch, GpuL2, GpuLoss};
use crate::cpu::compute;
use crate::cuda::{self, GpuReal};
use crate::error::Result;
use crate::normalize::{l2_backward, l2_forward};
use crate::params::Params;
use crate::real::Real;

#[cxx::bridge(namespace = "rll")]
mod ffi {
    extern "C++" {
        // The device calls' argument structs, shared with the backends (src/batch.rs).
        include!("ranked-list-loss/src/batch.rs.h");
        type GpuLoss = crate::batch::GpuLoss;
        type GpuL2 = crate::batch::GpuL2;
    }

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
        /// `loss_f32` on device memory (a GPU build of Caffe): the layer's gpu_data()/mutable_gpu_diff() in
        /// `args`. Fails where the library was built without CUDA.
        fn loss_gpu_f32(layer_param: &[u8], args: &GpuLoss, loss_weight: f32) -> Result<f32>;
        fn loss_gpu_f64(layer_param: &[u8], args: &GpuLoss, loss_weight: f64) -> Result<f64>;
        /// L2 normalisation of device rows (the Normalization layer on the GPU), forward and backward.
        fn l2_normalize_gpu_f32(args: &GpuL2) -> Result<()>;
        fn l2_normalize_gpu_f64(args: &GpuL2) -> Result<()>;
        fn l2_normalize_backward_gpu_f32(args: &GpuL2) -> Result<()>;
        fn l2_normalize_backward_gpu_f64(args: &GpuL2) -> Result<()>;
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

/// The layers' device call: the serialized LayerParameter decoded, `args` passed on unchanged.
fn loss_gpu<T: GpuReal>(layer_param: &[u8], args: &GpuLoss, loss_weight: T) -> Result<T> {
    // SAFETY: the Caffe layer fills `args` with its blobs' device memory of the sizes it states (rll_bridge.hpp).
    crate::catch(|| unsafe { cuda::compute_gpu(&Params::decode_layer(layer_param)?, args, loss_weight) })
}

fn loss_gpu_f32(layer_param: &[u8], args: &GpuLoss, loss_weight: f32) -> Result<f32> {
    loss_gpu(layer_param, args, loss_weight)
}

fn loss_gpu_f64(layer_param: &[u8], args: &GpuLoss, loss_weight: f64) -> Result<f64> {
    loss_gpu(layer_param, args, loss_weight)
}

fn l2_normalize_gpu_f32(args: &GpuL2) -> Result<()> {
    // SAFETY: the Normalization layer fills `args` with its blobs' device memory (rll_bridge.hpp).
    crate::catch(|| unsafe { cuda::l2_forward_gpu::<f32>(args) })
}

fn l2_normalize_gpu_f64(args: &GpuL2) -> Result<()> {
    // SAFETY: the Normalization layer fills `args` with its blobs' device memory (rll_bridge.hpp).
    crate::catch(|| unsafe { cuda::l2_forward_gpu::<f64>(args) })
}

fn l2_normalize_backward_gpu_f32(args: &GpuL2) -> Result<()> {
    // SAFETY: the Normalization layer fills `args` with its blobs' device memory (rll_bridge.hpp).
    crate::catch(|| unsafe { cuda::l2_backward_gpu::<f32>(args) })
}

fn l2_normalize_backward_gpu_f64(args: &GpuL2) -> Result<()> {
    // SAFETY: the Normalization layer fills `args` with its blobs' device memory (rll_bridge.hpp).
    crate::catch(|| unsafe { cuda::l2_backward_gpu::<f64>(args) })
}
