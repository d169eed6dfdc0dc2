//! Large per-call buffers kept for the next call on the same thread: freeing and re-allocating a few hundred KB
//! every call costs page faults once several threads have malloc arenas (measured: ~180 faults and 0.3 ms a call
//! at 180×512 on two threads, docs/speed.md), which a buffer reused across calls does not.

use std::any::Any;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread, and the largest kept (larger ones are freed: their calls are long enough that
/// faulting their pages in again costs little beside them).
const KEPT: usize = 4;
const KEPT_BYTES: usize = 32 << 20;

thread_local! {
    static SPARE: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A `Vec<T>` that goes back to its thread's spares when dropped.
pub(crate) struct Recycled<T: Copy + 'static>(Vec<T>);

impl<T: Copy + Default + 'static> Recycled<T> {
    /// `len` values for the caller to overwrite: a spare buffer of this thread when one is large enough, its old
    /// contents left in place (initialised values of `T`, never read by a caller that writes every element first).
    pub(crate) fn scratch(len: usize) -> Self {
        let mut buf = Self::spare(len);
        if buf.len() >= len {
            buf.truncate(len);
        } else {
            buf.resize(len, T::default());
        }
        Recycled(buf)
    }

    fn spare(len: usize) -> Vec<T> {
        let spare = SPARE.with(|s| {
            let mut s = s.borrow_mut();
            let k = s
                .iter()
                .position(|b| b.downcast_ref::<Vec<T>>().is_some_and(|b| b.capacity() >= len))?;
            s.swap_remove(k).downcast::<Vec<T>>().ok()
        });
        spare.map_or_else(Vec::new, |b| *b)
    }
}

impl<T: Copy + 'static> Drop for Recycled<T> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.capacity() == 0 || buf.capacity() * std::mem::size_of::<T>() > KEPT_BYTES {
            return;
        }
        // try_with: a buffer dropped while the thread's locals are torn down is simply freed.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < KEPT {
                s.push(Box::new(buf));
            }
        });
    }
}

impl<T: Copy + 'static> Deref for Recycled<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: Copy + 'static> DerefMut for Recycled<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.0
    }
}
