//! PAPER: the engine's loss against the plain definition, and its gradient against f64 central finite
//! differences — of L itself, and (for query_only / detach_weights) of L with the sets and weights frozen.

mod common;
use common::*;
use rand::Rng;
use ranked_list_loss::{compute, compute_weighted, Batch, Params, Semantics};

const H: f64 = 1e-6;

fn engine(p: &Params, data: &Data, x: &[f64]) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; x.len()];
    let loss = compute(
        p,
        Batch {
            x,
            labels: &data.labels,
            n: data.n,
            d: data.d,
        },
        1.0,
        Some(&mut g),
        None,
    )
    .unwrap();
    (loss, g)
}

/// Central differences of `f` at `x`, coordinate by coordinate.
fn fd(x: &[f64], f: impl Fn(&[f64], usize) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|k| {
            let v = x[k];
            xp[k] = v + H;
            let up = f(&xp, k);
            xp[k] = v - H;
            let down = f(&xp, k);
            xp[k] = v;
            (up - down) / (2.0 * H)
        })
        .collect()
}

/// A random configuration of the loss (the issue asks for several m, α, T_n, T_p, λ).
fn random_params(r: &mut rand_chacha::ChaCha8Rng) -> Params {
    Params {
        margin: [0.0, 0.2, 0.4, 0.6][r.gen_range(0..4)],
        alpha: [0.8, 1.0, 1.2, 1.4][r.gen_range(0..4)],
        t_n: [0.0, 1.0, 10.0, 25.0][r.gen_range(0..4)],
        t_p: [0.0, 0.0, 2.0, 5.0][r.gen_range(0..4)],
        lambda: [1.0, 0.5, 2.0][r.gen_range(0..3)],
        lambda_p: [1.0, 1.0, 0.6, 0.0][r.gen_range(0..4)],
        ..Params::default()
    }
}

/// Random batches with no pair within `gap` of a set boundary (the loss jumps when a pair enters a set).
fn batches(seed: u64, count: usize) -> Vec<(Params, Data)> {
    let mut r = rng(seed);
    let mut out = Vec::new();
    while out.len() < count {
        let p = random_params(&mut r);
        let (a, b, c) = (r.gen_range(2..6), r.gen_range(2..5), r.gen_range(2..9));
        let data = if r.gen_bool(0.5) {
            pk_batch(&mut r, a, b, c, 0.6)
        } else {
            irregular_batch(&mut r, a + b * 2, b, c, 0.6)
        };
        let (a, m) = (p.alpha as f64, p.margin as f64);
        if boundary_gap(&p, &data, &[a - m, a]) > 1e-3 {
            out.push((p, data));
        }
    }
    out
}

/// FD truncation error is O(H²·L''') and round-off O(ε·L/H): both far below 1e-6 of the gradient here.
const TOL: f64 = 1e-6;

#[test]
fn paper_loss_equals_the_definition() {
    for (case, (p, data)) in batches(1, 40).into_iter().enumerate() {
        let (loss, _) = engine(&p, &data, &data.x);
        let reference = paper_loss(&p, &data, &data.x);
        assert!(
            (loss - reference).abs() <= 1e-12 * reference.abs().max(1e-12),
            "case {case}: {loss} vs {reference}"
        );
    }
}

#[test]
fn paper_gradient_matches_finite_differences() {
    for (case, (p, data)) in batches(2, 40).into_iter().enumerate() {
        let (_, g) = engine(&p, &data, &data.x);
        let num = fd(&data.x, |x, _| engine(&p, &data, x).0);
        let e = rel_err(&g, &num, 1e-3);
        assert!(e < TOL, "case {case} ({p:?}, n = {}): relative error {e}", data.n);
    }
}

