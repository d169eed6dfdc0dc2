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
use crate::rows::{RowCoef, RowStats};

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

impl<T: Real> RowCoef<T> for Paper<T> {
    /// Writes B_ij = (1/N) ∂(L_P(i) + λ L_N(i))/∂d_ij / d_ij into `coef` (0 outside P*_i ∪ N*_i) and returns the row's
    /// statistics; `RowStats::loss` is L_P(i) + λ L_N(i).
    fn row(&self, i: usize, labels: &[T], dist: &[T], coef: &mut [T]) -> RowStats<T> {
        let yi = labels[i];
        let (mut max_p, mut max_n) = (T::zero(), T::zero());
        let (mut n_pos, mut n_neg) = (0usize, 0usize);
        for (j, (&y, &d)) in labels.iter().zip(dist).enumerate() {
            if y == yi {
                if j != i && d > self.beta_p {
                    max_p = max_p.max(self.t_p * (d - self.beta_p));
                    n_pos += 1;
                }
            } else if d < self.beta_n {
                max_n = max_n.max(self.t_n * (self.beta_n - d));
                n_neg += 1;
            }
        }
        // Pass 2: shifted weights into `coef`, and the sums W and Σ w h.
        let (mut wp, mut hp, mut wn, mut hn) = (T::zero(), T::zero(), T::zero(), T::zero());
        for (j, ((&y, &d), c)) in labels.iter().zip(dist).zip(coef.iter_mut()).enumerate() {
            *c = T::zero();
            if y == yi {
                if j != i && d > self.beta_p {
                    let h = d - self.beta_p;
                    let w = (self.t_p * h - max_p).exp();
                    *c = w;
                    wp = wp + w;
                    hp = hp + w * h;
                }
            } else if d < self.beta_n {
                let h = self.beta_n - d;
                let w = (self.t_n * h - max_n).exp();
                *c = w;
                wn = wn + w;
                hn = hn + w * h;
            }
        }
        let l_p = if n_pos > 0 { hp / wp } else { T::zero() };
        let l_n = if n_neg > 0 { hn / wn } else { T::zero() };
        // Pass 3: the coefficients.
        for ((&y, &d), c) in labels.iter().zip(dist).zip(coef.iter_mut()) {
            // Inactive pairs hold 0; an active weight that underflowed to 0 contributes 0 as well.
            if *c == T::zero() {
                continue;
            }
            let g = if y == yi {
                let h = d - self.beta_p;
                let bracket = if self.detach {
                    T::one()
                } else {
                    T::one() + self.t_p * (h - l_p)
                };
                *c / wp * bracket
            } else {
                let h = self.beta_n - d;
                let bracket = if self.detach {
                    T::one()
                } else {
                    T::one() + self.t_n * (h - l_n)
                };
                -self.lambda * (*c / wn) * bracket
            };
            *c = if d > T::zero() {
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
}
