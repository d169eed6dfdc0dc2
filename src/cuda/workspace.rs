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

/// Every temporary of one loss call of n rows, d columns, element type T, whose first m rows are the queries (m = n
/// for a batch against itself), and the half call's copies.
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
    /// m·n distances, overwritten with the coefficients A.
    pub dist: Buf<T>,
    /// m·n close-pair flags, zeroed.
    pub close: Buf<u8>,
    /// A's nonzero tiles, zeroed.
    pub flags: Buf<u8>,
    pub row_loss: Buf<T>,
    /// OFFICIAL: 4 sums per row, the reported terms, the query weights.
    pub sums: Buf<f64>,
    pub reported: Buf<f64>,
    pub q: Buf<f64>,
    /// The close pairs' gradient terms (m·d, double).
    pub close_c: Buf<f64>,
    pub rsum: Buf<T>,
    pub wide: Option<Wide>,
}

/// The flags' count: one per FLAG_TILE_ROWS × FLAG_TILE_COLS tile of A (m × n).
pub(super) fn flag_count(m: usize, n: usize) -> usize {
    m.div_ceil(FLAG_TILE_ROWS) * n.div_ceil(FLAG_TILE_COLS)
}

/// The ranked lists of a call: the first `m` rows of the batch are the queries, each ranked against columns
/// `col0..n`, with its own copy at column i (`own` 0) or `col0 + own[i]` (`own`: m device i64, −1 for none).
/// m = n, col0 = 0: the batch against itself; col0 = m: queries against the references that follow them, whose
/// gradient goes to `ref_grad` ((n − m)·d device values, or 0 for none).
#[derive(Debug, Clone, Copy)]
pub(super) struct Lists {
    pub m: usize,
    pub col0: usize,
    pub own: usize,
    pub ref_grad: usize,
}

impl Lists {
    pub fn batch(n: usize) -> Self {
        Lists {
            m: n,
            col0: 0,
            own: 0,
            ref_grad: 0,
        }
    }
    /// Whether every row ranks every row (a batch against itself).
    pub fn square(&self, n: usize) -> bool {
        self.m == n && self.col0 == 0
    }
}

/// The size of a call: n rows of d values, the first m of them the queries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Size {
    pub n: usize,
    pub d: usize,
    pub m: usize,
    /// A half call (float32 copies of x and the gradient), with 16-bit labels to widen too when `wide_labels`.
    pub wide: bool,
    pub wide_labels: bool,
}

impl Size {
    pub fn batch(n: usize, d: usize) -> Self {
        Size {
            n,
            d,
            m: n,
            wide: false,
            wide_labels: false,
        }
    }
    pub fn half(n: usize, d: usize, labels: super::Labels) -> Self {
        Size {
            wide: true,
            wide_labels: labels == super::Labels::SameAsX,
            ..Size::batch(n, d)
        }
    }
}

impl<T> Scratch<T> {
    /// The layout from `base` on.
    fn carve(base: usize, z: Size) -> (Self, usize) {
        let Size { n, d, m, .. } = z;
        let mut c = Carver { next: base };
        let nd = n * d;
        let wide = z.wide.then(|| Wide {
            x: c.take(nd),
            labels: z.wide_labels.then(|| c.take(n)),
            grad: c.take(m * d),
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
            dist: c.take(m * n),
            close: c.take(m * n),
            flags: c.take(flag_count(m, n)),
            row_loss: c.take(m),
            sums: c.take(4 * m),
            reported: c.take(m),
            q: c.take(m),
            close_c: c.take(m * d),
            rsum: c.take(m),
            wide,
        };
        (s, c.next)
    }

    /// The workspace bytes a call needs (its layout plus the slack for aligning the caller's address).
    pub fn bytes(z: Size) -> usize {
        let (_, end) = Self::carve(0, z);
        end.saturating_add(ALIGN)
    }

    /// The layout in the caller's workspace of `bytes` bytes at `addr`, if it is large enough.
    pub fn in_workspace(addr: usize, bytes: usize, z: Size) -> Result<Self> {
        if addr == 0 {
            return Err(RllError::new(ErrorKind::NullPointer, "workspace is NULL"));
        }
        let (scratch, end) = Self::carve(addr, z);
        // The layout from this address (an aligned one needs up to ALIGN bytes less than `bytes` says).
        if end - addr > bytes {
            let need = Self::bytes(z);
            return Err(RllError::size(format!(
                "workspace_bytes = {bytes} is too small: n = {}, d = {} need {need} (rll_gpu_workspace_bytes)",
                z.n, z.d
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
