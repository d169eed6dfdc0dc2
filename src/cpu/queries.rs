//! A part of a batch's queries against the whole batch: the loss terms and the gradient that the query rows
//! `start..start + count` contribute, in O(count·N·D) work and O(count·N) memory, for a batch whose queries are
//! split across processes (docs/distributed.md). Over a partition of the queries, the parts' values add up to the
//! whole batch's E and their gradients to its ∂E/∂x (up to rounding).
//!
//! OFFICIAL's row weights q_i = (S⁺_i + S⁻_i)/Z need Z, a sum over every row: a split batch first computes its rows'
//! ln(S⁺_i + S⁻_i) ([`query_ln_mass`]), exchanges them, and hands all n of them to [`compute_queries`].

use super::distance::{center_and_scale, query_distances, row_norms, Close, Scaled};
use super::gradient::query_gradient;
use super::parallel::{for_blocks, row_blocks, threads_for_rows, with_threads, BLOCK};
use crate::batch::Batch;
use crate::error::{try_filled, Result};
use crate::official::{Official, OfficialSums};
use crate::paper::{Paper, Query};
use crate::params::{Params, Semantics};
use crate::real::{ldexp, saturate, Real};
use crate::rows::SparseRow;
use crate::scaled::{official_params, paper_params, Units};
use crate::validate;

/// The query rows of one call: rows `start..start + count` of the batch.
#[derive(Debug, Clone, Copy)]
pub struct Queries<'a> {
    pub start: usize,
    pub count: usize,
    /// OFFICIAL: ln(S⁺_k + S⁻_k) of every row k of the batch (n values, from [`query_ln_mass`] over a partition),
    /// for Z = ε + Σ_k (S⁺_k + S⁻_k); `None` only when the queries are the whole batch. PAPER: `None`.
    pub ln_mass: Option<&'a [f64]>,
}

/// The features, scaled, and the count×n distances of the query rows with their close pairs.
pub(super) struct QueryRows<T: Copy + 'static> {
    pub scaled: Scaled<T>,
    pub dist: Vec<T>,
    pub close: Close,
}

pub(super) fn query_rows<T: Real>(batch: &Batch<'_, T>, start: usize, count: usize) -> Result<QueryRows<T>> {
    let n = batch.n;
    let mut dist = try_filled(count * n, T::zero(), &format!("the {count}×{n} distance rows"))?;
    let scaled = center_and_scale(batch.x, n, batch.d);
    let norms = row_norms(&scaled);
    let close = query_distances(&scaled, batch.x, &norms, start, &mut dist);
    Ok(QueryRows { scaled, dist, close })
}

/// OFFICIAL's row sums S±_i of the query rows, one block of rows at a time.
/// (`dist` is only read; it is borrowed mutably to be cut into blocks.)
fn official_sums<T: Real>(p: &Official<T>, labels: &[T], dist: &mut [T], start: usize, n: usize) -> Vec<OfficialSums> {
    let count = dist.len() / n;
    let mut sums = vec![OfficialSums::default(); count];
    let blocks: Vec<_> = row_blocks(dist, count, n, BLOCK)
        .into_iter()
        .zip(row_blocks(&mut sums, count, 1, BLOCK))
        .collect();
    for_blocks(blocks, |b, (rows, out)| {
        let mut list = SparseRow::new();
        for (k, (row, s)) in rows.chunks_exact(n).zip(out).enumerate() {
            *s = p.row_sums(start + b * BLOCK + k, labels, row, &mut list);
        }
    });
    sums
}

/// ln(S⁺_i + S⁻_i) (OFFICIAL) of each query row `start..start + count` into `out` (count values): what the parts of
/// a split batch exchange before [`compute_queries`].
pub fn query_ln_mass<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    start: usize,
    count: usize,
    out: &mut [f64],
) -> Result<()> {
    validate::host_batch(params, &batch, None, None)?;
    validate::query_range(start, count, batch.n)?;
    validate::official_only(params, "ln masses")?;
    validate::len("ln_mass", out.len(), count)?;
    with_threads(threads_for_rows(count, batch.n, batch.d), || {
        let mut rows = query_rows(&batch, start, count)?;
        let p = official_params(
            params,
            Units::from(&rows.scaled),
            params.semantics == Semantics::OfficialV2020,
        );
        let sums = official_sums(&p, batch.labels, &mut rows.dist, start, batch.n);
        for (o, s) in out.iter_mut().zip(&sums) {
            *o = Official::<T>::ln_mass(s);
        }
        Ok(())
    })
}

