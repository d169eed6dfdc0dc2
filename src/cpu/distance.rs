//! The N×N Euclidean distance matrix, on centred and power-of-two-scaled features.
//!
//! Distances and differences do not change under translation, so the features are centred first (this removes the
//! cancellation of ‖x_i‖² + ‖x_j‖² − 2 x_i·x_j for features far from the origin). They are then scaled by 2^−e so
//! that max |x| lies in [0.5, 1): scaling by a power of two is exact, so the loss computed in scaled units equals the
//! unscaled one up to the final ×2^e, and no finite input can overflow a squared norm.

use super::parallel::{for_blocks, for_row_ranges, row_blocks, SharedMatrix};
use super::recycle::Recycled;
use crate::kernel_consts::CLOSE_PAIR_RATIO;
use crate::real::{lane_dot, mul_pow2, pow2_exponent, Real};
use crate::scaled::Units;
use multiversion::multiversion;

/// Features ready for the pairwise work: `x` (n×d, row-major) = (input − mean) · 2^−`exp`.
pub struct Scaled<T: Copy + 'static> {
    pub x: Recycled<T>,
    pub n: usize,
    pub d: usize,
    /// Input units = scaled units · 2^exp.
    pub exp: i32,
    /// The first scaling, applied before the centring: x = (input · 2^−e1 − mean) · 2^−(exp − e1).
    pub e1: i32,
}

/// Centres the rows of `x` (n×d, n ≥ 1) and scales them by a power of two (see the module comment).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub fn center_and_scale<T: Real>(x: &[T], n: usize, d: usize) -> Scaled<T> {
    // One pass: each column's extremes and its sum of the raw values, in f64, in row order (independent lanes and
    // plain compares, so the loop vectorises; the input is finite, checked before). Blocks of columns in parallel:
    // each column's arithmetic is the same whichever block or thread does it.
    let (mut hi, mut lo, mut sum) = (vec![f64::NEG_INFINITY; d], vec![f64::INFINITY; d], vec![0f64; d]);
    let blocks: Vec<_> = hi
        .chunks_mut(COLUMNS)
        .zip(lo.chunks_mut(COLUMNS))
        .zip(sum.chunks_mut(COLUMNS))
        .collect();
    for_blocks(blocks, |b, ((hi, lo), sum)| {
        for row in x.chunks_exact(d) {
            let row = &row[b * COLUMNS..b * COLUMNS + hi.len()];
            for (((h, l), s), v) in hi.iter_mut().zip(lo.iter_mut()).zip(sum.iter_mut()).zip(row) {
                let v = v.f64();
                *h = if v > *h { v } else { *h };
                *l = if v < *l { v } else { *l };
                *s += v;
            }
        }
    });
    // The first scaling, ·2^−e1 so that max |x| < 1: neither the mean nor the centring can then overflow.
    let e1 = pow2_exponent(hi.iter().chain(&lo).fold(0f64, |a, &b| a.max(b.abs())));
    if raw_sums_are_exact::<T>(e1) {
        // The sums of the raw values are 2^e1 times those of the scaled ones, bit for bit: take e1 = 0.
        centre_scaled(x, n, 0, (hi, lo), sum, |v| v)
    } else if (-1000..=1000).contains(&e1) {
        let f1 = 2f64.powi(-e1);
        centre_scaled(x, n, e1, (hi, lo), column_sums(x, d, |v| v * f1), |v| v * f1)
    } else {
        let s1 = |v| mul_pow2(v, -e1);
        centre_scaled(x, n, e1, (hi, lo), column_sums(x, d, s1), s1)
    }
}

/// Columns per block of the column passes (their results do not depend on it).
const COLUMNS: usize = 64;

