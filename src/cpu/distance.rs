//! The N×N Euclidean distance matrix, on centred and power-of-two-scaled features.
//!
//! Distances and differences do not change under translation, so the features are centred first (this removes the
//! cancellation of ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j for features far from the origin). They are then scaled by 2^−e so
//! that max |x| lies in [0.5, 1): scaling by a power of two is exact, so the loss computed in scaled units equals the
//! unscaled one up to the final ×2^e, and no finite input can overflow a squared norm.

use super::parallel::{for_blocks, for_row_ranges, row_blocks, SharedMatrix};
use crate::kernel_consts::CLOSE_PAIR_RATIO;
use crate::real::{mul_pow2, pow2_exponent, Real};
use crate::scaled::Units;

/// Features ready for the pairwise work: `x` (n×d, row-major) = (input − mean) · 2^−`exp`.
pub struct Scaled<T> {
    pub x: Vec<T>,
    pub n: usize,
    pub d: usize,
    /// Input units = scaled units · 2^exp.
    pub exp: i32,
    /// The first scaling, applied before the centring: x = (input · 2^−e1 − mean) · 2^−(exp − e1).
    pub e1: i32,
}

/// Centres the rows of `x` (n×d) and scales them by a power of two (see the module comment).
pub fn center_and_scale<T: Real>(x: &[T], n: usize, d: usize) -> Scaled<T> {
    // Column-wise running maxima: independent lanes, so the loops vectorise.
    let max_of = |m: &[f64]| m.iter().fold(0f64, |a, &b| a.max(b));
    let mut colmax = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, v) in colmax.iter_mut().zip(row) {
            *m = m.max(v.f64().abs());
        }
    }
    // In f64, first scaled so that max |x| < 1, so that neither the mean nor the centring can overflow.
    let e1 = pow2_exponent(max_of(&colmax));
    if (-1000..=1000).contains(&e1) {
        let f1 = 2f64.powi(-e1);
        centre_scaled(x, n, d, e1, colmax, |v| v * f1)
    } else {
        centre_scaled(x, n, d, e1, colmax, |v| mul_pow2(v, -e1))
    }
}

/// The rest of `center_and_scale`, given the first scaling `s1` = ·2^−e1 (a closure, so that the common case of
/// one multiplication compiles to vector code).
fn centre_scaled<T: Real>(
    x: &[T],
    n: usize,
    d: usize,
    e1: i32,
    mut colmax: Vec<f64>,
    s1: impl Fn(f64) -> f64,
) -> Scaled<T> {
    // Mean summed in row order: deterministic.
    let mut mean = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += s1(v.f64());
        }
    }
    let inv_n = 1.0 / n as f64;
    mean.iter_mut().for_each(|m| *m *= inv_n);
    colmax.iter_mut().for_each(|m| *m = 0.0);
    for row in x.chunks_exact(d) {
        for ((m, v), c) in colmax.iter_mut().zip(row).zip(&mean) {
            *m = m.max((s1(v.f64()) - c).abs());
        }
    }
    let e2 = pow2_exponent(colmax.iter().fold(0f64, |a, &b| a.max(b)));
    // |x − mean| · 2^−e1 lies in (2^−1075, 2), so 2^−e2 overflows f64 only for e2 < −1000: then two steps.
    let f2 = 2f64.powi((-e2).min(1000));
    let f2b = 2f64.powi((-e2 - 1000).max(0));
    let mut out = vec![T::zero(); n * d];
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        for ((o, v), c) in o.iter_mut().zip(row).zip(&mean) {
            *o = T::of((s1(v.f64()) - c) * f2 * f2b);
        }
    }
    Scaled {
        x: out,
        n,
        d,
        exp: e1 + e2,
        e1,
    }
}

/// Squared norms of the rows, summed in index order.
pub fn row_norms<T: Real>(s: &Scaled<T>) -> Vec<T> {
    s.x.chunks_exact(s.d)
        .map(|r| r.iter().fold(T::zero(), |a, &v| a + v * v))
        .collect()
}

/// Rows shorter than this, relative to their block, are computed in one GEMM call.
const ROW_BLOCK: usize = 128;

