//! One loss evaluation: validation, distances, the semantics' row coefficients, and the gradient
//! ∂E/∂x_i = Σ_j A_ij (x_i − x_j), as sparse sums or as one matrix product (Σ_j A_ij) x_i − (A X)_i.

use crate::distance::{center_and_scale, exact_diff, pairwise, row_norms, Close, Scaled};
use crate::error::{try_filled, ErrorKind, Result, RllError};
use crate::official::{Official, RowSums};
use crate::parallel::{for_row_blocks, threads_for, with_threads, SharedRows};
use crate::params::{Params, Semantics};
use crate::real::{ldexp, saturate, Real};
use crate::rows::{RowStats, SparseRow};
use crate::scaled::{official_params, paper_params, Units};

/// Number of per-sample statistics: L_P(i), L_N(i), |P*_i|, |N*_i|.
pub const STATS_PER_SAMPLE: usize = 4;

/// Rows per parallel block in the row passes and the gradient product.
const BLOCK: usize = 32;

/// Rows per block of the dense gradient product: large enough that packing X is amortised. Fixed (not derived
/// from the thread count), so results do not depend on it.
const GEMM_BLOCK: usize = 256;

/// The inputs of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, T> {
    /// n×d features, row-major.
    pub x: &'a [T],
    /// n class ids, compared with `==`.
    pub labels: &'a [T],
    pub n: usize,
    pub d: usize,
}

/// Computes the loss of `batch` under `params` and, when asked, `grad` = loss_weight · ∂E/∂x (n×d) and `stats`
/// (n×4: L_P(i), L_N(i), |P*_i|, |N*_i|). E is L for PAPER and the reported value for OFFICIAL (see README).
///
/// Every argument is checked before any output is written: on error nothing is written.
pub fn compute<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    loss_weight: T,
    grad: Option<&mut [T]>,
    stats: Option<&mut [T]>,
) -> Result<T> {
    validate(params, &batch, loss_weight, grad.as_deref(), stats.as_deref())?;
    // The thread count for this call, from its size (results do not depend on it).
    with_threads(threads_for(batch.n, batch.d), || {
        let Batch { labels, n, d, .. } = batch;
        // The N×N matrix is the call's one large buffer (the dense coefficients reuse it): refused, not aborted.
        let mut dist = try_filled(n * n, T::zero(), &format!("the {n}×{n} distance matrix"))?;
        let scaled = center_and_scale(batch.x, n, d);
        let norms = row_norms(&scaled);
        let close = pairwise(&scaled, batch.x, &norms, &mut dist);
        let e = scaled.exp;
        let mut row_stats = vec![RowStats::default(); n];

        let (value, coefs, grad_scale) = match params.semantics {
            Semantics::Paper => {
                let p = paper_params(params, Units::from(&scaled));
                let symmetric = !params.query_only;
                let dense = is_dense(&dist, labels, p.beta_p, p.beta_n, symmetric);
                let coefs = coef_rows(dist, n, dense, &mut row_stats, |i, drow, sc| {
                    if dense {
                        p.row_dense(i, labels, drow, &mut sc.w)
                    } else {
                        p.row(i, labels, drow, &mut sc.list)
                    }
                });
                let total = row_stats.iter().fold(0f64, |a, r| a + r.loss.f64());
                (ldexp(T::of(total / n as f64), e), coefs.symmetric(symmetric), 0)
            }
            Semantics::OfficialV2020 | Semantics::OfficialV2019 => {
                let v2020 = params.semantics == Semantics::OfficialV2020;
                let p = official_params(params, Units::from(&scaled), v2020);
                let theta = ldexp(T::of(params.alpha as f64), -e);
                let m = ldexp(T::of(params.margin as f64), -e);
                let sum = (0..n).fold(0f64, |a, i| {
                    a + Official::reported_row(i, labels, &dist[i * n..(i + 1) * n], theta, m).f64()
                });
                let value = Official::<T>::value(sum, n, e);
                let dense = is_dense(&dist, labels, p.beta_p, p.beta_n, false);
                // Pass 1: the sums S±_i; then Z and q_i; pass 2: the coefficients. A dense row recomputes its weights
                // in pass 2 rather than keeping N² of them.
                let mut sums = vec![RowSums::default(); n];
                let mut lists: Vec<SparseRow<T>> = vec![Vec::new(); if dense { 0 } else { n }];
                par_rows(
                    n,
                    &mut sums,
                    |i, s, scratch| {
                        *s = p.row_sums(i, labels, &dist[i * n..(i + 1) * n], scratch);
                        scratch
                    },
                    (!dense).then_some(&mut lists),
                );
                let ln_mass: Vec<f64> = sums.iter().map(Official::<T>::ln_mass).collect();
                let ln_z = Official::<T>::ln_z(&ln_mass);
                let q = |i: usize| (ln_mass[i] - ln_z).exp();
                let coefs = if dense {
                    coef_rows(dist, n, true, &mut row_stats, |i, drow, sc| {
                        p.row_sums(i, labels, drow, &mut sc.list);
                        let st = p.row_coef(i, labels, drow, &sums[i], q(i), &mut sc.list);
                        drow.iter_mut().for_each(|v| *v = T::zero());
                        for &(j, v) in &sc.list {
                            drow[j as usize] = v;
                        }
                        st
                    })
                } else {
                    let ls = SharedRows::new(&mut lists, n, 1);
                    let st = SharedRows::new(&mut row_stats, n, 1);
                    for_row_blocks(n, BLOCK, |r0, r1| {
                        // SAFETY: each block touches only its own rows r0..r1.
                        let (ls, st) = unsafe { (ls.rows_mut(r0, r1), st.rows_mut(r0, r1)) };
                        for i in r0..r1 {
                            st[i - r0] =
                                p.row_coef(i, labels, &dist[i * n..(i + 1) * n], &sums[i], q(i), &mut ls[i - r0]);
                        }
                    });
                    Coefs::Sparse {
                        rows: lists,
                        symmetric: false,
                    }
                };
                // V2019 pushes along raw differences, which scale with the input.
                (value, coefs, if v2020 { 0 } else { e })
            }
        };

        if let Some(stats) = stats {
            for (s, r) in stats.chunks_exact_mut(STATS_PER_SAMPLE).zip(&row_stats) {
                s[0] = ldexp(r.l_p, e);
                s[1] = ldexp(r.l_n, e);
                s[2] = T::of(r.n_pos as f64);
                s[3] = T::of(r.n_neg as f64);
            }
        }
        if let Some(grad) = grad {
            let factor = ldexp(loss_weight, grad_scale);
            gradient(coefs, &scaled, &close, batch.x, factor, grad);
        }
        Ok(saturate(value))
    })
}

