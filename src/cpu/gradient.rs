//! The gradient from the coefficients: ∂E/∂x_i = factor · Σ_j A_ij (x_i − x_j), as sparse sums or as one matrix
//! product (Σ_j A_ij) x_i − (A X)_i, with the close pairs' terms along their exact differences.

use super::distance::{exact_diff, Close, Scaled};
use super::parallel::{for_blocks, for_row_ranges, row_blocks, SharedMatrix, BLOCK};
use super::passes::Coefs;
use crate::real::{lane_sum, saturate, Real};
use crate::rows::SparseRow;
use multiversion::multiversion;

/// Rows per block of the dense gradient product: large enough that packing X is amortised. Fixed (not derived
/// from the thread count), so results do not depend on it.
const GEMM_BLOCK: usize = 256;

/// ∂E/∂x_i = factor · Σ_j A_ij (x_i − x_j) with A = B (query-only) or B + Bᵀ (`symmetric`: each pair acts through
/// both endpoints' lists): sparse sums, or one dense product (Σ_j A_ij) x_i − (A X)_i. The choice depends only on
/// the input, so results do not depend on the thread count. Both forms cancel, by |A_ij| (‖x_i‖ + ‖x_j‖) ε, which
/// is small against |A_ij| d_ij except for the close pairs: those are taken out of A and added last, along their
/// exact differences ([`close_terms`]).
pub(crate) fn gradient<T: Real>(
    mut coefs: Coefs<T>,
    s: &Scaled<T>,
    close: &Close,
    input: &[T],
    factor: T,
    grad: &mut [T],
) {
    let (n, d) = (s.n, s.d);
    if let Coefs::Dense { a, symmetric: true } = &mut coefs {
        symmetrize_add(a, n);
    }
    let close_a = (!close.is_empty()).then(|| take_close(&mut coefs, close));
    match coefs {
        Coefs::Sparse { rows: b, symmetric } => {
            let mut bt: Vec<SparseRow<T>> = Vec::new();
            if symmetric {
                bt = vec![Vec::new(); n];
                for (j, row) in b.iter().enumerate() {
                    for &(k, v) in row {
                        bt[k as usize].push((j as u32, v));
                    }
                }
            }
            for_blocks(row_blocks(grad, n, d, BLOCK), |blk, rows| {
                for (k, g) in rows.chunks_exact_mut(d).enumerate() {
                    let i = blk * BLOCK + k;
                    let terms = b[i].iter().chain(bt.get(i).into_iter().flatten());
                    sparse_row(g, terms, &s.x, i, factor);
                }
            });
        }
        Coefs::Dense { a, .. } => {
            for_blocks(row_blocks(grad, n, d, GEMM_BLOCK), |b, rows| {
                let r0 = b * GEMM_BLOCK;
                let r1 = r0 + rows.len() / d;
                // SAFETY: A[r0..r1] is (r1−r0)×n, X is n×d, the output rows (r1−r0)×d; disjoint buffers.
                unsafe {
                    T::gemm(
                        r1 - r0,
                        n,
                        d,
                        -T::one(),
                        a.as_ptr().add(r0 * n),
                        n as isize,
                        1,
                        s.x.as_ptr(),
                        d as isize,
                        1,
                        T::zero(),
                        rows.as_mut_ptr(),
                        d as isize,
                        1,
                    );
                }
                for i in r0..r1 {
                    let r = lane_sum(&a[i * n..(i + 1) * n]);
                    finish_row(
                        &mut rows[(i - r0) * d..(i - r0 + 1) * d],
                        r,
                        &s.x[i * d..(i + 1) * d],
                        factor,
                    );
                }
            });
        }
    }
    if let Some(close_a) = close_a {
        close_terms(&close_a, close, s, input, factor, grad);
    }
}

