//! Half-precision inputs (IEEE binary16 and bfloat16, the `half` crate): the engine computes in float32 with its
//! float32 rules (power-of-two scaling, weights as exp(T h − max T h), exact close pairs), so no temperature
//! overflows; half inputs are widened exactly, and the gradient is narrowed by round-to-nearest-even, saturated at
//! the format's ±MAX (never ±∞). The device twin of the conversions is `cuda/convert.cu`.

use crate::batch::Batch;
use crate::error::{try_filled, Result};
use crate::params::Params;
use crate::validate;
use half::{bf16, f16};

/// A 16-bit floating-point format.
pub trait Half: Copy + Send + Sync + 'static {
    /// The format's name in messages ("float16", "bfloat16").
    const NAME: &'static str;
    /// Bits of the significand (with the implicit one): 11 for float16, 8 for bfloat16.
    const DIGITS: i32;
    /// The exact float32 value.
    fn widen(self) -> f32;
    /// v rounded to nearest even, saturated at ±MAX.
    fn narrow(v: f32) -> Self;
    /// The 16-bit pattern.
    fn bits(self) -> u16;
    fn of_bits(b: u16) -> Self;
}

impl Half for f16 {
    const NAME: &'static str = "float16";
    const DIGITS: i32 = 11;
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn narrow(v: f32) -> Self {
        let m = f16::MAX.to_f32();
        f16::from_f32(v.clamp(-m, m))
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn of_bits(b: u16) -> Self {
        f16::from_bits(b)
    }
}

impl Half for bf16 {
    const NAME: &'static str = "bfloat16";
    const DIGITS: i32 = 8;
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn narrow(v: f32) -> Self {
        let m = bf16::MAX.to_f32();
        bf16::from_f32(v.clamp(-m, m))
    }
    fn bits(self) -> u16 {
        self.to_bits()
    }
    fn of_bits(b: u16) -> Self {
        bf16::from_bits(b)
    }
}

/// The loss of a batch of half-precision features `x` (n·d) with float32 labels (n class ids, compared with ==):
/// E in float32, and loss_weight · ∂E/∂x narrowed into `grad` (n·d) when given. As [`crate::compute`] otherwise.
pub fn compute_half<H: Half>(
    params: &Params,
    x: &[H],
    labels: &[f32],
    n: usize,
    d: usize,
    loss_weight: f32,
    grad: Option<&mut [H]>,
) -> Result<f32> {
    let nd = validate::dims(params, n, d)?;
    if let Some(g) = grad.as_deref() {
        validate::rows_len("grad", g.len(), n, d)?;
    }
    let mut wide = try_filled(x.len(), 0f32, "the float32 copy of x")?;
    wide.iter_mut().zip(x).for_each(|(w, h)| *w = h.widen());
    let batch = Batch { x: &wide, labels, n, d };
    match grad {
        None => crate::compute(params, batch, loss_weight, None, None),
        Some(g) => {
            let mut g32 = try_filled(nd, 0f32, "the float32 gradient")?;
            let value = crate::compute(params, batch, loss_weight, Some(&mut g32), None)?;
            g.iter_mut().zip(&g32).for_each(|(h, &v)| *h = H::narrow(v));
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_saturates_and_rounds_to_nearest_even() {
        assert_eq!(f16::narrow(1e9).to_bits(), 0x7bff);
        assert_eq!(f16::narrow(-65520.0).to_bits(), 0xfbff);
        assert_eq!(f16::narrow(f32::INFINITY).to_bits(), 0x7bff);
        assert_eq!(f16::narrow(1.0 + 1.0 / 2048.0).to_bits(), 0x3c00); // a tie: to the even 1.0
        assert_eq!(bf16::narrow(f32::MAX).to_bits(), 0x7f7f);
        assert_eq!(bf16::narrow(1.0 + 1.0 / 256.0).to_bits(), 0x3f80);
        assert_eq!(f16::from_bits(0x0001).widen(), 2f32.powi(-24));
    }
}
