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

/// The largest temperature magnitude in scaled units, so that T·h stays far from overflow (h < 4√d in scaled
/// units); any finite temperature, negative too, is clamped to ±this.
pub(crate) fn temperature_cap<T: Real>(d: usize) -> T {
    T::max_value() / T::of(64.0 * ((d as f64).sqrt() + 1.0))
}

/// A length (boundary, margin) in scaled units: b·2^−exp. `scaled_length` in cuda/rll_common.cuh is its twin.
fn length<T: Real>(b: T, s: Units) -> T {
    ldexp(b, -s.exp)
}

/// A temperature in scaled units: t·2^exp clamped to ±[`temperature_cap`]. `scaled_temperature` in
/// cuda/rll_common.cuh is its twin.
fn temperature<T: Real>(t: T, s: Units) -> T {
    let cap = temperature_cap::<T>(s.d);
    ldexp(t, s.exp).max(-cap).min(cap)
}

/// PAPER in input units (β_P = α − m, β_N = α, T_p, T_n), with 1/N for N `rows` queries, ε times the ranked lists'
/// length `list` (N for a batch against itself) and the coefficient cap: what the GPU's row kernel takes, scaling
/// the lengths and temperatures itself by the batch's exponent on the device.
pub(crate) fn paper_input<T: Real>(p: &Params, rows: usize, list: usize) -> Paper<T> {
    let alpha = p.alpha as f64;
    Paper {
        beta_p: T::of(alpha - p.margin as f64),
        beta_n: T::of(alpha),
        t_p: T::of(p.t_p as f64),
        t_n: T::of(p.t_n as f64),
        lambda: T::of(p.lambda as f64),
        lambda_p: T::of(p.lambda_p as f64),
        inv_n: T::of(1.0 / rows as f64),
        detach: p.detach_weights,
        coef_cap: coef_cap(rows.max(list)),
        eps_n: T::of(p.weight_eps as f64 * list as f64),
    }
}

/// PAPER in scaled units for a batch against itself: β_P, β_N ·2^−exp, T_p and T_n ·2^exp ([`paper_input`] scaled).
pub(crate) fn paper_params<T: Real>(p: &Params, s: Units) -> Paper<T> {
    paper_lists(p, s, s.n, s.n)
}

/// [`paper_params`] for `rows` queries each ranked against a list of `list` references.
pub(crate) fn paper_lists<T: Real>(p: &Params, s: Units, rows: usize, list: usize) -> Paper<T> {
    let u = paper_input::<T>(p, rows, list);
    Paper {
        beta_p: length(u.beta_p, s),
        beta_n: length(u.beta_n, s),
        t_p: temperature(u.t_p, s),
        t_n: temperature(u.t_n, s),
        ..u
    }
}

/// OFFICIAL in input units: β = 1 ∓ m/2 (V2020) or α − m, α (V2019); k = T ln b (w = e^{k x}); the V2020
/// direction's 1e-6; the reported value's θ = α and m: what the GPU's row kernels take (as [`paper_input`]).
pub(crate) fn official_input<T: Real>(p: &Params, n: usize, v2020: bool) -> Official<T> {
    let (m, alpha) = (p.margin as f64, p.alpha as f64);
    let (beta_p, beta_n) = if v2020 {
        (1.0 - m / 2.0, 1.0 + m / 2.0)
    } else {
        (alpha - m, alpha)
    };
    Official {
        beta_p: T::of(beta_p),
        beta_n: T::of(beta_n),
        k_p: T::of(p.t_p as f64 * (p.base_p as f64).ln()),
        k_n: T::of(p.t_n as f64 * (p.base_n as f64).ln()),
        eps_dir: v2020.then(|| T::of(EPS_DIR)),
        coef_cap: coef_cap(n),
        theta: T::of(alpha),
        margin: T::of(m),
    }
}

/// OFFICIAL in scaled units: lengths ·2^−exp, k ·2^exp ([`official_input`] scaled).
pub(crate) fn official_params<T: Real>(p: &Params, s: Units, v2020: bool) -> Official<T> {
    let u = official_input::<T>(p, s.n, v2020);
    Official {
        beta_p: length(u.beta_p, s),
        beta_n: length(u.beta_n, s),
        k_p: temperature(u.k_p, s),
        k_n: temperature(u.k_n, s),
        eps_dir: u.eps_dir.map(|e| length(e, s)),
        theta: length(u.theta, s),
        margin: length(u.margin, s),
        ..u
    }
}
