//! Tensors from Python through DLPack (dlpark: the C exchange API where the producer has one, else
//! `__dlpack__`): each import owns its managed tensor, so the memory stays alive until the [`Tensor`] is dropped,
//! and the metadata comes from the producer, never from the caller. Checks of a batch's tensors, with the
//! package's error messages (named as PyTorch names shapes and dtypes).

use dlpark::ffi::{DLDataType, DLDataTypeCode, DLDeviceType};
use dlpark::python::consumer::{from_dlpack, ImportedDlpack};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The element types the package reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    F16,
    Bf16,
    Bool,
    Int(u8),
    Uint(u8),
    /// Complex, 8-bit floats and anything else DLPack can name: its PyTorch-style name, for the message.
    Other(DLDataType),
}

impl Dtype {
    fn of(t: DLDataType) -> Self {
        let c = t.code;
        if t.lanes != 1 {
            return Dtype::Other(t);
        }
        match (c, t.bits) {
            (DLDataTypeCode::FLOAT, 32) => Dtype::F32,
            (DLDataTypeCode::FLOAT, 64) => Dtype::F64,
            (DLDataTypeCode::FLOAT, 16) => Dtype::F16,
            (DLDataTypeCode::BFLOAT, 16) => Dtype::Bf16,
            (DLDataTypeCode::BOOL, 8) => Dtype::Bool,
            (DLDataTypeCode::INT, b @ (8 | 16 | 32 | 64)) => Dtype::Int(b),
            (DLDataTypeCode::UINT, b @ (8 | 16 | 32 | 64)) => Dtype::Uint(b),
            _ => Dtype::Other(t),
        }
    }

    /// PyTorch's name: "torch.float32", "torch.int64", "torch.complex64", ...
    pub fn torch_name(self) -> String {
        let name = match self {
            Dtype::F32 => "float32".to_string(),
            Dtype::F64 => "float64".to_string(),
            Dtype::F16 => "float16".to_string(),
            Dtype::Bf16 => "bfloat16".to_string(),
            Dtype::Bool => "bool".to_string(),
            Dtype::Int(b) => format!("int{b}"),
            Dtype::Uint(b) => format!("uint{b}"),
            Dtype::Other(t) if t.code == DLDataTypeCode::COMPLEX => format!("complex{}", t.bits),
            Dtype::Other(t) => format!("(DLPack type code {}, {} bits, {} lanes)", t.code.0, t.bits, t.lanes),
        };
        format!("torch.{name}")
    }

    /// The features' dtypes.
    pub fn is_feature(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::Bf16)
    }
}

/// Where a tensor's memory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(i32),
}

/// One imported tensor: its metadata and the address of its first element, valid while it is alive.
pub struct Tensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub device: Device,
    /// The first element's address (the producer's data pointer plus its byte offset).
    pub addr: usize,
    /// Row-major with no gaps (an empty tensor always is).
    pub contiguous: bool,
    /// Keeps the producer's memory alive; dropped last.
    _owner: ImportedDlpack,
}

