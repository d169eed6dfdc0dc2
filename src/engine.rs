//! One loss evaluation: validation, distances, the semantics' row coefficients, and the gradient
//! ∂E/∂x_i = Σ_j A_ij (x_i − x_j) = (Σ_j A_ij) x_i − (A X)_i as one matrix product.

use crate::distance::{center_and_scale, pairwise, row_norms, Scaled};
use crate::error::{ErrorKind, Result, RllError};
use crate::official::{Official, OfficialCoef, RowSums, EPS_DIR};
use crate::paper::Paper;
use crate::parallel::{for_row_blocks, SharedRows};
use crate::params::{Params, Semantics};
use crate::real::{ldexp, saturate, Real};
use crate::rows::{RowCoef, RowStats};

/// Number of per-sample statistics: L_P(i), L_N(i), |P*_i|, |N*_i|.
pub const STATS_PER_SAMPLE: usize = 4;

/// Rows per parallel block in the row passes and the gradient product.
const BLOCK: usize = 32;

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
    let Batch { labels, n, d, .. } = batch;
    let scaled = center_and_scale(batch.x, n, d);
    let norms = row_norms(&scaled);
    let mut dist = vec![T::zero(); n * n];
    pairwise(&scaled, &norms, &mut dist);
    let mut coef = vec![T::zero(); n * n];
    let e = scaled.exp;

    let (value, row_stats, grad_scale) = match params.semantics {
        Semantics::Paper => {
            let p = paper_params(params, &scaled);
            let rows = run_rows(&p, labels, &dist, &mut coef, n);
            let total = rows.iter().fold(0f64, |a, r| a + r.loss.f64());
            if !params.query_only {
                symmetrize_add(&mut coef, n);
            }
            (ldexp(T::of(total / n as f64), e), rows, 0)
        }
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => {
            let v2020 = params.semantics == Semantics::OfficialV2020;
            let p = official_params(params, &scaled, v2020);
            let rows = run_official(&p, labels, &dist, &mut coef, n);
            let theta = ldexp(T::of(params.alpha as f64), -e);
            let m = ldexp(T::of(params.margin as f64), -e);
            let mut sum = 0f64;
            for i in 0..n {
                sum += Official::reported_row(i, labels, &dist[i * n..(i + 1) * n], theta, m).f64();
            }
            let pairs = (n * n.saturating_sub(1) / 2) as f64;
            let value = if pairs > 0.0 {
                ldexp(T::of(sum / pairs), 2 * e)
            } else {
                T::zero()
            };
            // V2019 pushes along raw differences, which scale with the input.
            (value, rows, if v2020 { 0 } else { e })
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
        gradient(&coef, &scaled, factor, grad);
    }
    Ok(saturate(value))
}

