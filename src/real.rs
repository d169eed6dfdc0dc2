//! The two element types Caffe uses (`float`, `double`) and the matrix product the loss needs.

use num_traits::Float;
use std::fmt::{Debug, Display};

/// A Caffe `Dtype`: `f32` or `f64`.
pub trait Real: Float + Default + Debug + Display + Send + Sync + 'static {
    /// "float" or "double", for messages.
    const NAME: &'static str;
    /// Rounds an `f64` to this type (`as` semantics: saturates to infinity).
    fn of(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn f64(self) -> f64;
    /// C := alpha * A B + beta * C for row-major or strided operands (matrixmultiply's GEMM).
    ///
    /// # Safety
    /// The pointers with their strides must address valid m×k, k×n and m×n matrices; C must not alias A or B.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Real for f32 {
    const NAME: &'static str = "float";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded; the caller guarantees the operands (see the trait's contract).
        unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

impl Real for f64 {
    const NAME: &'static str = "double";
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        // SAFETY: forwarded; the caller guarantees the operands (see the trait's contract).
        unsafe { matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
    }
}

/// x · 2^k, exact whenever the result is a normal number; saturates to ±MAX instead of overflowing.
pub fn ldexp<T: Real>(x: T, k: i32) -> T {
    saturate(T::of(mul_pow2(x.f64(), k)))
}

/// v · 2^k in f64, in steps of at most 2^600 that keep every intermediate inside f64's range (k may exceed the
/// exponent range of one factor). `cuda/rll_common.cuh`'s `mul_pow2` is the same routine on the device.
pub fn mul_pow2(v: f64, k: i32) -> f64 {
    let (mut v, mut k) = (v, k);
    while k != 0 {
        let step = k.clamp(-600, 600);
        v *= 2f64.powi(step);
        k -= step;
    }
    v
}

/// Replaces ±infinity by ±MAX (and NaN by 0, which the engine never produces).
pub fn saturate<T: Real>(v: T) -> T {
    if v.is_nan() {
        T::zero()
    } else if v.is_infinite() {
        if v > T::zero() {
            T::max_value()
        } else {
            -T::max_value()
        }
    } else {
        v
    }
}
