//! The checks made before anything is written, shared by the backends: the parameters and the batch's size
//! ([`dims`]) and the loss weight ([`loss_weight`]) by both; the host slices' lengths and values by the CPU
//! ([`host_batch`]). The GPU backend checks device pointers itself and device values on the device.

use crate::batch::{Batch, STATS_PER_SAMPLE};
use crate::error::{ErrorKind, Result, RllError};
use crate::params::{Params, Semantics};
use crate::real::Real;

/// The parameters, n > 0, d > 0, and n·d and n² within what a buffer can hold; returns n·d.
pub(crate) fn dims(params: &Params, n: usize, d: usize) -> Result<usize> {
    params.validate()?;
    if n == 0 {
        return Err(RllError::size("n = 0: the batch is empty"));
    }
    features(d)?;
    product(n, d)
        .ok()
        .filter(|&nd| nd <= isize::MAX as usize / 8 && n <= (isize::MAX as usize / 8).isqrt())
        .ok_or_else(|| too_large(n, d))
}

fn too_large(n: usize, d: usize) -> RllError {
    RllError::size(format!("n = {n}, d = {d}: too large"))
}

/// n·d, or a Size error naming both.
pub(crate) fn product(n: usize, d: usize) -> Result<usize> {
    n.checked_mul(d).ok_or_else(|| too_large(n, d))
}

/// The n and d of a C call: each > 0, and n·d values of `elem` bytes within what a slice can address; returns
/// (n, d, n·d).
pub(crate) fn c_dims(n: i64, d: i64, elem: usize) -> Result<(usize, usize, usize)> {
    if n <= 0 {
        return Err(RllError::size(format!("n = {n} must be > 0")));
    }
    if d <= 0 {
        return Err(RllError::size(format!("d = {d} must be > 0")));
    }
    let (n, d) = (n as usize, d as usize);
    let nd = product(n, d)?;
    if nd > isize::MAX as usize / elem.max(1) {
        return Err(too_large(n, d));
    }
    Ok((n, d, nd))
}

/// The device kernels index rows and columns with int (and n·d values must be addressable).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))] // the device backend's check
pub(crate) fn device_dims(n: usize, d: usize) -> Result<()> {
    product(n, d)?;
    if n > i32::MAX as usize / 2 || d > i32::MAX as usize {
        return Err(RllError::size(format!(
            "n = {n}, d = {d}: too large for the GPU kernels"
        )));
    }
    Ok(())
}

/// A buffer `name` of n rows of d values holds `len` values.
pub(crate) fn rows_len(name: &str, len: usize, n: usize, d: usize) -> Result<()> {
    let nd = product(n, d)?;
    if len != nd {
        return Err(RllError::size(format!(
            "{name} has {len} values but n·d = {n}·{d} = {nd}"
        )));
    }
    Ok(())
}

/// d > 0: a row has features (the loss and the L2 normalisation alike).
pub(crate) fn features(d: usize) -> Result<()> {
    if d == 0 {
        return Err(RllError::size("d = 0: the features are empty"));
    }
    Ok(())
}

/// The error for the first non-finite feature, x[k / d][k % d] (host and device alike).
pub(crate) fn non_finite_x<T: Real>(k: usize, d: usize, value: T) -> RllError {
    RllError::new(
        ErrorKind::NonFinite,
        format!("x[{}][{}] = {value} is not finite", k / d, k % d),
    )
}

/// The error for the first non-finite label.
pub(crate) fn non_finite_label<T: Real>(i: usize, value: T) -> RllError {
    RllError::new(ErrorKind::NonFinite, format!("labels[{i}] = {value} is not finite"))
}

/// The loss weight is finite.
pub(crate) fn loss_weight<T: Real>(w: T) -> Result<()> {
    if !w.is_finite() {
        return Err(RllError::param(format!("loss_weight = {w} is not finite")));
    }
    Ok(())
}

/// Queries against references need the PAPER semantics: the error (the official layer's value and weights are
/// defined on one batch).
pub(crate) fn references_semantics(params: &Params) -> RllError {
    RllError::param(format!(
        "semantics = {:?}: queries against references apply to the PAPER semantics only (the official layer's \
         value and weights are defined on one batch)",
        params.semantics
    ))
}

