//! Queries against references (`compute_references`) against a plain pair-by-pair reference written here from the
//! definition (validated itself by f64 finite differences), against the batch engine where the two must agree
//! (references = the batch itself), and its argument checks.

mod common;
use common::*;
use ranked_list_loss::{compute, compute_references, Batch, ErrorKind, Params, References, Semantics};

/// The loss of queries `q` against references `r` with own indices, and its gradients for Q and for R, pair by pair
/// from the definition (docs/semantics.md, PAPER): no centring, scaling, exponent shift or matrix product.
fn reference(p: &Params, q: &Data, r: &Data, own: &[i64]) -> (f64, Vec<f64>, Vec<f64>) {
    let d = q.d;
    let (bp, bn) = (p.alpha as f64 - p.margin as f64, p.alpha as f64);
    let (tp, tn, lambda, lambda_p) = (p.t_p as f64, p.t_n as f64, p.lambda as f64, p.lambda_p as f64);
    let dist = |i: usize, j: usize| -> f64 {
        (0..d)
            .map(|k| (q.x[i * d + k] - r.x[j * d + k]).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let eps = r.n as f64 * p.weight_eps as f64;
    let (mut loss, mut gq, mut gr) = (0.0, vec![0.0; q.n * d], vec![0.0; r.n * d]);
    for i in 0..q.n {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for j in 0..r.n {
            let dij = dist(i, j);
            if r.labels[j] == q.labels[i] {
                if own[i] != j as i64 && dij > bp {
                    pos.push((j, dij, (tp * (dij - bp)).exp()));
                }
            } else if dij < bn {
                neg.push((j, dij, (tn * (bn - dij)).exp()));
            }
        }
        let wp = pos.iter().map(|t| t.2).sum::<f64>() + eps;
        let wn = neg.iter().map(|t| t.2).sum::<f64>() + eps;
        let lp = if pos.is_empty() {
            0.0
        } else {
            pos.iter().map(|t| t.2 * (t.1 - bp)).sum::<f64>() / wp
        };
        let ln = if neg.is_empty() {
            0.0
        } else {
            neg.iter().map(|t| t.2 * (bn - t.1)).sum::<f64>() / wn
        };
        loss += (lambda_p * lp + lambda * ln) / q.n as f64;
        let mut push = |j: usize, dij: f64, c: f64| {
            for k in 0..d {
                let dir = (q.x[i * d + k] - r.x[j * d + k]) / dij;
                gq[i * d + k] += c * dir;
                gr[j * d + k] -= c * dir;
            }
        };
        for &(j, dij, w) in &pos {
            let bracket = if p.detach_weights {
                1.0
            } else {
                1.0 + tp * (dij - bp - lp)
            };
            push(j, dij, lambda_p * w / wp * bracket / q.n as f64);
        }
        for &(j, dij, w) in &neg {
            let bracket = if p.detach_weights {
                1.0
            } else {
                1.0 + tn * (bn - dij - ln)
            };
            push(j, dij, -lambda * w / wn * bracket / q.n as f64);
        }
    }
    (loss, gq, gr)
}

fn engine(p: &Params, q: &Data, r: &Data, own: Option<&[i64]>) -> (f64, Vec<f64>, Vec<f64>) {
    let (mut gq, mut gr) = (vec![0.0; q.n * q.d], vec![0.0; r.n * r.d]);
    let batch = Batch {
        x: &q.x,
        labels: &q.labels,
        n: q.n,
        d: q.d,
    };
    let refs = References {
        x: &r.x,
        labels: &r.labels,
        n: r.n,
        own,
    };
    let loss = compute_references(p, batch, refs, 1.0, Some(&mut gq), Some(&mut gr)).unwrap();
    (loss, gq, gr)
}

/// A cross-batch-memory case: `r` holds `q`'s rows (detached copies) at the positions `own` says, among others.
fn memory_case(seed: u64, nq: usize, nr: usize, d: usize, radius: f64) -> (Data, Data, Vec<i64>) {
    let mut rng = rng(seed);
    let mut r = irregular_batch(&mut rng, nr, 5, d, 1.0);
    let q = irregular_batch(&mut rng, nq, 5, d, 1.0);
    let mut own = Vec::new();
    for i in 0..nq {
        let j = (7 * i + 1) % nr; // distinct for nq <= nr when 7 does not divide nr
        r.x[j * d..(j + 1) * d].copy_from_slice(&q.x[i * d..(i + 1) * d]);
        r.labels[j] = q.labels[i];
        own.push(j as i64);
    }
    for data in [&mut r] {
        for row in data.x.chunks_exact_mut(d) {
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v *= radius / norm);
        }
    }
    // The queries are exactly their copies in R (after the same normalisation).
    let mut q = q;
    for (i, &j) in own.iter().enumerate() {
        let j = j as usize;
        q.x[i * d..(i + 1) * d].copy_from_slice(&r.x[j * d..(j + 1) * d]);
    }
    (q, r, own)
}

fn options() -> Vec<Params> {
    variants()
        .into_iter()
        .filter(|p| p.semantics == Semantics::Paper)
        .chain([Params {
            weight_eps: 1e-5,
            t_p: 1.0,
            ..Params::default()
        }])
        .collect()
}

#[test]
fn the_pair_by_pair_reference_is_the_derivative_of_its_value() {
    let (q, r, own) = memory_case(1, 5, 9, 3, 0.7);
    // (detach_weights' gradient is by design not the derivative of the value: it holds the weights constant.)
    for p in options().into_iter().filter(|p| !p.detach_weights) {
        let (_, gq, gr) = reference(&p, &q, &r, &own);
        let h = 1e-6;
        for (target, g) in [(0, &gq), (1, &gr)] {
            for (k, &gk) in g.iter().enumerate() {
                let (mut qa, mut ra) = (q.clone(), r.clone());
                let (mut qb, mut rb) = (q.clone(), r.clone());
                if target == 0 {
                    qa.x[k] += h;
                    qb.x[k] -= h;
                } else {
                    ra.x[k] += h;
                    rb.x[k] -= h;
                }
                let fd = (reference(&p, &qa, &ra, &own).0 - reference(&p, &qb, &rb, &own).0) / (2.0 * h);
                assert!(
                    (fd - gk).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{p:?} target {target} [{k}]: {fd} vs {gk}"
                );
            }
        }
    }
}

#[test]
fn queries_against_references_match_the_pair_by_pair_reference() {
    for (seed, nq, nr, d) in [(2, 12, 40, 8), (3, 1, 7, 4), (4, 30, 30, 16), (5, 8, 200, 5)] {
        let (q, r, own) = memory_case(seed, nq, nr, d, 0.8);
        for p in options() {
            let (loss, gq, gr) = engine(&p, &q, &r, Some(&own));
            let (want, wq, wr) = reference(&p, &q, &r, &own);
            assert!(
                (loss - want).abs() <= 1e-12 * want.abs().max(1e-12),
                "{p:?} {nq}x{nr}: {loss} vs {want}"
            );
            assert!(
                rel_err(&gq, &wq, 1e-12) < 1e-9,
                "{p:?} {nq}x{nr}: grad Q {}",
                rel_err(&gq, &wq, 1e-12)
            );
            assert!(
                rel_err(&gr, &wr, 1e-12) < 1e-9,
                "{p:?} {nq}x{nr}: grad R {}",
                rel_err(&gr, &wr, 1e-12)
            );
        }
        // Without own indices every copy is a positive of its query (at distance 0: no gradient through it).
        let none = vec![-1i64; nq];
        let p = Params::default();
        let (loss, gq, _) = engine(&p, &q, &r, None);
        let (want, wq, _) = reference(&p, &q, &r, &none);
        assert!((loss - want).abs() <= 1e-12 * want.abs().max(1e-12));
        assert!(rel_err(&gq, &wq, 1e-12) < 1e-9);
    }
}

/// References that are the batch itself, each query's own row its own: the batch engine's loss, its gradient with
/// query_only as the queries' side, and its full gradient as the sum of both sides.
#[test]
fn references_that_are_the_batch_give_the_batch_loss() {
    let data = {
        let mut r = rng(7);
        pk_batch(&mut r, 6, 4, 10, 0.3)
    };
    let (n, d) = (data.n, data.d);
    let own: Vec<i64> = (0..n as i64).collect();
    for p in options() {
        let (loss, gq, gr) = engine(&p, &data, &data, Some(&own));
        let mut g_query_only = vec![0.0; n * d];
        let b = Batch {
            x: &data.x,
            labels: &data.labels,
            n,
            d,
        };
        let q_only = Params { query_only: true, ..p };
        let want = compute(&q_only, b, 1.0, Some(&mut g_query_only), None).unwrap();
        assert!((loss - want).abs() <= 1e-13 * want.abs(), "{p:?}: {loss} vs {want}");
        assert!(rel_err(&gq, &g_query_only, 1e-12) < 1e-10, "{p:?}");
        let mut g_full = vec![0.0; n * d];
        let full = Params { query_only: false, ..p };
        compute(&full, b, 1.0, Some(&mut g_full), None).unwrap();
        let both: Vec<f64> = gq.iter().zip(&gr).map(|(a, b)| a + b).collect();
        assert!(rel_err(&both, &g_full, 1e-12) < 1e-10, "{p:?}");
    }
}

#[test]
fn float32_agrees_with_float64_and_the_loss_weight_scales_the_gradients() {
    let (q, r, own) = memory_case(8, 16, 64, 12, 0.9);
    let p = Params {
        t_p: 1.0,
        ..Params::default()
    };
    let (want, wq, wr) = engine(&p, &q, &r, Some(&own));
    let f = |v: &[f64]| -> Vec<f32> { v.iter().map(|&x| x as f32).collect() };
    let (qx, ql, rx, rl) = (f(&q.x), f(&q.labels), f(&r.x), f(&r.labels));
    let (mut gq, mut gr) = (vec![0f32; qx.len()], vec![0f32; rx.len()]);
    let loss = compute_references(
        &p,
        Batch {
            x: &qx,
            labels: &ql,
            n: q.n,
            d: q.d,
        },
        References {
            x: &rx,
            labels: &rl,
            n: r.n,
            own: Some(&own),
        },
        0.5,
        Some(&mut gq),
        Some(&mut gr),
    )
    .unwrap();
    assert!((loss as f64 - want).abs() <= 1e-5 * want.abs());
    let widen = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| 2.0 * x as f64).collect() };
    assert!(rel_err(&widen(&gq), &wq, 1e-9) < 1e-4);
    assert!(rel_err(&widen(&gr), &wr, 1e-9) < 1e-4);
}

