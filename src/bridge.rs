//! The cxx bridge used by the C++ Caffe layers: slices in, `rust::Error` exceptions out, no panic across.
//!
//! Parameters arrive as the layer's serialized `LayerParameter` (`layer_param().SerializeAsString()`), decoded
//! with `RllLayerFields` from `proto/ranked_list_loss.proto`.

use crate::batch::Batch;
use crate::cpu::compute;
use crate::cpu::references::{compute_references, References};
use crate::cuda::{self, GpuReal};
use crate::device_args::{GpuL2, GpuLoss, GpuOutputs};
use crate::error::Result;
use crate::normalize::{l2_backward, l2_forward};
use crate::params::{pb, Params};
use crate::real::Real;

#[cxx::bridge(namespace = "rll")]
mod ffi {
    extern "C++" {
        // The device calls' argument structs, shared with the backends (src/device_args.rs).
        include!("ranked-list-loss/src/device_args.rs.h");
        type GpuLoss = crate::device_args::GpuLoss;
        type GpuOutputs = crate::device_args::GpuOutputs;
        type GpuL2 = crate::device_args::GpuL2;
    }

    /// The values the 2020 release's GR solver schedule acts on: τ (α for RankedListLoss and V2019), m, T_p, T_n.
    #[derive(Debug, Clone, Copy, PartialEq)]
    struct ScheduleValues {
        tau: f32,
        margin: f32,
        t_p: f32,
        t_n: f32,
    }

