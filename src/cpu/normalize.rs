//! L2 normalisation per sample, for the `Normalization` layer: y = x / ‖x‖₂, and its exact Jacobian
//! dx = (dy − (y·dy) y) / ‖x‖₂.
//!
//! A zero row has no direction: its output is the zero row and it receives zero gradient (the original layer
//! produced NaN there).

use crate::error::Result;
use crate::real::{fold_lanes, lane_dot, mul_pow2, pow2_exponent, saturate, Real};
use multiversion::multiversion;

fn check(len: usize, n: usize, d: usize, what: &str) -> Result<()> {
    crate::validate::features(d)?;
    crate::validate::rows_len(what, len, n, d)
}

/// ‖row‖₂ without overflow or underflow: 2^e ‖x · 2^−e‖₂ with 2^e the power of two just above max|x| (the scaling
/// is exact, in f64, in two factors so that each stays in range), the squares summed in f64 in sixteen fixed lanes
/// (vector code, and the same result every time); saturated at the type's largest value.
#[inline(always)]
fn norm<T: Real>(row: &[T]) -> T {
    // max |x| in eight lanes (a maximum does not depend on the order): vector code, not one chain of dependent
    // compares. A NaN is skipped, and the loss then names it.
    let mut lanes = [0f64; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0f64, |a, v| larger(a, v.f64().abs()));
    for c in chunks {
        for (a, v) in lanes.iter_mut().zip(c) {
            *a = larger(*a, v.f64().abs());
        }
    }
    let amax = lanes.iter().fold(tail, |a, &b| larger(a, b));
    if amax == 0.0 {
        return T::zero();
    }
    let e = pow2_exponent(amax);
    let (s1, s2) = (mul_pow2(1.0, -(e / 2)), mul_pow2(1.0, -(e - e / 2)));
    let mut acc = [0f64; 16];
    let chunks = row.chunks_exact(16);
    let tail = chunks.remainder().iter().fold(0f64, |a, v| {
        let s = v.f64() * s1 * s2;
        a + s * s
    });
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            let s = v.f64() * s1 * s2;
            *a += s * s;
        }
    }
    let sum = fold_lanes(acc, tail);
    saturate(T::of(mul_pow2(sum.sqrt(), e)))
}

/// max(a, b) as one compare (vector code): a NaN b is skipped, as `f64::max` skips it, so a is never NaN.
#[inline(always)]
fn larger(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Forward: `y` = x / ‖x‖ per row of the n×d `x`; `norms` (n values) receives ‖x_i‖ for the backward pass.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub fn l2_forward<T: Real>(x: &[T], n: usize, d: usize, y: &mut [T], norms: &mut [T]) -> Result<()> {
    check(x.len(), n, d, "x")?;
    check(y.len(), n, d, "y")?;
    check(norms.len(), n, 1, "norms")?;
    for ((xr, yr), nr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(norms.iter_mut()) {
        let nv = norm(xr);
        *nr = nv;
        if nv > T::zero() {
            yr.iter_mut().zip(xr).for_each(|(o, &v)| *o = v / nv);
        } else {
            yr.iter_mut().for_each(|o| *o = T::zero());
        }
    }
    Ok(())
}

/// Backward: `dx` = (dy − (y·dy) y) / ‖x‖ per row, from the forward's `y` and `norms`.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub fn l2_backward<T: Real>(y: &[T], dy: &[T], norms: &[T], n: usize, d: usize, dx: &mut [T]) -> Result<()> {
    check(y.len(), n, d, "y")?;
    check(dy.len(), n, d, "dy")?;
    check(dx.len(), n, d, "dx")?;
    check(norms.len(), n, 1, "norms")?;
    for (((yr, gr), &nv), out) in y
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(norms)
        .zip(dx.chunks_exact_mut(d))
    {
        if nv <= T::zero() {
            out.iter_mut().for_each(|o| *o = T::zero());
            continue;
        }
        let dot = lane_dot(yr, gr);
        for ((o, &yv), &gv) in out.iter_mut().zip(yr).zip(gr) {
            *o = saturate((gv - dot * yv) / nv);
        }
    }
    Ok(())
}