/// The gradient of a part of the queries ([`super::queries`]): `b` holds B_ij of query rows
/// `start..start + count` (count×n, taken apart here), and `grad` (n×d) receives
///   factor · [Σ_j B_ij (x_i − x_j)] on each query row i, and with `symmetric` also
///   factor · [Σ_{i ∈ Q} B_ij (x_j − x_i)] on every row j (each pair acting on its other end, B's half of A = B + Bᵀ),
/// as two matrix products, (Σ_j B_ij) x_i − (B X)_i and (Σ_i B_ij) x_j − (Bᵀ X_Q)_j, with the close pairs' terms
/// along their exact differences as in [`gradient`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn query_gradient<T: Real>(
    b: &mut [T],
    start: usize,
    symmetric: bool,
    s: &Scaled<T>,
    close: &Close,
    input: &[T],
    factor: T,
    grad: &mut [T],
) {
    let (n, d) = (s.n, s.d);
    // The close pairs leave B; their terms are added last.
    let close_b: Vec<Vec<T>> = close
        .rows
        .iter()
        .enumerate()
        .map(|(k, js)| {
            js.iter()
                .map(|&j| std::mem::replace(&mut b[k * n + j as usize], T::zero()))
                .collect()
        })
        .collect();
    let b = &*b;
    // As in [`gradient`]: a sparse term costs about four times a dense one.
    let nnz = b.iter().filter(|&&v| v != T::zero()).count();
    if nnz.saturating_mul(4) > b.len() {
        dense_query_terms(b, start, symmetric, s, grad);
    } else {
        sparse_query_terms(b, start, symmetric, s, grad);
    }
    grad.iter_mut().for_each(|v| *v = saturate(*v * factor));
    // Close pairs, in query order: along x_i − x_j, in f64.
    let mut diff = vec![0f64; d];
    for (k, (js, vals)) in close.rows.iter().zip(&close_b).enumerate() {
        let i = start + k;
        for (&j, &a) in js.iter().zip(vals) {
            exact_diff(s, input, i, j as usize, &mut diff);
            let f = factor.f64() * a.f64();
            let mut add = |row: usize, sign: f64| {
                for (o, &v) in grad[row * d..(row + 1) * d].iter_mut().zip(&diff) {
                    *o = saturate(*o + T::of(sign * f * v));
                }
            };
            add(i, 1.0);
            if symmetric {
                add(j as usize, -1.0);
            }
        }
    }
}

/// [`query_gradient`]'s sums without `factor`, as two matrix products (see there).
fn dense_query_terms<T: Real>(b: &[T], start: usize, symmetric: bool, s: &Scaled<T>, grad: &mut [T]) {
    let (n, d) = (s.n, s.d);
    let count = b.len() / n;
    let xq = &s.x[start * d..(start + count) * d];
    grad.iter_mut().for_each(|v| *v = T::zero());
    if symmetric && count > 0 {
        // Column sums of B in query order, lane by lane.
        let mut col = vec![T::zero(); n];
        for row in b.chunks_exact(n) {
            col.iter_mut().zip(row).for_each(|(c, &v)| *c = *c + v);
        }
        for_blocks(row_blocks(grad, n, d, GEMM_BLOCK), |blk, rows| {
            let j0 = blk * GEMM_BLOCK;
            let m = rows.len() / d;
            // SAFETY: A = B[.., j0..j0 + m]ᵀ (m×count: row stride 1, column stride n), X_Q count×d, the output m×d;
            // all in bounds, disjoint.
            unsafe {
                T::gemm(
                    m,
                    count,
                    d,
                    -T::one(),
                    b.as_ptr().add(j0),
                    1,
                    n as isize,
                    xq.as_ptr(),
                    d as isize,
                    1,
                    T::zero(),
                    rows.as_mut_ptr(),
                    d as isize,
                    1,
                );
            }
            for (k, g) in rows.chunks_exact_mut(d).enumerate() {
                let j = j0 + k;
                let c = col[j];
                g.iter_mut()
                    .zip(&s.x[j * d..(j + 1) * d])
                    .for_each(|(o, &x)| *o = *o + c * x);
            }
        });
    }
    // The query rows' own sums: −(B X)_i + (Σ_j B_ij) x_i, added to what their rows already hold.
    let own_rows = &mut grad[start * d..(start + count) * d];
    for_blocks(row_blocks(own_rows, count, d, GEMM_BLOCK), |blk, rows| {
        let r0 = blk * GEMM_BLOCK;
        let m = rows.len() / d;
        // SAFETY: B[r0..r0 + m] is m×n, X n×d, the output m×d; disjoint buffers.
        unsafe {
            T::gemm(
                m,
                n,
                d,
                -T::one(),
                b.as_ptr().add(r0 * n),
                n as isize,
                1,
                s.x.as_ptr(),
                d as isize,
                1,
                T::one(),
                rows.as_mut_ptr(),
                d as isize,
                1,
            );
        }
        for (k, g) in rows.chunks_exact_mut(d).enumerate() {
            let r = lane_sum(&b[(r0 + k) * n..(r0 + k + 1) * n]);
            g.iter_mut()
                .zip(&xq[(r0 + k) * d..(r0 + k + 1) * d])
                .for_each(|(o, &x)| *o = *o + r * x);
        }
    });
}

