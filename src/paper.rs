//! PAPER semantics: the published Ranked List Loss and its exact derivative.
//!
//! For query i, with β_P = α − m and β_N = α:
//!   P*_i = {j ≠ i : y_j = y_i, d_ij > β_P},   N*_i = {j : y_j ≠ y_i, d_ij < β_N}
//! (j over the query's ranked list: the batch, or references, where "j ≠ i" leaves out the query's own copy),
//!   L_P(i) = Σ_{P*_i} w⁺ (d − β_P) / Σ_{P*_i} w⁺,   w⁺ = exp(T_p (d − β_P)),
//!   L_N(i) = Σ_{N*_i} w⁻ (β_N − d) / Σ_{N*_i} w⁻,   w⁻ = exp(T_n (β_N − d)),
//!   L = (1/N) Σ_i [λ_P L_P(i) + λ L_N(i)]   (λ_P = 1 but in the PyTorch package's PML form),
//! each Σ w of a denominator plus N ε when `weight_eps` ε is set (pytorch-metric-learning's bias; 0 by default).
//! With h_j the hinge of pair (i, j) and L_* the row's mean, ∂L_P/∂d_ij = (w_j/W)(1 + T_p (h_j − L_P)) and
//! ∂L_N/∂d_ij = −(w_j/W)(1 + T_n (h_j − L_N)); with `detach_weights` the bracket is 1. Weights are computed as
//! exp(T h − max_set T h): the ratios w/W are unchanged, nothing overflows, and the largest weight is 1, so W ≥ 1
//! for any finite temperature, negative ones too (the maximum starts below every exponent, not at 0).
//!
//! The maths of a pair is written once ([`Paper::exponent`], [`Paper::hinge`], [`Paper::coef`]) and a row's sums
//! once ([`PaperSums`]); the two row drivers ([`Paper::row`] over an index list, [`Paper::row_dense`] over the whole
//! row) only differ in what they iterate, and give the same numbers. `cuda/rows.cu`'s `paper_rows` mirrors them.

use crate::real::{ldexp, Real};
use crate::rows::{RowStats, SparseRow};

/// PAPER parameters in the scaled units of `distance::Scaled`.
pub(crate) struct Paper<T> {
    pub beta_p: T,
    pub beta_n: T,
    pub t_p: T,
    pub t_n: T,
    pub lambda: T,
    pub lambda_p: T,
    pub inv_n: T,
    pub detach: bool,
    /// |B_ij| is clamped here so that no sum of N terms can overflow.
    pub coef_cap: T,
    /// N ε, added to each set's weight sum (unit-free, as the weights).
    pub eps_n: T,
}

/// The query of a ranked list: its label, and the position of its own row in the list, which is left out of its
/// positives (usize::MAX when the list holds no copy of it: references without the query).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<T> {
    pub label: T,
    pub own: usize,
}

impl<T: Real> Query<T> {
    /// Row i of a batch ranked against the batch itself.
    pub fn of_batch(labels: &[T], i: usize) -> Self {
        Query {
            label: labels[i],
            own: i,
        }
    }
}

/// A row's running sums: the largest exponent of each set (pass 1), then the shifted weights' sums W = Σ w and
/// Σ w h of each set (pass 2), in j order.
#[derive(Clone, Copy)]
struct PaperSums<T> {
    max_p: T,
    max_n: T,
    n_pos: usize,
    n_neg: usize,
    wp: T,
    hp: T,
    wn: T,
    hn: T,
}

impl<T: Real> PaperSums<T> {
    fn new() -> Self {
        // Below every exponent (|T h| is capped far inside the range, scaled.rs): for T ≥ 0 the maximum is what a
        // start at 0 gave, and a negative T, whose exponents are all negative, still gets its largest weight 1.
        PaperSums {
            max_p: -T::max_value(),
            max_n: -T::max_value(),
            n_pos: 0,
            n_neg: 0,
            wp: T::zero(),
            hp: T::zero(),
            wn: T::zero(),
            hn: T::zero(),
        }
    }
    /// Pass 1: an active pair's exponent.
    #[inline(always)]
    fn see(&mut self, same: bool, e: T) {
        if same {
            self.max_p = self.max_p.max(e);
            self.n_pos += 1;
        } else {
            self.max_n = self.max_n.max(e);
            self.n_neg += 1;
        }
    }
    /// Pass 2: an active pair's shifted weight w = exp(e − max), added to its set's sums and returned.
    #[inline(always)]
    fn add(&mut self, same: bool, e: T, h: T) -> T {
        if same {
            let w = (e - self.max_p).exp();
            self.wp = self.wp + w;
            self.hp = self.hp + w * h;
            w
        } else {
            let w = (e - self.max_n).exp();
            self.wn = self.wn + w;
            self.hn = self.hn + w * h;
            w
        }
    }
    /// After pass 2: N ε into each non-empty set's W, in the shifted units of its weights (N ε e^−max, computed as
    /// e^(ln N ε − max); it may round to +∞, and then the set's mean and coefficients are 0, their limit).
    fn add_eps(&mut self, eps_n: T) {
        if eps_n > T::zero() {
            let ln = eps_n.ln();
            if self.n_pos > 0 {
                self.wp = self.wp + (ln - self.max_p).exp();
            }
            if self.n_neg > 0 {
                self.wn = self.wn + (ln - self.max_n).exp();
            }
        }
    }
    /// L_P(i) = Σ w h / W over P*_i, L_N(i) likewise (0 for an empty set).
    fn means(&self) -> (T, T) {
        let l_p = if self.n_pos > 0 { self.hp / self.wp } else { T::zero() };
        let l_n = if self.n_neg > 0 { self.hn / self.wn } else { T::zero() };
        (l_p, l_n)
    }
}

