//! PAPER semantics: the published Ranked List Loss and its exact derivative.
//!
//! For query i, with β_P = α − m and β_N = α:
//!   P*_i = {j ≠ i : y_j = y_i, d_ij > β_P},   N*_i = {j : y_j ≠ y_i, d_ij < β_N},
//!   L_P(i) = Σ_{P*_i} w⁺ (d − β_P) / Σ_{P*_i} w⁺,   w⁺ = exp(T_p (d − β_P)),
//!   L_N(i) = Σ_{N*_i} w⁻ (β_N − d) / Σ_{N*_i} w⁻,   w⁻ = exp(T_n (β_N − d)),
//!   L = (1/N) Σ_i [L_P(i) + λ L_N(i)].
//! With h_j the hinge of pair (i, j) and L_* the row's mean, ∂L_P/∂d_ij = (w_j/W)(1 + T_p (h_j − L_P)) and
//! ∂L_N/∂d_ij = −(w_j/W)(1 + T_n (h_j − L_N)); with `detach_weights` the bracket is 1. Weights are computed as
//! exp(T h − max_row T h): the ratios w/W are unchanged and nothing overflows.

use crate::real::Real;
use crate::rows::{RowStats, SparseRow};

/// PAPER parameters in the scaled units of `distance::Scaled`.
pub(crate) struct Paper<T> {
    pub beta_p: T,
    pub beta_n: T,
    pub t_p: T,
    pub t_n: T,
    pub lambda: T,
    pub inv_n: T,
    pub detach: bool,
    /// |B_ij| is clamped here so that no sum of N terms can overflow.
    pub coef_cap: T,
}

impl<T: Real> Paper<T> {
    /// Fills `out` with B_ij = (1/N) ∂(L_P(i) + λ L_N(i))/∂d_ij / d_ij for j in P*_i ∪ N*_i and returns the row's
    /// statistics; `RowStats::loss` is L_P(i) + λ L_N(i).
    pub fn row(&self, i: usize, labels: &[T], dist: &[T], out: &mut SparseRow<T>) -> RowStats<T> {
        out.clear();
        let yi = labels[i];
        // Pass 1: the sets, with each pair's exponent T h, and the largest exponent of each set.
        let (mut max_p, mut max_n) = (T::zero(), T::zero());
        let (mut n_pos, mut n_neg) = (0usize, 0usize);
        for (j, (&y, &d)) in labels.iter().zip(dist).enumerate() {
            if y == yi {
                if d > self.beta_p && j != i {
                    let e = self.t_p * (d - self.beta_p);
                    max_p = max_p.max(e);
                    n_pos += 1;
                    out.push((j as u32, e));
                }
            } else if d < self.beta_n {
                let e = self.t_n * (self.beta_n - d);
                max_n = max_n.max(e);
                n_neg += 1;
                out.push((j as u32, e));
            }
        }
        // Pass 2: shifted weights, and the sums W and Σ w h.
        let (mut wp, mut hp, mut wn, mut hn) = (T::zero(), T::zero(), T::zero(), T::zero());
        for (j, v) in out.iter_mut() {
            let d = dist[*j as usize];
            if labels[*j as usize] == yi {
                let w = (*v - max_p).exp();
                *v = w;
                wp = wp + w;
                hp = hp + w * (d - self.beta_p);
            } else {
                let w = (*v - max_n).exp();
                *v = w;
                wn = wn + w;
                hn = hn + w * (self.beta_n - d);
            }
        }
        let l_p = if n_pos > 0 { hp / wp } else { T::zero() };
        let l_n = if n_neg > 0 { hn / wn } else { T::zero() };
        // Pass 3: the coefficients.
        for (j, v) in out.iter_mut() {
            let d = dist[*j as usize];
            let g = if labels[*j as usize] == yi {
                let bracket = if self.detach {
                    T::one()
                } else {
                    T::one() + self.t_p * (d - self.beta_p - l_p)
                };
                *v / wp * bracket
            } else {
                let bracket = if self.detach {
                    T::one()
                } else {
                    T::one() + self.t_n * (self.beta_n - d - l_n)
                };
                -self.lambda * (*v / wn) * bracket
            };
            *v = if d > T::zero() {
                (self.inv_n * g / d).max(-self.coef_cap).min(self.coef_cap)
            } else {
                // ‖x_i − x_j‖ has no direction at 0: its subgradient 0 is used.
                T::zero()
            };
        }
        RowStats {
            loss: l_p + self.lambda * l_n,
            l_p,
            l_n,
            n_pos,
            n_neg,
        }
    }