pub(crate) fn validate<T: Real>(
    params: &Params,
    b: &Batch<'_, T>,
    loss_weight: T,
    grad: Option<&[T]>,
    stats: Option<&[T]>,
) -> Result<()> {
    params.validate()?;
    if b.n == 0 {
        return Err(RllError::size("n = 0: the batch is empty"));
    }
    if b.d == 0 {
        return Err(RllError::size("d = 0: the features are empty"));
    }
    let nd =
        b.n.checked_mul(b.d)
            .filter(|&nd| nd <= isize::MAX as usize / 8 && b.n <= (isize::MAX as usize / 8).isqrt())
            .ok_or_else(|| RllError::size(format!("n = {}, d = {}: too large", b.n, b.d)))?;
    if b.x.len() != nd {
        return Err(RllError::size(format!(
            "x has {} values but n·d = {}·{} = {nd}",
            b.x.len(),
            b.n,
            b.d
        )));
    }
    if b.labels.len() != b.n {
        return Err(RllError::size(format!(
            "labels has {} values but n = {}",
            b.labels.len(),
            b.n
        )));
    }
    if let Some(g) = grad {
        if g.len() != nd {
            return Err(RllError::size(format!("grad has {} values but n·d = {nd}", g.len())));
        }
    }
    if let Some(s) = stats {
        if s.len() != b.n * STATS_PER_SAMPLE {
            return Err(RllError::size(format!(
                "stats has {} values but n·{STATS_PER_SAMPLE} = {}",
                s.len(),
                b.n * STATS_PER_SAMPLE
            )));
        }
    }
    if let Some(k) = b.x.iter().position(|v| !v.is_finite()) {
        return Err(RllError::new(
            ErrorKind::NonFinite,
            format!("x[{}][{}] = {} is not finite", k / b.d, k % b.d, b.x[k]),
        ));
    }
    if let Some(i) = b.labels.iter().position(|v| !v.is_finite()) {
        return Err(RllError::new(
            ErrorKind::NonFinite,
            format!("labels[{i}] = {} is not finite", b.labels[i]),
        ));
    }
    if !loss_weight.is_finite() {
        return Err(RllError::param(format!("loss_weight = {loss_weight} is not finite")));
    }
    Ok(())
}

/// The gradient coefficients: B as sparse rows, or A (B, or B + Bᵀ once symmetrised) as a dense N×N matrix.
enum Coefs<T> {
    Sparse { rows: Vec<SparseRow<T>>, symmetric: bool },
    Dense { a: Vec<T>, symmetric: bool },
}

