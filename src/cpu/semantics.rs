//! The two semantics on the CPU: from the distance matrix (scaled units) to the reported value and the gradient
//! coefficients A, each pipeline calling its maths (`paper.rs`, `official.rs`) row by row.

use super::passes::{each_row, is_dense, Coefs};
use crate::official::{Official, OfficialSums};
use crate::paper::{Paper, Query};
use crate::params::{Params, Semantics};
use crate::real::Real;
use crate::rows::{RowStats, SparseRow};
use crate::scaled::{official_params, paper_params, Units};

/// What the row stage hands to the gradient: the value E (input units), the coefficients, and the power of two
/// that takes them to input units (`cuda::semantics::DeviceRowStage` is its device twin).
pub(crate) struct RowStage<T> {
    pub value: T,
    pub coefs: Coefs<T>,
    pub grad_scale: i32,
}

/// PAPER: L = (1/N) Σ_i [L_P(i) + λ L_N(i)] (with `weights` u: E = Σ_i u_i [L_P(i) + λ L_N(i)]) and A = B + Bᵀ
/// (B alone with `query_only`), rows sparse or dense ([`is_dense`]); `dist` becomes A when dense.
fn paper<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    mut dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
    weights: Option<&[T]>,
) -> RowStage<T> {
    let (n, e) = (units.n, units.exp);
    let p = paper_params(params, units);
    let symmetric = !params.query_only;
    let dense = is_dense(&mut dist, labels, p.beta_p, p.beta_n, symmetric);
    let mut lists: Vec<SparseRow<T>> = vec![Vec::new(); if dense { 0 } else { n }];
    let scale = |i: usize| weights.map_or(p.inv_n, |u| u[i]);
    each_row(&mut dist, row_stats, &mut lists, |r, sc| {
        *r.out = match r.list {
            Some(list) => p.row(Query::of_batch(labels, r.i), scale(r.i), labels, r.dist, list),
            None => p.row_dense(Query::of_batch(labels, r.i), scale(r.i), labels, r.dist, &mut sc.w),
        }
    });
    let value = match weights {
        None => Paper::<T>::value(row_stats.iter().fold(0f64, |a, r| a + r.loss.f64()), n, e),
        Some(u) => {
            let total = row_stats
                .iter()
                .zip(u)
                .fold(0f64, |a, (r, u)| a + u.f64() * r.loss.f64());
            Paper::<T>::weighted_value(total, e)
        }
    };
    RowStage {
        value,
        coefs: Coefs::new(dense, dist, lists, symmetric),
        grad_scale: Paper::<T>::GRAD_SCALE,
    }
}

/// OFFICIAL (V2020 or V2019): the reported value, and A = B of the official closed form, q_i from every row's sums.
fn official<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    mut dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
) -> RowStage<T> {
    let (n, e) = (units.n, units.exp);
    let v2020 = params.semantics == Semantics::OfficialV2020;
    let p = official_params(params, units, v2020);
    let sum = (0..n).fold(0f64, |a, i| {
        a + p.reported_row(i, labels, &dist[i * n..(i + 1) * n]).f64()
    });
    let value = Official::<T>::value(sum, n, e);
    let dense = is_dense(&mut dist, labels, p.beta_p, p.beta_n, false);
    // Pass 1: the sums S±_i (sparse: the weights kept as row i's list); then Z and q_i; pass 2: the coefficients.
    // A dense row recomputes its weights in pass 2 rather than keeping N² of them.
    let mut sums = vec![OfficialSums::default(); n];
    let mut lists: Vec<SparseRow<T>> = vec![Vec::new(); if dense { 0 } else { n }];
    each_row(&mut dist, &mut sums, &mut lists, |r, sc| {
        *r.out = p.row_sums(r.i, labels, r.dist, r.list.unwrap_or(&mut sc.list));
    });
    let ln_mass: Vec<f64> = sums.iter().map(Official::<T>::ln_mass).collect();
    let ln_z = Official::<T>::ln_z(&ln_mass);
    let q = |i: usize| (ln_mass[i] - ln_z).exp();
    each_row(&mut dist, row_stats, &mut lists, |r, sc| {
        let i = r.i;
        *r.out = match r.list {
            Some(list) => p.row_coef(i, labels, r.dist, &sums[i], q(i), list),
            None => {
                p.row_sums(i, labels, r.dist, &mut sc.list);
                let st = p.row_coef(i, labels, r.dist, &sums[i], q(i), &mut sc.list);
                r.dist.iter_mut().for_each(|v| *v = T::zero());
                for &(j, v) in &sc.list {
                    r.dist[j as usize] = v;
                }
                st
            }
        }
    });
    RowStage {
        value,
        coefs: Coefs::new(dense, dist, lists, false),
        grad_scale: p.grad_scale(e),
    }
}

/// The row stage of the semantics `params` names; `weights` (PAPER only, checked before) the per-query weights.
pub(crate) fn rows<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
    weights: Option<&[T]>,
) -> RowStage<T> {
    match params.semantics {
        Semantics::Paper => paper(params, units, labels, dist, row_stats, weights),
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => official(params, units, labels, dist, row_stats),
    }
}