/// [`query_gradient`]'s sums without `factor`, over B's nonzero terms: row i sums its own row of B (a query) and
/// its column (the pairs whose other end it is, when `symmetric`), Σ v (x_i − x_j) in a fixed order.
fn sparse_query_terms<T: Real>(b: &[T], start: usize, symmetric: bool, s: &Scaled<T>, grad: &mut [T]) {
    let (n, d) = (s.n, s.d);
    let rows: Vec<SparseRow<T>> = b
        .chunks_exact(n)
        .map(|r| {
            r.iter()
                .enumerate()
                .filter(|&(_, &v)| v != T::zero())
                .map(|(j, &v)| (j as u32, v))
                .collect()
        })
        .collect();
    let mut columns: Vec<SparseRow<T>> = vec![Vec::new(); if symmetric { n } else { 0 }];
    if symmetric {
        for (k, row) in rows.iter().enumerate() {
            for &(j, v) in row {
                columns[j as usize].push(((start + k) as u32, v));
            }
        }
    }
    let own = |i: usize| i.checked_sub(start).and_then(|k| rows.get(k));
    for_blocks(row_blocks(grad, n, d, BLOCK), |blk, out| {
        for (k, g) in out.chunks_exact_mut(d).enumerate() {
            let i = blk * BLOCK + k;
            g.iter_mut().for_each(|v| *v = T::zero());
            let mut r = T::zero();
            for &(j, v) in own(i).into_iter().flatten().chain(columns.get(i).into_iter().flatten()) {
                r = r + v;
                let xj = &s.x[j as usize * d..(j as usize + 1) * d];
                g.iter_mut().zip(xj).for_each(|(o, &x)| *o = *o - v * x);
            }
            g.iter_mut()
                .zip(&s.x[i * d..(i + 1) * d])
                .for_each(|(o, &x)| *o = *o + r * x);
        }
    });
}

/// The final A_ij of every close pair (row i's list in `close` order), set to zero in `coefs`. Sparse B is
/// symmetrised here as the gradient would (A_ij = B_ij + B_ji), so the pair leaves both endpoints' sums.
fn take_close<T: Real>(coefs: &mut Coefs<T>, close: &Close) -> Vec<Vec<T>> {
    let n = close.rows.len();
    match coefs {
        Coefs::Sparse { rows: b, symmetric } => {
            let find = |row: &SparseRow<T>, j: u32| row.binary_search_by_key(&j, |&(k, _)| k).ok();
            let at = |i: usize, j: u32| find(&b[i], j).map_or(T::zero(), |k| b[i][k].1);
            let vals: Vec<Vec<T>> = (0..n)
                .map(|i| {
                    close.rows[i]
                        .iter()
                        .map(|&j| {
                            at(i, j)
                                + if *symmetric {
                                    at(j as usize, i as u32)
                                } else {
                                    T::zero()
                                }
                        })
                        .collect()
                })
                .collect();
            for (row, partners) in b.iter_mut().zip(&close.rows) {
                for &j in partners {
                    if let Some(k) = find(row, j) {
                        row[k].1 = T::zero();
                    }
                }
            }
            vals
        }
        Coefs::Dense { a, .. } => (0..n)
            .map(|i| {
                close.rows[i]
                    .iter()
                    .map(|&j| std::mem::replace(&mut a[i * n + j as usize], T::zero()))
                    .collect()
            })
            .collect(),
    }
}

