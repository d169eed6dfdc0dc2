//! Shared test helpers: seeded batches and the plain references, written pair by pair from the spec and the
//! paper, independently of the engine (no centring, no scaling, no exponent shift, no matrix products).
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ranked_list_loss::{Params, Semantics};

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A batch: n×d features (row-major) and n labels.
#[derive(Clone, Debug)]
pub struct Data {
    pub x: Vec<f64>,
    pub labels: Vec<f64>,
    pub n: usize,
    pub d: usize,
}

/// P classes × K samples, contiguous, features uniform in [-s, s]^d.
pub fn pk_batch(r: &mut ChaCha8Rng, p: usize, k: usize, d: usize, s: f64) -> Data {
    let n = p * k;
    Data {
        x: (0..n * d).map(|_| r.gen_range(-s..s)).collect(),
        labels: (0..n).map(|i| (i / k) as f64).collect(),
        n,
        d,
    }
}

/// n samples with labels drawn from `classes` ids (irregular class sizes, possibly singletons), in random order.
pub fn irregular_batch(r: &mut ChaCha8Rng, n: usize, classes: usize, d: usize, s: f64) -> Data {
    Data {
        x: (0..n * d).map(|_| r.gen_range(-s..s)).collect(),
        labels: (0..n).map(|_| (r.gen_range(0..classes) as f64) * 1.5 - 2.0).collect(),
        n,
        d,
    }
}

pub fn dist(x: &[f64], d: usize, i: usize, j: usize) -> f64 {
    (0..d)
        .map(|k| (x[i * d + k] - x[j * d + k]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// The paper's row loss for query i, with the sets decided by `set_x`, the weights computed from `weight_x`
/// and the hinges from `hinge_x` (pass the same slice three times for the plain loss). Row i's own features are
/// always taken from `query_x`.
pub struct Views<'a> {
    pub set_x: &'a [f64],
    pub weight_x: &'a [f64],
    pub hinge_x: &'a [f64],
}

pub fn paper_row(p: &Params, data: &Data, i: usize, v: &Views) -> f64 {
    let (m, a) = (p.margin as f64, p.alpha as f64);
    let (bp, bn) = (a - m, a);
    let (tp, tn) = (p.t_p as f64, p.t_n as f64);
    let d = data.d;
    let (mut wp, mut hp, mut wn, mut hn) = (0.0, 0.0, 0.0, 0.0);
    for j in 0..data.n {
        if j == i {
            continue;
        }
        let ds = dist(v.set_x, d, i, j);
        let dw = dist(v.weight_x, d, i, j);
        let dh = dist(v.hinge_x, d, i, j);
        if data.labels[j] == data.labels[i] {
            if ds > bp {
                let w = (tp * (dw - bp)).exp();
                wp += w;
                hp += w * (dh - bp);
            }
        } else if ds < bn {
            let w = (tn * (bn - dw)).exp();
            wn += w;
            hn += w * (bn - dh);
        }
    }
    // ε on each of the row's N weights, the set's or not (pytorch-metric-learning's bias; 0 by default).
    let eps = data.n as f64 * p.weight_eps as f64;
    let lp = if wp > 0.0 { hp / (wp + eps) } else { 0.0 };
    let ln = if wn > 0.0 { hn / (wn + eps) } else { 0.0 };
    p.lambda_p as f64 * lp + p.lambda as f64 * ln
}

/// L = (1/N) Σ_i [λ_P L_P(i) + λ L_N(i)], straight from the definition.
pub fn paper_loss(p: &Params, data: &Data, x: &[f64]) -> f64 {
    let v = Views {
        set_x: x,
        weight_x: x,
        hinge_x: x,
    };
    (0..data.n).map(|i| paper_row(p, data, i, &v)).sum::<f64>() / data.n as f64
}

/// min over pairs of |d_ij − boundary|: how close the batch is to a jump of the loss.
pub fn boundary_gap(p: &Params, data: &Data, boundaries: &[f64]) -> f64 {
    let _ = p;
    let mut gap = f64::INFINITY;
    for i in 0..data.n {
        for j in i + 1..data.n {
            let dij = dist(&data.x, data.d, i, j);
            for &b in boundaries {
                gap = gap.min((dij - b).abs());
            }
        }
    }
    gap
}

/// The official layer, pair by pair, as its Backward and reported value are described in docs/semantics.md (OFFICIAL),
/// one step of the original's at a time.
/// Parameters are used as the float32 proto values widened to double, as the original does.
pub fn official_reference(p: &Params, data: &Data, loss_weight: f64) -> (f64, Vec<f64>) {
    let v2020 = p.semantics == Semantics::OfficialV2020;
    let (n, d) = (data.n, data.d);
    let m = p.margin as f64;
    let theta = p.alpha as f64;
    let (beta_p, beta_n) = if v2020 {
        (1.0 - m / 2.0, 1.0 + m / 2.0)
    } else {
        (theta - m, theta)
    };
    let eps = 1e-8;
    // Step 1 (pairs in lexicographic order) and the inner forward.
    let mut pairs = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            pairs.push((a, b));
        }
    }
    let mut value = 0.0;
    let mut g_a: Vec<Vec<f64>> = Vec::new();
    let mut w = Vec::new();
    for &(a, b) in &pairs {
        let diff: Vec<f64> = (0..d).map(|k| data.x[a * d + k] - data.x[b * d + k]).collect();
        let dsq: f64 = diff.iter().map(|v| v * v).sum();
        let dp = dsq.sqrt();
        let similar = data.labels[a] == data.labels[b];
        value += if similar {
            (dp - (theta - m)).max(0.0).powi(2)
        } else {
            (theta - dp).max(0.0).powi(2)
        };
        let sigma = if similar { 1.0 } else { -1.0 };
        // Step 2: the inner backward's per-pair direction.
        let g: Vec<f64> = if v2020 {
            diff.iter().map(|v| loss_weight * sigma * v / (dp + 1e-6)).collect()
        } else {
            let violates = if similar { dp > theta - m } else { dp < theta };
            diff.iter()
                .map(|v| if violates { loss_weight * sigma * v } else { 0.0 })
                .collect()
        };
        g_a.push(g);
        // Step 4: raw pair weights, pow(base, T x).
        w.push(if similar {
            if dp > beta_p {
                (p.base_p as f64).powf(p.t_p as f64 * (dp - beta_p))
            } else {
                0.0
            }
        } else if dp < beta_n {
            (p.base_n as f64).powf(p.t_n as f64 * (beta_n - dp))
        } else {
            0.0
        });
    }
    // Step 5: per-sample sums from ε.
    let (mut sp, mut sn) = (vec![eps; n], vec![eps; n]);
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let s = if data.labels[a] == data.labels[b] {
            &mut sp
        } else {
            &mut sn
        };
        s[a] += w[k];
        s[b] += w[k];
    }
    // Step 6.
    let z = eps + (0..n).map(|k| sp[k] + sn[k]).sum::<f64>();
    // Step 7.
    let mut grad = vec![0.0; n * d];
    for (k, &(a, b)) in pairs.iter().enumerate() {
        let s = if data.labels[a] == data.labels[b] { &sp } else { &sn };
        let c_a = 0.5 * (w[k] / s[a]) * (sp[a] + sn[a]) / z;
        let c_b = 0.5 * (w[k] / s[b]) * (sp[b] + sn[b]) / z;
        for c in 0..d {
            grad[a * d + c] += c_a * g_a[k][c];
            grad[b * d + c] += c_b * (-g_a[k][c]);
        }
    }
    let value = if pairs.is_empty() {
        0.0
    } else {
        value / pairs.len() as f64
    };
    (value, grad)
}

