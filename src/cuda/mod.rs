//! The CUDA path: the kernels of `cuda/` on the host's device memory (Caffe's `gpu_data()`), launched through
//! cudarc on the device's primary context and the host's stream. Nothing here frees or owns host memory;
//! temporaries live for one call. Every failure is an `ErrorKind::Device` error, never a panic.
//!
//! The sequence mirrors the CPU engine: centring and power-of-two scaling (bit-identical to the CPU's), the
//! distance matrix (tiled Gram product), one block per query for the sets, weights and coefficients, then
//! ∂E/∂x_i = factor · [(Σ_j A_ij) x_i − (A X)_i] as a tiled product that skips the all-zero tiles of A.

mod kernels;

use crate::error::{ErrorKind, Result, RllError};
use crate::official::Official;
use crate::params::{Params, Semantics};
use crate::real::{ldexp, saturate, Real};
use crate::scaled::{official_params, paper_params, Units};
use cudarc::driver::{CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};
use std::sync::Arc;

/// The element types the kernels are instantiated for.
pub trait GpuReal: Real + DeviceRepr + ValidAsZeroBits {
    /// The kernels' name suffix.
    const SUFFIX: &'static str;
}
impl GpuReal for f32 {
    const SUFFIX: &'static str = "f32";
}
impl GpuReal for f64 {
    const SUFFIX: &'static str = "f64";
}

pub use crate::device::GpuArgs;

fn dev_err(e: impl std::fmt::Display) -> RllError {
    RllError::new(ErrorKind::Device, format!("CUDA: {e}"))
}

/// Out of device memory is a size error naming the bytes (as on the CPU); any other failure a device error.
fn alloc_err<T>(e: cudarc::driver::DriverError, len: usize) -> RllError {
    if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        let bytes = len.max(1).saturating_mul(std::mem::size_of::<T>());
        RllError::no_memory(&format!("a buffer of {len} values"), bytes, "device")
    } else {
        dev_err(e)
    }
}

const THREADS: u32 = 256;
const COL_CHUNKS: u32 = 64;
const CHECK_BLOCKS: u32 = 256;

fn cfg(grid: (u32, u32, u32), block: (u32, u32, u32)) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: block,
        shared_mem_bytes: 0,
    }
}

fn blocks(count: usize, per: usize) -> u32 {
    count.div_ceil(per) as u32
}

struct Call {
    dev: Arc<kernels::Device>,
    stream: Arc<CudaStream>,
}

impl Call {
    fn new(device: i32, stream: u64) -> Result<Self> {
        if device < 0 {
            return Err(RllError::new(
                ErrorKind::Device,
                format!("device = {device} must be >= 0"),
            ));
        }
        let dev = kernels::device(device as usize).map_err(dev_err)?;
        dev.ctx.bind_to_thread().map_err(dev_err)?;
        let stream = if stream == 0 {
            dev.ctx.default_stream()
        } else {
            // SAFETY: the host passes a live stream of this device's context and keeps it alive for the call.
            unsafe { dev.ctx.wrap_borrowed_stream(stream as cudarc::driver::sys::CUstream) }
        };
        Ok(Call { dev, stream })
    }
    /// A zeroed temporary (stream-ordered).
    fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>> {
        self.stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(|e| alloc_err::<T>(e, len))
    }
    /// A temporary that the kernels overwrite completely before reading it.
    fn scratch<T: DeviceRepr>(&self, len: usize) -> Result<CudaSlice<T>> {
        // SAFETY: every use below is written in full by a kernel before any kernel reads it.
        unsafe { self.stream.alloc::<T>(len.max(1)) }.map_err(|e| alloc_err::<T>(e, len))
    }
    fn name<T: GpuReal>(base: &str) -> String {
        format!("rll_{base}_{}", T::SUFFIX)
    }
}

/// Launches `$kernel` with the listed arguments on the call's stream.
macro_rules! launch {
    ($call:expr, $kernel:expr, $cfg:expr, $($arg:expr),* $(,)?) => {{
        let name: &str = &$kernel;
        let f = $call.dev.function(name).map_err(dev_err)?;
        let mut b = $call.stream.launch_builder(&f);
        $( b.arg($arg); )*
        // SAFETY: each kernel's parameter list is the argument list above (see cuda/*.cu); device pointers are
        // the host's (validated non-null, sized n·d, n, ...) or our own allocations of the sizes the kernels use.
        unsafe { b.launch($cfg) }.map_err(dev_err)?;
    }};
}

