//! OFFICIAL semantics: the gradient the official `DistanceWeightedValidPairLossV12` layer applies, in the closed
//! form of spec B.3, and the value it reports (spec B.4).
//!
//! With raw weights w_ij = b_p^(T_p (d − β_P)) on active positives (d > β_P), w_ij = b_n^(T_n (β_N − d)) on active
//! negatives (d < β_N), S⁺_i = ε + Σ_pos w, S⁻_i = ε + Σ_neg w, Z = ε + Σ_k (S⁺_k + S⁻_k) and q_i = (S⁺_i + S⁻_i)/Z:
//!   ∂E/∂x_i = ½ q_i [Σ_pos (w_ij/S⁺_i) û_ij − Σ_neg (w_ij/S⁻_i) û_ij],   ε = 1e-8,
//! with û_ij = (x_i − x_j)/(d_ij + 1e-6) and β = 1 ∓ m/2 (V2020), or û_ij = x_i − x_j and β_P = α − m, β_N = α
//! (V2019). Only the query's own row is differentiated. The value is
//!   E = (1/P) Σ_{a<b} [s_ab [d − (θ − m)]₊² + (1 − s_ab) [θ − d]₊²],   P = N(N − 1)/2, θ = α,
//! computed on the current batch (the 2020 release wrote it one iteration late, inside Backward).
//! When the largest exponent would overflow a sum, every weight and every ε is multiplied by the same e^−shift:
//! all of the ratios above are unchanged.

use crate::real::Real;
use crate::rows::{RowCoef, RowStats};

/// ε of the original layer's sums.
pub const EPS_SUM: f64 = 1e-8;
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
}

impl<T: Real> Official<T> {
    fn exponent(&self, same: bool, d: T) -> Option<T> {
        if same {
            (d > self.beta_p).then(|| self.k_p * (d - self.beta_p))
        } else {
            (d < self.beta_n).then(|| self.k_n * (self.beta_n - d))
        }
    }

    /// The largest weight exponent of row i's active pairs (−inf if none).
    pub fn row_max_exponent(&self, i: usize, labels: &[T], dist: &[T]) -> T {
        let mut m = T::neg_infinity();
        for (j, (&y, &d)) in labels.iter().zip(dist).enumerate() {
            if j != i {
                if let Some(e) = self.exponent(y == labels[i], d) {
                    m = m.max(e);
                }
            }
        }
        m
    }

    /// Writes the shifted weights of row i into `w` and returns (S⁺_i, S⁻_i), each started at `eps`, summed in j order.
    pub fn row_sums(&self, i: usize, labels: &[T], dist: &[T], shift: T, eps: T, w: &mut [T]) -> (T, T) {
        let (mut sp, mut sn) = (eps, eps);
        for (j, ((&y, &d), wj)) in labels.iter().zip(dist).zip(w.iter_mut()).enumerate() {
            *wj = T::zero();
            if j == i {
                continue;
            }
            let same = y == labels[i];
            if let Some(e) = self.exponent(same, d) {
                *wj = (e - shift).exp();
                if same {
                    sp = sp + *wj;
                } else {
                    sn = sn + *wj;
                }
            }
        }
        (sp, sn)
    }

    /// The reported value's sum over the pairs (i, j > i), in scaled units (θ and m scaled).
    pub fn reported_row(i: usize, labels: &[T], dist: &[T], theta: T, m: T) -> T {
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

/// The second pass: B_ij from the weights already in `coef` and the row's (S⁺_i, S⁻_i, Z).
pub(crate) struct OfficialCoef<'a, T> {
    pub p: &'a Official<T>,
    /// Per row: (S⁺_i, S⁻_i).
    pub sums: &'a [(T, T)],
    pub z: T,
}

impl<T: Real> RowCoef<T> for OfficialCoef<'_, T> {
    /// Turns the weights in `coef` into B_ij = ±½ q_i (w_ij / S^±_i) / (d_ij + 1e-6) (V2020; V2019 without the
    /// division), and returns L_P(i) = Σ_pos (w/S⁺)(d − β_P), L_N(i) = Σ_neg (w/S⁻)(β_N − d) as statistics.
    fn row(&self, i: usize, labels: &[T], dist: &[T], coef: &mut [T]) -> RowStats<T> {
        let p = self.p;
        let (sp, sn) = self.sums[i];
        let half_q = T::of(0.5) * ((sp + sn) / self.z);
        let mut s = RowStats::default();
        for (j, ((&y, &d), c)) in labels.iter().zip(dist).zip(coef.iter_mut()).enumerate() {
            if j == i || p.exponent(y == labels[i], d).is_none() {
                continue;
            }
            let w = *c;
            let same = y == labels[i];
            if same {
                s.n_pos += 1;
            } else {
                s.n_neg += 1;
            }
            // A weight that underflowed contributes nothing (and its sum may be 0).
            if w == T::zero() {
                continue;
            }
            let g = if same {
                s.l_p = s.l_p + w / sp * (d - p.beta_p);
                half_q * (w / sp)
            } else {
                s.l_n = s.l_n + w / sn * (p.beta_n - d);
                -half_q * (w / sn)
            };
            let b = match p.eps_dir {
                Some(eps) => g / (d + eps),
                None => g,
            };
            *c = b.max(-p.coef_cap).min(p.coef_cap);
        }
        s
    }
}