/// max_i |a_i − b_i| / max(max_i |b_i|, floor).
pub fn rel_err(a: &[f64], b: &[f64], floor: f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

/// The variants every cross-check runs: each semantics (with T_p = 2, so the positive weights vary), then PAPER's
/// query-only and detached-weights options alone and together, then PAPER with negative temperatures, α below the
/// margin and ε on every weight sum (pytorch-metric-learning's test values and its bias, here 1e-3 so that it
/// shows).
pub fn variants() -> Vec<Params> {
    let mut v: Vec<Params> = [Semantics::Paper, Semantics::OfficialV2020, Semantics::OfficialV2019]
        .into_iter()
        .map(|semantics| Params {
            semantics,
            t_p: 2.0,
            ..Params::default()
        })
        .collect();
    for (query_only, detach_weights) in [(true, false), (false, true), (true, true)] {
        v.push(Params {
            query_only,
            detach_weights,
            ..Params::default()
        });
    }
    v.push(Params {
        margin: 0.4,
        alpha: 0.3,
        t_n: -3.0,
        t_p: -2.0,
        weight_eps: 1e-3,
        lambda_p: 0.6,
        ..Params::default()
    });
    v
}

pub fn params(semantics: Semantics) -> Params {
    Params {
        semantics,
        ..Params::default()
    }
}

/// The PAPER gradient written pair by pair (docs/semantics.md, PAPER, with the weights' derivative): with
/// c_ij = (1/N) ∂[L_P(i) + λ L_N(i)]/∂d_ij, ∂L/∂x_k = Σ_j (c_kj + c_jk) (x_k − x_j)/d_kj (query-only: c_kj alone).
/// Validated against finite differences at small N, it checks the engine at sizes where differences are too slow.
pub fn paper_gradient_reference(p: &Params, data: &Data) -> Vec<f64> {
    let (n, d) = (data.n, data.d);
    let (m, a) = (p.margin as f64, p.alpha as f64);
    let (bp, bn) = (a - m, a);
    let (tp, tn, lambda) = (p.t_p as f64, p.t_n as f64, p.lambda as f64);
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        // Row i's sets, weights and means, straight from the definitions (no shift: moderate T in these tests).
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        for j in 0..n {
            let dij = dist(&data.x, d, i, j);
            if j != i && data.labels[j] == data.labels[i] && dij > bp {
                pos.push((j, dij, (tp * (dij - bp)).exp()));
            } else if data.labels[j] != data.labels[i] && dij < bn {
                neg.push((j, dij, (tn * (bn - dij)).exp()));
            }
        }
        // The weight sums, with ε on each of the row's N weights (0 by default).
        let eps = n as f64 * p.weight_eps as f64;
        let wp: f64 = pos.iter().map(|t| t.2).sum::<f64>() + eps;
        let lp = pos.iter().map(|t| t.2 * (t.1 - bp)).sum::<f64>() / wp.max(f64::MIN_POSITIVE);
        let wn: f64 = neg.iter().map(|t| t.2).sum::<f64>() + eps;
        let ln = neg.iter().map(|t| t.2 * (bn - t.1)).sum::<f64>() / wn.max(f64::MIN_POSITIVE);
        for &(j, dij, w) in &pos {
            let bracket = if p.detach_weights {
                1.0
            } else {
                1.0 + tp * (dij - bp - lp)
            };
            c[i * n + j] = p.lambda_p as f64 * w / wp * bracket / n as f64;
        }
        for &(j, dij, w) in &neg {
            let bracket = if p.detach_weights {
                1.0
            } else {
                1.0 + tn * (bn - dij - ln)
            };
            c[i * n + j] = -lambda * w / wn * bracket / n as f64;
        }
    }
    let mut g = vec![0.0; n * d];
    for k in 0..n {
        for j in 0..n {
            let dkj = dist(&data.x, d, k, j);
            if dkj == 0.0 {
                continue;
            }
            let coef = c[k * n + j] + if p.query_only { 0.0 } else { c[j * n + k] };
            for t in 0..d {
                g[k * d + t] += coef * (data.x[k * d + t] - data.x[j * d + t]) / dkj;
            }
        }
    }
    g
}