/// Launches the search for the first non-finite value of a device array into `partial[offset..]` (one entry per
/// block: an index or -1), read back later together with the scaling exponents, in one copy.
fn find_nonfinite<T: GpuReal>(
    call: &Call,
    ptr: u64,
    count: usize,
    partial: &mut CudaSlice<i64>,
    offset: usize,
) -> Result<()> {
    let count_i = count as i64;
    let mut view = partial.slice_mut(offset..offset + CHECK_BLOCKS as usize);
    launch!(
        call,
        Call::name::<T>("first_nonfinite"),
        cfg((CHECK_BLOCKS, 1, 1), (THREADS, 1, 1)),
        &ptr,
        &count_i,
        &mut view
    );
    Ok(())
}

fn first_index(partial: &[i64]) -> Option<usize> {
    partial.iter().filter(|&&k| k >= 0).min().map(|&k| k as usize)
}

/// The loss of a batch in device memory: `loss_gpu` of the C ABI and of the cxx bridge.
pub fn compute_gpu<T: GpuReal>(params: &Params, a: GpuArgs, loss_weight: T) -> Result<T> {
    crate::catch(|| {
        params.validate()?;
        let (n, d) = (a.n, a.d);
        if n == 0 || d == 0 {
            return Err(RllError::new(
                ErrorKind::Size,
                format!("n = {n}, d = {d}: both must be > 0"),
            ));
        }
        let nd = n
            .checked_mul(d)
            .filter(|_| n <= i32::MAX as usize / 2 && d <= i32::MAX as usize)
            .ok_or_else(|| RllError::new(ErrorKind::Size, format!("n = {n}, d = {d}: too large")))?;
        for (ptr, name) in [(a.x, "x"), (a.labels, "labels")] {
            if ptr == 0 {
                return Err(RllError::new(ErrorKind::NullPointer, format!("{name} is NULL")));
            }
        }
        if !loss_weight.is_finite() {
            return Err(RllError::param(format!("loss_weight = {loss_weight} is not finite")));
        }
        let call = Call::new(a.device, a.stream)?;
        run::<T>(&call, params, a, loss_weight, nd)
    })
}

fn run<T: GpuReal>(call: &Call, params: &Params, a: GpuArgs, loss_weight: T, nd: usize) -> Result<T> {
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
    column(0, &colmax)?;
    let slot0 = 0i32;
    launch!(
        call,
        "rll_exponent_of_max",
        cfg((1, 1, 1), (THREADS, 1, 1)),
        &colmax,
        &di,
        &info,
        &slot0
    );
    column(1, &mean)?;
    column(2, &colmax)?;
    let slot1 = 1i32;
    launch!(
        call,
        "rll_exponent_of_max",
        cfg((1, 1, 1), (THREADS, 1, 1)),
        &colmax,
        &di,
        &info,
        &slot1
    );
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
    let tiles = blocks(n, 64);
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
    let e = units.exp;
    let stat_scale = ldexp(T::one(), e);

    let flags = call.zeros::<u8>((n.div_ceil(64)) * n.div_ceil(16))?;
    let total = call.scratch::<f64>(1)?;
    let rows = (n as u32, 1, 1);
    let (value, symmetric, grad_scale) = match params.semantics {
        Semantics::Paper => {
            let p = paper_params::<T>(params, units);
            let row_loss = call.scratch::<T>(n)?;
            let (detach, sym) = (p.detach as i32, (!params.query_only) as i32);
            launch!(
                call,
                Call::name::<T>("paper_rows"),
                cfg(rows, (THREADS, 1, 1)),
                &dist,
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
                &flags,
                &row_loss,
                &a.stats,
                &stat_scale
            );
            launch!(
                call,
                Call::name::<T>("sum"),
                cfg((1, 1, 1), (THREADS, 1, 1)),
                &row_loss,
                &ni,
                &total
            );
            let t = call.stream.clone_dtoh(&total).map_err(dev_err)?[0];
            (ldexp(T::of(t / n as f64), e), !params.query_only, 0)
        }
        Semantics::OfficialV2020 | Semantics::OfficialV2019 => {
            let v2020 = params.semantics == Semantics::OfficialV2020;
            let p = official_params::<T>(params, units, v2020);
            let theta = ldexp(T::of(params.alpha as f64), -e);
            let m = ldexp(T::of(params.margin as f64), -e);
            let sums = call.scratch::<f64>(4 * n)?;
            let reported = call.scratch::<f64>(n)?;
            let q = call.scratch::<f64>(n)?;
            launch!(
                call,
                Call::name::<T>("official_sums"),
                cfg(rows, (THREADS, 1, 1)),
                &dist,
                &a.labels,
                &ni,
                &p.beta_p,
                &p.beta_n,
                &p.k_p,
                &p.k_n,
                &theta,
                &m,
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
                &dist,
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
                &flags,
                &a.stats,
                &stat_scale
            );
            launch!(
                call,
                "rll_sum_f64",
                cfg((1, 1, 1), (THREADS, 1, 1)),
                &reported,
                &ni,
                &total
            );
            let t = call.stream.clone_dtoh(&total).map_err(dev_err)?[0];
            let value = Official::<T>::value(t, n, e);
            (value, false, if v2020 { 0 } else { e })
        }
    };
    if a.grad != 0 {
        if symmetric {
            launch!(
                call,
                Call::name::<T>("symmetrize_add"),
                cfg((t32, t32, 1), (32, 8, 1)),
                &dist,
                &ni
            );
        }
        let close_c = call.scratch::<f64>(n * d)?;
        launch!(
            call,
            Call::name::<T>("close_terms"),
            cfg(rows, (THREADS, 1, 1)),
            &dist,
            &a.x,
            &info,
            &close,
            &ni,
            &di,
            &close_c
        );
        launch!(
            call,
            Call::name::<T>("zero_close"),
            cfg((blocks(n * n, 256), 1, 1), (256, 1, 1)),
            &dist,
            &close,
            &ni
        );
        let rsum = call.scratch::<T>(n)?;
        launch!(
            call,
            Call::name::<T>("row_sums"),
            cfg(rows, (THREADS, 1, 1)),
            &dist,
            &ni,
            &rsum
        );
        let factor = ldexp(loss_weight, grad_scale);
        launch!(
            call,
            Call::name::<T>("gradient"),
            cfg((blocks(d, 64), tiles, 1), (16, 16, 1)),
            &dist,
            &xs,
            &rsum,
            &flags,
            &close_c,
            &ni,
            &di,
            &factor,
            &a.grad
        );
    }
    call.stream.synchronize().map_err(dev_err)?;
    Ok(saturate(value))
}