/// Whether the sums of the raw values (in f64, in row order) equal 2^e1 times the sums of the values scaled by
/// 2^−e1: so when scaling loses no bit to f64's subnormal range (scaling up, e1 ≤ 0, or every finite `T` stays
/// normal, as float32's do for any e1 of its range) and the raw sums cannot overflow (|x| < 2^e1 ≤ 2^900).
fn raw_sums_are_exact<T: Real>(e1: i32) -> bool {
    // The smallest positive T: 2^(min_exp − mantissa bits).
    let tiny = T::min_positive_value().f64() * T::epsilon().f64();
    e1 <= 0 || (e1 <= 900 && mul_pow2(tiny, -e1) >= f64::MIN_POSITIVE)
}

/// Σ_rows s1(x), per column, in row order (blocks of columns in parallel).
#[inline(always)]
fn column_sums<T: Real>(x: &[T], d: usize, s1: impl Fn(f64) -> f64 + Sync) -> Vec<f64> {
    let mut sum = vec![0f64; d];
    for_blocks(sum.chunks_mut(COLUMNS).collect(), |b, sum| {
        for row in x.chunks_exact(d) {
            for (m, v) in sum.iter_mut().zip(&row[b * COLUMNS..]) {
                *m += s1(v.f64());
            }
        }
    });
    sum
}

/// The rest of `center_and_scale`, given the first scaling `s1` = ·2^−e1 (a closure, so that the common case of
/// one multiplication compiles to vector code), each column's raw extremes and its sum of s1(x).
#[inline(always)]
fn centre_scaled<T: Real>(
    x: &[T],
    n: usize,
    e1: i32,
    (hi, lo): (Vec<f64>, Vec<f64>),
    mut mean: Vec<f64>,
    s1: impl Fn(f64) -> f64 + Sync,
) -> Scaled<T> {
    let d = mean.len();
    let inv_n = 1.0 / n as f64;
    mean.iter_mut().for_each(|m| *m *= inv_n);
    // max_rows |s1(x) − mean| lies at a column's extreme: v ↦ s1(v) − mean, rounded, is monotone.
    let spread = |c: f64, h: f64, l: f64| (s1(h) - c).abs().max((s1(l) - c).abs());
    let max = mean
        .iter()
        .zip(hi.iter().zip(&lo))
        .fold(0f64, |a, (&c, (&h, &l))| a.max(spread(c, h, l)));
    let e2 = pow2_exponent(max);
    // |x − mean| · 2^−e1 lies in (2^−1075, 2), so 2^−e2 overflows f64 only for e2 < −1000: then two steps.
    let f2 = 2f64.powi((-e2).min(1000));
    let f2b = 2f64.powi((-e2 - 1000).max(0));
    let mut out = Recycled::scratch(n * d);
    // Every element is written (the scratch's old contents are never read), by blocks of rows in parallel.
    for_blocks(row_blocks(&mut out, n, d, ROW_BLOCK), |b, block| {
        let rows = x[b * ROW_BLOCK * d..].chunks_exact(d);
        for (row, o) in rows.zip(block.chunks_exact_mut(d)) {
            for ((o, v), c) in o.iter_mut().zip(row).zip(&mean) {
                *o = T::of((s1(v.f64()) - c) * f2 * f2b);
            }
        }
    });
    Scaled {
        x: out,
        n,
        d,
        exp: e1 + e2,
        e1,
    }
}

/// Squared norms of the rows, each in [`lane_dot`]'s fixed order.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
pub fn row_norms<T: Real>(s: &Scaled<T>) -> Vec<T> {
    let mut norms = vec![T::zero(); s.n];
    for_blocks(row_blocks(&mut norms, s.n, 1, ROW_BLOCK), |b, out| {
        for (o, r) in out.iter_mut().zip(s.x[b * ROW_BLOCK * s.d..].chunks_exact(s.d)) {
            *o = lane_dot(r, r);
        }
    });
    norms
}

/// Rows shorter than this, relative to their block, are computed in one GEMM call.
const ROW_BLOCK: usize = 32;

