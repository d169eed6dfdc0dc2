//! The cxx bridge used by the C++ Caffe layers: slices in, `rust::Error` exceptions out, no panic across.
//!
//! Parameters arrive as the layer's serialized `LayerParameter` (`layer_param().SerializeAsString()`), decoded
//! with `RllLayerFields` from `proto/ranked_list_loss.proto`.

use crate::engine::{compute, Batch};
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