/// Fills `dist` (n×n, row-major, symmetric, zero diagonal) with ‖x_i − x_j‖ and returns the close pairs.
///
/// The upper triangle comes from the Gram matrix; where ‖x_i − x_j‖² < (‖x_i‖² + ‖x_j‖²)/64 ([`CLOSE_PAIR_RATIO`])
/// the Gram form has lost
/// more than six bits to cancellation, and so would have the centred features themselves (each rounded to T on its
/// own): such a pair is *close*, and its distance is recomputed from the input by [`exact_diff`], in f64.
pub fn pairwise<T: Real>(s: &Scaled<T>, input: &[T], norms: &[T], dist: &mut [T]) -> Close {
    let (n, d) = (s.n, s.d);
    assert_eq!(dist.len(), n * n);
    let x = &s.x;
    let ratio = T::of(CLOSE_PAIR_RATIO);
    let two = T::of(2.0);
    // The close partners j > i of each row, found by the row's block.
    let mut upper: Vec<Vec<u32>> = vec![Vec::new(); n];
    let blocks: Vec<_> = row_blocks(dist, n, n, ROW_BLOCK)
        .into_iter()
        .zip(row_blocks(&mut upper, n, 1, ROW_BLOCK))
        .collect();
    for_blocks(blocks, |b, (rows, close)| {
        let (r0, m) = (b * ROW_BLOCK, close.len());
        let r1 = r0 + m;
        let mut diff = vec![0f64; d];
        let cols = n - r0;
        // SAFETY: A = x[r0..r1] (m×d), B = x[r0..]ᵀ (d×cols, strided), C = rows[.., r0..] (m×cols, row stride n);
        // all in bounds (rows is this block's m×n), C is a separate buffer.
        unsafe {
            T::gemm(
                m,
                d,
                cols,
                T::one(),
                x.as_ptr().add(r0 * d),
                d as isize,
                1,
                x.as_ptr().add(r0 * d),
                1,
                d as isize,
                T::zero(),
                rows.as_mut_ptr().add(r0),
                n as isize,
                1,
            );
        }
        for i in r0..r1 {
            let row = &mut rows[(i - r0) * n..(i - r0 + 1) * n];
            row[i] = T::zero();
            let ni = norms[i];
            // Three simple loops (the first and last vectorise): Gram form, square roots, rare exact distances.
            for (g, &nj) in row[i + 1..].iter_mut().zip(&norms[i + 1..]) {
                *g = ni + nj - two * *g;
            }
            let list = &mut close[i - r0];
            for (j, g) in row.iter_mut().enumerate().skip(i + 1) {
                if *g < (ni + norms[j]) * ratio {
                    list.push(j as u32);
                }
            }
            for g in row[i + 1..].iter_mut() {
                *g = g.max(T::zero()).sqrt();
            }
            for &j in list.iter() {
                exact_diff(s, input, i, j as usize, &mut diff);
                row[j as usize] = T::of(diff.iter().map(|v| v * v).sum::<f64>().sqrt());
            }
        }
    });
    // Mirror the upper triangle in tiles (so that reads of the transposed side stay in cache): d_ij and d_ji are
    // then the same number.
    const TILE: usize = 64;
    let out = SharedMatrix::new(dist);
    for_row_ranges(n, TILE, |r0, r1| {
        for j0 in (0..r1).step_by(TILE) {
            for i in r0..r1 {
                for j in j0..(j0 + TILE).min(i) {
                    // SAFETY: (i, j) with j < i is written only by the block of row i; (j, i) lies in the upper
                    // triangle, which no thread writes in this phase.
                    unsafe { out.write(i * n + j, out.read(j * n + i)) };
                }
            }
        }
    });
    Close::from_upper(upper)
}

