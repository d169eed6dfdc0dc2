//! The row stage on the device, one block per query (`cuda/rows.cu`, which mirrors `paper.rs` and `official.rs`):
//! the sets, weights and coefficients A_ij written over the distance row, the value E, and the stats.

use super::call::Call;
use super::launch::{args, launch, DevAddr, Shape};
use super::table;
use super::workspace::{Lists, Scratch};
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::official::Official;
use crate::paper::Paper;
use crate::params::{Params, Semantics};
use crate::scaled::{official_input, paper_input, temperature_cap};

/// What the gradient stage needs from the row stage: whether A is to be symmetrised, and whether the
/// coefficients take the batch's power of two to input units (`cpu::semantics::DeviceRowStage` is its host twin).
pub(super) struct DeviceRowStage {
    pub symmetric: bool,
    pub scale_exp: bool,
}

/// The row stage of the semantics `params` names, from the distances in `w.dist`; E in input units into `loss`
/// (one T of device memory; NaN after a non-finite input). `weights`: PAPER's per-query weights (device address)
/// or 0 for the mean.
pub(super) fn rows<T: GpuReal>(
    call: &Call,
    params: &Params,
    a: &GpuLoss,
    w: &Scratch<T>,
    weights: usize,
    loss: usize,
    lists: Lists,
) -> Result<DeviceRowStage> {
    let c = Ctx {
        call,
        a,
        w,
        weights,
        lists,
        ni: a.n as i64,
        shape: Shape {
            m: lists.m,
            ..Shape::new(a.n, a.d)
        },
        t_cap: temperature_cap::<T>(a.d),
    };
    let (stage, kind): (_, i32) = match params.semantics {
        Semantics::Paper => (paper(&c, params)?, if weights == 0 { 0 } else { 1 }),
        _ if !lists.square(a.n) => return Err(crate::validate::references_semantics(params)),
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => (official(&c, params)?, 2),
    };
    // E from the sum, as Paper::value / Paper::weighted_value / Official::value on the host.
    launch::<T>(
        call,
        &table::FINISH_VALUE,
        c.shape,
        args![
            total = w.total,
            info = w.info,
            status = w.status,
            n = lists.m as i64,
            kind = kind,
            loss = DevAddr(loss)
        ],
    )?;
    Ok(stage)
}

/// What both semantics' row stages read: the call, the batch, the scratch, n, the temperature cap.
struct Ctx<'a, T: GpuReal> {
    call: &'a Call,
    a: &'a GpuLoss,
    w: &'a Scratch<T>,
    /// PAPER's per-query weights u (n values of T on the device), or 0 for the mean.
    weights: usize,
    lists: Lists,
    ni: i64,
    /// The batch's shape, for the launch rules.
    shape: Shape,
    t_cap: T,
}

/// PAPER: `paper_rows`, then the sum of row_loss (E = (1/N) Σ_i row_loss[i], or Σ_i u_i row_loss[i]).
fn paper<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<DeviceRowStage> {
    let Ctx {
        call,
        a,
        w,
        weights,
        lists,
        ni,
        shape,
        t_cap,
    } = *c;
    let (labels, stats) = (DevAddr(a.labels), DevAddr(a.stats));
    let p: Paper<T> = paper_input::<T>(params, lists.m, a.n - lists.col0);
    // Queries against references: the queries' side only (A is m × n, never symmetrised).
    let symmetric = !params.query_only && lists.square(a.n);
    let (detach, sym) = (p.detach as i32, symmetric as i32);
    launch::<T>(
        call,
        &table::PAPER_ROWS,
        shape,
        args![
            dist_a = w.dist,
            labels = labels,
            n = ni,
            col0 = lists.col0 as i64,
            own = DevAddr(lists.own),
            info = w.info,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            t_p = p.t_p,
            t_n = p.t_n,
            t_cap = t_cap,
            lambda = p.lambda,
            lambda_p = p.lambda_p,
            inv_n = p.inv_n,
            cap = p.coef_cap,
            eps_n = p.eps_n,
            detach = detach,
            symmetric = sym,
            flags = w.flags,
            row_loss = w.row_loss,
            stats = stats,
            weights = DevAddr(weights)
        ],
    )?;
    let m = lists.m as i64;
    launch::<T>(call, &table::SUM, shape, args![v = w.row_loss, n = m, out = w.total])?;
    Ok(DeviceRowStage {
        symmetric,
        // Paper::GRAD_SCALE is 0: PAPER's coefficients multiply unit directions.
        scale_exp: false,
    })
}

/// OFFICIAL: each row's sums S±_i and reported term, the query weights q_i, then the coefficients.
fn official<T: GpuReal>(c: &Ctx<'_, T>, params: &Params) -> Result<DeviceRowStage> {
    let Ctx {
        call,
        a,
        w,
        ni,
        shape,
        t_cap,
        weights: _,
        lists: _,
    } = *c;
    let (labels, stats) = (DevAddr(a.labels), DevAddr(a.stats));
    let v2020 = params.semantics == Semantics::OfficialV2020;
    let p: Official<T> = official_input::<T>(params, a.n, v2020);
    launch::<T>(
        call,
        &table::OFFICIAL_SUMS,
        shape,
        args![
            dist = w.dist,
            labels = labels,
            n = ni,
            info = w.info,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            k_p = p.k_p,
            k_n = p.k_n,
            t_cap = t_cap,
            theta = p.theta,
            m = p.margin,
            sums = w.sums,
            reported = w.reported
        ],
    )?;
    launch::<T>(
        call,
        &table::OFFICIAL_QUERY_WEIGHTS,
        shape,
        args![sums = w.sums, n = ni, q = w.q],
    )?;
    let eps_dir = p.eps_dir.unwrap_or(-T::one());
    launch::<T>(
        call,
        &table::OFFICIAL_COEF,
        shape,
        args![
            dist_a = w.dist,
            labels = labels,
            n = ni,
            info = w.info,
            beta_p = p.beta_p,
            beta_n = p.beta_n,
            k_p = p.k_p,
            k_n = p.k_n,
            t_cap = t_cap,
            eps_dir = eps_dir,
            cap = p.coef_cap,
            sums = w.sums,
            q = w.q,
            flags = w.flags,
            stats = stats
        ],
    )?;
    // `reported` holds doubles whatever T is: the f64 instance of `sum`.
    launch::<f64>(call, &table::SUM, shape, args![v = w.reported, n = ni, out = w.total])?;
    Ok(DeviceRowStage {
        symmetric: false,
        scale_exp: p.grad_scales_with_exp(),
    })
}
