//! Class labels of any integer, bool or real dtype, as the engine takes them: dense class ids 0..K-1, equal ids for
//! equal labels, compared exactly (integers as i128, reals widened to f64, both exact: ids of 2^24 and 2^24 + 1
//! stay two classes, which float32 labels would merge). A NaN or infinite label is an error naming it.

use crate::tensors::{Dtype, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The dense ids of the CPU `labels` (length n) in `T`, numbered in the labels' sorted order (as `torch.unique`).
///
/// # Safety
/// `labels` is a live contiguous CPU tensor (its address holds `labels.len()` values of its dtype).
pub unsafe fn dense_ids<T: rll::Real>(labels: &Tensor) -> PyResult<Vec<T>> {
    let n = labels.len();
    // SAFETY (every read): the caller's contract; `crate::values_at` makes no slice from a null address.
    macro_rules! keys {
        ($t:ty, $key:expr) => {
            unsafe { crate::values_at::<$t>(labels.addr, n) }
                .iter()
                .map($key)
                .collect::<Vec<_>>()
        };
    }
    match labels.dtype {
        Dtype::Int(8) => Ok(ids(&keys!(i8, |&v| v as i128))),
        Dtype::Int(16) => Ok(ids(&keys!(i16, |&v| v as i128))),
        Dtype::Int(32) => Ok(ids(&keys!(i32, |&v| v as i128))),
        Dtype::Int(64) => Ok(ids(&keys!(i64, |&v| v as i128))),
        Dtype::Uint(8) | Dtype::Bool => Ok(ids(&keys!(u8, |&v| v as i128))),
        Dtype::Uint(16) => Ok(ids(&keys!(u16, |&v| v as i128))),
        Dtype::Uint(32) => Ok(ids(&keys!(u32, |&v| v as i128))),
        Dtype::Uint(64) => Ok(ids(&keys!(u64, |&v| v as i128))),
        Dtype::F16 => finite_ids(&keys!(half::f16, |v| v.to_f64())),
        Dtype::Bf16 => finite_ids(&keys!(half::bf16, |v| v.to_f64())),
        Dtype::F32 => finite_ids(&keys!(f32, |&v| v as f64)),
        Dtype::F64 => finite_ids(&keys!(f64, |&v| v)),
        other => Err(PyValueError::new_err(format!(
            "RankedListLoss: labels.dtype = {}: integer, bool or real floating-point labels expected",
            other.torch_name()
        ))),
    }
}

/// [`ids`] of real labels, every one finite (so they are totally ordered).
fn finite_ids<T: rll::Real>(keys: &[f64]) -> PyResult<Vec<T>> {
    if let Some(k) = keys.iter().position(|v| !v.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "RankedListLoss: labels[{k}] = {} is not finite (class ids are compared exactly)",
            crate::py_float(keys[k])
        )));
    }
    Ok(ids(keys))
}

/// Dense ids of totally ordered keys: the rank of each key among the distinct keys.
fn ids<K: PartialOrd + Copy, T: rll::Real>(keys: &[K]) -> Vec<T> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // No NaN reaches here, so partial_cmp is total.
    order.sort_unstable_by(|&a, &b| keys[a].partial_cmp(&keys[b]).unwrap_or(std::cmp::Ordering::Equal));
    let mut out = vec![T::zero(); keys.len()];
    let mut id = 0usize;
    for w in order.windows(2) {
        if keys[w[1]] != keys[w[0]] {
            id += 1;
        }
        out[w[1]] = T::of(id as f64);
    }
    out
}