impl<T: Real> Paper<T> {
    /// The value L = (1/N) Σ_i [L_P(i) + λ L_N(i)] from `total` = Σ_i of the rows' terms in scaled units
    /// (× 2^exp back to input units).
    pub fn value(total: f64, n: usize, exp: i32) -> T {
        Self::weighted_value(total / n as f64, exp)
    }

    /// E = Σ_i u_i [L_P(i) + λ L_N(i)] from `total` = that sum in scaled units (per-query weights u).
    pub fn weighted_value(total: f64, exp: i32) -> T {
        ldexp(T::of(total), exp)
    }

    /// The power of two that takes the coefficients to input units: 0, since PAPER's coefficients multiply
    /// x_i − x_j already divided by d_ij (unit directions, which do not scale with the input).
    pub const GRAD_SCALE: i32 = 0;

    /// The exponent T h of pair (i, j) when j is in P*_i (`same`: y_j = y_i, j ≠ i, d > β_P) or in N*_i
    /// (y_j ≠ y_i, d < β_N); None outside the sets.
    #[inline(always)]
    fn exponent(&self, same: bool, is_query: bool, d: T) -> Option<T> {
        if same {
            (d > self.beta_p && !is_query).then(|| self.t_p * (d - self.beta_p))
        } else {
            (d < self.beta_n).then(|| self.t_n * (self.beta_n - d))
        }
    }

    /// The hinge h of an active pair: d − β_P (positive) or β_N − d (negative).
    #[inline(always)]
    fn hinge(&self, same: bool, d: T) -> T {
        if same {
            d - self.beta_p
        } else {
            self.beta_n - d
        }
    }

    /// B_ij = (1/N) ∂(L_P(i) + λ L_N(i))/∂d_ij / d_ij of an active pair with shifted weight w:
    ///   positive: (w/W⁺)(1 + T_p (h − L_P)) / (N d),   negative: −λ (w/W⁻)(1 + T_n (h − L_N)) / (N d),
    /// the bracket 1 with `detach_weights`, clamped to ±`coef_cap`; 0 at d = 0 (‖x_i − x_j‖ has no direction
    /// there: its subgradient 0 is used).
    /// `scale` is the row's weight in E: 1/N ([`Paper::inv_n`]) for the mean, u_i for E = Σ_i u_i ℓ_i.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)] // one pair's inputs, inlined into both row drivers
    fn coef(&self, scale: T, same: bool, d: T, w: T, s: &PaperSums<T>, l_p: T, l_n: T) -> T {
        if d <= T::zero() {
            return T::zero();
        }
        let h = self.hinge(same, d);
        let g = if same {
            let bracket = if self.detach {
                T::one()
            } else {
                T::one() + self.t_p * (h - l_p)
            };
            self.lambda_p * (w / s.wp) * bracket
        } else {
            let bracket = if self.detach {
                T::one()
            } else {
                T::one() + self.t_n * (h - l_n)
            };
            -self.lambda * (w / s.wn) * bracket
        };
        (scale * g / d).max(-self.coef_cap).min(self.coef_cap)
    }

    fn stats(&self, s: &PaperSums<T>, l_p: T, l_n: T) -> RowStats<T> {
        RowStats {
            loss: self.lambda_p * l_p + self.lambda * l_n,
            l_p,
            l_n,
            n_pos: s.n_pos,
            n_neg: s.n_neg,
        }
    }

