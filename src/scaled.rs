//! The loss parameters in the scaled units of `cpu::distance::Scaled` (input units = scaled units · 2^exp), shared by
//! the CPU pipeline (`cpu`) and the GPU backend (`cuda`): boundaries scale by 2^−exp, temperatures by 2^exp.

use crate::official::{Official, EPS_DIR};
use crate::paper::Paper;
use crate::params::Params;
use crate::real::{ldexp, Real};

/// The largest coefficient magnitude: N of them times |x| < 1, twice, stays finite.
fn coef_cap<T: Real>(n: usize) -> T {
    T::max_value() / T::of(4.0 * n as f64)
}

/// The batch's scale: input units = scaled units · 2^exp (see `distance`), and its size.
#[derive(Debug, Clone, Copy)]
pub struct Units {
    pub exp: i32,
    pub n: usize,
    pub d: usize,
}

/// A temperature in scaled units, clamped to ±cap so that T·h stays far from overflow (h < 4√d in scaled units);
/// any finite temperature, negative too.
fn scaled_temperature<T: Real>(t: f64, s: Units) -> T {
    let cap = T::max_value() / T::of(64.0 * ((s.d as f64).sqrt() + 1.0));
    ldexp(T::of(t), s.exp).max(-cap).min(cap)
}

/// PAPER in scaled units: β_P = (α − m)·2^−exp, β_N = α·2^−exp, T_p and T_n ·2^exp, 1/N and the coefficient cap.
pub(crate) fn paper_params<T: Real>(p: &Params, s: Units) -> Paper<T> {
    let alpha = p.alpha as f64;
    Paper {
        beta_p: ldexp(T::of(alpha - p.margin as f64), -s.exp),
        beta_n: ldexp(T::of(alpha), -s.exp),
        t_p: scaled_temperature(p.t_p as f64, s),
        t_n: scaled_temperature(p.t_n as f64, s),
        lambda: T::of(p.lambda as f64),
        lambda_p: T::of(p.lambda_p as f64),
        inv_n: T::of(1.0 / s.n as f64),
        detach: p.detach_weights,
        coef_cap: coef_cap(s.n),
        eps_n: T::of(p.weight_eps as f64 * s.n as f64),
    }
}

/// OFFICIAL in scaled units: β = 1 ∓ m/2 (V2020) or α − m, α (V2019), ·2^−exp; k = T ln b ·2^exp (w = e^{k x});
/// the V2020 direction's 1e-6 ·2^−exp; the reported value's θ = α and m, ·2^−exp.
pub(crate) fn official_params<T: Real>(p: &Params, s: Units, v2020: bool) -> Official<T> {
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
        theta: ldexp(T::of(alpha), -s.exp),
        margin: ldexp(T::of(m), -s.exp),
    }
}
