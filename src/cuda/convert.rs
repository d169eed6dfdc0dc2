//! Half precision on the device (`cuda/convert.cu`): the features (and half labels) widened into float32
//! temporaries for the float32 pipeline, the gradient narrowed back into the caller's half buffer.

use super::call::{dev_err, Call};
use super::launch::{args, launch, DevAddr, Shape};
use super::table::{self, Kernel};
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::half_precision::Half;
use cudarc::driver::{CudaSlice, DevicePtr};
use half::{bf16, f16};

/// A 16-bit format with its conversion kernels.
pub trait GpuHalf: Half {
    const TO_F32: Kernel;
    const FROM_F32: Kernel;
}
impl GpuHalf for f16 {
    const TO_F32: Kernel = table::F16_TO_F32;
    const FROM_F32: Kernel = table::F32_TO_F16;
}
impl GpuHalf for bf16 {
    const TO_F32: Kernel = table::BF16_TO_F32;
    const FROM_F32: Kernel = table::F32_TO_BF16;
}

/// What a half call's labels are on the device: float32 class ids (the PyTorch package's dense ids, any count of
/// classes), or the features' own format (the C ABI's `rll_loss_gpu_f16/bf16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    F32,
    SameAsX,
}

/// Which way [`convert_gpu`] converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// 16-bit patterns of H to float32, exactly.
    Widen,
    /// float32 to H, nearest even, saturated at ±MAX.
    Narrow,
}

/// Converts `count` values from device buffer `src` to `dst` on device `device`'s legacy default stream, as
/// [`Half::widen`] and [`Half::narrow`] do on the host.
///
/// # Safety
/// `src` and `dst` address `count` values of their formats on `device`, not overlapping.
pub unsafe fn convert_gpu<H: GpuHalf>(src: usize, dst: usize, count: usize, dir: Direction, device: i32) -> Result<()> {
    let call = Call::new(device, 0)?;
    let kernel = match dir {
        Direction::Widen => H::TO_F32,
        Direction::Narrow => H::FROM_F32,
    };
    let shape = Shape { n: count, d: 1 };
    launch::<f32>(
        &call,
        &kernel,
        shape,
        args![src = DevAddr(src), count = count as i64, dst = DevAddr(dst)],
    )?;
    call.stream.synchronize().map_err(dev_err)
}

/// The float32 copies and the call's arguments pointing at them.
pub(super) struct Wide {
    _x: CudaSlice<f32>,
    _labels: Option<CudaSlice<f32>>,
    grad: Option<CudaSlice<f32>>,
    pub args: GpuLoss,
}

fn addr(call: &Call, s: &CudaSlice<f32>) -> usize {
    s.device_ptr(&call.stream).0 as usize
}

/// `input` (count 16-bit values) widened into `out`.
fn to_f32<H: GpuHalf>(call: &Call, input: usize, count: usize, out: &CudaSlice<f32>) -> Result<()> {
    let shape = Shape { n: count, d: 1 };
    launch::<f32>(
        call,
        &H::TO_F32,
        shape,
        args![src = DevAddr(input), count = count as i64, dst = out],
    )
}

pub(super) fn widen<H: GpuHalf>(call: &Call, a: &GpuLoss, labels: Labels, nd: usize) -> Result<Wide> {
    let x = call.scratch::<f32>(nd)?;
    to_f32::<H>(call, a.x, nd, &x)?;
    let wide_labels = match labels {
        Labels::F32 => None,
        Labels::SameAsX => {
            let l = call.scratch::<f32>(a.n)?;
            to_f32::<H>(call, a.labels, a.n, &l)?;
            Some(l)
        }
    };
    let grad = if a.grad != 0 {
        Some(call.scratch::<f32>(nd)?)
    } else {
        None
    };
    let args = GpuLoss {
        x: addr(call, &x),
        labels: wide_labels.as_ref().map_or(a.labels, |l| addr(call, l)),
        grad: grad.as_ref().map_or(0, |g| addr(call, g)),
        ..*a
    };
    Ok(Wide {
        _x: x,
        _labels: wide_labels,
        grad,
        args,
    })
}

/// The float32 gradient of `wide` narrowed into the caller's `grad` (nd values of H).
pub(super) fn narrow_grad<H: GpuHalf>(call: &Call, wide: &Wide, grad: usize, nd: usize) -> Result<()> {
    let g = wide
        .grad
        .as_ref()
        .ok_or_else(|| dev_err("no float32 gradient to narrow"))?;
    let shape = Shape { n: nd, d: 1 };
    launch::<f32>(
        call,
        &H::FROM_F32,
        shape,
        args![src = g, count = nd as i64, dst = DevAddr(grad)],
    )
}