    /// [`Paper::row`] for a row where most pairs are active: the same coefficients, written over `row` (the
    /// distances of query i on entry), in contiguous passes without index lists. `w` is scratch space.
    pub fn row_dense(&self, i: usize, labels: &[T], row: &mut [T], w: &mut Vec<T>) -> RowStats<T> {
        let yi = labels[i];
        w.clear();
        w.resize(row.len(), T::zero());
        // Pass 1: exponents (0 outside the sets) and the largest of each set.
        let (mut max_p, mut max_n) = (T::zero(), T::zero());
        let (mut n_pos, mut n_neg) = (0usize, 0usize);
        for (j, ((&y, &d), e)) in labels.iter().zip(row.iter()).zip(w.iter_mut()).enumerate() {
            if y == yi {
                if d > self.beta_p && j != i {
                    *e = self.t_p * (d - self.beta_p);
                    max_p = max_p.max(*e);
                    n_pos += 1;
                }
            } else if d < self.beta_n {
                *e = self.t_n * (self.beta_n - d);
                max_n = max_n.max(*e);
                n_neg += 1;
            }
        }
        // Pass 2: shifted weights and the sums, in j order as in `row`.
        let (mut wp, mut hp, mut wn, mut hn) = (T::zero(), T::zero(), T::zero(), T::zero());
        for (j, ((&y, &d), e)) in labels.iter().zip(row.iter()).zip(w.iter_mut()).enumerate() {
            if y == yi {
                if d > self.beta_p && j != i {
                    let wv = (*e - max_p).exp();
                    *e = wv;
                    wp = wp + wv;
                    hp = hp + wv * (d - self.beta_p);
                }
            } else if d < self.beta_n {
                let wv = (*e - max_n).exp();
                *e = wv;
                wn = wn + wv;
                hn = hn + wv * (self.beta_n - d);
            }
        }
        let l_p = if n_pos > 0 { hp / wp } else { T::zero() };
        let l_n = if n_neg > 0 { hn / wn } else { T::zero() };
        // Pass 3: the coefficients, over the distances.
        let (inv_wp, inv_wn) = (T::one() / wp, T::one() / wn);
        for (j, ((&y, d), &wv)) in labels.iter().zip(row.iter_mut()).zip(w.iter()).enumerate() {
            let dv = *d;
            let active = if y == yi {
                dv > self.beta_p && j != i
            } else {
                dv < self.beta_n
            };
            *d = if !active || dv <= T::zero() {
                T::zero()
            } else {
                let g = if y == yi {
                    let bracket = if self.detach {
                        T::one()
                    } else {
                        T::one() + self.t_p * (dv - self.beta_p - l_p)
                    };
                    wv * inv_wp * bracket
                } else {
                    let bracket = if self.detach {
                        T::one()
                    } else {
                        T::one() + self.t_n * (self.beta_n - dv - l_n)
                    };
                    -self.lambda * (wv * inv_wn) * bracket
                };
                (self.inv_n * g / dv).max(-self.coef_cap).min(self.coef_cap)
            };
        }
        RowStats {
            loss: l_p + self.lambda * l_n,
            l_p,
            l_n,
            n_pos,
            n_neg,
        }
    }
}
