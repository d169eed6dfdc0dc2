//! The row stage on the device, one block per query (`cuda/rows.cu`, which mirrors `paper.rs` and `official.rs`):
//! the sets, weights and coefficients A_ij written over the distance row, the value E, and the stats.

use super::call::{cfg, dev_err, launch, Call, THREADS};
use super::distance::Distances;
use super::GpuReal;
use crate::batch::GpuLoss;
use crate::error::Result;
use crate::official::Official;
use crate::paper::Paper;
use crate::params::{Params, Semantics};
use crate::scaled::{official_params, paper_params};
use cudarc::driver::{CudaSlice, PushKernelArg};

/// What the gradient stage needs from the row stage: E (input units), whether A is to be symmetrised, and the
/// power of two that takes the coefficients to input units (`cpu::semantics::RowStage` is its host twin).
pub(super) struct RowStage<T> {
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
) -> Result<RowStage<T>> {
    let (n, e) = (dm.units.n, dm.units.exp);
    let c = Ctx {
        call,
        a,
        dm,
        flags,
        n,
        e,
        ni: n as i64,
        stat_exp: e,
        total: call.scratch::<f64>(1)?,
        rows: (n as u32, 1, 1),
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
    dm: &'a Distances<T>,
    flags: &'a CudaSlice<u8>,
    n: usize,
    e: i32,
    ni: i64,
    /// The statistics leave the kernels × 2^stat_exp (input units), as `real::ldexp` on the CPU.
    stat_exp: i32,
    total: CudaSlice<f64>,
    /// The launch grid: one block per query.
    rows: (u32, u32, u32),
}

/// PAPER: `paper_rows`, then L = (1/N) Σ_i row_loss[i].
fn paper<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<RowStage<T>> {
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
        rows,
    } = *c;
    let (units, dist) = (dm.units, &dm.dist);
    let p = paper_params::<T>(params, units);
    let row_loss = call.scratch::<T>(n)?;
    let (detach, sym) = (p.detach as i32, (!params.query_only) as i32);
    launch!(
        call,
        Call::name::<T>("paper_rows"),
        cfg(rows, (THREADS, 1, 1)),
        dist,
        &a.labels,
        &ni,
        &p.beta_p,
        &p.beta_n,
        &p.t_p,
        &p.t_n,
        &p.lambda,
        &p.inv_n,
        &p.coef_cap,
        &detach,
        &sym,
        flags,
        &row_loss,
        &a.stats,
        &stat_exp
    );
    launch!(
        call,
        Call::name::<T>("sum"),
        cfg((1, 1, 1), (THREADS, 1, 1)),
        &row_loss,
        &ni,
        total
    );
    let t = call.stream.clone_dtoh(total).map_err(dev_err)?[0];
    Ok(RowStage {
        value: Paper::<T>::value(t, n, e),
        symmetric: !params.query_only,
        grad_scale: Paper::<T>::GRAD_SCALE,
    })
}

/// OFFICIAL: each row's sums S±_i and reported term, the query weights q_i, then the coefficients.
fn official<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<RowStage<T>> {
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
        rows,
    } = *c;
    let (units, dist) = (dm.units, &dm.dist);
    let v2020 = params.semantics == Semantics::OfficialV2020;
    let p = official_params::<T>(params, units, v2020);
    let sums = call.scratch::<f64>(4 * n)?;
    let reported = call.scratch::<f64>(n)?;
    let q = call.scratch::<f64>(n)?;
    launch!(
        call,
        Call::name::<T>("official_sums"),
        cfg(rows, (THREADS, 1, 1)),
        dist,
        &a.labels,
        &ni,
        &p.beta_p,
        &p.beta_n,
        &p.k_p,
        &p.k_n,
        &p.theta,
        &p.margin,
        &sums,
        &reported
    );
    launch!(
        call,
        "rll_official_query_weights",
        cfg((1, 1, 1), (THREADS, 1, 1)),
        &sums,
        &ni,
        &q
    );
    let eps_dir = p.eps_dir.unwrap_or(-T::one());
    launch!(
        call,
        Call::name::<T>("official_coef"),
        cfg(rows, (THREADS, 1, 1)),
        dist,
        &a.labels,
        &ni,
        &p.beta_p,
        &p.beta_n,
        &p.k_p,
        &p.k_n,
        &eps_dir,
        &p.coef_cap,
        &sums,
        &q,
        flags,
        &a.stats,
        &stat_exp
    );
    launch!(
        call,
        "rll_sum_f64",
        cfg((1, 1, 1), (THREADS, 1, 1)),
        &reported,
        &ni,
        total
    );
    let t = call.stream.clone_dtoh(total).map_err(dev_err)?[0];
    let value = Official::<T>::value(t, n, e);
    Ok(RowStage {
        value,
        symmetric: false,
        grad_scale: p.grad_scale(e),
    })
}
