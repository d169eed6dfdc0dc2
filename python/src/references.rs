//! `_engine.loss_references`: queries ranked against references (a cross-batch memory), on the CPU, through
//! [`rll::compute_references`] (PAPER semantics; docs/memory.md).

use crate::tensors::{check_output, internal, Device, Dtype, Tensor};
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