/// The part of E that the query rows contribute, and (when asked) `grad` = loss_weight · its gradient with respect
/// to every row of the batch (n×d):
/// - PAPER: (1/N) Σ_{i ∈ Q} [L_P(i) + λ L_N(i)]; the gradient reaches each query and, unless `query_only`, the
///   other end j of each of its pairs (the term of B_ij in A = B + Bᵀ);
/// - OFFICIAL: (1/P) Σ_{i ∈ Q} Σ_{j > i} [the reported value's pair term], P = N(N − 1)/2; the gradient is the query
///   rows' own (zero elsewhere), with q_i from `queries.ln_mass`.
///
/// N is the whole batch's n throughout. Every argument is checked before any output is written.
pub fn compute_queries<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    queries: Queries<'_>,
    loss_weight: T,
    grad: Option<&mut [T]>,
) -> Result<T> {
    let Queries { start, count, ln_mass } = queries;
    validate::host_batch(params, &batch, grad.as_deref(), None)?;
    validate::query_range(start, count, batch.n)?;
    validate::loss_weight(loss_weight)?;
    let official = params.semantics != Semantics::Paper;
    match ln_mass {
        Some(m) => {
            validate::official_only(params, "ln_mass")?;
            validate::len("ln_mass", m.len(), batch.n)?;
            validate::finite_f64s("ln_mass", m)?;
        }
        None if official && (start, count) != (0, batch.n) => {
            return Err(validate::ln_mass_needed(start, count, batch.n));
        }
        None => {}
    }
    with_threads(threads_for_rows(count, batch.n, batch.d), || {
        let (n, labels) = (batch.n, batch.labels);
        let QueryRows {
            scaled,
            mut dist,
            close,
        } = query_rows(&batch, start, count)?;
        let units = Units::from(&scaled);
        let e = units.exp;
        let (value, grad_scale, symmetric) = if official {
            let p = official_params(params, units, params.semantics == Semantics::OfficialV2020);
            let reported = dist
                .chunks_exact(n)
                .enumerate()
                .fold(0f64, |a, (k, row)| a + p.reported_row(start + k, labels, row).f64());
            let sums = official_sums(&p, labels, &mut dist, start, n);
            let own: Vec<f64>;
            let ln_mass = match ln_mass {
                Some(m) => m,
                None => {
                    own = sums.iter().map(Official::<T>::ln_mass).collect();
                    &own
                }
            };
            let ln_z = Official::<T>::ln_z(ln_mass);
            official_coefs(&p, labels, &mut dist, &sums, ln_z, start, n);
            (Official::<T>::value(reported, n, e), p.grad_scale(e), false)
        } else {
            let p = paper_params(params, units);
            let total = paper_coefs(&p, labels, &mut dist, start, n);
            (
                Paper::<T>::value(total, n, e),
                Paper::<T>::GRAD_SCALE,
                !params.query_only,
            )
        };
        if let Some(g) = grad {
            let factor = ldexp(loss_weight, grad_scale);
            query_gradient(&mut dist, start, symmetric, &scaled, &close, batch.x, factor, g);
        }
        Ok(saturate(value))
    })
}

/// PAPER: each query row's coefficients B_ij written over its distances; returns Σ_{i ∈ Q} [L_P(i) + λ L_N(i)]
/// (scaled units, summed in row order).
fn paper_coefs<T: Real>(p: &Paper<T>, labels: &[T], dist: &mut [T], start: usize, n: usize) -> f64 {
    let count = dist.len() / n;
    let mut losses = vec![T::zero(); count];
    let blocks: Vec<_> = row_blocks(dist, count, n, BLOCK)
        .into_iter()
        .zip(row_blocks(&mut losses, count, 1, BLOCK))
        .collect();
    for_blocks(blocks, |b, (rows, out)| {
        let mut w = Vec::new();
        for (k, (row, o)) in rows.chunks_exact_mut(n).zip(out).enumerate() {
            let q = Query::of_batch(labels, start + b * BLOCK + k);
            *o = p.row_dense(q, p.inv_n, labels, row, &mut w).loss;
        }
    });
    losses.iter().fold(0f64, |a, l| a + l.f64())
}

/// OFFICIAL: each query row's coefficients B_ij, with q_i = exp(ln mass_i − ln Z), written over its distances.
fn official_coefs<T: Real>(
    p: &Official<T>,
    labels: &[T],
    dist: &mut [T],
    sums: &[OfficialSums],
    ln_z: f64,
    start: usize,
    n: usize,
) {
    let count = sums.len();
    for_blocks(row_blocks(dist, count, n, BLOCK), |b, rows| {
        let mut list = SparseRow::new();
        for (k, row) in rows.chunks_exact_mut(n).enumerate() {
            let (i, s) = (start + b * BLOCK + k, &sums[b * BLOCK + k]);
            let q = (Official::<T>::ln_mass(s) - ln_z).exp();
            p.row_sums(i, labels, row, &mut list);
            p.row_coef(i, labels, row, s, q, &mut list);
            row.iter_mut().for_each(|v| *v = T::zero());
            for &(j, v) in &list {
                row[j as usize] = v;
            }
        }
    });
}