/// g_i ← g_i + factor · Σ_close A_ij (x_i − x_j), the differences exact ([`exact_diff`]) and the sum in f64.
fn close_terms<T: Real>(close_a: &[Vec<T>], close: &Close, s: &Scaled<T>, input: &[T], factor: T, grad: &mut [T]) {
    let (n, d) = (s.n, s.d);
    for_blocks(row_blocks(grad, n, d, BLOCK), |b, rows| {
        let (mut diff, mut acc) = (vec![0f64; d], vec![0f64; d]);
        for (k, g) in rows.chunks_exact_mut(d).enumerate() {
            let i = b * BLOCK + k;
            if close.rows[i].is_empty() {
                continue;
            }
            acc.iter_mut().for_each(|v| *v = 0.0);
            for (&j, &a) in close.rows[i].iter().zip(&close_a[i]) {
                exact_diff(s, input, i, j as usize, &mut diff);
                acc.iter_mut().zip(&diff).for_each(|(o, &v)| *o += a.f64() * v);
            }
            for (o, &v) in g.iter_mut().zip(&acc) {
                *o = saturate(*o + T::of(factor.f64() * v));
            }
        }
    });
}

/// A := A + Aᵀ in place, in parallel: the block of rows r0..r1 owns every pair of tiles (I, J), (J, I) with I
/// its own tile and J ≥ I, so no element is touched by two threads. The transposed tile goes through a small
/// buffer, so that both sides are read and written along rows.
fn symmetrize_add<T: Real>(a: &mut [T], n: usize) {
    const TILE: usize = 64;
    let base = SharedMatrix::new(a);
    for_row_ranges(n, TILE, |r0, r1| {
        let mut buf = [T::zero(); TILE * TILE];
        for j0 in (r0..n).step_by(TILE) {
            let j1 = (j0 + TILE).min(n);
            // buf[i][j] = A[j][i] for i in r0..r1, j in j0..j1.
            for j in j0..j1 {
                // SAFETY: rows j0..j1, columns r0..r1 are within A and owned by this block (see above).
                let src = unsafe { base.slice(j * n + r0, r1 - r0) };
                for (i, &v) in src.iter().enumerate() {
                    buf[i * TILE + (j - j0)] = v;
                }
            }
            for i in r0..r1 {
                // SAFETY: row i, columns j0..j1: within A and owned by this block.
                let dst = unsafe { base.slice_mut(i * n + j0, j1 - j0) };
                let b = &mut buf[(i - r0) * TILE..(i - r0) * TILE + (j1 - j0)];
                for (k, (o, t)) in dst.iter_mut().zip(b.iter_mut()).enumerate() {
                    // On the diagonal tile only j > i is summed; the rest of it is left as it is.
                    if j0 != r0 || j0 + k > i {
                        let s = *o + *t;
                        *o = s;
                        *t = s;
                    }
                }
            }
            for j in j0..j1 {
                // SAFETY: as above.
                let dst = unsafe { base.slice_mut(j * n + r0, r1 - r0) };
                for (i, o) in dst.iter_mut().enumerate() {
                    let on_diagonal_tile = j0 == r0;
                    // Diagonal tile: write back only the strictly lower part (j > i+r0 means (j, i) below).
                    if !on_diagonal_tile || j > r0 + i {
                        *o = buf[i * TILE + (j - j0)];
                    }
                }
            }
        }
    });
}

/// One row of the sparse form: g = factor · [(Σ_j v_j) x_i − Σ_j v_j x_j] over the terms (j, v_j), in their order.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2"))]
fn sparse_row<'a, T: Real>(g: &mut [T], terms: impl Iterator<Item = &'a (u32, T)>, x: &[T], i: usize, factor: T) {
    let d = g.len();
    g.iter_mut().for_each(|v| *v = T::zero());
    let mut r = T::zero();
    for &(j, v) in terms {
        r = r + v;
        let xj = &x[j as usize * d..(j as usize + 1) * d];
        g.iter_mut().zip(xj).for_each(|(o, &x)| *o = *o - v * x);
    }
    finish_row(g, r, &x[i * d..(i + 1) * d], factor);
}

/// g ← factor · (g + r x_i), saturated.
#[inline(always)]
fn finish_row<T: Real>(g: &mut [T], r: T, xi: &[T], factor: T) {
    for (o, &xv) in g.iter_mut().zip(xi) {
        *o = saturate((*o + r * xv) * factor);
    }
}
