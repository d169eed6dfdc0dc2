//! OFFICIAL semantics: the gradient the official `DistanceWeightedValidPairLossV12` layer applies, in the closed
//! form given in docs/semantics.md, and the value it reports.
//!
//! With raw weights w_ij = b_p^(T_p (d − β_P)) on active positives (d > β_P), w_ij = b_n^(T_n (β_N − d)) on active
//! negatives (d < β_N), S⁺_i = ε + Σ_pos w, S⁻_i = ε + Σ_neg w, Z = ε + Σ_k (S⁺_k + S⁻_k) and q_i = (S⁺_i + S⁻_i)/Z:
//!   ∂E/∂x_i = ½ q_i [Σ_pos (w_ij/S⁺_i) û_ij − Σ_neg (w_ij/S⁻_i) û_ij],   ε = 1e-8,
//! with û_ij = (x_i − x_j)/(d_ij + 1e-6) and β = 1 ∓ m/2 (V2020), or û_ij = x_i − x_j and β_P = α − m, β_N = α
//! (V2019). Only the query's own row is differentiated. The value is
//!   E = (1/P) Σ_{a<b} [s_ab [d − (θ − m)]₊² + (1 − s_ab) [θ − d]₊²],   P = N(N − 1)/2, θ = α,
//! computed on the current batch (the 2020 release wrote it one iteration late, inside Backward).
//! Sums are kept as e^M · A with M the largest exponent of the row's set (or ln ε): the ratios w/S and q are then
//! exact for any exponent, where the original overflows (or, for a row of tiny weights, loses them).

use crate::kernel_consts::EPS_SUM;
use crate::real::{ldexp, Real};
use crate::rows::{RowStats, SparseRow};
/// The constant added to d in the V2020 unit direction.
pub const EPS_DIR: f64 = 1e-6;

/// OFFICIAL parameters in scaled units.
pub(crate) struct Official<T> {
    pub beta_p: T,
    pub beta_n: T,
    /// T_p ln b_p and T_n ln b_n: w = exp(k x).
    pub k_p: T,
    pub k_n: T,
    /// V2020: 1e-6 in scaled units; V2019: None (raw differences).
    pub eps_dir: Option<T>,
    pub coef_cap: T,
    /// The reported value's threshold θ = α and margin m.
    pub theta: T,
    pub margin: T,
}

impl<T: Real> Official<T> {
    /// The reported value E = (1/P) Σ_{a<b} [...], P = N(N − 1)/2, from `sum` = Σ over the rows of
    /// [`Official::reported_row`] in scaled units (× 2^(2 exp) back to input units); 0 for N = 1.
    pub fn value(sum: f64, n: usize, exp: i32) -> T {
        let pairs = (n * n.saturating_sub(1) / 2) as f64;
        if pairs > 0.0 {
            ldexp(T::of(sum / pairs), 2 * exp)
        } else {
            T::zero()
        }
    }

    /// The power of two that takes the coefficients to input units: 0 for V2020 (unit directions), `exp` for
    /// V2019, which pushes along raw differences x_i − x_j, and those scale with the input.
    pub fn grad_scale(&self, exp: i32) -> i32 {
        if self.grad_scales_with_exp() {
            exp
        } else {
            0
        }
    }

    /// Whether [`Self::grad_scale`] is the batch's exponent (V2019) rather than 0.
    pub fn grad_scales_with_exp(&self) -> bool {
        self.eps_dir.is_none()
    }

    fn exponent(&self, same: bool, d: T) -> Option<T> {
        if same {
            (d > self.beta_p).then(|| self.k_p * (d - self.beta_p))
        } else {
            (d < self.beta_n).then(|| self.k_n * (self.beta_n - d))
        }
    }