/// Fills `dist` (n×n, row-major, symmetric, zero diagonal) with ‖x_i − x_j‖ and returns the close pairs.
///
/// The upper triangle comes from the Gram matrix; where ‖x_i − x_j‖² < (‖x_i‖² + ‖x_j‖²)/64 ([`CLOSE_PAIR_RATIO`])
/// the Gram form has lost
/// more than six bits to cancellation, and so would have the centred features themselves (each rounded to T on its
/// own): such a pair is *close*, and its distance is recomputed from the input by [`exact_diff`], in f64.
pub fn pairwise<T: Real>(s: &Scaled<T>, input: &[T], norms: &[T], dist: &mut [T]) -> Close {
    let (n, d) = (s.n, s.d);
    assert_eq!(dist.len(), n * n);
    let xt = transposed(&s.x, n, d);
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
        // SAFETY: A = x[r0..r1] (m×d) and B = x[r0..]ᵀ (d×cols), both read from xt (A column-major, B row-major:
        // matrixmultiply packs both by contiguous copies); C = rows[.., r0..] (m×cols, row stride n). All in bounds
        // (rows is this block's m×n), C a separate buffer.
        unsafe {
            T::gemm(
                m,
                d,
                cols,
                T::one(),
                xt.as_ptr().add(r0),
                1,
                n as isize,
                xt.as_ptr().add(r0),
                n as isize,
                1,
                T::zero(),
                rows.as_mut_ptr().add(r0),
                n as isize,
                1,
            );
        }
        for i in r0..r1 {
            let row = &mut rows[(i - r0) * n..(i - r0 + 1) * n];
            row[i] = T::zero();
            let list = &mut close[i - r0];
            gram_to_distances(&mut row[i + 1..], &norms[i + 1..], norms[i], i + 1, list);
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
    let xt = transposed(&s.x, n, d);
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); count];
    let blocks: Vec<_> = row_blocks(dist, count, n, ROW_BLOCK)
        .into_iter()
        .zip(row_blocks(&mut rows, count, 1, ROW_BLOCK))
        .collect();
    for_blocks(blocks, |b, (block, close)| {
        let (r0, m) = (start + b * ROW_BLOCK, close.len());
        let mut diff = vec![0f64; d];
        // SAFETY: A = x[r0..r0 + m] (m×d) and B = xᵀ (d×n), read from xt as in `pairwise`; C = this block's m×n
        // rows. All in bounds, C a separate buffer.
        unsafe {
            T::gemm(
                m,
                d,
                n,
                T::one(),
                xt.as_ptr().add(r0),
                1,
                n as isize,
                xt.as_ptr(),
                n as isize,
                1,
                T::zero(),
                block.as_mut_ptr(),
                n as isize,
                1,
            );
        }
        for (k, (row, list)) in block.chunks_exact_mut(n).zip(close.iter_mut()).enumerate() {
            let i = r0 + k;
            gram_to_distances(row, norms, norms[i], 0, list);
            list.retain(|&j| j as usize != i);
            row[i] = T::zero();
            for &j in list.iter() {
                exact_diff(s, input, i, j as usize, &mut diff);
                row[j as usize] = T::of(diff.iter().map(|v| v * v).sum::<f64>().sqrt());
            }
        }
    });
    Close { rows }
}

/// One row of Gram values g_ij (j = `first`.. over `row` and `norms`) turned into distances
/// ‖x_i − x_j‖ = √max(0, s_ij) with s_ij = n_i + n_j − 2 g_ij, and the close partners (s_ij < (n_i + n_j) ·
/// [`CLOSE_PAIR_RATIO`]) pushed to `close` in increasing j. In chunks: the test is vector code, and only a chunk
/// with a close pair (rare) is scanned again.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn gram_to_distances<T: Real>(row: &mut [T], norms: &[T], ni: T, first: usize, close: &mut Vec<u32>) {
    const CHUNK: usize = 16;
    let (ratio, two) = (T::of(CLOSE_PAIR_RATIO), T::of(2.0));
    for (c, (gs, ns)) in row.chunks_mut(CHUNK).zip(norms.chunks(CHUNK)).enumerate() {
        let mut hit = false;
        for (g, &nj) in gs.iter_mut().zip(ns) {
            let sq = ni + nj - two * *g;
            hit |= sq < (ni + nj) * ratio;
            *g = sq;
        }
        if hit {
            for (k, (&sq, &nj)) in gs.iter().zip(ns).enumerate() {
                if sq < (ni + nj) * ratio {
                    close.push((first + c * CHUNK + k) as u32);
                }
            }
        }
        for g in gs.iter_mut() {
            *g = g.max(T::zero()).sqrt();
        }
    }
}