/// Per-query weights need the PAPER semantics (the official layer's value has no per-query split).
pub(crate) fn weighted_semantics(params: &Params) -> Result<()> {
    if params.semantics != Semantics::Paper {
        return Err(RllError::param(
            "per-query weights (per-query losses, reductions other than the mean) apply to the PAPER semantics only"
                .to_string(),
        ));
    }
    Ok(())
}

/// Per-query weights (`compute_weighted`): PAPER only (the official layer's value has no per-query split), n
/// finite values.
pub(crate) fn query_weights<T: Real>(params: &Params, w: &[T], n: usize) -> Result<()> {
    weighted_semantics(params)?;
    if w.len() != n {
        return Err(RllError::size(format!(
            "{} per-query weights for n = {n} rows",
            w.len()
        )));
    }
    if let Some(k) = w.iter().position(|v| !v.is_finite()) {
        return Err(RllError::param(format!("query weight [{k}] = {} is not finite", w[k])));
    }
    Ok(())
}

/// [`dims`], then every slice of a host batch: x n·d values, labels n, grad n·d and stats n·4 when given, and
/// every feature and label finite (the first bad one is named).
pub(crate) fn host_batch<T: Real>(
    params: &Params,
    b: &Batch<'_, T>,
    grad: Option<&[T]>,
    stats: Option<&[T]>,
) -> Result<()> {
    dims(params, b.n, b.d)?;
    rows_len("x", b.x.len(), b.n, b.d)?;
    if b.labels.len() != b.n {
        return Err(RllError::size(format!(
            "labels has {} values but n = {}",
            b.labels.len(),
            b.n
        )));
    }
    if let Some(g) = grad {
        rows_len("grad", g.len(), b.n, b.d)?;
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
    // One branch-free pass (vector code) first; the position is looked for only when a value is bad.
    if !b.x.iter().fold(true, |ok, v| ok & v.is_finite()) {
        let k = b.x.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Err(non_finite_x(k, b.d, b.x[k]));
    }
    if let Some(i) = b.labels.iter().position(|v| !v.is_finite()) {
        return Err(non_finite_label(i, b.labels[i]));
    }
    Ok(())
}

/// A buffer of `name` holds `want` values.
pub(crate) fn len(name: &str, len: usize, want: usize) -> Result<()> {
    if len != want {
        return Err(RllError::size(format!(
            "{name} has {len} values but {want} are expected"
        )));
    }
    Ok(())
}

/// Query rows `start..start + count` lie within the batch's n rows (count may be 0).
pub(crate) fn query_range(start: usize, count: usize, n: usize) -> Result<()> {
    if start > n || count > n - start {
        return Err(RllError::size(format!(
            "query rows start = {start}, count = {count} are not within the batch's n = {n} rows"
        )));
    }
    Ok(())
}

/// `what` (a part of the OFFICIAL semantics' normaliser Z) is refused under PAPER.
pub(crate) fn official_only(params: &Params, what: &str) -> Result<()> {
    if params.semantics == crate::params::Semantics::Paper {
        return Err(RllError::param(format!(
            "{what}: defined for the OFFICIAL semantics only (PAPER has no normaliser Z)"
        )));
    }
    Ok(())
}

/// Every value of `name` is finite (the first bad one is named).
pub(crate) fn finite_f64s(name: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(k) => Err(RllError::new(
            ErrorKind::NonFinite,
            format!("{name}[{k}] = {} is not finite", v[k]),
        )),
        None => Ok(()),
    }
}

/// OFFICIAL over a part of the queries without every row's ln mass.
pub(crate) fn ln_mass_needed(start: usize, count: usize, n: usize) -> RllError {
    RllError::param(format!(
        "ln_mass is NULL but the query rows start = {start}, count = {count} are not the whole batch of n = {n}: \
         OFFICIAL's Z sums every row's weights (pass every row's ln mass, see docs/distributed.md)"
    ))
}
