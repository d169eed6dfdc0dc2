//! The gradient stage on the device (`cuda/gradient.cu`): A symmetrised when asked, the close pairs' terms along
//! their exact differences taken out of A, then ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product
//! that skips the all-zero tiles of A (`flags`).

use super::call::{blocks, cfg, launch, Call, THREADS};
use super::distance::Distances;
use super::GpuReal;
use crate::batch::GpuLoss;
use crate::error::Result;
use cudarc::driver::{CudaSlice, PushKernelArg};

/// Writes factor · ∂E/∂x into `a.grad` from the coefficients in `dm.dist`.
pub(super) fn gradient<T: GpuReal>(
    call: &Call,
    a: &GpuLoss,
    dm: &Distances<T>,
    flags: &CudaSlice<u8>,
    symmetric: bool,
    factor: T,
) -> Result<()> {
    let (n, d) = (a.n, a.d);
    let (ni, di) = (n as i64, d as i64);
    let (dist, xs, info, close) = (&dm.dist, &dm.xs, &dm.info, &dm.close);
    let rows = (n as u32, 1, 1);
    let t32 = blocks(n, 32);
    let tiles = blocks(n, 64);
    if symmetric {
        launch!(
            call,
            Call::name::<T>("symmetrize_add"),
            cfg((t32, t32, 1), (32, 8, 1)),
            dist,
            &ni
        );
    }
    let close_c = call.scratch::<f64>(n * d)?;
    launch!(
        call,
        Call::name::<T>("close_terms"),
        cfg(rows, (THREADS, 1, 1)),
        dist,
        &a.x,
        info,
        close,
        &ni,
        &di,
        &close_c
    );
    launch!(
        call,
        Call::name::<T>("zero_close"),
        cfg((blocks(n * n, 256), 1, 1), (256, 1, 1)),
        dist,
        close,
        &ni
    );
    let rsum = call.scratch::<T>(n)?;
    launch!(
        call,
        Call::name::<T>("row_sums"),
        cfg(rows, (THREADS, 1, 1)),
        dist,
        &ni,
        &rsum
    );
    launch!(
        call,
        Call::name::<T>("gradient"),
        cfg((blocks(d, 64), tiles, 1), (16, 16, 1)),
        dist,
        xs,
        &rsum,
        flags,
        &close_c,
        &ni,
        &di,
        &factor,
        &a.grad
    );
    Ok(())
}