/// Rows `start..start + count` of [`pairwise`]'s matrix (count = `dist.len()` / n, row-major count×n) and each
/// query row's close partners j ≠ i, recomputed exactly as there. Each d_ij comes from query row i's own Gram row,
/// so it can differ from `pairwise`'s (which mirrors the upper triangle) in the last bit.
pub fn query_distances<T: Real>(s: &Scaled<T>, input: &[T], norms: &[T], start: usize, dist: &mut [T]) -> Close {
    let (n, d) = (s.n, s.d);
    let count = dist.len() / n;
    assert!(dist.len() == count * n && start + count <= n);
    let x = &s.x;
    let ratio = T::of(CLOSE_PAIR_RATIO);
    let two = T::of(2.0);
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); count];
    let blocks: Vec<_> = row_blocks(dist, count, n, ROW_BLOCK)
        .into_iter()
        .zip(row_blocks(&mut rows, count, 1, ROW_BLOCK))
        .collect();
    for_blocks(blocks, |b, (block, close)| {
        let (r0, m) = (start + b * ROW_BLOCK, close.len());
        let mut diff = vec![0f64; d];
        // SAFETY: A = x[r0..r0 + m] (m×d), B = xᵀ (d×n, strided), C = this block's m×n rows; all in bounds, C a
        // separate buffer.
        unsafe {
            T::gemm(
                m,
                d,
                n,
                T::one(),
                x.as_ptr().add(r0 * d),
                d as isize,
                1,
                x.as_ptr(),
                1,
                d as isize,
                T::zero(),
                block.as_mut_ptr(),
                n as isize,
                1,
            );
        }
        for (k, (row, list)) in block.chunks_exact_mut(n).zip(close.iter_mut()).enumerate() {
            let i = r0 + k;
            let ni = norms[i];
            for (g, &nj) in row.iter_mut().zip(norms) {
                *g = ni + nj - two * *g;
            }
            for (j, g) in row.iter().enumerate() {
                if j != i && *g < (ni + norms[j]) * ratio {
                    list.push(j as u32);
                }
            }
            for g in row.iter_mut() {
                *g = g.max(T::zero()).sqrt();
            }
            row[i] = T::zero();
            for &j in list.iter() {
                exact_diff(s, input, i, j as usize, &mut diff);
                row[j as usize] = T::of(diff.iter().map(|v| v * v).sum::<f64>().sqrt());
            }
        }
    });
    Close { rows }
}

/// The close pairs of a batch (see [`pairwise`]), as each row's partners j ≠ i in increasing order.
#[derive(Debug, Default)]
pub struct Close {
    pub rows: Vec<Vec<u32>>,
}

impl Close {
    fn from_upper(upper: Vec<Vec<u32>>) -> Self {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); upper.len()];
        // Lower partners first (i < j, in increasing i), then the row's own upper list: both sorted.
        for (i, list) in upper.iter().enumerate() {
            for &j in list {
                rows[j as usize].push(i as u32);
            }
        }
        for (row, list) in rows.iter_mut().zip(upper) {
            row.extend(list);
        }
        Close { rows }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(Vec::is_empty)
    }
}

/// `out` = x_i − x_j in scaled units, from the input and in f64: (in_i · 2^−e1 − in_j · 2^−e1) · 2^−(exp − e1).
/// Both products are exact (powers of two, in range), and so is the difference of two f32 values in f64, so this
/// is the true difference up to one f64 rounding, whatever the centring did to the rows.
pub fn exact_diff<T: Real>(s: &Scaled<T>, input: &[T], i: usize, j: usize, out: &mut [f64]) {
    let d = s.d;
    let e2 = s.exp - s.e1;
    let (xi, xj) = (&input[i * d..(i + 1) * d], &input[j * d..(j + 1) * d]);
    let pairs = out.iter_mut().zip(xi).zip(xj);
    if (-1000..=1000).contains(&s.e1) && (-1000..=1000).contains(&e2) {
        let (f1, f2) = (2f64.powi(-s.e1), 2f64.powi(-e2));
        pairs.for_each(|((o, a), b)| *o = (a.f64() * f1 - b.f64() * f1) * f2);
    } else {
        pairs.for_each(|((o, a), b)| *o = mul_pow2(mul_pow2(a.f64(), -s.e1) - mul_pow2(b.f64(), -s.e1), -e2));
    }
}

impl<T> From<&Scaled<T>> for Units {
    fn from(s: &Scaled<T>) -> Self {
        Units {
            exp: s.exp,
            n: s.n,
            d: s.d,
        }
    }
}
