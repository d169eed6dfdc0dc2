//! Kernel launches from the kernel table ([`super::table`]): the grid and block from the kernel's launch rule and
//! the batch's shape, the arguments checked by name and type against its parameter list before anything runs.
//! The list handed to the driver ends with a NULL pointer, which a real driver never reads and the kernel
//! emulation (tests/cuda_emu) uses to check the argument count against the PTX.

use super::call::{dev_err, Call};
use super::table::{ArgType, Blocks, Extent, Kernel};
use super::GpuReal;
use crate::error::{ErrorKind, Result, RllError};
use cudarc::driver::{CudaSlice, CudaStream, CudaView, CudaViewMut, DevicePtr};
use std::ffi::c_void;
use std::sync::Arc;

/// The batch's sizes, from which the launch rules compute grids: n rows of d values, of which the first m are the
/// queries (m = n for a batch against itself).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub n: usize,
    pub d: usize,
    pub m: usize,
}

impl Shape {
    /// A batch against itself (m = n).
    pub fn new(n: usize, d: usize) -> Self {
        Shape { n, d, m: n }
    }
}

/// A device address owned by the host (Caffe's blobs, a C caller's buffers), as a kernel argument.
#[derive(Debug, Clone, Copy)]
pub(super) struct DevAddr(pub usize);

/// One argument's value, as the driver reads it. (`pub` in this private module: a bound of the public
/// `GpuReal`, nameable nowhere else.)
#[derive(Debug, Clone, Copy)]
pub enum Value {
    Ptr(u64),
    I64(i64),
    I32(i32),
    F32(f32),
    F64(f64),
}

impl Value {
    /// Whether this value may be passed for a parameter of type `t`, T being `real`.
    fn fits(self, t: ArgType, real: &str) -> bool {
        matches!(
            (self, t),
            (Value::Ptr(_), ArgType::Ptr)
                | (Value::I64(_), ArgType::I64)
                | (Value::I32(_), ArgType::I32)
                | (Value::F64(_), ArgType::F64)
        ) || (t == ArgType::Real && matches!((self, real), (Value::F32(_), "f32") | (Value::F64(_), "f64")))
    }
    fn as_param(&mut self) -> *mut c_void {
        match self {
            Value::Ptr(v) => v as *mut u64 as *mut c_void,
            Value::I64(v) => v as *mut i64 as *mut c_void,
            Value::I32(v) => v as *mut i32 as *mut c_void,
            Value::F32(v) => v as *mut f32 as *mut c_void,
            Value::F64(v) => v as *mut f64 as *mut c_void,
        }
    }
}

/// What can be passed to a kernel (`pub` for the same reason).
pub trait KernelArg {
    fn value(&self, stream: &Arc<CudaStream>) -> Value;
}

impl<A: KernelArg + ?Sized> KernelArg for &A {
    fn value(&self, stream: &Arc<CudaStream>) -> Value {
        (**self).value(stream)
    }
}
impl<T> KernelArg for CudaSlice<T> {
    fn value(&self, stream: &Arc<CudaStream>) -> Value {
        Value::Ptr(self.device_ptr(stream).0)
    }
}
impl<T> KernelArg for CudaView<'_, T> {
    fn value(&self, stream: &Arc<CudaStream>) -> Value {
        Value::Ptr(self.device_ptr(stream).0)
    }
}
impl<T> KernelArg for CudaViewMut<'_, T> {
    fn value(&self, stream: &Arc<CudaStream>) -> Value {
        Value::Ptr(self.device_ptr(stream).0)
    }
}
impl KernelArg for DevAddr {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::Ptr(self.0 as u64)
    }
}
impl KernelArg for i64 {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::I64(*self)
    }
}
impl KernelArg for i32 {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::I32(*self)
    }
}
impl KernelArg for f32 {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::F32(*self)
    }
}
impl KernelArg for f64 {
    fn value(&self, _: &Arc<CudaStream>) -> Value {
        Value::F64(*self)
    }
}