fn validate<T: Real>(
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

/// The largest coefficient magnitude: N of them times |x| < 1, twice, stays finite.
fn coef_cap<T: Real>(n: usize) -> T {
    T::max_value() / T::of(4.0 * n as f64)
}

/// A temperature in scaled units, clamped so that T·h stays far from overflow (h < 4√d in scaled units).
fn scaled_temperature<T: Real>(t: f64, s: &Scaled<T>) -> T {
    let cap = T::max_value() / T::of(64.0 * ((s.d as f64).sqrt() + 1.0));
    ldexp(T::of(t), s.exp).min(cap)
}

fn paper_params<T: Real>(p: &Params, s: &Scaled<T>) -> Paper<T> {
    let alpha = p.alpha as f64;
    Paper {
        beta_p: ldexp(T::of(alpha - p.margin as f64), -s.exp),
        beta_n: ldexp(T::of(alpha), -s.exp),
        t_p: scaled_temperature(p.t_p as f64, s),
        t_n: scaled_temperature(p.t_n as f64, s),
        lambda: T::of(p.lambda as f64),
        inv_n: T::of(1.0 / s.n as f64),
        detach: p.detach_weights,
        coef_cap: coef_cap(s.n),
    }
}

fn official_params<T: Real>(p: &Params, s: &Scaled<T>, v2020: bool) -> Official<T> {
    let (m, alpha) = (p.margin as f64, p.alpha as f64);
    let (beta_p, beta_n) = if v2020 {
        (1.0 - m / 2.0, 1.0 + m / 2.0)
    } else {
        (alpha - m, alpha)
    };
    Official {
        beta_p: ldexp(T::of(beta_p), -s.exp),
        beta_n: ldexp(T::of(beta_n), -s.exp),
        k_p: scaled_temperature(p.t_p as f64 * (p.base_p as f64).ln(), s),
        k_n: scaled_temperature(p.t_n as f64 * (p.base_n as f64).ln(), s),
        eps_dir: v2020.then(|| ldexp(T::of(EPS_DIR), -s.exp)),
        coef_cap: coef_cap(s.n),
    }
}

/// Runs `rc` on every row in parallel; returns the rows' statistics in row order.
fn run_rows<T: Real, R: RowCoef<T>>(rc: &R, labels: &[T], dist: &[T], coef: &mut [T], n: usize) -> Vec<RowStats<T>> {
    let mut stats = vec![RowStats::default(); n];
    let out = SharedRows::new(coef, n, n);
    let st = SharedRows::new(&mut stats, n, 1);
    for_row_blocks(n, BLOCK, |r0, r1| {
        // SAFETY: each block writes only its own rows r0..r1 of `coef` and `stats`.
        let (rows, srows) = unsafe { (out.rows_mut(r0, r1), st.rows_mut(r0, r1)) };
        for i in r0..r1 {
            srows[i - r0] = rc.row(
                i,
                labels,
                &dist[i * n..(i + 1) * n],
                &mut rows[(i - r0) * n..(i - r0 + 1) * n],
            );
        }
    });
    stats
}

/// The OFFICIAL passes: per-row sums S±, Z and q, then the coefficients.
fn run_official<T: Real>(p: &Official<T>, labels: &[T], dist: &[T], coef: &mut [T], n: usize) -> Vec<RowStats<T>> {
    let mut sums = vec![RowSums::default(); n];
    {
        let out = SharedRows::new(coef, n, n);
        let sh = SharedRows::new(&mut sums, n, 1);
        for_row_blocks(n, BLOCK, |r0, r1| {
            // SAFETY: each block writes only its own rows r0..r1.
            let (rows, srows) = unsafe { (out.rows_mut(r0, r1), sh.rows_mut(r0, r1)) };
            for i in r0..r1 {
                let w = &mut rows[(i - r0) * n..(i - r0 + 1) * n];
                srows[i - r0] = p.row_sums(i, labels, &dist[i * n..(i + 1) * n], w);
            }
        });
    }
    let ln_mass: Vec<f64> = sums.iter().map(Official::<T>::ln_mass).collect();
    let ln_z = Official::<T>::ln_z(&ln_mass);
    let q: Vec<f64> = ln_mass.iter().map(|&l| (l - ln_z).exp()).collect();
    run_rows(&OfficialCoef { p, sums: &sums, q: &q }, labels, dist, coef, n)
}

/// A := A + Aᵀ in place (the full PAPER gradient: each pair acts through both endpoints' lists).
fn symmetrize_add<T: Real>(a: &mut [T], n: usize) {
    const TILE: usize = 64;
    let base = SharedRows::new(a, n, n);
    for_row_blocks(n, TILE, |r0, r1| {
        let p = base.as_ptr();
        // The block of rows r0..r1 owns every element (i, j), (j, i) with i in r0..r1 and j ≥ i: disjoint
        // between blocks, so no element is touched by two threads.
        for j0 in (r0..n).step_by(TILE) {
            let j1 = (j0 + TILE).min(n);
            for i in r0..r1 {
                for j in j0.max(i + 1)..j1 {
                    // SAFETY: i, j < n; ownership as above.
                    unsafe {
                        let s = *p.add(i * n + j) + *p.add(j * n + i);
                        *p.add(i * n + j) = s;
                        *p.add(j * n + i) = s;
                    }
                }
            }
        }
    });
}

/// grad_i = factor · [(Σ_j A_ij) x_i − Σ_j A_ij x_j], x in scaled units.
fn gradient<T: Real>(a: &[T], s: &Scaled<T>, factor: T, grad: &mut [T]) {
    let (n, d) = (s.n, s.d);
    let out = SharedRows::new(grad, n, d);
    for_row_blocks(n, BLOCK, |r0, r1| {
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
            let r = a[i * n..(i + 1) * n].iter().fold(T::zero(), |acc, &v| acc + v);
            let xi = &s.x[i * d..(i + 1) * d];
            for (g, &xv) in rows[(i - r0) * d..(i - r0 + 1) * d].iter_mut().zip(xi) {
                *g = saturate((*g + r * xv) * factor);
            }
        }
    });
}
