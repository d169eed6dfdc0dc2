//! Row-block parallelism with results independent of the thread count.
//!
//! Work is split into fixed blocks of rows; each block's result depends only on its rows, never on which thread or
//! in which order it ran, so outputs are bit-identical for 1, 2 or 64 threads.

use rayon::prelude::*;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Sets the number of worker threads: n > 0 uses exactly n; 0 (the default) uses `RLL_NUM_THREADS` if set, else
/// chooses per call from the work size ([`threads_for`]), up to the machine's parallelism.
pub fn set_num_threads(n: usize) {
    THREADS.store(n, Ordering::Relaxed);
}

/// The thread count asked for explicitly (`set_num_threads` or `RLL_NUM_THREADS`), if any.
fn explicit_threads() -> Option<usize> {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::env::var("RLL_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0),
        n => Some(n),
    }
}

/// The most worker threads a call will use: the explicit count, else the machine's parallelism.
pub fn num_threads() -> usize {
    explicit_threads().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Work (about N²·(D + 64) multiply-adds: the distance and gradient products plus the per-pair passes) that one
/// more thread needs before it pays for its hand-offs. Measured with `examples/thread_crossover.rs` on the project's
/// 2-core machine (docs/speed.md): two threads were 2.3× slower than one at 60×512 (2e6), 1.17× slower at 180×512
/// (1.9e7), even at 256×512 (3.8e7) and faster from 512×128 (5e7) on.
pub const WORK_PER_THREAD: f64 = 4.0e7;

/// The threads for one call on an n×d batch: the explicit count if one was set, else 1 + one per
/// [`WORK_PER_THREAD`] of work, at most the machine's parallelism.
pub fn threads_for(n: usize, d: usize) -> usize {
    threads_for_rows(n, n, d)
}

/// [`threads_for`] of a call that computes `rows` query rows of an n×d batch (about rows·N·(D + 64) work).
pub fn threads_for_rows(rows: usize, n: usize, d: usize) -> usize {
    explicit_threads().unwrap_or_else(|| {
        let work = (rows as f64) * (n as f64) * (d as f64 + 64.0);
        ((work / WORK_PER_THREAD) as usize + 1).min(num_threads())
    })
}

thread_local! {
    /// The thread count of the call running on this thread (see [`with_threads`]).
    static CALL_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with every [`for_blocks`] inside it on `threads` threads. With more than one, `f` itself runs on one
/// of the pool's workers, which then takes its share of every block loop: one hand-off per call instead of one
/// per loop, and no caller left asleep beside the workers (docs/speed.md).
pub(crate) fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CALL_THREADS.with(|c| c.set(self.0));
        }
    }
    let threads = threads.max(1);
    let run = move || {
        let _restore = Restore(CALL_THREADS.with(|c| c.replace(Some(threads))));
        f()
    };
    if threads == 1 {
        run()
    } else {
        pool(threads).install(run)
    }
}

/// Rows per block of the row passes and the sparse gradient. Fixed (not derived from the thread count), so results
/// do not depend on it.
pub(crate) const BLOCK: usize = 32;

/// `data` (n rows of `cols` values) cut into its blocks of `block` rows: ⌈n/block⌉ disjoint slices, or as many
/// empty ones when `data` is empty (an output the caller does not want).
pub(crate) fn row_blocks<X>(data: &mut [X], n: usize, cols: usize, block: usize) -> Vec<&mut [X]> {
    let blocks = n.div_ceil(block.max(1));
    if data.is_empty() {
        return (0..blocks).map(|_| <&mut [X]>::default()).collect();
    }
    assert_eq!(data.len(), n * cols, "row_blocks: buffer size");
    data.chunks_mut(block.max(1) * cols.max(1)).collect()
}