#[test]
fn bad_arguments_are_errors_naming_them() {
    let (q, r, own) = memory_case(9, 4, 10, 3, 0.8);
    let call = |p: &Params, own: Option<&[i64]>, rx: &[f64]| {
        compute_references(
            p,
            Batch {
                x: &q.x,
                labels: &q.labels,
                n: q.n,
                d: q.d,
            },
            References {
                x: rx,
                labels: &r.labels,
                n: r.n,
                own,
            },
            1.0,
            None,
            None,
        )
    };
    let p = Params::default();
    let e = call(&params(Semantics::OfficialV2020), Some(&own), &r.x).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parameter);
    assert!(e.message.contains("PAPER semantics only"), "{e}");
    let e = call(&p, Some(&[own[0], own[1], own[2], 10]), &r.x).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::Size,
            "own[3] = 10: an index of the 10 references or -1 expected"
        )
    );
    let mismatch: Vec<i64> = (0..4)
        .map(|i| if i == 2 { (own[2] + 1) % 10 } else { own[i] })
        .collect();
    assert_ne!(
        r.labels[mismatch[2] as usize], q.labels[2],
        "the case needs another class there"
    );
    let e = call(&p, Some(&mismatch), &r.x).unwrap_err();
    assert!(e.message.starts_with("own[2] = "), "{e}");
    assert!(e.message.contains("differs from query 2's label"), "{e}");
    let e = call(&p, Some(&own[..3]), &r.x).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size, "{e}");
    let e = call(&p, Some(&own), &r.x[..r.x.len() - 1]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size);
    assert!(e.message.starts_with("references: "), "{e}");
    let mut bad = r.x.clone();
    bad[7] = f64::NAN;
    let e = call(&p, Some(&own), &bad).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NonFinite, "references: x[2][1] = NaN is not finite")
    );
}
