//! `_engine.loss_references`: queries ranked against references (a cross-batch memory), on the CPU, through
//! [`rll::compute_references`] (PAPER semantics; docs/memory.md).

use crate::tensors::{check_output, internal, AsyncTensors, Device, Dtype, Tensor};
use crate::{detached, labels, Feature, LossParams};
use pyo3::prelude::*;
use rll::{Batch, References};

/// The loss of `embeddings` (N_q, D) ranked against `ref_emb` (N_r, D) (float32 or float64, contiguous, on the
/// CPU), with `labels` the N_q + N_r labels of both, queries first (one exact mapping for both sets), `own` (N_q,)
/// int64 the index of each query's own copy among the references (−1: none) or None; `grad` (N_q, D) and
/// `ref_grad` (N_r, D) receive ∂E/∂embeddings and ∂E/∂ref_emb when given.
#[pyfunction]
#[pyo3(signature = (embeddings, ref_emb, labels, params, own=None, grad=None, ref_grad=None))]
#[allow(clippy::too_many_arguments)] // called from Python by keyword
pub fn loss_references(
    py: Python<'_>,
    embeddings: &Bound<'_, PyAny>,
    ref_emb: &Bound<'_, PyAny>,
    labels: &Bound<'_, PyAny>,
    params: LossParams,
    own: Option<&Bound<'_, PyAny>>,
    grad: Option<&Bound<'_, PyAny>>,
    ref_grad: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let p = params.engine()?;
    let x = Tensor::import(embeddings, "embeddings")?;
    let r = Tensor::import(ref_emb, "ref_emb")?;
    let l = Tensor::import(labels, "labels")?;
    let (&[nq, d], &[nr, dr]) = (&x.shape[..], &r.shape[..]) else {
        return Err(internal(format!("embeddings {:?} and ref_emb {:?}", x.shape, r.shape)));
    };
    if dr != d || r.dtype != x.dtype || l.shape != [nq + nr] || [&x, &r, &l].iter().any(|t| t.device != Device::Cpu) {
        return Err(internal(format!(
            "embeddings {:?} {}, ref_emb {:?} {}, labels {:?}: CPU tensors of one dtype, one D, N_q + N_r labels",
            x.shape,
            x.dtype.torch_name(),
            r.shape,
            r.dtype.torch_name(),
            l.shape
        )));
    }
    let own = own.map(|o| Tensor::import(o, "own")).transpose()?;
    if let Some(o) = &own {
        check_output(o, "own", Dtype::Int(64), &[nq], Device::Cpu, &[])?;
    }
    let mut g = grad.map(|g| Tensor::import(g, "grad")).transpose()?;
    let mut rg = ref_grad.map(|g| Tensor::import(g, "ref_grad")).transpose()?;
    let mut inputs = vec![&x, &r, &l];
    inputs.extend(own.as_ref());
    if let Some(g) = &g {
        check_output(g, "grad", x.dtype, &[nq, d], Device::Cpu, &inputs)?;
    }
    if let Some(rg) = &rg {
        inputs.extend(g.as_ref());
        check_output(rg, "ref_grad", x.dtype, &[nr, d], Device::Cpu, &inputs)?;
    }
    let t = Refs {
        x: &x,
        r: &r,
        labels: &l,
        own: own.as_ref(),
        grad: g.as_mut(),
        ref_grad: rg.as_mut(),
    };
    match x.dtype {
        Dtype::F32 => run::<f32>(py, &p, t),
        Dtype::F64 => run::<f64>(py, &p, t),
        other => Err(internal(format!("references of {}", other.torch_name()))),
    }
}

/// The checked tensors of one call.
struct Refs<'t> {
    x: &'t Tensor,
    r: &'t Tensor,
    labels: &'t Tensor,
    own: Option<&'t Tensor>,
    grad: Option<&'t mut Tensor>,
    ref_grad: Option<&'t mut Tensor>,
}

fn run<T: Feature + rll::Real>(py: Python<'_>, p: &rll::Params, t: Refs<'_>) -> PyResult<f64> {
    // SAFETY: `labels` is a checked, live, contiguous CPU tensor.
    let ids = unsafe { labels::dense_ids::<T>(t.labels)? };
    let (nq, d) = (t.x.shape[0], t.x.shape[1]);
    let (query_ids, ref_ids) = ids.split_at(nq);
    let (xs, rs) = (t.x.values::<T>()?, t.r.values::<T>()?);
    let own = t.own.map(|o| o.values::<i64>()).transpose()?;
    let g = t.grad.map(|g| g.values_mut::<T>()).transpose()?;
    let rg = t.ref_grad.map(|g| g.values_mut::<T>()).transpose()?;
    detached(py, "embeddings", || {
        let queries = Batch {
            x: xs,
            labels: query_ids,
            n: nq,
            d,
        };
        let refs = References {
            x: rs,
            labels: ref_ids,
            n: ref_ids.len(),
            own,
        };
        rll::compute_references(p, queries, refs, T::one(), g, rg).map(|v| v.f64())
    })
}

