//! Errors: every failure names the argument and the offending value.

use std::fmt;

/// What kind of input was refused. The discriminant is the C ABI's return code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorKind {
    /// A required pointer was NULL (C ABI only).
    NullPointer = 1,
    /// Sizes disagree or are zero.
    Size = 2,
    /// NaN or infinity in the features or labels.
    NonFinite = 3,
    /// A parameter is out of its domain.
    Parameter = 4,
    /// A serialized parameter message could not be decoded.
    Decode = 5,
    /// A bug: a panic caught at the boundary.
    Internal = 6,
    /// The CUDA path is unavailable or failed.
    Device = 7,
}

/// An error with a message meant for the user of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct RllError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RllError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RllError {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn size(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Size, message)
    }
    pub(crate) fn param(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Parameter, message)
    }
    /// A buffer of `bytes` bytes could not be allocated: a size error, so that a host reports it instead of
    /// losing the process to an abort.
    pub(crate) fn no_memory(what: &str, bytes: usize, place: &str) -> Self {
        Self::size(format!(
            "{what} needs {bytes} bytes ({:.2} GiB) of {place} memory, which cannot be allocated: use a smaller batch",
            bytes as f64 / (1u64 << 30) as f64
        ))
    }
}

/// A vector of `len` copies of `v`, or [`RllError::no_memory`] naming `what` when it cannot be allocated.
pub(crate) fn try_filled<T: Clone>(len: usize, v: T, what: &str) -> Result<Vec<T>> {
    let bytes = len.saturating_mul(std::mem::size_of::<T>());
    let mut out = Vec::new();
    out.try_reserve_exact(len)
        .map_err(|_| RllError::no_memory(what, bytes, "host"))?;
    out.resize(len, v);
    Ok(out)
}

impl fmt::Display for RllError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RllError {}

pub type Result<T> = std::result::Result<T, RllError>;
