//! Half precision on the device (`cuda/convert.cu`): the features (and half labels) widened into float32
//! copies in the workspace for the float32 pipeline, the gradient narrowed back into the caller's half buffer.

use super::call::{dev_err, Call};
use super::launch::{args, launch, DevAddr, Shape};
use super::table::{self, Kernel};
use super::workspace::{Buf, Wide};
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::half_precision::Half;
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
    let shape = Shape::new(count, 1);
    launch::<f32>(
        &call,
        &kernel,
        shape,
        args![src = DevAddr(src), count = count as i64, dst = DevAddr(dst)],
    )?;
    call.stream.synchronize().map_err(dev_err)
}

/// `input` (count 16-bit values) widened into `out`.
fn to_f32<H: GpuHalf>(call: &Call, input: usize, count: usize, out: Buf<f32>) -> Result<()> {
    let shape = Shape::new(count, 1);
    launch::<f32>(
        call,
        &H::TO_F32,
        shape,
        args![src = DevAddr(input), count = count as i64, dst = out],
    )
}

/// x (and 16-bit labels) widened into the workspace's float32 copies; the float32 call's arguments over them.
pub(super) fn widen<H: GpuHalf>(call: &Call, a: &GpuLoss, wide: &Wide) -> Result<GpuLoss> {
    let nd = a.n * a.d;
    to_f32::<H>(call, a.x, nd, wide.x)?;
    if let Some(l) = wide.labels {
        to_f32::<H>(call, a.labels, a.n, l)?;
    }
    Ok(GpuLoss {
        x: wide.x.addr,
        labels: wide.labels.map_or(a.labels, |l| l.addr),
        grad: if a.grad != 0 { wide.grad.addr } else { 0 },
        ..*a
    })
}

/// The float32 gradient in `wide` narrowed into the caller's `grad` (nd values of H).
pub(super) fn narrow_grad<H: GpuHalf>(call: &Call, wide: &Wide, grad: usize, nd: usize) -> Result<()> {
    let shape = Shape::new(nd, 1);
    launch::<f32>(
        call,
        &H::FROM_F32,
        shape,
        args![src = wide.grad, count = nd as i64, dst = DevAddr(grad)],
    )
}
