//! The gradient stage on the device (`cuda/gradient.cu`): A symmetrised when asked, the close pairs' terms along
//! their exact differences taken out of A, then ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product
//! that skips the all-zero tiles of A (`flags`); the factor (loss_weight, times 2^e for V2019) is formed on the device.

use super::call::Call;
use super::launch::{args, launch, DevAddr, Shape};
use super::semantics::DeviceRowStage;
use super::table;
use super::workspace::{Lists, Scratch};
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;

/// Writes loss_weight · ∂E/∂x into `a.grad` (the m query rows of `lists`) from the coefficients in `w.dist` (NaN
/// everywhere after a non-finite input, from `w.status`).
pub(super) fn gradient<T: GpuReal>(
    call: &Call,
    a: &GpuLoss,
    w: &Scratch<T>,
    stage: &DeviceRowStage,
    loss_weight: T,
    lists: Lists,
) -> Result<()> {
    let (n, d, m) = (a.n, a.d, lists.m);
    let shape = Shape { m, ..Shape::new(n, d) };
    let (ni, di) = (n as i64, d as i64);
    let (dist, close) = (w.dist, w.close);
    if stage.symmetric {
        launch::<T>(call, &table::SYMMETRIZE_ADD, shape, args![a = dist, n = ni])?;
    }
    let x = DevAddr(a.x);
    if lists.ref_grad != 0 {
        // The references' side, before zero_close takes the close pairs out of A.
        launch::<T>(
            call,
            &table::REF_GRADIENT,
            shape,
            args![
                a = dist,
                xs = w.xs,
                x = x,
                info = w.info,
                close = close,
                n = ni,
                m = m as i64,
                d = di,
                loss_weight = loss_weight,
                status = w.status,
                grad = DevAddr(lists.ref_grad)
            ],
        )?;
    }
    if a.grad == 0 {
        return Ok(());
    }
    launch::<T>(
        call,
        &table::CLOSE_TERMS,
        shape,
        args![
            a = dist,
            x = x,
            info = w.info,
            close = close,
            n = ni,
            d = di,
            c = w.close_c
        ],
    )?;
    let count = (m * n) as i64;
    launch::<T>(
        call,
        &table::ZERO_CLOSE,
        shape,
        args![a = dist, close = close, count = count],
    )?;
    launch::<T>(call, &table::ROW_SUMS, shape, args![a = dist, n = ni, rsum = w.rsum])?;
    launch::<T>(
        call,
        &table::GRADIENT,
        shape,
        args![
            a = dist,
            xs = w.xs,
            rsum = w.rsum,
            flags = w.flags,
            c = w.close_c,
            n = ni,
            m = m as i64,
            d = di,
            info = w.info,
            loss_weight = loss_weight,
            scale_exp = stage.scale_exp as i32,
            status = w.status,
            grad = DevAddr(a.grad)
        ],
    )
}