pub fn close_pair_variants() -> Vec<(&'static str, Params)> {
    let mut out = Vec::new();
    for (name, s) in [
        ("PAPER", Semantics::Paper),
        ("OFFICIAL_V2020", Semantics::OfficialV2020),
        ("OFFICIAL_V2019", Semantics::OfficialV2019),
    ] {
        let mut p = params(s);
        p.margin = 0.4;
        p.alpha = 1.2;
        p.t_n = 10.0;
        p.t_p = if s == Semantics::Paper { 2.0 } else { 0.0 };
        out.push((name, p));
    }
    let mut q = params(Semantics::Paper);
    q.query_only = true;
    q.t_p = 1.0;
    out.push(("PAPER query_only", q));
    out
}

/// The batch rounded to float32, and widened back: both sides then see the same numbers.
pub fn as_f32(data: &Data) -> (Vec<f32>, Data) {
    let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
    let wide = Data {
        x: x32.iter().map(|&v| v as f64).collect(),
        ..data.clone()
    };
    (x32, wide)
}

pub fn reference(p: &Params, data: &Data) -> (f64, Vec<f64>) {
    if p.semantics == Semantics::Paper {
        (paper_loss(p, data, &data.x), paper_gradient_reference(p, data))
    } else {
        official_reference(p, data, 1.0)
    }
}

/// A P×K batch on the unit sphere of R^d (as after an L2 normalisation layer).
pub fn sphere(r: &mut rand_chacha::ChaCha8Rng, p: usize, k: usize, d: usize) -> Data {
    let mut data = pk_batch(r, p, k, d, 1.0);
    for row in data.x.chunks_exact_mut(d) {
        let s = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= s);
    }
    data
}

