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

/// The e with a = f · 2^e, f in [0.5, 1); 0 for a = 0.
pub(crate) fn pow2_exponent(a: f64) -> i32 {
    if a > 0.0 && a.is_finite() {
        let mut e = a.log2().floor() as i32 + 1;
        // log2 can round across a power of two: settle e exactly.
        while mul_pow2(a, -e) >= 1.0 {
            e += 1;
        }
        while mul_pow2(a, -e) < 0.5 {
            e -= 1;
        }
        e
    } else {
        0
    }
}

/// The partial sums of [`lane_sum`] and [`lane_dot`]: enough independent chains to keep the adders busy (an add's
/// latency is several cycles), at any vector width.
const LANES: usize = 32;

/// N partial sums (N a power of two) added in a fixed pairwise order, then the tail.
#[inline(always)]
pub(crate) fn fold_lanes<T: Real, const N: usize>(mut acc: [T; N], tail: T) -> T {
    let mut width = N;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            acc[k] = acc[k] + acc[k + width];
        }
    }
    acc[0] + tail
}

/// Σ v in [`LANES`] interleaved partial sums, added in a fixed order: the same result every time, and vector code.
#[inline(always)]
pub(crate) fn lane_sum<T: Real>(v: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let chunks = v.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(T::zero(), |a, &b| a + b);
    for c in chunks {
        for (a, &b) in acc.iter_mut().zip(c) {
            *a = *a + b;
        }
    }
    fold_lanes(acc, tail)
}

/// Σ a_k b_k in [`LANES`] interleaved partial sums, added in a fixed order (as [`lane_sum`]).
#[inline(always)]
pub(crate) fn lane_dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .fold(T::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in ca.zip(cb) {
        for ((s, &p), &q) in acc.iter_mut().zip(x).zip(y) {
            *s = *s + p * q;
        }
    }
    fold_lanes(acc, tail)
}