    /// Fills `out` with B_ij for j in P*_i ∪ N*_i (see [`Paper::coef`]) and returns the row's statistics;
    /// `RowStats::loss` is L_P(i) + λ L_N(i). `labels` and `dist` are the query's ranked list.
    pub fn row(&self, q: Query<T>, scale: T, labels: &[T], dist: &[T], out: &mut SparseRow<T>) -> RowStats<T> {
        out.clear();
        let (yi, i) = (q.label, q.own);
        let mut s = PaperSums::new();
        // Pass 1: the sets, with each pair's exponent, and the largest exponent of each set.
        for (j, (&y, &d)) in labels.iter().zip(dist).enumerate() {
            if let Some(e) = self.exponent(y == yi, j == i, d) {
                s.see(y == yi, e);
                out.push((j as u32, e));
            }
        }
        // Pass 2: shifted weights and the sums.
        for (j, v) in out.iter_mut() {
            let (same, d) = (labels[*j as usize] == yi, dist[*j as usize]);
            *v = s.add(same, *v, self.hinge(same, d));
        }
        s.add_eps(self.eps_n);
        let (l_p, l_n) = s.means();
        // Pass 3: the coefficients.
        for (j, v) in out.iter_mut() {
            let (same, d) = (labels[*j as usize] == yi, dist[*j as usize]);
            *v = self.coef(scale, same, d, *v, &s, l_p, l_n);
        }
        self.stats(&s, l_p, l_n)
    }

    /// [`Paper::row`] for a row where most pairs are active: the same coefficients (0 outside the sets), written
    /// over `row` (the distances of query i on entry), in contiguous passes without index lists. `w` is scratch.
    pub fn row_dense(&self, q: Query<T>, scale: T, labels: &[T], row: &mut [T], w: &mut Vec<T>) -> RowStats<T> {
        let (yi, i) = (q.label, q.own);
        w.clear();
        w.resize(row.len(), T::zero());
        let mut s = PaperSums::new();
        // Pass 1: the largest exponent of each set.
        for (j, (&y, &d)) in labels.iter().zip(row.iter()).enumerate() {
            if let Some(e) = self.exponent(y == yi, j == i, d) {
                s.see(y == yi, e);
            }
        }
        // Pass 2: shifted weights (0 outside the sets) and the sums, in j order as in `row`.
        for (j, ((&y, &d), wv)) in labels.iter().zip(row.iter()).zip(w.iter_mut()).enumerate() {
            if let Some(e) = self.exponent(y == yi, j == i, d) {
                *wv = s.add(y == yi, e, self.hinge(y == yi, d));
            }
        }
        s.add_eps(self.eps_n);
        let (l_p, l_n) = s.means();
        // Pass 3: the coefficients, over the distances.
        for (j, ((&y, d), &wv)) in labels.iter().zip(row.iter_mut()).zip(w.iter()).enumerate() {
            let active = self.exponent(y == yi, j == i, *d).is_some();
            *d = if active {
                self.coef(scale, y == yi, *d, wv, &s, l_p, l_n)
            } else {
                T::zero()
            };
        }
        self.stats(&s, l_p, l_n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(t_p: f64, detach: bool) -> Paper<f32> {
        Paper {
            beta_p: 0.8,
            beta_n: 1.2,
            t_p: t_p as f32,
            t_n: 10.0,
            lambda: 0.7,
            lambda_p: 1.0,
            inv_n: 1.0 / 64.0,
            detach,
            coef_cap: 1e30,
            eps_n: 0.0,
        }
    }

    /// The two drivers give the same bits: each row of a 64-sample batch with distances spread over both sets'
    /// boundaries (and some exact zeros), every option.
    #[test]
    fn row_and_row_dense_agree_bit_for_bit() {
        let n = 64;
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) as f32
        };
        let labels: Vec<f32> = (0..n).map(|j| (j / 4) as f32).collect();
        for (t_p, detach) in [(0.0, false), (2.0, false), (2.0, true)] {
            let p = params(t_p, detach);
            for i in 0..n {
                let dist: Vec<f32> = (0..n)
                    .map(|j| if j == i || j % 17 == 5 { 0.0 } else { 0.4 + 1.2 * next() })
                    .collect();
                let mut list = Vec::new();
                let a = p.row(Query::of_batch(&labels, i), p.inv_n, &labels, &dist, &mut list);
                let mut dense = dist.clone();
                let b = p.row_dense(
                    Query::of_batch(&labels, i),
                    p.inv_n,
                    &labels,
                    &mut dense,
                    &mut Vec::new(),
                );
                let mut sparse = vec![0f32; n];
                for &(j, v) in &list {
                    sparse[j as usize] = v;
                }
                assert!(a.n_pos + a.n_neg > 0);
                assert_eq!((a.n_pos, a.n_neg), (b.n_pos, b.n_neg));
                assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "row {i}: loss");
                for j in 0..n {
                    assert_eq!(
                        sparse[j].to_bits(),
                        dense[j].to_bits(),
                        "row {i}, j {j}: t_p {t_p} detach {detach}"
                    );
                }
            }
        }
    }
}