/// A named argument: `args![x = &xs, n = n, ...]` builds a list of them.
pub(super) struct Arg<'a> {
    pub name: &'static str,
    pub value: &'a dyn KernelArg,
}

/// The argument list `[name = value, ...]` of one launch, named as the kernel's parameters.
macro_rules! args {
    ($($name:ident = $value:expr),* $(,)?) => {
        &[$($crate::cuda::launch::Arg { name: stringify!($name), value: &$value }),*]
    };
}
pub(super) use args;

fn extent(e: Extent, s: Shape) -> Option<usize> {
    match e {
        Extent::N => Some(s.n),
        Extent::M => Some(s.m),
        Extent::D => Some(s.d),
        Extent::Nd => s.n.checked_mul(s.d),
        Extent::Mn => s.m.checked_mul(s.n),
        Extent::Refs => s.n.checked_sub(s.m),
    }
}

/// The blocks of one grid dimension, within the device's limit for it.
fn blocks(b: Blocks, s: Shape, limit: u32, name: &str) -> Result<u32> {
    let count = match b {
        Blocks::Fixed(c) => Some(c as usize),
        Blocks::Cover(e, per) => extent(e, s).map(|v| v.div_ceil(per as usize)),
        Blocks::CoverAtMost(e, per, most) => extent(e, s).map(|v| v.div_ceil(per as usize).clamp(1, most as usize)),
    };
    count
        .and_then(|c| u32::try_from(c).ok())
        .filter(|&c| c <= limit)
        .ok_or_else(|| {
            RllError::size(format!(
                "n = {}, d = {}: too large for the GPU kernel {name} (more than {limit} blocks in a grid dimension)",
                s.n, s.d
            ))
        })
}

/// Launches kernel `k` (instance T) for a batch of `shape` on the call's stream.
pub(super) fn launch<T: GpuReal>(call: &Call, k: &Kernel, shape: Shape, args: &[Arg<'_>]) -> Result<()> {
    let name = k.name(T::SUFFIX);
    let mut values: Vec<Value> = args.iter().map(|a| a.value.value(&call.stream)).collect();
    let matches = args.len() == k.params.len()
        && args
            .iter()
            .zip(&values)
            .zip(k.params)
            .all(|((a, v), &(p, t))| a.name == p && v.fits(t, T::SUFFIX));
    if !matches {
        let given: Vec<String> = args
            .iter()
            .zip(&values)
            .map(|(a, v)| format!("{} = {v:?}", a.name))
            .collect();
        return Err(RllError::new(
            ErrorKind::Internal,
            format!(
                "internal error (a bug, please report): kernel {name} launched with ({}), its parameters are {:?} \
                 (src/cuda/table.rs)",
                given.join(", "),
                k.params
            ),
        ));
    }
    // Grid limits of every CUDA device since compute capability 3.0.
    let grid = (
        blocks(k.grid.0, shape, i32::MAX as u32, &name)?,
        blocks(k.grid.1, shape, 65535, &name)?,
        1,
    );
    let f = call.dev.function(&name).map_err(dev_err)?;
    let mut params: Vec<*mut c_void> = values.iter_mut().map(Value::as_param).collect();
    params.push(std::ptr::null_mut());
    // SAFETY: `params` holds one pointer per parameter of the kernel, each to a value of the parameter's type and
    // size (checked above against the table, which is checked against the PTX when the module loads); the device
    // pointers among them are the host's (validated non-null, of the sizes the kernels index) or our own
    // allocations of those sizes, alive until the call synchronises its stream.
    unsafe {
        cudarc::driver::result::launch_kernel(
            f.cu_function(),
            grid,
            (k.block.0, k.block.1, 1),
            0,
            call.stream.cu_stream(),
            &mut params,
        )
    }
    .map_err(dev_err)
}
