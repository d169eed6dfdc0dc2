//! The distance stage on the device, as the CPU's `cpu::distance`: the input checks (with the first kernels),
//! centring and power-of-two scaling (bit-identical to the CPU's), row norms, the distance matrix (tiled Gram
//! product, close pairs summed from the input in double and flagged), mirrored to both triangles.

use super::call::{dev_err, find_nonfinite, first_index, Call, CHECK_BLOCKS};
use super::launch::{args, launch, DevAddr, Shape};
use super::table;
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;
use crate::kernel_consts::COL_CHUNKS;
use crate::scaled::Units;
use crate::validate;
use cudarc::driver::CudaSlice;

/// What the later stages read: the scaled rows, the scaling exponents, the N×N distances (overwritten with the
/// coefficients A by the row stage), the close-pair flags, and the batch's units.
pub(super) struct Distances<T: GpuReal> {
    pub xs: CudaSlice<T>,
    pub info: CudaSlice<i32>,
    pub dist: CudaSlice<T>,
    pub close: CudaSlice<u8>,
    pub units: Units,
}

/// Element `k` of the device array of T at `ptr`, for an error message (the call's stream is idle here: the
/// check results were just copied back on it).
fn value_at<T: GpuReal>(call: &Call, ptr: usize, k: usize) -> Result<T> {
    let mut v = [T::zero()];
    let at = (ptr + k * std::mem::size_of::<T>()) as u64;
    // SAFETY: k indexes the array the non-finite search read (n·d features or n labels), which the host keeps
    // alive for the call; `v` is one T of host memory, and the copy is complete when the stream synchronises.
    unsafe { cudarc::driver::result::memcpy_dtoh_async(&mut v, at, call.stream.cu_stream()) }.map_err(dev_err)?;
    call.stream.synchronize().map_err(dev_err)?;
    Ok(v[0])
}

/// The distance stage of the batch `a` (n·d = `nd` values); a non-finite feature or label is an error naming it.
pub(super) fn distances<T: GpuReal>(call: &Call, a: &GpuLoss, nd: usize) -> Result<Distances<T>> {
    let (n, d) = (a.n, a.d);
    let shape = Shape { n, d };
    let (ni, di) = (n as i64, d as i64);
    // Argument checks run on the device with the first kernels; their result comes back with the exponents.
    let check_len = 2 * CHECK_BLOCKS as usize;
    let mut check = call.scratch::<i64>(check_len)?;
    find_nonfinite::<T>(call, a.x, nd, &mut check, 0)?;
    find_nonfinite::<T>(call, a.labels, n, &mut check, CHECK_BLOCKS as usize)?;
    // Centring and scaling, as distance::center_and_scale.
    let info = call.scratch::<i32>(2)?;
    let partial = call.scratch::<f64>(COL_CHUNKS as usize * d)?;
    let colmax = call.scratch::<f64>(d)?;
    let mean = call.zeros::<f64>(d)?;
    let xs = call.scratch::<T>(n * d)?;
    let x = DevAddr(a.x);
    let column = |what: i32, out: &CudaSlice<f64>| -> Result<()> {
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
    column(0, &colmax)?;
    exponent_of_max(0)?;
    column(1, &mean)?;
    column(2, &colmax)?;
    exponent_of_max(1)?;
    launch::<T>(
        call,
        &table::CENTRE_SCALE,
        shape,
        args![x = x, n = ni, d = di, info = info, mean = mean, xs = xs],
    )?;
    let norms = call.scratch::<T>(n)?;
    launch::<T>(
        call,
        &table::ROW_NORMS,
        shape,
        args![xs = xs, n = ni, d = di, norms = norms],
    )?;
    let dist = call.scratch::<T>(n * n)?;
    // Close pairs (gram_distance sets them): distances and gradient terms from exact differences.
    let close = call.zeros::<u8>(n * n)?;
    launch::<T>(
        call,
        &table::GRAM_DISTANCE,
        shape,
        args![
            xs = xs,
            norms = norms,
            x = x,
            info = info,
            n = ni,
            d = di,
            dist = dist,
            close = close
        ],
    )?;
    launch::<T>(call, &table::MIRROR_LOWER, shape, args![dist = dist, n = ni])?;
    let exps = call.stream.clone_dtoh(&info).map_err(dev_err)?;
    let found = call.stream.clone_dtoh(&check).map_err(dev_err)?;
    if let Some(k) = first_index(&found[..CHECK_BLOCKS as usize]) {
        return Err(validate::non_finite_x(k, d, value_at::<T>(call, a.x, k)?));
    }
    if let Some(i) = first_index(&found[CHECK_BLOCKS as usize..check_len]) {
        return Err(validate::non_finite_label(i, value_at::<T>(call, a.labels, i)?));
    }
    let units = Units {
        exp: exps[0] + exps[1],
        n,
        d,
    };
    Ok(Distances {
        xs,
        info,
        dist,
        close,
        units,
    })
}
