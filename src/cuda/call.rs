//! One call's device and stream, the synchronous calls' workspace, and the device errors.

use super::launch::{args, launch, DevAddr, Shape};
use super::workspace::Buf;
use super::{kernels, table, GpuReal};
use crate::error::{ErrorKind, Result, RllError};
use cudarc::driver::{CudaSlice, CudaStream};
use std::sync::Arc;

pub(super) fn dev_err(e: impl std::fmt::Display) -> RllError {
    RllError::new(ErrorKind::Device, format!("CUDA: {e}"))
}

/// Out of device memory is a size error naming the bytes (as on the CPU); any other failure a device error.
pub(super) fn alloc_err<T>(e: cudarc::driver::DriverError, len: usize) -> RllError {
    if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        let bytes = len.max(1).saturating_mul(std::mem::size_of::<T>());
        RllError::no_memory(&format!("a buffer of {len} values"), bytes, "device")
    } else {
        dev_err(e)
    }
}

/// One call on a device: its context is made current for the call, and the caller's current context (or none)
/// is current again when the `Call` is dropped, so a host's own CUDA state is as it was.
pub(super) struct Call {
    pub dev: Arc<kernels::Device>,
    pub stream: Arc<CudaStream>,
    /// Declared last, so dropped last: after the stream, whose drop makes the engine's context current again.
    _restore: RestoreContext,
}

/// The context that was current on this thread before a call (null: none), made current again on drop; None
/// without a driver (nothing to restore, and no driver to call).
struct RestoreContext(Option<cudarc::driver::sys::CUcontext>);

impl Drop for RestoreContext {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            // SAFETY: this thread's current context (or null) when the call began; a call destroys no context. A
            // failed restore leaves the engine's context current, the state before this guard existed.
            let _ = unsafe { cudarc::driver::result::ctx::set_current(previous) };
        }
    }
}

impl Call {
    pub fn new(device: i32, stream: usize) -> Result<Self> {
        if device < 0 {
            return Err(RllError::new(
                ErrorKind::Device,
                format!("device = {device} must be >= 0"),
            ));
        }
        // Before the device is looked up (which makes its context current); a driver not initialised yet means
        // the caller has no current context.
        // SAFETY: only asks the dynamic loader; without a driver the lookup below returns its error.
        let driver = unsafe { cudarc::driver::sys::is_culib_present() };
        let restore = RestoreContext(driver.then(|| {
            let current = cudarc::driver::result::ctx::get_current().ok().flatten();
            current.unwrap_or(std::ptr::null_mut())
        }));
        let dev = kernels::device(device as usize).map_err(dev_err)?;
        dev.ctx.bind_to_thread().map_err(dev_err)?;
        let stream = if stream == 0 {
            dev.ctx.default_stream()
        } else {
            // SAFETY: the host passes a live stream of this device's context and keeps it alive for the call.
            unsafe { dev.ctx.wrap_borrowed_stream(stream as cudarc::driver::sys::CUstream) }
        };
        Ok(Call {
            dev,
            stream,
            _restore: restore,
        })
    }
    /// A workspace of `bytes` for the host-synchronous calls (one stream-ordered allocation, freed on drop).
    pub fn workspace(&self, bytes: usize) -> Result<CudaSlice<u8>> {
        // SAFETY: the asynchronous call writes every byte it reads (or zeroes it first).
        unsafe { self.stream.alloc::<u8>(bytes.max(1)) }.map_err(|e| alloc_err::<u8>(e, bytes))
    }
}

/// Launches the search for the first non-finite value of a device array into `partial[offset..]` (one entry per
/// block: an index or -1), which `check_status` reduces on the device.
pub(super) fn find_nonfinite<T: GpuReal>(
    call: &Call,
    ptr: usize,
    count: usize,
    partial: Buf<i64>,
    offset: usize,
) -> Result<()> {
    let view = DevAddr(partial.addr + offset * std::mem::size_of::<i64>());
    let shape = Shape::new(count, 1);
    launch::<T>(
        call,
        &table::FIRST_NONFINITE,
        shape,
        args![v = DevAddr(ptr), count = count as i64, partial = view],
    )
}
