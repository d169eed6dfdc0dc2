//! The row stage on the device, one block per query (`cuda/rows.cu`, which mirrors `paper.rs` and `official.rs`):
//! the sets, weights and coefficients A_ij written over the distance row, the value E, and the stats.

use super::call::{dev_err, Call};
use super::distance::Distances;
use super::launch::{args, launch, DevAddr, Shape};
use super::table;
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::official::Official;
use crate::paper::Paper;
use crate::params::{Params, Semantics};
use crate::scaled::{official_params, paper_params};
use cudarc::driver::CudaSlice;

/// What the gradient stage needs from the row stage: E (input units), whether A is to be symmetrised, and the
/// power of two that takes the coefficients to input units (`cpu::semantics::DeviceRowStage` is its host twin).
pub(super) struct DeviceRowStage<T> {
    pub value: T,
    pub symmetric: bool,
    pub grad_scale: i32,
}

/// The semantics `params` names; `flags` marks A's nonzero tiles for the gradient product.
pub(super) fn rows<T: GpuReal>(
    call: &Call,
    params: &Params,
    a: &GpuLoss,
    dm: &Distances<T>,
    flags: &CudaSlice<u8>,
    weights: usize,
) -> Result<DeviceRowStage<T>> {
    let (n, e) = (dm.units.n, dm.units.exp);
    let c = Ctx {
        call,
        a,
        weights,
        dm,
        flags,
        n,
        e,
        ni: n as i64,
        stat_exp: e,
        total: call.scratch::<f64>(1)?,
        shape: Shape { n, d: dm.units.d },
    };
    match params.semantics {
        Semantics::Paper => paper(&c, params),
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => official(&c, params),
    }
}

/// What both semantics' row stages read: the call, the batch, the distances, A's tile flags, n, the scaling
/// exponent and what follows from them, and a one-value device buffer for the value's sum.
struct Ctx<'a, T: GpuReal> {
    call: &'a Call,
    a: &'a GpuLoss,
    /// PAPER's per-query weights u (n values of T on the device), or 0 for the mean.
    weights: usize,
    dm: &'a Distances<T>,
    flags: &'a CudaSlice<u8>,
    n: usize,
    e: i32,
    ni: i64,
    /// The statistics leave the kernels × 2^stat_exp (input units), as `real::ldexp` on the CPU.
    stat_exp: i32,
    total: CudaSlice<f64>,
    /// The batch's shape, for the launch rules.
    shape: Shape,
}

/// PAPER: `paper_rows`, then L = (1/N) Σ_i row_loss[i] (with weights u: E = Σ_i u_i row_loss[i]).
fn paper<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<DeviceRowStage<T>> {
    let Ctx {
        call,
        a,
        weights,
        dm,
        flags,
        n,
        e,
        ni,
        stat_exp,
        ref total,
        shape,
    } = *c;
    let (units, dist) = (dm.units, &dm.dist);
    let (labels, stats) = (DevAddr(a.labels), DevAddr(a.stats));
    let p = paper_params::<T>(params, units);
    let row_loss = call.scratch::<T>(n)?;
    let (detach, sym) = (p.detach as i32, (!params.query_only) as i32);
    launch::<T>(
        call,
        &table::PAPER_ROWS,
        shape,
        args![
            dist_a = dist,
            labels = labels,
            n = ni,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            t_p = p.t_p,
            t_n = p.t_n,
            lambda = p.lambda,
            lambda_p = p.lambda_p,
            inv_n = p.inv_n,
            cap = p.coef_cap,
            eps_n = p.eps_n,
            detach = detach,
            symmetric = sym,
            flags = flags,
            row_loss = row_loss,
            stats = stats,
            stat_exp = stat_exp,
            weights = DevAddr(weights)
        ],
    )?;
    launch::<T>(call, &table::SUM, shape, args![v = row_loss, n = ni, out = total])?;
    let t = call.stream.clone_dtoh(total).map_err(dev_err)?[0];
    Ok(DeviceRowStage {
        value: if weights == 0 {
            Paper::<T>::value(t, n, e)
        } else {
            Paper::<T>::weighted_value(t, e)
        },
        symmetric: !params.query_only,
        grad_scale: Paper::<T>::GRAD_SCALE,
    })
}

/// OFFICIAL: each row's sums S±_i and reported term, the query weights q_i, then the coefficients.
fn official<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<DeviceRowStage<T>> {
    let Ctx {
        call,
        a,
        dm,
        flags,
        n,
        e,
        ni,
        stat_exp,
        ref total,
        shape,
        weights: _,
    } = *c;
    let (units, dist) = (dm.units, &dm.dist);
    let (labels, stats) = (DevAddr(a.labels), DevAddr(a.stats));
    let v2020 = params.semantics == Semantics::OfficialV2020;
    let p = official_params::<T>(params, units, v2020);
    let sums = call.scratch::<f64>(4 * n)?;
    let reported = call.scratch::<f64>(n)?;
    let q = call.scratch::<f64>(n)?;
    launch::<T>(
        call,
        &table::OFFICIAL_SUMS,
        shape,
        args![
            dist = dist,
            labels = labels,
            n = ni,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            k_p = p.k_p,
            k_n = p.k_n,
            theta = p.theta,
            m = p.margin,
            sums = sums,
            reported = reported
        ],
    )?;
    launch::<T>(
        call,
        &table::OFFICIAL_QUERY_WEIGHTS,
        shape,
        args![sums = sums, n = ni, q = q],
    )?;
    let eps_dir = p.eps_dir.unwrap_or(-T::one());
    launch::<T>(
        call,
        &table::OFFICIAL_COEF,
        shape,
        args![
            dist_a = dist,
            labels = labels,
            n = ni,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            k_p = p.k_p,
            k_n = p.k_n,
            eps_dir = eps_dir,
            cap = p.coef_cap,
            sums = sums,
            q = q,
            flags = flags,
            stats = stats,
            stat_exp = stat_exp
        ],
    )?;
    // `reported` holds doubles whatever T is: the f64 instance of `sum`.
    launch::<f64>(call, &table::SUM, shape, args![v = reported, n = ni, out = total])?;
    let t = call.stream.clone_dtoh(total).map_err(dev_err)?[0];
    let value = Official::<T>::value(t, n, e);
    Ok(DeviceRowStage {
        value,
        symmetric: false,
        grad_scale: p.grad_scale(e),
    })
}