    extern "Rust" {
        /// Checks a serialized LayerParameter of a RankedListLoss or DistanceWeightedValidPairLossV12 layer.
        fn check_layer_param(layer_param: &[u8]) -> Result<()>;
        /// The layer's cross-batch memory size (`memory_size`; 0: none), checked against its semantics.
        fn memory_size(layer_param: &[u8]) -> Result<usize>;
        /// The loss of the n queries `x` ranked against the `n_ref` references (the layer's memory), each query's own
        /// copy at `own[i]` (−1: none); `grad` (n·d) receives loss_weight · ∂E/∂x.
        #[allow(clippy::too_many_arguments)]
        fn loss_references_f32(
            layer_param: &[u8],
            x: &[f32],
            labels: &[f32],
            n: usize,
            refs: &[f32],
            ref_labels: &[f32],
            n_ref: usize,
            d: usize,
            own: &[i64],
            grad: &mut [f32],
        ) -> Result<f32>;
        #[allow(clippy::too_many_arguments)]
        fn loss_references_f64(
            layer_param: &[u8],
            x: &[f64],
            labels: &[f64],
            n: usize,
            refs: &[f64],
            ref_labels: &[f64],
            n_ref: usize,
            d: usize,
            own: &[i64],
            grad: &mut [f64],
        ) -> Result<f64>;
        /// The schedule's values of a layer, as the engine reads them (τ = contrastive_loss_param_v2.margin when
        /// set, else negative_threshold, for DistanceWeightedValidPairLossV12; α for RankedListLoss).
        fn schedule_values(layer_param: &[u8]) -> Result<ScheduleValues>;
        /// A DistanceWeightedValidPairLossV12 LayerParameter holding only `values`, each in the field it is read
        /// from, for the layer to merge (`MergeFromString`) into its own.
        fn schedule_fields(layer_param: &[u8], values: &ScheduleValues) -> Result<Vec<u8>>;
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
        /// `loss_gpu_f32` stream-ordered: E into `out.loss` (device), the temporaries in the layer's workspace,
        /// `*out.status` −1 or the first non-finite input's index; nothing allocated, read back or waited for.
        fn loss_gpu_async_f32(layer_param: &[u8], args: &GpuLoss, loss_weight: f32, out: &GpuOutputs) -> Result<()>;
        fn loss_gpu_async_f64(layer_param: &[u8], args: &GpuLoss, loss_weight: f64, out: &GpuOutputs) -> Result<()>;
        /// `loss_gpu_async_f32` for the first `queries` rows of `args` ranked against the rest (the stacked batch
        /// and memory), `own` (device, `queries` i64) each query's copy among them.
        fn loss_gpu_references_async_f32(
            layer_param: &[u8],
            args: &GpuLoss,
            queries: usize,
            own: usize,
            out: &GpuOutputs,
        ) -> Result<()>;
        fn loss_gpu_references_async_f64(
            layer_param: &[u8],
            args: &GpuLoss,
            queries: usize,
            own: usize,
            out: &GpuOutputs,
        ) -> Result<()>;
        /// The workspace bytes of `loss_gpu_references_async_*`.
        fn gpu_references_workspace_bytes_f32(layer_param: &[u8], n: usize, queries: usize, d: usize) -> Result<usize>;
        fn gpu_references_workspace_bytes_f64(layer_param: &[u8], n: usize, queries: usize, d: usize) -> Result<usize>;
        /// The workspace bytes of `loss_gpu_async_*` for n rows of d values.
        fn gpu_workspace_bytes_f32(layer_param: &[u8], n: usize, d: usize) -> Result<usize>;
        fn gpu_workspace_bytes_f64(layer_param: &[u8], n: usize, d: usize) -> Result<usize>;
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
    crate::catch(|| {
        Params::decode_layer(layer_param)?;
        Params::layer_memory_size(layer_param).map(|_| ())
    })
}

fn memory_size(layer_param: &[u8]) -> Result<usize> {
    crate::catch(|| Params::layer_memory_size(layer_param))
}

#[allow(clippy::too_many_arguments)]
fn references_any<T: Real>(
    layer_param: &[u8],
    x: &[T],
    labels: &[T],
    n: usize,
    refs: &[T],
    ref_labels: &[T],
    n_ref: usize,
    d: usize,
    own: &[i64],
    grad: &mut [T],
) -> Result<T> {
    crate::catch(|| {
        let params = Params::decode_layer(layer_param)?;
        let queries = Batch { x, labels, n, d };
        let references = References {
            x: refs,
            labels: ref_labels,
            n: n_ref,
            own: Some(own),
        };
        compute_references(&params, queries, references, T::one(), Some(grad), None)
    })
}

#[allow(clippy::too_many_arguments)]
fn loss_references_f32(
    layer_param: &[u8],
    x: &[f32],
    labels: &[f32],
    n: usize,
    refs: &[f32],
    ref_labels: &[f32],
    n_ref: usize,
    d: usize,
    own: &[i64],
    grad: &mut [f32],
) -> Result<f32> {
    references_any(layer_param, x, labels, n, refs, ref_labels, n_ref, d, own, grad)
}

#[allow(clippy::too_many_arguments)]
fn loss_references_f64(
    layer_param: &[u8],
    x: &[f64],
    labels: &[f64],
    n: usize,
    refs: &[f64],
    ref_labels: &[f64],
    n_ref: usize,
    d: usize,
    own: &[i64],
    grad: &mut [f64],
) -> Result<f64> {
    references_any(layer_param, x, labels, n, refs, ref_labels, n_ref, d, own, grad)
}

/// The layers' stream-ordered device call for queries against the layer's memory.
fn loss_gpu_references_async<T: GpuReal>(
    layer_param: &[u8],
    args: &GpuLoss,
    queries: usize,
    own: usize,
    out: &GpuOutputs,
) -> Result<()> {
    // SAFETY: the Caffe layer fills `args`, `own` and `out` with its blobs' device memory of the sizes it states
    // (rll_bridge.hpp), alive across the layer's Forward, whose later work and reads are on the same stream.
    crate::catch(|| unsafe {
        cuda::compute_gpu_references_async(
            &Params::decode_layer(layer_param)?,
            args,
            queries,
            own,
            0,
            T::one(),
            out,
        )
    })
}

fn loss_gpu_references_async_f32(
    layer_param: &[u8],
    args: &GpuLoss,
    queries: usize,
    own: usize,
    out: &GpuOutputs,
) -> Result<()> {
    loss_gpu_references_async::<f32>(layer_param, args, queries, own, out)
}

fn loss_gpu_references_async_f64(
    layer_param: &[u8],
    args: &GpuLoss,
    queries: usize,
    own: usize,
    out: &GpuOutputs,
) -> Result<()> {
    loss_gpu_references_async::<f64>(layer_param, args, queries, own, out)
}

fn gpu_references_workspace_bytes_f32(layer_param: &[u8], n: usize, queries: usize, d: usize) -> Result<usize> {
    crate::catch(|| cuda::gpu_references_workspace_bytes::<f32>(&Params::decode_layer(layer_param)?, n, d, queries))
}

fn gpu_references_workspace_bytes_f64(layer_param: &[u8], n: usize, queries: usize, d: usize) -> Result<usize> {
    crate::catch(|| cuda::gpu_references_workspace_bytes::<f64>(&Params::decode_layer(layer_param)?, n, d, queries))
}

fn schedule_values(layer_param: &[u8]) -> Result<ffi::ScheduleValues> {
    crate::catch(|| {
        let p = Params::decode_layer(layer_param)?;
        Ok(ffi::ScheduleValues {
            tau: p.alpha,
            margin: p.margin,
            t_p: p.t_p,
            t_n: p.t_n,
        })
    })
}

fn schedule_fields(layer_param: &[u8], values: &ffi::ScheduleValues) -> Result<Vec<u8>> {
    crate::catch(|| {
        let c = Params::original_fields(layer_param)?;
        let tau_in_margin = c.margin.is_some();
        let fields = pb::RllLayerFields {
            contrastive_loss_param_v2: Some(pb::ContrastiveLossParameterV2 {
                margin: tau_in_margin.then_some(values.tau),
                negative_threshold: (!tau_in_margin).then_some(values.tau),
                pn_margin: Some(values.margin),
                ..Default::default()
            }),
            softmax_t_p_param: Some(pb::SoftmaxTpParameter {
                scale: Some(values.t_p),
                ..Default::default()
            }),
            softmax_t_n_param: Some(pb::SoftmaxTnParameter {
                scale: Some(values.t_n),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok(prost::Message::encode_to_vec(&fields))
    })
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

/// The layers' stream-ordered device call (the layer's workspace Blob and status in `out`).
fn loss_gpu_async<T: GpuReal>(layer_param: &[u8], args: &GpuLoss, loss_weight: T, out: &GpuOutputs) -> Result<()> {
    // SAFETY: the Caffe layer fills `args` and `out` with its blobs' device memory of the sizes it states
    // (rll_bridge.hpp), alive across the layer's Forward, whose later work and reads are on the same stream.
    crate::catch(|| unsafe { cuda::compute_gpu_async(&Params::decode_layer(layer_param)?, args, loss_weight, out) })
}

fn loss_gpu_async_f32(layer_param: &[u8], args: &GpuLoss, loss_weight: f32, out: &GpuOutputs) -> Result<()> {
    loss_gpu_async(layer_param, args, loss_weight, out)
}

fn loss_gpu_async_f64(layer_param: &[u8], args: &GpuLoss, loss_weight: f64, out: &GpuOutputs) -> Result<()> {
    loss_gpu_async(layer_param, args, loss_weight, out)
}

fn gpu_workspace_bytes_f32(layer_param: &[u8], n: usize, d: usize) -> Result<usize> {
    crate::catch(|| cuda::gpu_workspace_bytes::<f32>(&Params::decode_layer(layer_param)?, n, d))
}

fn gpu_workspace_bytes_f64(layer_param: &[u8], n: usize, d: usize) -> Result<usize> {
    crate::catch(|| cuda::gpu_workspace_bytes::<f64>(&Params::decode_layer(layer_param)?, n, d))
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

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn original(margin: Option<f32>) -> Vec<u8> {
        pb::RllLayerFields {
            name: Some("loss".into()),
            r#type: Some("DistanceWeightedValidPairLossV12".into()),
            contrastive_loss_param_v2: Some(pb::ContrastiveLossParameterV2 {
                margin,
                negative_threshold: Some(1.3),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// τ is margin when set (V2019), else negative_threshold (V2020); written back to the same field.
    #[test]
    fn tau_is_read_from_and_written_to_one_field() {
        for (margin, tau) in [(None, 1.3f32), (Some(1.1), 1.1)] {
            let bytes = original(margin);
            let v = schedule_values(&bytes).unwrap();
            assert_eq!((v.tau, v.margin, v.t_p, v.t_n), (tau, 0.4, 0.0, 10.0));
            let moved = ffi::ScheduleValues {
                tau: 0.9,
                margin: 0.2,
                t_p: 1.0,
                t_n: 12.0,
            };
            let fields = pb::RllLayerFields::decode(&schedule_fields(&bytes, &moved).unwrap()[..]).unwrap();
            let c = fields.contrastive_loss_param_v2.unwrap();
            assert_eq!(
                (c.margin, c.negative_threshold),
                if margin.is_some() {
                    (Some(0.9), None)
                } else {
                    (None, Some(0.9))
                }
            );
            // Merged into the layer's own bytes (a protobuf merge is a concatenation), the engine reads the new values.
            let merged = [bytes, prost::Message::encode_to_vec(&fields)].concat();
            assert_eq!(schedule_values(&merged).unwrap(), moved);
        }
    }

    #[test]
    fn only_the_original_layer_has_schedule_fields() {
        let plain = pb::RllLayerFields {
            name: Some("rll".into()),
            r#type: Some("RankedListLoss".into()),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(schedule_values(&plain).unwrap().tau, 1.2);
        let e = schedule_fields(&plain, &schedule_values(&plain).unwrap()).unwrap_err();
        assert!(
            e.message.contains("layer 'rll' of type RankedListLoss"),
            "{}",
            e.message
        );
    }
}
