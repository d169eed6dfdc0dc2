//! Queries against references (a cross-batch memory, another rank's rows): each query i of Q (n_q×d) ranked
//! against the n_r rows of R, leaving out its own copy there (`own[i]`, when R holds one), with the loss
//! E = (1/n_q) Σ_i [λ_P L_P(i) + λ L_N(i)] (PAPER, every option) and its gradient for Q and, on request, for R.
//!
//! Computed as the query rows 0..n_q of the stacked batch [Q; R] (one centring and scaling for both, as the CPU
//! pipeline does for a batch): the n_q×(n_q + n_r) distances, whose Q columns are then zeroed so that queries never
//! rank each other, the row stage over the R columns, and the query-range gradient (its reference side for R).
//! O(n_q·(n_q + n_r)) memory for the distances, no n_q×n_r×d intermediate.

use super::gradient::query_gradient;
use super::parallel::{for_blocks, row_blocks, threads_for_rows, with_threads, BLOCK};
use super::queries::{query_rows, QueryRows};
use crate::batch::Batch;
use crate::error::{try_filled, ErrorKind, Result, RllError};
use crate::paper::{Paper, Query};
use crate::params::{Params, Semantics};
use crate::real::{ldexp, saturate, Real};
use crate::scaled::{paper_lists, Units};
use crate::validate;

/// The references of a call: n rows of d values with their labels, and for each query the index of its own row
/// among them (−1: none), left out of its ranked list; `own: None` when R holds no query.
#[derive(Debug, Clone, Copy)]
pub struct References<'a, T> {
    pub x: &'a [T],
    pub labels: &'a [T],
    pub n: usize,
    pub own: Option<&'a [i64]>,
}

/// The loss of the queries `queries` ranked against `refs` (see the module's documentation), and, when asked,
/// `grad` = loss_weight · ∂E/∂Q (n_q×d) and `ref_grad` = loss_weight · ∂E/∂R (n_r×d). `params.query_only` does not
/// apply (R's side is its own output). Every argument is checked before any output is written.
pub fn compute_references<T: Real>(
    params: &Params,
    queries: Batch<'_, T>,
    refs: References<'_, T>,
    loss_weight: T,
    grad: Option<&mut [T]>,
    ref_grad: Option<&mut [T]>,
) -> Result<T> {
    check(params, &queries, &refs, grad.as_deref(), ref_grad.as_deref())?;
    validate::loss_weight(loss_weight)?;
    let (nq, nr, d) = (queries.n, refs.n, queries.d);
    let n = nq + nr;
    with_threads(threads_for_rows(nq, n, d), || {
        let what = format!("the stacked {n}×{d} queries and references");
        let mut x = try_filled(n * d, T::zero(), &what)?;
        x[..nq * d].copy_from_slice(queries.x);
        x[nq * d..].copy_from_slice(refs.x);
        let labels: Vec<T> = queries.labels.iter().chain(refs.labels).copied().collect();
        let stacked = Batch {
            x: &x,
            labels: &labels,
            n,
            d,
        };
        let QueryRows {
            scaled,
            mut dist,
            close,
        } = query_rows(&stacked, 0, nq)?;
        let units = Units::from(&scaled);
        let p = paper_lists::<T>(params, units, nq, nr);
        let total = reference_coefs(&p, queries.labels, &refs, &mut dist, n);
        let value = Paper::<T>::value(total, nq, units.exp);
        if grad.is_some() || ref_grad.is_some() {
            let mut g = try_filled(n * d, T::zero(), &format!("the {n}×{d} gradient"))?;
            let factor = ldexp(loss_weight, Paper::<T>::GRAD_SCALE);
            query_gradient(&mut dist, 0, ref_grad.is_some(), &scaled, &close, &x, factor, &mut g);
            if let Some(out) = grad {
                out.copy_from_slice(&g[..nq * d]);
            }
            if let Some(out) = ref_grad {
                out.copy_from_slice(&g[nq * d..]);
            }
        }
        Ok(saturate(value))
    })
}

/// Each query row's coefficients B_ij over its R columns (its Q columns zeroed), written over its distances in
/// the stacked rows of `n` = n_q + n_r columns; returns Σ_i [λ_P L_P(i) + λ L_N(i)] (scaled units, in row order).
fn reference_coefs<T: Real>(
    p: &Paper<T>,
    query_labels: &[T],
    refs: &References<'_, T>,
    dist: &mut [T],
    n: usize,
) -> f64 {
    let nq = query_labels.len();
    let mut losses = vec![T::zero(); nq];
    let blocks: Vec<_> = row_blocks(dist, nq, n, BLOCK)
        .into_iter()
        .zip(row_blocks(&mut losses, nq, 1, BLOCK))
        .collect();
    for_blocks(blocks, |b, (rows, out)| {
        let mut w = Vec::new();
        for (k, (row, o)) in rows.chunks_exact_mut(n).zip(out).enumerate() {
            let i = b * BLOCK + k;
            let own = refs.own.map_or(-1, |own| own[i]);
            let q = Query {
                label: query_labels[i],
                own: usize::try_from(own).unwrap_or(usize::MAX),
            };
            let (among_queries, list) = row.split_at_mut(nq);
            among_queries.iter_mut().for_each(|v| *v = T::zero());
            *o = p.row_dense(q, p.inv_n, refs.labels, list, &mut w).loss;
        }
    });
    losses.iter().fold(0f64, |a, l| a + l.f64())
}

/// The checks of [`compute_references`]: PAPER, both sets as batches of the same d, the outputs' sizes, and each
/// own index inside R with the query's label.
fn check<T: Real>(
    params: &Params,
    q: &Batch<'_, T>,
    r: &References<'_, T>,
    grad: Option<&[T]>,
    ref_grad: Option<&[T]>,
) -> Result<()> {
    if params.semantics != Semantics::Paper {
        return Err(validate::references_semantics(params));
    }
    validate::host_batch(params, q, grad, None)?;
    let refs = Batch {
        x: r.x,
        labels: r.labels,
        n: r.n,
        d: q.d,
    };
    validate::host_batch(params, &refs, ref_grad, None)
        .map_err(|e| RllError::new(e.kind, format!("references: {}", e.message)))?;
    if let Some(own) = r.own {
        validate::len("own", own.len(), q.n)?;
        for (i, &j) in own.iter().enumerate() {
            if j < -1 || j >= r.n as i64 {
                return Err(RllError::size(format!(
                    "own[{i}] = {j}: an index of the {} references or -1 expected",
                    r.n
                )));
            }
            if j >= 0 && r.labels[j as usize] != q.labels[i] {
                return Err(RllError::new(
                    ErrorKind::Parameter,
                    format!(
                        "own[{i}] = {j}: reference {j}'s label {} differs from query {i}'s label {}",
                        r.labels[j as usize], q.labels[i]
                    ),
                ));
            }
        }
    }
    Ok(())
}
