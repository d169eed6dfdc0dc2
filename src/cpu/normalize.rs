//! L2 normalisation per sample, for the `Normalization` layer: y = x / ‖x‖₂, and its exact Jacobian
//! dx = (dy − (y·dy) y) / ‖x‖₂.
//!
//! A zero row has no direction: its output is the zero row and it receives zero gradient (the original layer
//! produced NaN there).

use crate::error::Result;
use crate::real::{saturate, Real};

fn check(len: usize, n: usize, d: usize, what: &str) -> Result<()> {
    crate::validate::features(d)?;
    crate::validate::rows_len(what, len, n, d)
}

/// ‖row‖₂ without overflow or underflow: max|x| · ‖x / max|x|‖₂, summed in index order.
fn norm<T: Real>(row: &[T]) -> T {
    let amax = row.iter().fold(T::zero(), |a, v| a.max(v.abs()));
    if amax == T::zero() {
        return T::zero();
    }
    amax * row.iter().fold(T::zero(), |a, &v| a + (v / amax) * (v / amax)).sqrt()
}

/// Forward: `y` = x / ‖x‖ per row of the n×d `x`; `norms` (n values) receives ‖x_i‖ for the backward pass.
pub fn l2_forward<T: Real>(x: &[T], n: usize, d: usize, y: &mut [T], norms: &mut [T]) -> Result<()> {
    check(x.len(), n, d, "x")?;
    check(y.len(), n, d, "y")?;
    check(norms.len(), n, 1, "norms")?;
    for ((xr, yr), nr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(norms.iter_mut()) {
        let nv = norm(xr);
        *nr = nv;
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = if nv > T::zero() { v / nv } else { T::zero() };
        }
    }
    Ok(())
}

/// Backward: `dx` = (dy − (y·dy) y) / ‖x‖ per row, from the forward's `y` and `norms`.
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
        let dot = yr.iter().zip(gr).fold(T::zero(), |a, (&p, &q)| a + p * q);
        for ((o, &yv), &gv) in out.iter_mut().zip(yr).zip(gr) {
            *o = saturate((gv - dot * yv) / nv);
        }
    }
    Ok(())
}