/// The device workspace bytes of `loss_references_async` for the stacked `embeddings` (N, D) of its dtype, whose
/// first `queries` rows are the queries.
#[pyfunction]
pub fn gpu_references_workspace_bytes(
    embeddings: &Bound<'_, PyAny>,
    params: LossParams,
    queries: usize,
) -> PyResult<usize> {
    let p = params.engine()?;
    let x = Tensor::import(embeddings, "embeddings")?;
    let [n, d] = x.shape[..] else {
        return Err(internal(format!("embeddings of shape {:?}", x.shape)));
    };
    let bytes = match x.dtype {
        Dtype::F32 => rll::cuda::gpu_references_workspace_bytes::<f32>(&p, n, d, queries),
        Dtype::F64 => rll::cuda::gpu_references_workspace_bytes::<f64>(&p, n, d, queries),
        other => return Err(internal(format!("references of {}", other.torch_name()))),
    };
    bytes.map_err(|e| crate::to_py(e, "embeddings"))
}

/// Queries against references on CUDA, stream-ordered (nothing allocated, read back or waited for): `stacked`
/// (N, D) float32/float64 holds the `queries` query rows and then the references, `ids` (N,) their dense class ids
/// in the features' dtype, `own` (queries,) int64 or None, `loss` a 0-dim tensor of the features' dtype,
/// `workspace` a 1-D uint8 tensor of at least `gpu_references_workspace_bytes`, `grad` (queries, D) and `ref_grad`
/// (N − queries, D) or None, all on one CUDA device; ordered on `stream`.
#[pyfunction]
#[pyo3(signature = (stacked, ids, params, queries, loss, workspace, own=None, grad=None, ref_grad=None, stream=0))]
#[allow(clippy::too_many_arguments)] // called from Python by keyword
pub fn loss_references_async(
    py: Python<'_>,
    stacked: &Bound<'_, PyAny>,
    ids: &Bound<'_, PyAny>,
    params: LossParams,
    queries: usize,
    loss: &Bound<'_, PyAny>,
    workspace: &Bound<'_, PyAny>,
    own: Option<&Bound<'_, PyAny>>,
    grad: Option<&Bound<'_, PyAny>>,
    ref_grad: Option<&Bound<'_, PyAny>>,
    stream: usize,
) -> PyResult<()> {
    let p = params.engine()?;
    let x = Tensor::import(stacked, "embeddings")?;
    let l = Tensor::import(ids, "labels")?;
    let Device::Cuda(device) = x.device else {
        return Err(internal("loss_references_async with CPU tensors".into()));
    };
    let [n, d] = x.shape[..] else {
        return Err(internal(format!("stacked of shape {:?}", x.shape)));
    };
    if !matches!(x.dtype, Dtype::F32 | Dtype::F64) || !x.contiguous || queries > n {
        return Err(internal(format!(
            "stacked {} {:?}, {queries} queries",
            x.dtype.torch_name(),
            x.shape
        )));
    }
    let mut inputs = vec![&x];
    check_output(&l, "labels", x.dtype, &[n], x.device, &inputs)?;
    inputs.push(&l);
    let own = own.map(|o| Tensor::import(o, "own")).transpose()?;
    if let Some(o) = &own {
        check_output(o, "own", Dtype::Int(64), &[queries], x.device, &inputs)?;
        inputs.push(o);
    }
    let g = grad.map(|g| Tensor::import(g, "grad")).transpose()?;
    if let Some(g) = &g {
        check_output(g, "grad", x.dtype, &[queries, d], x.device, &inputs)?;
        inputs.push(g);
    }
    let rg = ref_grad.map(|g| Tensor::import(g, "ref_grad")).transpose()?;
    if let Some(rg) = &rg {
        check_output(rg, "ref_grad", x.dtype, &[n - queries, d], x.device, &inputs)?;
        inputs.push(rg);
    }
    let outputs = AsyncTensors::import(loss, workspace, x.dtype, x.device, &inputs)?;
    let args = rll::GpuLoss {
        x: x.addr,
        labels: l.addr,
        n,
        d,
        grad: g.as_ref().map_or(0, |g| g.addr),
        stats: 0,
        stream,
        device,
    };
    let out = outputs.outputs();
    let own = own.as_ref().map_or(0, |o| o.addr);
    let ref_grad = rg.as_ref().map_or(0, |g| g.addr);
    let dtype = x.dtype;
    detached(py, "embeddings", move || {
        // SAFETY: `args`, `out` and `own` hold the addresses of live contiguous CUDA tensors of `device` (imported,
        // alive for this call; PyTorch's caching allocator keeps them for the stream's work), of the checked sizes and
        // dtypes, and the caller's current stream there.
        unsafe {
            match dtype {
                Dtype::F32 => {
                    rll::cuda::compute_gpu_references_async::<f32>(&p, &args, queries, own, ref_grad, 1.0, &out)
                }
                _ => rll::cuda::compute_gpu_references_async::<f64>(&p, &args, queries, own, ref_grad, 1.0, &out),
            }
        }
    })
}
