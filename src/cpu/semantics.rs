//! The two semantics on the CPU: from the distance matrix (scaled units) to the reported value and the gradient
//! coefficients A, each pipeline calling its maths (`paper.rs`, `official.rs`) row by row.

use super::gradient::Coefs;
use super::parallel::{for_row_blocks, SharedRows};
use super::passes::{coef_rows, is_dense, par_rows, BLOCK};
use crate::official::{Official, RowSums};
use crate::params::{Params, Semantics};
use crate::real::{ldexp, Real};
use crate::rows::{RowStats, SparseRow};
use crate::scaled::{official_params, paper_params, Units};

/// What a semantics hands to the gradient: the value E (input units), the coefficients, and the power of two
/// that takes them to input units.
pub(crate) struct Coefficients<T> {
    pub value: T,
    pub coefs: Coefs<T>,
    pub grad_scale: i32,
}

/// PAPER: L = (1/N) Σ_i [L_P(i) + λ L_N(i)] and A = B + Bᵀ (B alone with `query_only`), rows sparse or dense
/// ([`is_dense`]); `dist` becomes A when dense.
fn paper<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
) -> Coefficients<T> {
    let (n, e) = (units.n, units.exp);
    let p = paper_params(params, units);
    let symmetric = !params.query_only;
    let dense = is_dense(&dist, labels, p.beta_p, p.beta_n, symmetric);
    let coefs = coef_rows(dist, n, dense, row_stats, |i, drow, sc| {
        if dense {
            p.row_dense(i, labels, drow, &mut sc.w)
        } else {
            p.row(i, labels, drow, &mut sc.list)
        }
    });
    let total = row_stats.iter().fold(0f64, |a, r| a + r.loss.f64());
    Coefficients {
        value: ldexp(T::of(total / n as f64), e),
        coefs: coefs.symmetric(symmetric),
        grad_scale: 0,
    }
}

/// OFFICIAL (V2020 or V2019): the reported value, and A = B of the official closed form, q_i from every row's sums.
fn official<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
) -> Coefficients<T> {
    let (n, e) = (units.n, units.exp);
    let v2020 = params.semantics == Semantics::OfficialV2020;
    let p = official_params(params, units, v2020);
    let sum = (0..n).fold(0f64, |a, i| {
        a + p.reported_row(i, labels, &dist[i * n..(i + 1) * n]).f64()
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
        coef_rows(dist, n, true, row_stats, |i, drow, sc| {
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
        let st = SharedRows::new(row_stats, n, 1);
        for_row_blocks(n, BLOCK, |r0, r1| {
            // SAFETY: each block touches only its own rows r0..r1.
            let (ls, st) = unsafe { (ls.rows_mut(r0, r1), st.rows_mut(r0, r1)) };
            for i in r0..r1 {
                st[i - r0] = p.row_coef(i, labels, &dist[i * n..(i + 1) * n], &sums[i], q(i), &mut ls[i - r0]);
            }
        });
        Coefs::Sparse {
            rows: lists,
            symmetric: false,
        }
    };
    Coefficients {
        value,
        coefs,
        // V2019 pushes along raw differences, which scale with the input.
        grad_scale: if v2020 { 0 } else { e },
    }
}

/// The semantics `params` names.
pub(crate) fn coefficients<T: Real>(
    params: &Params,
    units: Units,
    labels: &[T],
    dist: Vec<T>,
    row_stats: &mut [RowStats<T>],
) -> Coefficients<T> {
    match params.semantics {
        Semantics::Paper => paper(params, units, labels, dist, row_stats),
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => official(params, units, labels, dist, row_stats),
    }
}
