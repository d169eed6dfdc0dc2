//! The gradient stage on the device (`cuda/gradient.cu`): A symmetrised when asked, the close pairs' terms along
//! their exact differences taken out of A, then ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product
//! that skips the all-zero tiles of A (`flags`).

use super::call::Call;
use super::distance::Distances;
use super::launch::{args, launch, DevAddr, Shape};
use super::table;
use super::GpuReal;
use crate::device_args::GpuLoss;
use crate::error::Result;
use cudarc::driver::CudaSlice;

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
    let shape = Shape { n, d };
    let (ni, di) = (n as i64, d as i64);
    let (dist, xs, info, close) = (&dm.dist, &dm.xs, &dm.info, &dm.close);
    if symmetric {
        launch::<T>(call, &table::SYMMETRIZE_ADD, shape, args![a = dist, n = ni])?;
    }
    let close_c = call.scratch::<f64>(n * d)?;
    let x = DevAddr(a.x);
    launch::<T>(
        call,
        &table::CLOSE_TERMS,
        shape,
        args![a = dist, x = x, info = info, close = close, n = ni, d = di, c = close_c],
    )?;
    launch::<T>(call, &table::ZERO_CLOSE, shape, args![a = dist, close = close, n = ni])?;
    let rsum = call.scratch::<T>(n)?;
    launch::<T>(call, &table::ROW_SUMS, shape, args![a = dist, n = ni, rsum = rsum])?;
    launch::<T>(
        call,
        &table::GRADIENT,
        shape,
        args![
            a = dist,
            xs = xs,
            rsum = rsum,
            flags = flags,
            c = close_c,
            n = ni,
            d = di,
            factor = factor,
            grad = DevAddr(a.grad)
        ],
    )
}
