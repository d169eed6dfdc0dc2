//! The CPU backend: one loss evaluation as a pipeline of small steps, each in its own module:
//! validation ([`crate::validate`]), distances and close pairs ([`distance`]), the semantics' row coefficients
//! ([`semantics`], over the row passes of [`passes`]), and the gradient ([`gradient`]); threads from
//! [`parallel`].

pub(crate) mod distance;
pub(crate) mod gradient;
pub mod normalize;
pub(crate) mod parallel;
pub(crate) mod passes;
pub mod queries;
pub(crate) mod recycle;
pub mod references;
pub(crate) mod semantics;

use crate::batch::{Batch, STATS_PER_SAMPLE};
use crate::error::{try_filled, Result};
use crate::params::Params;
use crate::real::{ldexp, saturate, Real};
use crate::rows::RowStats;
use crate::scaled::Units;
use crate::validate;
use distance::{center_and_scale, pairwise, row_norms};
use gradient::gradient;
use parallel::{threads_for, with_threads};
use semantics::RowStage;

/// Computes the loss of `batch` under `params` and, when asked, `grad` = loss_weight · ∂E/∂x (n×d) and `stats`
/// (n×4: L_P(i), L_N(i), |P*_i|, |N*_i|). E is L for PAPER and the reported value for OFFICIAL (see docs/semantics.md).
///
/// Every argument is checked before any output is written: on error nothing is written.
pub fn compute<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    loss_weight: T,
    grad: Option<&mut [T]>,
    stats: Option<&mut [T]>,
) -> Result<T> {
    compute_rows(params, batch, None, loss_weight, grad, stats)
}

/// [`compute`] of E = Σ_i u_i [L_P(i) + λ L_N(i)] for per-query weights u (n finite values, PAPER only): the
/// per-query losses' reduction chosen by the caller (u_i = 1 for a sum, an upstream gradient for per-query
/// losses), its gradient in the same pass. `compute` is u_i = 1/N.
pub fn compute_weighted<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    weights: &[T],
    loss_weight: T,
    grad: Option<&mut [T]>,
    stats: Option<&mut [T]>,
) -> Result<T> {
    validate::query_weights(params, weights, batch.n)?;
    compute_rows(params, batch, Some(weights), loss_weight, grad, stats)
}

fn compute_rows<T: Real>(
    params: &Params,
    batch: Batch<'_, T>,
    weights: Option<&[T]>,
    loss_weight: T,
    grad: Option<&mut [T]>,
    stats: Option<&mut [T]>,
) -> Result<T> {
    validate::host_batch(params, &batch, grad.as_deref(), stats.as_deref())?;
    validate::loss_weight(loss_weight)?;
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

        let RowStage {
            value,
            coefs,
            grad_scale,
        } = semantics::rows(params, Units::from(&scaled), labels, dist, &mut row_stats, weights);

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
