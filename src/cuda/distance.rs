//! The distance stage on the device, as the CPU's `cpu::distance`: the input checks (with the first kernels),
//! centring and power-of-two scaling (bit-identical to the CPU's), row norms, the distance matrix (tiled Gram
//! product, close pairs summed from the input in double and flagged), mirrored to both triangles.

use super::call::{blocks, cfg, dev_err, find_nonfinite, first_index, launch, Call, CHECK_BLOCKS, COL_CHUNKS, THREADS};
use super::GpuReal;
use crate::batch::GpuLoss;
use crate::error::{ErrorKind, Result, RllError};
use crate::scaled::Units;
use cudarc::driver::{CudaSlice, PushKernelArg};

/// What the later stages read: the scaled rows, the scaling exponents, the N×N distances (overwritten with the
/// coefficients A by the row stage), the close-pair flags, and the batch's units.
pub(super) struct Distances<T: GpuReal> {
    pub xs: CudaSlice<T>,
    pub info: CudaSlice<i32>,
    pub dist: CudaSlice<T>,
    pub close: CudaSlice<u8>,
    pub units: Units,
}

/// The distance stage of the batch `a` (n·d = `nd` values); a non-finite feature or label is an error naming it.
pub(super) fn distances<T: GpuReal>(call: &Call, a: &GpuLoss, nd: usize) -> Result<Distances<T>> {
    let (n, d) = (a.n, a.d);
    let (ni, di) = (n as i64, d as i64);
    // Argument checks run on the device with the first kernels; their result comes back with the exponents.
    let check_len = 2 * CHECK_BLOCKS as usize;
    let mut check = call.scratch::<i64>(check_len + 1)?;
    find_nonfinite::<T>(call, a.x, nd, &mut check, 0)?;
    find_nonfinite::<T>(call, a.labels, n, &mut check, CHECK_BLOCKS as usize)?;
    // Centring and scaling, as distance::center_and_scale.
    let info = call.scratch::<i32>(2)?;
    let partial = call.scratch::<f64>(COL_CHUNKS as usize * d)?;
    let colmax = call.scratch::<f64>(d)?;
    let mean = call.zeros::<f64>(d)?;
    let xs = call.scratch::<T>(n * d)?;
    let col_grid = (blocks(d, 32), COL_CHUNKS, 1);
    let column = |what: i32, out: &CudaSlice<f64>| -> Result<()> {
        launch!(
            call,
            Call::name::<T>("column_partial"),
            cfg(col_grid, (32, 8, 1)),
            &a.x,
            &ni,
            &di,
            &info,
            &mean,
            &what,
            &partial
        );
        launch!(
            call,
            "rll_column_finish",
            cfg((blocks(d, 256), 1, 1), (256, 1, 1)),
            &partial,
            &ni,
            &di,
            &what,
            out
        );
        Ok(())
    };
    // info[slot] = the power-of-two exponent of the largest |column value| in colmax.
    let exponent_of_max = |slot: i32| -> Result<()> {
        launch!(
            call,
            "rll_exponent_of_max",
            cfg((1, 1, 1), (THREADS, 1, 1)),
            &colmax,
            &di,
            &info,
            &slot
        );
        Ok(())
    };
    column(0, &colmax)?;
    exponent_of_max(0)?;
    column(1, &mean)?;
    column(2, &colmax)?;
    exponent_of_max(1)?;
    launch!(
        call,
        Call::name::<T>("centre_scale"),
        cfg((blocks(n * d, 256), 1, 1), (256, 1, 1)),
        &a.x,
        &ni,
        &di,
        &info,
        &mean,
        &xs
    );
    let norms = call.scratch::<T>(n)?;
    launch!(
        call,
        Call::name::<T>("row_norms"),
        cfg((blocks(n, 256), 1, 1), (256, 1, 1)),
        &xs,
        &ni,
        &di,
        &norms
    );
    let dist = call.scratch::<T>(n * n)?;
    // Close pairs (gram_distance sets them): distances and gradient terms from exact differences.
    let close = call.zeros::<u8>(n * n)?;
    let gram_tiles = blocks(n, 128);
    launch!(
        call,
        Call::name::<T>("gram_distance"),
        cfg((gram_tiles, gram_tiles, 1), (16, 16, 1)),
        &xs,
        &norms,
        &a.x,
        &info,
        &ni,
        &di,
        &dist,
        &close
    );
    let t32 = blocks(n, 32);
    launch!(
        call,
        Call::name::<T>("mirror_lower"),
        cfg((t32, t32, 1), (32, 8, 1)),
        &dist,
        &ni
    );
    let exps = call.stream.clone_dtoh(&info).map_err(dev_err)?;
    let found = call.stream.clone_dtoh(&check).map_err(dev_err)?;
    if let Some(k) = first_index(&found[..CHECK_BLOCKS as usize]) {
        return Err(RllError::new(
            ErrorKind::NonFinite,
            format!("x[{}][{}] is not finite", k / d, k % d),
        ));
    }
    if let Some(i) = first_index(&found[CHECK_BLOCKS as usize..check_len]) {
        return Err(RllError::new(
            ErrorKind::NonFinite,
            format!("labels[{i}] is not finite"),
        ));
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
