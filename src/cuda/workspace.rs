//! A call's temporaries carved from one caller-owned device buffer (the workspace), so that a call allocates
//! nothing: [`Scratch`] is the one list of them, and [`Scratch::bytes`] (what `rll_gpu_workspace_bytes_*` returns)
//! is the same carving done on a null base, so the size and the layout cannot disagree.

use super::call::{dev_err, Call};
use super::launch::{KernelArg, Value};
use crate::error::{ErrorKind, Result, RllError};
use crate::kernel_consts::{CHECK_BLOCKS, COL_CHUNKS, FLAG_TILE_COLS, FLAG_TILE_ROWS};
use cudarc::driver::CudaStream;
use std::marker::PhantomData;
use std::sync::Arc;

/// Every temporary starts on this boundary (the alignment of `cudaMalloc`, more than any kernel's loads need).
pub const ALIGN: usize = 256;

/// `len` values of T at device address `addr`, inside a workspace (a kernel argument like the host's buffers).
#[derive(Debug)]
pub(super) struct Buf<T> {
    pub addr: usize,
    pub len: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for Buf<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Buf<T> {}

impl<T> Buf<T> {
    /// Sets every byte to `byte`, ordered on the call's stream (no allocation, no synchronisation).
    pub fn fill_bytes(&self, call: &Call, byte: u8) -> Result<()> {
        let bytes = self.len * std::mem::size_of::<T>();
        // SAFETY: the range lies inside the caller's workspace (checked against its size when carved), device memory
        // of the call's device kept alive by the caller until the stream has run the call's work.
        unsafe { cudarc::driver::result::memset_d8_async(self.addr as u64, byte, bytes, call.stream.cu_stream()) }
            .map_err(dev_err)
    }
}

impl<T> KernelArg for Buf<T> {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::Ptr(self.addr as u64)
    }
}

/// Hands out consecutive aligned pieces from `next` on (saturating: a size past the address space is refused as
/// too small a workspace, never wrapped).
struct Carver {
    next: usize,
}

impl Carver {
    fn take<T>(&mut self, len: usize) -> Buf<T> {
        let addr = self.next.saturating_add(ALIGN - 1) / ALIGN * ALIGN;
        let bytes = len.max(1).saturating_mul(std::mem::size_of::<T>());
        self.next = addr.saturating_add(bytes);
        Buf {
            addr,
            len,
            _t: PhantomData,
        }
    }
}

/// What a half-precision call adds: float32 copies of x (n·d), of the labels when they are 16-bit (n), and of the
/// gradient (n·d).
pub(super) struct Wide {
    pub x: Buf<f32>,
    pub labels: Option<Buf<f32>>,
    pub grad: Buf<f32>,
}

/// Every temporary of one loss call of n rows, d columns, element type T (and the half call's copies).
pub(super) struct Scratch<T> {
    /// The first non-finite search's partials: CHECK_BLOCKS for x, CHECK_BLOCKS for the labels.
    pub check: Buf<i64>,
    /// −1, or the first non-finite input's index (x's flat index, or n·d + i for labels[i]).
    pub status: Buf<i64>,
    /// The row stage's sum (scaled units).
    pub total: Buf<f64>,
    /// The scaling exponents {e1, e2}.
    pub info: Buf<i32>,
    pub partial: Buf<f64>,
    pub colmax: Buf<f64>,
    /// Zeroed at the start of a call.
    pub mean: Buf<f64>,
    pub xs: Buf<T>,
    pub norms: Buf<T>,
    /// n·n distances, overwritten with the coefficients A.
    pub dist: Buf<T>,
    /// n·n close-pair flags, zeroed.
    pub close: Buf<u8>,
    /// A's nonzero tiles, zeroed.
    pub flags: Buf<u8>,
    pub row_loss: Buf<T>,
    /// OFFICIAL: 4 sums per row, the reported terms, the query weights.
    pub sums: Buf<f64>,
    pub reported: Buf<f64>,
    pub q: Buf<f64>,
    /// The close pairs' gradient terms (n·d, double).
    pub close_c: Buf<f64>,
    pub rsum: Buf<T>,
    pub wide: Option<Wide>,
}

/// The flags' count: one per FLAG_TILE_ROWS × FLAG_TILE_COLS tile of A.
pub(super) fn flag_count(n: usize) -> usize {
    n.div_ceil(FLAG_TILE_ROWS) * n.div_ceil(FLAG_TILE_COLS)
}

impl<T> Scratch<T> {
    /// The layout from `base` on; `wide`: a half call, with 16-bit labels when `wide_labels`.
    fn carve(base: usize, n: usize, d: usize, wide: bool, wide_labels: bool) -> (Self, usize) {
        let mut c = Carver { next: base };
        let nd = n * d;
        let wide = wide.then(|| Wide {
            x: c.take(nd),
            labels: wide_labels.then(|| c.take(n)),
            grad: c.take(nd),
        });
        let s = Scratch {
            check: c.take(2 * CHECK_BLOCKS as usize),
            status: c.take(1),
            total: c.take(1),
            info: c.take(2),
            partial: c.take(COL_CHUNKS as usize * d),
            colmax: c.take(d),
            mean: c.take(d),
            xs: c.take(nd),
            norms: c.take(n),
            dist: c.take(n * n),
            close: c.take(n * n),
            flags: c.take(flag_count(n)),
            row_loss: c.take(n),
            sums: c.take(4 * n),
            reported: c.take(n),
            q: c.take(n),
            close_c: c.take(nd),
            rsum: c.take(n),
            wide,
        };
        (s, c.next)
    }

    /// The workspace bytes a call needs (its layout plus the slack for aligning the caller's address).
    pub fn bytes(n: usize, d: usize, wide: bool, wide_labels: bool) -> usize {
        let (_, end) = Self::carve(0, n, d, wide, wide_labels);
        end.saturating_add(ALIGN)
    }

    /// The layout in the caller's workspace of `bytes` bytes at `addr`, if it is large enough.
    pub fn in_workspace(addr: usize, bytes: usize, n: usize, d: usize, wide: bool, wide_labels: bool) -> Result<Self> {
        if addr == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "workspace is NULL"));
        }
        let (scratch, end) = Self::carve(addr, n, d, wide, wide_labels);
        // The layout from this address (an aligned one needs up to ALIGN bytes less than `bytes` says).
        if end - addr > bytes {
            let need = Self::bytes(n, d, wide, wide_labels);
            return Err(RllError::size(format!(
                "workspace_bytes = {bytes} is too small: n = {n}, d = {d} need {need} (rll_gpu_workspace_bytes)"
            )));
        }
        Ok(scratch)
    }

    /// Fills the temporaries that the kernels read before (or without) writing: the column mean (read by its first
    /// pass), the close-pair and tile flags (0), and the non-finite search's partials (−1: all bytes 0xff), of
    /// which a small batch's launch writes only the first.
    pub fn clear(&self, call: &Call) -> Result<()> {
        self.mean.fill_bytes(call, 0)?;
        self.close.fill_bytes(call, 0)?;
        self.flags.fill_bytes(call, 0)?;
        self.check.fill_bytes(call, 0xff)
    }
}