impl Tensor {
    /// Imports `obj` (a torch.Tensor or any DLPack producer); `name` is the argument's name for errors.
    pub fn import(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Tensor> {
        let owner = from_dlpack(obj.as_borrowed(), None, None)
            .map_err(|e| PyTypeError::new_err(format!("RankedListLoss: {name} is not a tensor ({e})")))?;
        let (dtype, shape, device, addr, contiguous) = {
            let view = owner.validate().map_err(|e| {
                PyValueError::new_err(format!("RankedListLoss: {name}: a malformed DLPack tensor ({e})"))
            })?;
            let device = match view.device().device_type {
                DLDeviceType::CPU => Device::Cpu,
                DLDeviceType::CUDA => Device::Cuda(view.device().device_id),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "RankedListLoss: {name} is on DLPack device type {}: CPU and CUDA tensors are supported",
                        other.0
                    )))
                }
            };
            let shape: Vec<usize> = view.shape().iter().map(|&s| s as usize).collect();
            let contiguous = view.num_elements() == 0 || view.is_compact().unwrap_or(false);
            let addr = view.data_ptr() as usize + view.byte_offset() as usize;
            (Dtype::of(view.dtype()), shape, device, addr, contiguous)
        };
        Ok(Tensor {
            dtype,
            shape,
            device,
            addr,
            contiguous,
            _owner: owner,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// This tensor's bytes, for overlap checks.
    fn bytes(&self) -> std::ops::Range<usize> {
        let size = match self.dtype {
            Dtype::F64 | Dtype::Int(64) | Dtype::Uint(64) => 8,
            Dtype::F32 | Dtype::Int(32) | Dtype::Uint(32) => 4,
            Dtype::F16 | Dtype::Bf16 | Dtype::Int(16) | Dtype::Uint(16) => 2,
            _ => 1,
        };
        self.addr..self.addr + self.len() * size
    }
}

fn value_error(message: String) -> PyErr {
    PyValueError::new_err(format!("RankedListLoss: {message}"))
}

/// A shape as Python prints a tuple: `()`, `(3,)`, `(3, 4)`.
fn py_shape(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// (N, D) of a batch: `x` (N, D) of a feature dtype, `labels` (N,) of an integer, bool or real dtype on the same
/// device; N may be 0 only with `empty_ok` (a rank's shard of a distributed batch), D never.
pub fn check_batch(x: &Tensor, labels: &Tensor, empty_ok: bool) -> PyResult<(usize, usize)> {
    let [n, d] = x.shape[..] else {
        return Err(value_error(format!(
            "embeddings must be (N, D), got shape {}",
            py_shape(&x.shape)
        )));
    };
    if !x.dtype.is_feature() {
        return Err(value_error(format!(
            "embeddings.dtype = {}: float32, float64, float16 or bfloat16 expected",
            x.dtype.torch_name()
        )));
    }
    if labels.shape.len() != 1 {
        return Err(value_error(format!(
            "labels must be (N,), got shape {}",
            py_shape(&labels.shape)
        )));
    }
    if matches!(labels.dtype, Dtype::Other(_)) {
        return Err(value_error(format!(
            "labels.dtype = {}: integer, bool or real floating-point labels expected",
            labels.dtype.torch_name()
        )));
    }
    if labels.shape[0] != n {
        return Err(value_error(format!(
            "labels has {} values but embeddings has N = {n} rows",
            labels.shape[0]
        )));
    }
    if (n == 0 && !empty_ok) || d == 0 {
        return Err(value_error(format!(
            "embeddings has shape ({n}, {d}): N and D must be > 0"
        )));
    }
    if labels.device != x.device {
        return Err(internal(format!(
            "labels on {:?}, embeddings on {:?}",
            labels.device, x.device
        )));
    }
    if !x.contiguous || !labels.contiguous {
        return Err(internal("embeddings and labels must be contiguous".into()));
    }
    Ok((n, d))
}

/// An output the package allocated: `dtype`, `shape` and `device` as given, contiguous, not overlapping `inputs`.
pub fn check_output(
    out: &Tensor,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    device: Device,
    inputs: &[&Tensor],
) -> PyResult<()> {
    if out.dtype != dtype || out.shape != shape || out.device != device || !out.contiguous {
        return Err(internal(format!(
            "{name}: {} {:?} on {:?} (contiguous: {}), expected {} {shape:?} on {device:?}",
            out.dtype.torch_name(),
            out.shape,
            out.device,
            out.contiguous,
            dtype.torch_name()
        )));
    }
    let mine = out.bytes();
    for t in inputs {
        let theirs = t.bytes();
        if !mine.is_empty() && !theirs.is_empty() && mine.start < theirs.end && theirs.start < mine.end {
            return Err(internal(format!("{name} overlaps an input")));
        }
    }
    Ok(())
}

/// A stream-ordered call's loss (a 0-dim tensor of `dtype`) and workspace (a 1-D uint8 tensor), on `device`, not
/// overlapping `inputs` or each other, kept alive while the engine enqueues work into them.
pub struct AsyncTensors {
    pub loss: Tensor,
    pub workspace: Tensor,
}

impl AsyncTensors {
    pub fn import(
        loss: &Bound<'_, PyAny>,
        workspace: &Bound<'_, PyAny>,
        dtype: Dtype,
        device: Device,
        inputs: &[&Tensor],
    ) -> PyResult<Self> {
        let (loss, workspace) = (Tensor::import(loss, "loss")?, Tensor::import(workspace, "workspace")?);
        check_output(&loss, "loss", dtype, &[], device, inputs)?;
        let mut all = inputs.to_vec();
        all.push(&loss);
        check_output(
            &workspace,
            "workspace",
            Dtype::Uint(8),
            &[workspace.len()],
            device,
            &all,
        )?;
        Ok(AsyncTensors { loss, workspace })
    }

    /// The engine's outputs over them (no status: a non-finite input shows as NaN).
    pub fn outputs(&self) -> rll::GpuOutputs {
        rll::GpuOutputs {
            loss: self.loss.addr,
            status: 0,
            workspace: self.workspace.addr,
            workspace_bytes: self.workspace.len(),
        }
    }
}

/// A broken contract between the package's Python side and this extension (never a user's input).
pub fn internal(message: String) -> PyErr {
    PyRuntimeError::new_err(format!(
        "ranked_list_loss._engine: {message} (an internal error; please report)"
    ))
}
