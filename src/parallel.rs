//! Row-block parallelism with results independent of the thread count.
//!
//! Work is split into fixed blocks of rows; each block's result depends only on its rows, never on which thread or
//! in which order it ran, so outputs are bit-identical for 1, 2 or 64 threads.

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of worker threads (0: `RLL_NUM_THREADS` if set, else the machine's parallelism).
pub fn set_num_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The number of worker threads calls will use.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::env::var("RLL_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    }
}

/// A mutable matrix shared between threads that write disjoint rows.
#[derive(Clone, Copy)]
pub(crate) struct SharedRows<T> {
    ptr: *mut T,
    rows: usize,
    cols: usize,
}

// SAFETY: threads only touch disjoint row ranges (see `rows_mut`), so sharing the pointer is sound.
unsafe impl<T: Send> Send for SharedRows<T> {}
unsafe impl<T: Send> Sync for SharedRows<T> {}

impl<T> SharedRows<T> {
    pub fn new(data: &mut [T], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "SharedRows: buffer size");
        SharedRows {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
        }
    }
    pub fn as_ptr(&self) -> *mut T {
        self.ptr
    }
    /// Rows `r0..r1` as one slice.
    ///
    /// # Safety
    /// No other live reference may cover any of these rows while the slice lives.
    pub unsafe fn rows_mut<'a>(&self, r0: usize, r1: usize) -> &'a mut [T] {
        assert!(r0 <= r1 && r1 <= self.rows);
        // SAFETY: in bounds (asserted); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r0 * self.cols), (r1 - r0) * self.cols) }
    }
}

/// Runs `f(r0, r1)` over blocks of `block` rows of `0..n`, on up to `num_threads()` threads.
pub(crate) fn for_row_blocks<F>(n: usize, block: usize, f: F)
where
    F: Fn(usize, usize) + Sync,
{
    let block = block.max(1);
    let blocks = n.div_ceil(block);
    let threads = num_threads().min(blocks).max(1);
    if threads == 1 {
        for b in 0..blocks {
            f(b * block, ((b + 1) * block).min(n));
        }
        return;
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks {
                    break;
                }
                f(b * block, ((b + 1) * block).min(n));
            });
        }
    });
}