    /// Row i's active pairs with their shifted weights exp(e_ij − M^σ) into `out`, and its sums in log form:
    /// S^σ_i = e^{M^σ} A^σ. M^σ is the largest of ln ε and the row's exponents of set σ, so A^σ lies in [1, N + 1].
    pub fn row_sums(&self, i: usize, labels: &[T], dist: &[T], out: &mut SparseRow<T>) -> OfficialSums {
        out.clear();
        let ln_eps = EPS_SUM.ln();
        let (mut mp, mut mn) = (T::of(ln_eps), T::of(ln_eps));
        for (j, (&y, &d)) in labels.iter().zip(dist).enumerate() {
            let same = y == labels[i];
            if let (true, Some(e)) = (j != i, self.exponent(same, d)) {
                if same {
                    mp = mp.max(e);
                } else {
                    mn = mn.max(e);
                }
                out.push((j as u32, e));
            }
        }
        // Sums start from ε, like the original's, then add the weights in j order.
        let (mut ap, mut an) = (T::of((ln_eps - mp.f64()).exp()), T::of((ln_eps - mn.f64()).exp()));
        for (j, v) in out.iter_mut() {
            if labels[*j as usize] == labels[i] {
                *v = (*v - mp).exp();
                ap = ap + *v;
            } else {
                *v = (*v - mn).exp();
                an = an + *v;
            }
        }
        OfficialSums {
            m_pos: mp.f64(),
            a_pos: ap.f64(),
            m_neg: mn.f64(),
            a_neg: an.f64(),
        }
    }

    /// ln(S⁺_i + S⁻_i).
    pub fn ln_mass(s: &OfficialSums) -> f64 {
        let (lp, ln) = (s.m_pos + s.a_pos.ln(), s.m_neg + s.a_neg.ln());
        let hi = lp.max(ln);
        hi + ((lp - hi).exp() + (ln - hi).exp()).ln()
    }

    /// ln Z = ln(ε + Σ_k (S⁺_k + S⁻_k)), summed in k order after one shift by the largest term.
    pub fn ln_z(ln_mass: &[f64]) -> f64 {
        let ln_eps = EPS_SUM.ln();
        let hi = ln_mass.iter().fold(ln_eps, |a, &v| a.max(v));
        let sum = ln_mass.iter().fold((ln_eps - hi).exp(), |a, &v| a + (v - hi).exp());
        hi + sum.ln()
    }

    /// The reported value's sum over the pairs (i, j > i), in scaled units.
    pub fn reported_row(&self, i: usize, labels: &[T], dist: &[T]) -> T {
        let (theta, m) = (self.theta, self.margin);
        let mut e = T::zero();
        for j in i + 1..labels.len() {
            let d = dist[j];
            let h = if labels[j] == labels[i] {
                (d - (theta - m)).max(T::zero())
            } else {
                (theta - d).max(T::zero())
            };
            e = e + h * h;
        }
        e
    }
}

/// One row's weight sums S^σ_i = e^{m_σ} · a_σ (kept apart so that no sum can overflow or underflow).
#[derive(Debug, Clone, Copy, Default)]
pub struct OfficialSums {
    pub m_pos: f64,
    pub a_pos: f64,
    pub m_neg: f64,
    pub a_neg: f64,
}

impl<T: Real> Official<T> {
    /// Turns row i's weights in `out` into B_ij = ±½ q_i (w_ij / S^±_i) / (d_ij + 1e-6) (V2020; V2019 without the
    /// division), and returns L_P(i) = Σ_pos (w/S⁺)(d − β_P), L_N(i) = Σ_neg (w/S⁻)(β_N − d) as statistics.
    pub fn row_coef(
        &self,
        i: usize,
        labels: &[T],
        dist: &[T],
        sums: &OfficialSums,
        q: f64,
        out: &mut SparseRow<T>,
    ) -> RowStats<T> {
        // w_ij / S^σ_i = exp(e_ij − m_σ) / a_σ: the shifted weight over the shifted sum.
        let (sp, sn) = (T::of(sums.a_pos), T::of(sums.a_neg));
        let half_q = T::of(0.5 * q);
        let mut s = RowStats::default();
        for (j, v) in out.iter_mut() {
            let d = dist[*j as usize];
            let w = *v;
            let g = if labels[*j as usize] == labels[i] {
                s.n_pos += 1;
                s.l_p = s.l_p + w / sp * (d - self.beta_p);
                half_q * (w / sp)
            } else {
                s.n_neg += 1;
                s.l_n = s.l_n + w / sn * (self.beta_n - d);
                -half_q * (w / sn)
            };
            let b = match self.eps_dir {
                Some(eps) => g / (d + eps),
                None => g,
            };
            *v = b.max(-self.coef_cap).min(self.coef_cap);
        }
        s
    }
}