impl<T> Coefs<T> {
    fn symmetric(self, symmetric: bool) -> Self {
        match self {
            Coefs::Sparse { rows, .. } => Coefs::Sparse { rows, symmetric },
            Coefs::Dense { a, .. } => Coefs::Dense { a, symmetric },
        }
    }
}

/// Whether the coefficients are better kept dense: a sparse term costs about four times a dense one (gathered
/// rows, no register blocking), so dense when 4·nnz > N². Counting the sets is one cheap pass over the distances.
fn is_dense<T: Real>(dist: &[T], labels: &[T], beta_p: T, beta_n: T, symmetric: bool) -> bool {
    let n = labels.len();
    let mut counts = vec![0usize; n];
    let c = SharedRows::new(&mut counts, n, 1);
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block writes only its own rows r0..r1.
        let c = unsafe { c.rows_mut(r0, r1) };
        for i in r0..r1 {
            let row = &dist[i * n..(i + 1) * n];
            c[i - r0] = labels
                .iter()
                .zip(row)
                .filter(|&(&y, &d)| if y == labels[i] { d > beta_p } else { d < beta_n })
                .count();
        }
    });
    let nnz = counts.iter().sum::<usize>() * if symmetric { 2 } else { 1 };
    nnz.saturating_mul(4) > n * n
}

/// Per-block scratch space of the row passes.
#[derive(Default)]
struct Scratch<T> {
    list: SparseRow<T>,
    w: Vec<T>,
}

/// Runs `f(i, dist row i, scratch)` for every row (in parallel blocks) and stores its statistics in `out[i]`.
/// Dense: `f` overwrites dist row i with the row's coefficients (row i is read by row i alone, so the distance
/// buffer becomes A). Sparse: `f` leaves them in `scratch.list`, which is kept as row i.
fn coef_rows<T: Real, F>(mut dist: Vec<T>, n: usize, dense: bool, out: &mut [RowStats<T>], f: F) -> Coefs<T>
where
    F: Fn(usize, &mut [T], &mut Scratch<T>) -> RowStats<T> + Sync,
{
    let mut lists: Vec<SparseRow<T>> = vec![Vec::new(); if dense { 0 } else { n }];
    {
        let dm = SharedRows::new(&mut dist, n, n);
        let ls = SharedRows::new(&mut lists, if dense { 0 } else { n }, 1);
        let os = SharedRows::new(out, n, 1);
        for_row_blocks(n, BLOCK, |r0, r1| {
            // SAFETY: each block touches only its own rows r0..r1 of every buffer.
            let (drows, orows) = unsafe { (dm.rows_mut(r0, r1), os.rows_mut(r0, r1)) };
            let mut scratch = Scratch::default();
            for i in r0..r1 {
                orows[i - r0] = f(i, &mut drows[(i - r0) * n..(i - r0 + 1) * n], &mut scratch);
                if !dense {
                    // SAFETY: row i of `lists` belongs to this block.
                    unsafe { ls.rows_mut(i, i + 1)[0] = std::mem::take(&mut scratch.list) };
                }
            }
        });
    }
    if dense {
        Coefs::Dense {
            a: dist,
            symmetric: false,
        }
    } else {
        Coefs::Sparse {
            rows: lists,
            symmetric: false,
        }
    }
}

/// Runs `f(i, &mut out[i], scratch)` for every row; when `keep` is given, the scratch list `f` returns is kept
/// as `keep[i]`.
fn par_rows<T: Real, S: Send, F>(n: usize, out: &mut [S], f: F, keep: Option<&mut Vec<SparseRow<T>>>)
where
    F: for<'s> Fn(usize, &mut S, &'s mut SparseRow<T>) -> &'s mut SparseRow<T> + Sync,
{
    let kept = keep.is_some();
    let mut none: Vec<SparseRow<T>> = Vec::new();
    let keep = keep.unwrap_or(&mut none);
    let ks = SharedRows::new(keep, if kept { n } else { 0 }, 1);
    let os = SharedRows::new(out, n, 1);
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block touches only its own rows r0..r1.
        let orows = unsafe { os.rows_mut(r0, r1) };
        let mut scratch = Vec::new();
        for i in r0..r1 {
            let list = f(i, &mut orows[i - r0], &mut scratch);
            if kept {
                // SAFETY: row i of `keep` belongs to this block.
                unsafe { ks.rows_mut(i, i + 1)[0] = std::mem::take(list) };
            }
        }
    });
}

