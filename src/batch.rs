//! What every backend and every host share about one call, below all of them: the host batch ([`Batch`]), the
//! statistics' layout ([`STATS_PER_SAMPLE`]), and the argument structs of the device calls ([`GpuLoss`],
//! [`GpuL2`]). The device structs are cxx shared structs: `rll_bridge.hpp` fills them once, the C ABI fills the
//! same one, and the CUDA backend takes them unchanged.

/// Number of per-sample statistics: L_P(i), L_N(i), |P*_i|, |N*_i|.
pub const STATS_PER_SAMPLE: usize = 4;

/// The inputs of one host evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, T> {
    /// n×d features, row-major.
    pub x: &'a [T],
    /// n class ids, compared with `==`.
    pub labels: &'a [T],
    pub n: usize,
    pub d: usize,
}

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

pub use ffi::{GpuL2, GpuLoss};
