//! The argument structs of the device calls ([`GpuLoss`], [`GpuOutputs`], [`GpuL2`]): the second cxx bridge, of shared structs
//! only. `rll_bridge.hpp` fills them by field name, the C ABI fills the same ones, and the CUDA backend takes them
//! unchanged.

#[cxx::bridge(namespace = "rll")]
mod ffi {
    /// One loss call on device memory: pointers of `device` as integers (0 = none), work ordered on `stream`
    /// (a cudaStream_t; 0 = the legacy default stream, as Caffe uses).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct GpuLoss {
        /// n×d features.
        x: usize,
        /// n labels.
        labels: usize,
        n: usize,
        d: usize,
        /// n·d values receiving loss_weight · ∂E/∂x, or 0.
        grad: usize,
        /// n·4 statistics (L_P, L_N, |P*|, |N*|), or 0.
        stats: usize,
        stream: usize,
        device: i32,
    }

    /// Where a stream-ordered loss call writes and works, device memory of the call's device: `loss` (one value of
    /// the call's loss type: T, or f32 for 16-bit features), `status` (one i64, or 0 for none) and a workspace of
    /// `workspace_bytes` bytes at `workspace` (at least the call's workspace size, any alignment), which the call
    /// uses for all its temporaries and which must stay untouched until the stream has run the call's work.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct GpuOutputs {
        loss: usize,
        status: usize,
        workspace: usize,
        workspace_bytes: usize,
    }

    /// One L2 normalisation call on device memory (the Normalization layer): forward reads `x` and writes `y`
    /// and `norms`; backward reads `y`, `dy` and `norms` and writes `dx`. Pointers a direction does not use are 0.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct GpuL2 {
        x: usize,
        y: usize,
        norms: usize,
        dy: usize,
        dx: usize,
        n: usize,
        d: usize,
        stream: usize,
        device: i32,
    }
}

pub use ffi::{GpuL2, GpuLoss, GpuOutputs};
