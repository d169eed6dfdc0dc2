//! The distance stage on the device, as the CPU's `cpu::distance`: the input checks (with the first kernels, into a
//! device status), centring and power-of-two scaling (bit-identical to the CPU's), row norms, the distance matrix
//! (tiled Gram product, close pairs summed from the input in double and flagged), mirrored to both triangles.

use super::call::{find_nonfinite, Call};
use super::launch::{args, launch, DevAddr, Shape};
use super::table;
use super::workspace::{Lists, Scratch};
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::kernel_consts::CHECK_BLOCKS;

/// The distance stage of the batch `a` (n·d values) into the scratch `w`, for the query rows of `lists` (all n
/// rows, mirrored, for a batch against itself; the first m rows against all n otherwise): the input checks into
/// `w.status` (and the caller's `status_out`, a device address or 0), the exponents into `w.info`, the scaled rows,
/// the distances and the close pairs. Nothing is read back: a non-finite input poisons the value and the gradient
/// on the device (`finish_value`, `gradient`).
pub(super) fn distances<T: GpuReal>(
    call: &Call,
    a: &GpuLoss,
    w: &Scratch<T>,
    status_out: usize,
    lists: Lists,
) -> Result<()> {
    let (n, d) = (a.n, a.d);
    let nd = n * d;
    let shape = Shape {
        m: lists.m,
        ..Shape::new(n, d)
    };
    let (ni, di) = (n as i64, d as i64);
    w.clear(call)?;
    find_nonfinite::<T>(call, a.x, nd, w.check, 0)?;
    find_nonfinite::<T>(call, a.labels, n, w.check, CHECK_BLOCKS as usize)?;
    launch::<f32>(
        call,
        &table::CHECK_STATUS,
        shape,
        args![
            partial = w.check,
            nd = nd as i64,
            status = w.status,
            status_out = DevAddr(status_out)
        ],
    )?;
    // Centring and scaling, as distance::center_and_scale.
    let (info, partial, colmax, mean, xs) = (w.info, w.partial, w.colmax, w.mean, w.xs);
    let x = DevAddr(a.x);
    let column = |what: i32, out: super::workspace::Buf<f64>| -> Result<()> {
        launch::<T>(
            call,
            &table::COLUMN_PARTIAL,
            shape,
            args![
                x = x,
                n = ni,
                d = di,
                info = info,
                mean = mean,
                what = what,
                partial = partial
            ],
        )?;
        launch::<T>(
            call,
            &table::COLUMN_FINISH,
            shape,
            args![partial = partial, n = ni, d = di, what = what, out = out],
        )
    };
    // info[slot] = the power-of-two exponent of the largest |column value| in colmax.
    let exponent_of_max = |slot: i32| -> Result<()> {
        launch::<T>(
            call,
            &table::EXPONENT_OF_MAX,
            shape,
            args![colmax = colmax, d = di, info = info, slot = slot],
        )
    };
    column(0, colmax)?;
    exponent_of_max(0)?;
    column(1, mean)?;
    column(2, colmax)?;
    exponent_of_max(1)?;
    launch::<T>(
        call,
        &table::CENTRE_SCALE,
        shape,
        args![x = x, n = ni, d = di, info = info, mean = mean, xs = xs],
    )?;
    launch::<T>(
        call,
        &table::ROW_NORMS,
        shape,
        args![xs = xs, n = ni, d = di, norms = w.norms],
    )?;
    // Close pairs (gram_distance sets them): distances and gradient terms from exact differences.
    launch::<T>(
        call,
        &table::GRAM_DISTANCE,
        shape,
        args![
            xs = xs,
            norms = w.norms,
            x = x,
            info = info,
            n = ni,
            m = lists.m as i64,
            d = di,
            dist = w.dist,
            close = w.close
        ],
    )?;
    if !lists.square(n) {
        return Ok(()); // the m query rows were computed whole
    }
    launch::<T>(call, &table::MIRROR_LOWER, shape, args![dist = w.dist, n = ni])
}