/// `x` (n×d, row-major) transposed: d×n, row-major. Eight rows of x at a time: eight sequential reads, and each
/// column's eight values written side by side.
fn transposed<T: Real>(x: &[T], n: usize, d: usize) -> Recycled<T> {
    let mut xt = Recycled::scratch(n * d);
    // Every element is written once, by blocks of COLUMNS columns of x (rows of xt) in parallel.
    for_blocks(row_blocks(&mut xt, d, n, COLUMNS), |b, block| {
        let k0 = b * COLUMNS;
        for (i, row) in x.chunks_exact(d).enumerate() {
            for (col, v) in block.chunks_exact_mut(n).zip(&row[k0..]) {
                col[i] = *v;
            }
        }
    });
    xt
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

impl<T: Copy + 'static> From<&Scaled<T>> for Units {
    fn from(s: &Scaled<T>) -> Self {
        Units {
            exp: s.exp,
            n: s.n,
            d: s.d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Centring the raw values (float32 at any scale, float64 with max |x| < 1) gives the same bits as scaling
    /// them by 2^−e1 first, the general path.
    #[test]
    fn raw_sums_give_the_bits_of_scaling_first() {
        fn check<T: Real>(x: &[T], n: usize, d: usize) {
            let hi: Vec<f64> = (0..d)
                .map(|k| (0..n).map(|i| x[i * d + k].f64()).fold(f64::MIN, f64::max))
                .collect();
            let lo: Vec<f64> = (0..d)
                .map(|k| (0..n).map(|i| x[i * d + k].f64()).fold(f64::MAX, f64::min))
                .collect();
            let e1 = pow2_exponent(hi.iter().chain(&lo).fold(0f64, |a, &b| a.max(b.abs())));
            assert!(raw_sums_are_exact::<T>(e1), "e1 = {e1}");
            let s1 = |v| mul_pow2(v, -e1);
            let scaled_first: Scaled<T> = centre_scaled(x, n, e1, (hi, lo), column_sums(x, d, s1), s1);
            let fast = center_and_scale(x, n, d);
            assert_eq!(fast.exp, scaled_first.exp, "e1 = {e1}");
            for (a, b) in fast.x.iter().zip(scaled_first.x.iter()) {
                assert_eq!(a.f64().to_bits(), b.f64().to_bits(), "e1 = {e1}");
            }
        }
        let (n, d) = (9, 7);
        let wave = |k: usize| (k as f64 * 0.37).sin() + 0.3;
        for scale in [-140, -100, -20, -1, 0, 1, 20, 100, 126] {
            let x: Vec<f32> = (0..n * d).map(|k| (wave(k) * 2f64.powi(scale)) as f32).collect();
            check(&x, n, d);
        }
        for scale in [-1060, -900, -20, -2] {
            let x: Vec<f64> = (0..n * d).map(|k| wave(k) * 2f64.powi(scale)).collect();
            check(&x, n, d);
        }
    }

    /// float64 values above 1 beside ones that scaling would push into the subnormal range take the general path.
    #[test]
    fn scaling_that_can_lose_bits_takes_the_general_path() {
        assert!(!raw_sums_are_exact::<f64>(1));
        assert!(raw_sums_are_exact::<f64>(0));
        assert!(raw_sums_are_exact::<f32>(128));
    }
}