#[test]
fn paper_gradient_matches_finite_differences_of_the_reference() {
    // The same check against the plain definition, so that loss and gradient cannot be wrong together.
    for (case, (p, data)) in batches(3, 20).into_iter().enumerate() {
        let (_, g) = engine(&p, &data, &data.x);
        let num = fd(&data.x, |x, _| paper_loss(&p, &data, x));
        let e = rel_err(&g, &num, 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
}

#[test]
fn detach_weights_matches_differences_with_weights_and_sets_frozen() {
    for (case, (mut p, data)) in batches(4, 25).into_iter().enumerate() {
        p.detach_weights = true;
        let (_, g) = engine(&p, &data, &data.x);
        let x0 = data.x.clone();
        let num = fd(&data.x, |x, _| {
            let v = Views {
                set_x: &x0,
                weight_x: &x0,
                hinge_x: x,
            };
            (0..data.n).map(|i| paper_row(&p, &data, i, &v)).sum::<f64>() / data.n as f64
        });
        let e = rel_err(&g, &num, 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
}

/// The query-only gradient of sample k is ∂/∂x_k of (1/N) L_k with every other sample held at x0.
fn query_only_fd(p: &Params, data: &Data, frozen_weights: bool) -> Vec<f64> {
    let x0 = data.x.clone();
    let d = data.d;
    fd(&data.x, |x, coord| {
        let k = coord / d;
        // Only row k moves: the gallery of query k stays at x0.
        let mut xq = x0.clone();
        xq[k * d..(k + 1) * d].copy_from_slice(&x[k * d..(k + 1) * d]);
        let weight_x: &[f64] = if frozen_weights { &x0 } else { &xq };
        let v = Views {
            set_x: &x0,
            weight_x,
            hinge_x: &xq,
        };
        paper_row(p, data, k, &v) / data.n as f64
    })
}

#[test]
fn query_only_matches_differences_of_each_query_with_its_gallery_frozen() {
    for (case, (mut p, data)) in batches(5, 25).into_iter().enumerate() {
        p.query_only = true;
        let (_, g) = engine(&p, &data, &data.x);
        let e = rel_err(&g, &query_only_fd(&p, &data, false), 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
}

#[test]
fn query_only_with_detached_weights_matches_frozen_differences() {
    for (case, (mut p, data)) in batches(6, 25).into_iter().enumerate() {
        p.query_only = true;
        p.detach_weights = true;
        let (_, g) = engine(&p, &data, &data.x);
        let e = rel_err(&g, &query_only_fd(&p, &data, true), 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
}

#[test]
fn full_gradient_is_query_part_plus_gallery_part() {
    // The sum over samples of the full gradient is 0 (L is translation invariant); the query-only one is not.
    let mut r = rng(9);
    let data = pk_batch(&mut r, 3, 3, 4, 0.6);
    let p = Params {
        semantics: Semantics::Paper,
        ..Params::default()
    };
    let (_, g) = engine(&p, &data, &data.x);
    for c in 0..data.d {
        let s: f64 = (0..data.n).map(|i| g[i * data.d + c]).sum();
        assert!(s.abs() < 1e-14, "column {c} sums to {s}");
    }
}

#[test]
fn large_temperatures_and_unnormalised_features_still_match_differences() {
    // T up to 50 and features of scale 40: the exponents reach ~5000, so only exponent shifting keeps this finite.
    let mut r = rng(8);
    let mut done = 0;
    while done < 8 {
        let mut data = pk_batch(&mut r, 3, 3, 3, 1.0);
        data.x.iter_mut().for_each(|v| *v *= 40.0);
        let p = Params {
            t_p: 50.0,
            t_n: 50.0,
            alpha: 30.0,
            margin: 10.0,
            ..Params::default()
        };
        if boundary_gap(&p, &data, &[20.0, 30.0]) < 1e-2 {
            continue;
        }
        let (loss, g) = engine(&p, &data, &data.x);
        assert!(loss.is_finite() && g.iter().all(|v| v.is_finite()));
        let num = fd(&data.x, |x, _| engine(&p, &data, x).0);
        let e = rel_err(&g, &num, 1e-3);
        assert!(e < 1e-5, "relative error {e}");
        done += 1;
    }
}

#[test]
fn plain_gradient_reference_agrees_with_finite_differences() {
    // Validates the reference used at large N below.
    for (case, (mut p, data)) in batches(10, 20).into_iter().enumerate() {
        p.query_only = case % 2 == 1;
        p.detach_weights = case % 3 == 1;
        let reference = paper_gradient_reference(&p, &data);
        if p.query_only || p.detach_weights {
            continue; // those conventions are checked against frozen differences above
        }
        let num = fd(&data.x, |x, _| paper_loss(&p, &data, x));
        let e = rel_err(&reference, &num, 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
}

#[test]
fn sparse_and_dense_paths_match_the_plain_reference_at_large_n() {
    // Normalised features put few pairs inside the margins (the engine keeps sparse rows); shrinking them to
    // radius 0.3 puts every negative inside (dense rows and one matrix product). Both, with every option.
    let mut r = rng(12);
    for radius in [1.0, 0.3] {
        for (q, dw) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut data = pk_batch(&mut r, 50, 3, 64, 1.0);
            for row in data.x.chunks_exact_mut(64) {
                let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
                row.iter_mut().for_each(|v| *v *= radius / norm);
            }
            let p = Params {
                query_only: q,
                detach_weights: dw,
                t_p: 1.0,
                ..Params::default()
            };
            let (loss, g) = engine(&p, &data, &data.x);
            let reference = paper_gradient_reference(&p, &data);
            let e = rel_err(&g, &reference, 1e-30);
            assert!(
                e < 1e-11,
                "radius {radius}, query_only {q}, detach {dw}: relative error {e}"
            );
            let rl = paper_loss(&p, &data, &data.x);
            assert!((loss - rl).abs() < 1e-12 * rl.abs().max(1e-12));
        }
    }
}

#[test]
fn per_query_weights_give_the_weighted_sum_and_its_gradient() {
    // E = Σ_i u_i ℓ_i (a reduction chosen by the caller, or an upstream gradient of per-query losses), any signs,
    // against the definition row by row and f64 central differences of that definition.
    for (case, (p, data)) in batches(8, 20).into_iter().enumerate() {
        let mut r = rng(80 + case as u64);
        let u: Vec<f64> = (0..data.n).map(|_| r.gen_range(-2.0..3.0)).collect();
        let weighted = |x: &[f64]| {
            let v = Views {
                set_x: x,
                weight_x: x,
                hinge_x: x,
            };
            (0..data.n).map(|i| u[i] * paper_row(&p, &data, i, &v)).sum::<f64>()
        };
        let mut g = vec![0.0; data.x.len()];
        let batch = Batch {
            x: &data.x,
            labels: &data.labels,
            n: data.n,
            d: data.d,
        };
        let value = compute_weighted(&p, batch, &u, 1.0, Some(&mut g), None).unwrap();
        let want = weighted(&data.x);
        assert!(
            (value - want).abs() <= 1e-12 * want.abs().max(1e-9),
            "case {case}: {value} vs {want}"
        );
        let e = rel_err(&g, &fd(&data.x, |x, _| weighted(x)), 1e-3);
        assert!(e < TOL, "case {case}: relative error {e}");
    }
    // The mean is u_i = 1/N, bit for bit; the official semantics have no per-query split.
    let (p, data) = batches(9, 1).remove(0);
    let u = vec![1.0 / data.n as f64; data.n];
    let batch = || Batch {
        x: &data.x,
        labels: &data.labels,
        n: data.n,
        d: data.d,
    };
    let (mut g1, mut g2) = (vec![0.0; data.x.len()], vec![0.0; data.x.len()]);
    compute_weighted(&p, batch(), &u, 1.0, Some(&mut g1), None).unwrap();
    compute(&p, batch(), 1.0, Some(&mut g2), None).unwrap();
    assert_eq!(g1, g2);
    let official = Params {
        semantics: Semantics::OfficialV2020,
        ..p
    };
    let e = compute_weighted(&official, batch(), &u, 1.0, None, None).unwrap_err();
    assert!(e.message.contains("PAPER semantics only"), "{e}");
    let e = compute_weighted(&p, batch(), &u[1..], 1.0, None, None).unwrap_err();
    assert!(e.message.contains("per-query weights for n"), "{e}");
}
