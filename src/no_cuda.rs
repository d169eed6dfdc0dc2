//! `crate::cuda` in a build without the `cuda` feature (as candle's dummy backends): the functions of
//! `src/cuda/mod.rs` with the same signatures, each returning the same `ErrorKind::Device` error.

use crate::device_args::{GpuL2, GpuLoss};
use crate::error::{ErrorKind, Result, RllError};
use crate::params::Params;
use crate::real::Real;

/// The element types the kernels are instantiated for.
pub trait GpuReal: Real {
    /// The kernels' name suffix.
    const SUFFIX: &'static str;
}
impl GpuReal for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuReal for f64 {
    const SUFFIX: &'static str = "f64";
}

fn unavailable<R>() -> Result<R> {
    Err(RllError::new(
        ErrorKind::Device,
        "this ranked_list_loss was built without the cuda feature",
    ))
}

/// As `cuda::compute_gpu`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu<T: GpuReal>(_: &Params, _: &GpuLoss, _: T) -> Result<T> {
    unavailable()
}

/// As `cuda::compute_gpu_weighted`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_weighted<T: GpuReal>(_: &Params, _: &GpuLoss, _: usize, _: T) -> Result<T> {
    unavailable()
}

/// As `cuda::compute_gpu_half`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_half<H: GpuHalf>(_: &Params, _: &GpuLoss, _: Labels, _: f32) -> Result<f32> {
    unavailable()
}

/// Where a stream-ordered call writes and works, as in the CUDA backend.
pub use crate::device_args::GpuOutputs;

/// As `cuda::gpu_workspace_bytes`: always the error.
#[allow(clippy::extra_unused_type_parameters)]
pub fn gpu_workspace_bytes<T: GpuReal>(_: &Params, _: usize, _: usize) -> Result<usize> {
    unavailable()
}

/// As `cuda::gpu_half_workspace_bytes`: always the error.
pub fn gpu_half_workspace_bytes(_: &Params, _: usize, _: usize, _: Labels) -> Result<usize> {
    unavailable()
}

/// As `cuda::compute_gpu_async`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_async<T: GpuReal>(_: &Params, _: &GpuLoss, _: T, _: &GpuOutputs) -> Result<()> {
    unavailable()
}

/// As `cuda::compute_gpu_weighted_async`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_weighted_async<T: GpuReal>(
    _: &Params,
    _: &GpuLoss,
    _: usize,
    _: T,
    _: &GpuOutputs,
) -> Result<()> {
    unavailable()
}

/// As `cuda::compute_gpu_half_async`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_half_async<H: GpuHalf>(
    _: &Params,
    _: &GpuLoss,
    _: Labels,
    _: f32,
    _: &GpuOutputs,
) -> Result<()> {
    unavailable()
}

/// As `cuda::gpu_references_workspace_bytes`: always the error.
#[allow(clippy::extra_unused_type_parameters)]
pub fn gpu_references_workspace_bytes<T: GpuReal>(_: &Params, _: usize, _: usize, _: usize) -> Result<usize> {
    unavailable()
}

/// As `cuda::compute_gpu_references_async`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_references_async<T: GpuReal>(
    _: &Params,
    _: &GpuLoss,
    _: usize,
    _: usize,
    _: usize,
    _: T,
    _: &GpuOutputs,
) -> Result<()> {
    unavailable()
}

/// As `cuda::compute_gpu_references`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn compute_gpu_references<T: GpuReal>(
    _: &Params,
    _: &GpuLoss,
    _: usize,
    _: usize,
    _: usize,
    _: T,
) -> Result<T> {
    unavailable()
}

/// The 16-bit formats, as in the CUDA backend.
pub trait GpuHalf: crate::half_precision::Half {}
impl GpuHalf for half::f16 {}
impl GpuHalf for half::bf16 {}

/// Which way `convert_gpu` converts, as in the CUDA backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Widen,
    Narrow,
}

/// As `cuda::convert_gpu`: always the error.
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn convert_gpu<H: GpuHalf>(_: usize, _: usize, _: usize, _: Direction, _: i32) -> Result<()> {
    unavailable()
}

/// What a half call's labels are on the device, as in the CUDA backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    F32,
    SameAsX,
}

/// As `cuda::l2_forward_gpu`: always the error.
#[allow(clippy::extra_unused_type_parameters)] // the CUDA backend's signature, element type included
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn l2_forward_gpu<T: GpuReal>(_: &GpuL2) -> Result<()> {
    unavailable()
}

/// As `cuda::l2_backward_gpu`: always the error.
#[allow(clippy::extra_unused_type_parameters)]
///
/// # Safety
/// None needed here; the CUDA backend's contract.
pub unsafe fn l2_backward_gpu<T: GpuReal>(_: &GpuL2) -> Result<()> {
    unavailable()
}