/// ∂E/∂x_i = factor · Σ_j A_ij (x_i − x_j) with A = B (query-only) or B + Bᵀ (`symmetric`: each pair acts through
/// both endpoints' lists): sparse sums, or one dense product (Σ_j A_ij) x_i − (A X)_i. The choice depends only on
/// the input, so results do not depend on the thread count. Both forms cancel, by |A_ij| (‖x_i‖ + ‖x_j‖) ε, which
/// is small against |A_ij| d_ij except for the close pairs: those are taken out of A and added last, along their
/// exact differences ([`close_terms`]).
fn gradient<T: Real>(mut coefs: Coefs<T>, s: &Scaled<T>, close: &Close, input: &[T], factor: T, grad: &mut [T]) {
    let (n, d) = (s.n, s.d);
    if let Coefs::Dense { a, symmetric: true } = &mut coefs {
        symmetrize_add(a, n);
    }
    let close_a = (!close.is_empty()).then(|| take_close(&mut coefs, close));
    let out = SharedRows::new(grad, n, d);
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
            for_row_blocks(n, BLOCK, |r0, r1| {
                // SAFETY: each block writes only its own rows r0..r1.
                let rows = unsafe { out.rows_mut(r0, r1) };
                for i in r0..r1 {
                    let g = &mut rows[(i - r0) * d..(i - r0 + 1) * d];
                    g.iter_mut().for_each(|v| *v = T::zero());
                    let mut r = T::zero();
                    for &(j, v) in b[i].iter().chain(bt.get(i).into_iter().flatten()) {
                        r = r + v;
                        let xj = &s.x[j as usize * d..(j as usize + 1) * d];
                        g.iter_mut().zip(xj).for_each(|(o, &x)| *o = *o - v * x);
                    }
                    finish_row(g, r, &s.x[i * d..(i + 1) * d], factor);
                }
            });
        }
        Coefs::Dense { a, .. } => {
            for_row_blocks(n, GEMM_BLOCK, |r0, r1| {
                // SAFETY: each block writes only its own rows r0..r1.
                let rows = unsafe { out.rows_mut(r0, r1) };
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
        close_terms(&close_a, close, s, input, factor, &out);
    }
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
fn close_terms<T: Real>(close_a: &[Vec<T>], close: &Close, s: &Scaled<T>, input: &[T], factor: T, out: &SharedRows<T>) {
    let d = s.d;
    let n = s.n;
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block writes only its own rows r0..r1.
        let rows = unsafe { out.rows_mut(r0, r1) };
        let (mut diff, mut acc) = (vec![0f64; d], vec![0f64; d]);
        for i in r0..r1 {
            if close.rows[i].is_empty() {
                continue;
            }
            acc.iter_mut().for_each(|v| *v = 0.0);
            for (&j, &a) in close.rows[i].iter().zip(&close_a[i]) {
                exact_diff(s, input, i, j as usize, &mut diff);
                acc.iter_mut().zip(&diff).for_each(|(o, &v)| *o += a.f64() * v);
            }
            let g = &mut rows[(i - r0) * d..(i - r0 + 1) * d];
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
    let base = SharedRows::new(a, n, n);
    for_row_blocks(n, TILE, |r0, r1| {
        let p = base.as_ptr();
        let mut buf = [T::zero(); TILE * TILE];
        for j0 in (r0..n).step_by(TILE) {
            let j1 = (j0 + TILE).min(n);
            // buf[i][j] = A[j][i] for i in r0..r1, j in j0..j1.
            for j in j0..j1 {
                // SAFETY: rows j0..j1, columns r0..r1 are within A and owned by this block (see above).
                let src = unsafe { std::slice::from_raw_parts(p.add(j * n + r0), r1 - r0) };
                for (i, &v) in src.iter().enumerate() {
                    buf[i * TILE + (j - j0)] = v;
                }
            }
            for i in r0..r1 {
                // SAFETY: row i, columns j0..j1: within A and owned by this block.
                let dst = unsafe { std::slice::from_raw_parts_mut(p.add(i * n + j0), j1 - j0) };
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
                let dst = unsafe { std::slice::from_raw_parts_mut(p.add(j * n + r0), r1 - r0) };
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

/// Σ v in eight interleaved partial sums, added in a fixed order: the same result every time, and vector code.
fn lane_sum<T: Real>(v: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = v.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(T::zero(), |a, &b| a + b);
    for c in chunks {
        for (a, &b) in acc.iter_mut().zip(c) {
            *a = *a + b;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// g ← factor · (g + r x_i), saturated.
fn finish_row<T: Real>(g: &mut [T], r: T, xi: &[T], factor: T) {
    for (o, &xv) in g.iter_mut().zip(xi) {
        *o = saturate((*o + r * xv) * factor);
    }
}
