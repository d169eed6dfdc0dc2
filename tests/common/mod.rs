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
    let lp = if wp > 0.0 { hp / wp } else { 0.0 };
    let ln = if wn > 0.0 { hn / wn } else { 0.0 };
    lp + p.lambda as f64 * ln
}

/// L = (1/N) Σ_i [L_P(i) + λ L_N(i)], straight from the definition.
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

/// The official layer, pair by pair, as spec B.3 describes its Backward (steps 1-7) and B.4 its value.
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

pub fn params(semantics: Semantics) -> Params {
    Params {
        semantics,
        ..Params::default()
    }
}

/// The PAPER gradient written pair by pair (spec A.2 generalised to the weights' derivative): with
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
        let wp: f64 = pos.iter().map(|t| t.2).sum();
        let lp = pos.iter().map(|t| t.2 * (t.1 - bp)).sum::<f64>() / wp.max(f64::MIN_POSITIVE);
        let wn: f64 = neg.iter().map(|t| t.2).sum();
        let ln = neg.iter().map(|t| t.2 * (bn - t.1)).sum::<f64>() / wn.max(f64::MIN_POSITIVE);
        for &(j, dij, w) in &pos {
            let bracket = if p.detach_weights {
                1.0
            } else {
                1.0 + tp * (dij - bp - lp)
            };
            c[i * n + j] = w / wp * bracket / n as f64;
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