/// A shared view of a buffer for the two in-place transpositions (`distance::pairwise`'s mirror, `gradient`'s
/// A + Aᵀ), whose blocks read and write elements of each other's rows. It borrows the buffer for its lifetime and
/// knows its length, so every access is bounds-checked; what stays with the caller is that no element is written by
/// one block while another touches it, which each use states.
pub(crate) struct SharedMatrix<'a, T> {
    ptr: *mut T,
    len: usize,
    _data: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: the view only hands out elements under the contracts of its unsafe accessors (no concurrent access to
// an element being written), so sharing it between threads is as safe as sharing `&mut [T]` split in parts.
unsafe impl<T: Send> Send for SharedMatrix<'_, T> {}
unsafe impl<T: Send> Sync for SharedMatrix<'_, T> {}

impl<'a, T: Copy> SharedMatrix<'a, T> {
    pub fn new(data: &'a mut [T]) -> Self {
        SharedMatrix {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            _data: std::marker::PhantomData,
        }
    }

    fn check(&self, start: usize, len: usize) {
        assert!(
            start <= self.len && len <= self.len - start,
            "SharedMatrix: {start}..{start}+{len} outside {} values",
            self.len
        );
    }

    /// Element `k`.
    ///
    /// # Safety
    /// No other thread writes element `k` during this phase.
    pub unsafe fn read(&self, k: usize) -> T {
        self.check(k, 1);
        // SAFETY: in bounds (checked); no concurrent write by the caller's contract.
        unsafe { *self.ptr.add(k) }
    }

    /// Writes element `k`.
    ///
    /// # Safety
    /// No other thread reads or writes element `k` during this phase.
    pub unsafe fn write(&self, k: usize, v: T) {
        self.check(k, 1);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { *self.ptr.add(k) = v }
    }

    /// Elements `start..start + len`.
    ///
    /// # Safety
    /// No other thread writes these elements while the slice lives.
    pub unsafe fn slice(&self, start: usize, len: usize) -> &[T] {
        self.check(start, len);
        // SAFETY: in bounds (checked); no concurrent write by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.ptr.add(start), len) }
    }

    /// Elements `start..start + len`, mutably.
    ///
    /// # Safety
    /// No other thread reads or writes these elements while the slice lives.
    #[allow(clippy::mut_from_ref)] // the exclusivity is the caller's contract, per range
    pub unsafe fn slice_mut(&self, start: usize, len: usize) -> &mut [T] {
        self.check(start, len);
        // SAFETY: in bounds (checked); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// The rayon pool for the current thread count, built once per count (building one costs far more than a call).
fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match &*guard {
        Some((t, p)) if *t == threads => p.clone(),
        _ => {
            let p = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("rll-worker-{i}"))
                    .build()
                    .expect("cannot start the worker threads"),
            );
            *guard = Some((threads, p.clone()));
            p
        }
    }
}

/// Runs `f(b, work)` for each block's work (`blocks[b]`, usually its disjoint rows from [`row_blocks`]) on the call's
/// threads; each block's result depends only on its own work, so the order does not matter.
pub(crate) fn for_blocks<W: Send, F>(blocks: Vec<W>, f: F)
where
    F: Fn(usize, W) + Sync + Send,
{
    let threads = CALL_THREADS.with(|c| c.get()).unwrap_or_else(num_threads);
    if threads == 1 || blocks.len() <= 1 {
        blocks.into_iter().enumerate().for_each(|(b, w)| f(b, w));
    } else {
        pool(threads).install(|| blocks.into_par_iter().enumerate().for_each(|(b, w)| f(b, w)));
    }
}

/// Runs `f(r0, r1)` over blocks of `block` rows of `0..n` that write nothing but through [`SharedMatrix`].
pub(crate) fn for_row_ranges<F>(n: usize, block: usize, f: F)
where
    F: Fn(usize, usize) + Sync + Send,
{
    let block = block.max(1);
    let ranges: Vec<(usize, usize)> = (0..n.div_ceil(block))
        .map(|b| (b * block, ((b + 1) * block).min(n)))
        .collect();
    for_blocks(ranges, |_, (r0, r1)| f(r0, r1));
}
