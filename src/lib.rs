//! Ranked List Loss (Wang et al., CVPR 2019, "Ranked List Loss for Deep Metric Learning") for Caffe.
//!
//! The engine computes, from the N×N Euclidean distance matrix of a batch (O(N² + N·D) memory), one of three
//! semantics (see [`Semantics`] and docs/semantics.md):
//! - `PAPER`: L = (1/N) Σ_i [L_P(i) + λ L_N(i)] with its exact gradient (options: query-only, detached weights);
//! - `OFFICIAL_V2020`, `OFFICIAL_V2019`: the gradient of the official `DistanceWeightedValidPairLossV12` layer and
//!   the value it reports.
//!
//! Hosts: the C ABI ([`capi`], `cpp/include/ranked_list_loss.h`), the cxx bridge for the Caffe layers
//! ([`bridge`]), and this Rust API ([`compute`]). The source reads maths → backends → hosts, each layer using only
//! the ones before it: `batch.rs` and `device_args.rs` (what every layer shares about a host or a device call), `paper.rs` and `official.rs` (the
//! semantics, per pair and per row), `scaled.rs`, `kernel_consts.rs`, `validate.rs`; `cpu/` and `cuda/` (the
//! kernels in `cuda/*.cu` mirror the maths modules; `no_cuda.rs` stands in without the feature); `capi.rs` and
//! `bridge.rs`, where panics are caught.

// The maths: what a call is, parameters, numbers, the two semantics, the scaled units both backends use, the
// constants shared with the kernels, the shared checks.
pub mod batch;
pub mod device_args;
pub mod error;
pub mod half_precision;
pub mod kernel_consts;
mod official;
mod paper;
pub mod params;
pub mod real;
mod rows;
mod scaled;
mod validate;

// The backends.
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
// Without the feature, `cuda` is the stand-in of the same shape (src/no_cuda.rs): every call is the same error.
#[cfg(not(feature = "cuda"))]
#[path = "no_cuda.rs"]
pub mod cuda;

// The hosts: the C ABI and the cxx bridge.
pub mod bridge;
pub mod capi;

pub use batch::{Batch, STATS_PER_SAMPLE};
pub use cpu::normalize;
pub use cpu::parallel::{num_threads, set_num_threads, threads_for, threads_for_rows, WORK_PER_THREAD};
pub use cpu::queries::{compute_queries, query_ln_mass, Queries};
pub use cpu::references::{compute_references, References};
pub use cpu::{compute, compute_weighted};
pub use device_args::{GpuL2, GpuLoss, GpuOutputs};
pub use error::{ErrorKind, Result, RllError};
pub use half_precision::{compute_half, Half};
pub use kernel_consts::EPS_SUM;
pub use official::EPS_DIR;
pub use params::{Params, Semantics};
pub use real::Real;

/// The stamp of the cxx bridge this library was built with: its symbol name carries the SHA-256 (first 16 hex
/// digits) of the generated bridge headers. The Caffe layers' copy of those headers references it
/// (`caffe/rll/library_stamp.hpp`, written by caffe_patch/apply), so Caffe links only against a library built
/// from the same bridge; another fails with "undefined reference to rll_library_for_these_headers_<hash>".
#[export_name = concat!("rll_library_for_these_headers_", env!("RLL_BRIDGE_STAMP"))]
pub static BRIDGE_STAMP: u8 = 1;

/// Converts a caught panic into an error, so that nothing unwinds across a foreign boundary. Called once per entry
/// point of each host (the C ABI, the cxx bridge), never in a backend.
pub(crate) fn catch<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(RllError::new(
                ErrorKind::Internal,
                format!("internal error (a bug, please report): {what}"),
            ))
        }
    }
}