/// Copies row `from` over row `to` plus a random offset of relative size `rel` (0: an exact duplicate).
pub fn near_copy(r: &mut rand_chacha::ChaCha8Rng, data: &mut Data, from: usize, to: usize, rel: f64) {
    let d = data.d;
    let norm = (0..d).map(|k| data.x[from * d + k].powi(2)).sum::<f64>().sqrt();
    let dir: Vec<f64> = (0..d).map(|_| r.gen_range(-1.0..1.0)).collect();
    let dn = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (k, v) in dir.iter().enumerate() {
        data.x[to * d + k] = data.x[from * d + k] + rel * norm * v / dn;
    }
}

/// The close-pair batches of tests/precision.rs (and tests/gpu.rs): exact duplicates with the same and with other
/// labels, near-duplicates at 1e-3..1e-6 of the norm, and clumps of close points in 2 and 3 dimensions.
pub fn close_pair_batches() -> Vec<(String, Data)> {
    let mut out = Vec::new();
    let mut r = rng(11);
    for (p, k, d) in [(4, 5, 16), (6, 4, 64), (3, 8, 128)] {
        let mut data = sphere(&mut r, p, k, d);
        // Same label: row 1 copies row 0. Other labels: the last row copies row 2, and row k copies row 3.
        near_copy(&mut r, &mut data, 0, 1, 0.0);
        let last = data.n - 1;
        near_copy(&mut r, &mut data, 2, last, 0.0);
        near_copy(&mut r, &mut data, 3, k, 0.0);
        out.push((format!("duplicates {p}x{k}, d = {d}"), data));
    }
    let mut r = rng(12);
    for rel in [1e-3, 1e-4, 1e-5, 1e-6] {
        for d in [8, 64] {
            let mut data = sphere(&mut r, 5, 4, d);
            near_copy(&mut r, &mut data, 0, 1, rel); // same label
            near_copy(&mut r, &mut data, 0, 4, rel); // other label
            near_copy(&mut r, &mut data, 6, 19, rel); // other label
            near_copy(&mut r, &mut data, 10, 11, rel * 3.0); // same label
            out.push((format!("near-duplicates at {rel:e}, d = {d}"), data));
        }
    }
    let mut r = rng(13);
    for d in [2, 3] {
        for _ in 0..3 {
            // Points of several classes in a few tight clumps (radius 1e-3) far from the origin: most pairs inside
            // a clump are close, of the same class or not.
            let n = 40;
            let centres: Vec<Vec<f64>> = (0..4)
                .map(|_| (0..d).map(|_| r.gen_range(2.0..3.0)).collect())
                .collect();
            let mut x = Vec::with_capacity(n * d);
            let mut labels = Vec::with_capacity(n);
            for i in 0..n {
                let c = &centres[i % 4];
                x.extend(c.iter().map(|v| v + r.gen_range(-1e-3..1e-3)));
                labels.push((r.gen_range(0..3)) as f64);
            }
            out.push((format!("clumps in d = {d}"), Data { x, labels, n, d }));
        }
    }
    out
}

/// The set boundaries of `p` (PAPER and both OFFICIAL variants), for `boundary_gap`.
pub fn boundaries(p: &Params) -> [f64; 4] {
    [
        (p.alpha - p.margin) as f64,
        p.alpha as f64,
        1.0 - p.margin as f64 / 2.0,
        1.0 + p.margin as f64 / 2.0,
    ]
}

/// Runs `engine` (float32 value and gradient of a batch) on every close-pair batch whose name starts with `filter`,
/// for every variant, against the float64 references: within 1e-5 relative on the value and on the gradient.
pub fn check_close_pairs(filter: &str, engine: impl Fn(&Params, &[f32], &[f32], usize, usize) -> (f32, Vec<f32>)) {
    let cases: Vec<_> = close_pair_batches()
        .into_iter()
        .filter(|(w, _)| w.starts_with(filter))
        .collect();
    assert!(!cases.is_empty(), "no batch named {filter}*");
    for (what, data) in cases {
        let (x32, wide) = as_f32(&data);
        let l32: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
        for (name, p) in close_pair_variants() {
            // Sets decided within float32 rounding of a boundary may differ: such batches are no precision test.
            assert!(
                boundary_gap(&p, &wide, &boundaries(&p)) > 1e-4,
                "{what}: too close to a boundary"
            );
            let (v64, g64) = reference(&p, &wide);
            let (v, g) = engine(&p, &x32, &l32, data.n, data.d);
            let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
            let ev = (v as f64 - v64).abs() / v64.abs().max(1e-30);
            let eg = rel_err(&g, &g64, 1e-30);
            assert!(
                ev < 1e-5,
                "{what}, {name}: value {v} against {v64}: relative error {ev:.2e}"
            );
            assert!(eg < 1e-5, "{what}, {name}: gradient relative error {eg:.2e}");
        }
    }
}