/// L2 normalisation of the rows of a device array (the Normalization layer's Forward_gpu).
#[allow(clippy::too_many_arguments)]
pub fn l2_forward_gpu<T: GpuReal>(
    x: u64,
    n: usize,
    d: usize,
    y: u64,
    norms: u64,
    stream: u64,
    device: i32,
) -> Result<()> {
    crate::catch(|| {
        if x == 0 || y == 0 || norms == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "x, y or norms is NULL"));
        }
        let call = Call::new(device, stream)?;
        let (ni, di) = (n as i64, d as i64);
        launch!(
            call,
            Call::name::<T>("l2_forward"),
            cfg((n as u32, 1, 1), (THREADS, 1, 1)),
            &x,
            &ni,
            &di,
            &y,
            &norms
        );
        call.stream.synchronize().map_err(dev_err)
    })
}

/// dx = (dy − (y·dy) y)/‖x‖ per row of device arrays (the Normalization layer's Backward_gpu).
#[allow(clippy::too_many_arguments)]
pub fn l2_backward_gpu<T: GpuReal>(
    y: u64,
    dy: u64,
    norms: u64,
    n: usize,
    d: usize,
    dx: u64,
    stream: u64,
    device: i32,
) -> Result<()> {
    crate::catch(|| {
        if y == 0 || dy == 0 || norms == 0 || dx == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "y, dy, norms or dx is NULL"));
        }
        let call = Call::new(device, stream)?;
        let (ni, di) = (n as i64, d as i64);
        launch!(
            call,
            Call::name::<T>("l2_backward"),
            cfg((n as u32, 1, 1), (THREADS, 1, 1)),
            &y,
            &dy,
            &norms,
            &ni,
            &di,
            &dx
        );
        call.stream.synchronize().map_err(dev_err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a driver the call fails with a Device error, never a panic; with one, it computes.
    #[test]
    fn missing_driver_is_an_error_and_a_present_one_works() {
        let x = [0.0f32, 0.0, 1.0, 0.0];
        // SAFETY: only asks the dynamic loader.
        let present = unsafe { cudarc::driver::sys::is_culib_present() };
        let args = GpuArgs {
            x: 1,
            labels: 1,
            n: 2,
            d: 2,
            grad: 0,
            stats: 0,
            stream: 0,
            device: 0,
        };
        if !present {
            let e = compute_gpu::<f32>(&Params::default(), args, 1.0).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Device);
            assert!(e.message.contains("no CUDA driver"), "{e}");
        } else {
            let ctx = cudarc::driver::CudaContext::new(0).unwrap();
            let s = ctx.default_stream();
            let xd = s.clone_htod(&x).unwrap();
            let yd = s.clone_htod(&[0.0f32, 1.0]).unwrap();
            use cudarc::driver::DevicePtr;
            let args = GpuArgs {
                x: xd.device_ptr(&s).0,
                labels: yd.device_ptr(&s).0,
                ..args
            };
            let loss = compute_gpu::<f32>(&Params::default(), args, 1.0).unwrap();
            assert!((loss - 0.2).abs() < 1e-6, "{loss}");
        }
    }
}
