//! Properties of the engine: permutation equivariance, finiteness for any finite input, f32 against f64,
//! determinism across runs and thread counts, and exponent shifting.

mod common;
use common::*;
use rand::Rng;
use ranked_list_loss::{compute, set_num_threads, Batch, Params, Real, Semantics};

const ALL: [Semantics; 3] = [Semantics::Paper, Semantics::OfficialV2020, Semantics::OfficialV2019];

fn eval<T: Real>(p: &Params, x: &[T], labels: &[T], n: usize, d: usize) -> (T, Vec<T>, Vec<T>) {
    let mut g = vec![T::zero(); n * d];
    let mut s = vec![T::zero(); n * 4];
    let loss = compute(p, Batch { x, labels, n, d }, T::one(), Some(&mut g), Some(&mut s)).unwrap();
    (loss, g, s)
}

fn normalised(r: &mut rand_chacha::ChaCha8Rng, n: usize, d: usize, k: usize) -> Data {
    let mut data = pk_batch(r, n / k, k, d, 1.0);
    for row in data.x.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    data
}

#[test]
fn permuting_samples_permutes_gradients() {
    let mut r = rng(21);
    for p in variants() {
        let data = irregular_batch(&mut r, 14, 4, 5, 0.6);
        let mut perm: Vec<usize> = (0..data.n).collect();
        for i in (1..perm.len()).rev() {
            perm.swap(i, r.gen_range(0..=i));
        }
        let d = data.d;
        let xp: Vec<f64> = perm.iter().flat_map(|&i| data.x[i * d..(i + 1) * d].to_vec()).collect();
        let lp: Vec<f64> = perm.iter().map(|&i| data.labels[i]).collect();
        let (l1, g1, s1) = eval(&p, &data.x, &data.labels, data.n, d);
        let (l2, g2, s2) = eval(&p, &xp, &lp, data.n, d);
        assert!((l1 - l2).abs() <= 1e-13 * l1.abs().max(1e-300), "{p:?}: {l1} vs {l2}");
        let g1p: Vec<f64> = perm.iter().flat_map(|&i| g1[i * d..(i + 1) * d].to_vec()).collect();
        assert!(rel_err(&g2, &g1p, 1e-300) < 1e-12, "{p:?}");
        let s1p: Vec<f64> = perm.iter().flat_map(|&i| s1[i * 4..(i + 1) * 4].to_vec()).collect();
        assert!(rel_err(&s2, &s1p, 1e-300) < 1e-12, "{p:?}");
    }
}

fn assert_finite<T: Real>(what: &str, p: &Params, x: &[T], labels: &[T], d: usize) {
    let n = labels.len();
    let (l, g, s) = eval(p, x, labels, n, d);
    assert!(l.is_finite(), "{what} {p:?}: loss {l}");
    assert!(g.iter().all(|v| v.is_finite()), "{what} {p:?}: gradient {g:?}");
    assert!(s.iter().all(|v| v.is_finite()), "{what} {p:?}: stats");
}

fn extreme_inputs<T: Real>() -> Vec<(&'static str, Vec<T>, Vec<T>, usize)> {
    let big = T::max_value();
    let tiny = T::min_positive_value() * T::of(3.0); // near the subnormal range
    let mut r = rng(5);
    let random: Vec<T> = (0..24).map(|_| T::of(r.gen_range(-1.0..1.0))).collect();
    let pk = |n: usize| (0..n).map(|i| T::of((i / 2) as f64)).collect::<Vec<T>>();
    vec![
        (
            "largest values",
            vec![big, -big, -big, big, big, big, -big, -big],
            pk(4),
            2,
        ),
        (
            "half the largest",
            random.iter().map(|&v| v * big / T::of(2.0)).collect(),
            pk(8),
            3,
        ),
        ("tiny values", random.iter().map(|&v| v * tiny).collect(), pk(8), 3),
        (
            "mixed magnitudes",
            vec![big, tiny, T::zero(), -tiny, T::one(), -big],
            pk(3),
            2,
        ),
        (
            "far from the origin",
            random.iter().map(|&v| T::of(1e6) + v).collect(),
            pk(12),
            2,
        ),
        ("duplicates", vec![T::one(); 12], pk(6), 2),
        ("one sample", vec![T::of(0.3), T::of(-0.1)], vec![T::zero()], 2),
        ("one class", random.clone(), vec![T::one(); 8], 3),
        (
            "all classes distinct",
            random.clone(),
            (0..8).map(|i| T::of(i as f64)).collect(),
            3,
        ),
        ("zeros", vec![T::zero(); 8], pk(4), 2),
    ]
}

#[test]
fn finite_inputs_give_finite_outputs() {
    let mut ps = variants();
    for s in ALL {
        ps.push(Params {
            semantics: s,
            t_n: 50.0,
            t_p: 50.0,
            alpha: 3.0,
            margin: 0.5,
            ..Params::default()
        });
        ps.push(Params {
            semantics: s,
            t_n: 50.0,
            t_p: 50.0,
            base_n: 100.0,
            base_p: 0.01,
            ..Params::default()
        });
        // Any finite temperature, negative ones too, at any magnitude.
        for t in [-3e38f32, -1e6, -50.0, 3e38] {
            ps.push(Params {
                semantics: s,
                t_n: t,
                t_p: -t,
                ..Params::default()
            });
        }
    }
    for p in &ps {
        for (what, x, y, d) in extreme_inputs::<f32>() {
            assert_finite(what, p, &x, &y, d);
        }
        for (what, x, y, d) in extreme_inputs::<f64>() {
            assert_finite(what, p, &x, &y, d);
        }
    }
}

#[test]
fn nothing_active_gives_zero_gradient() {
    // Two tight, far-apart classes: no positive beyond α − m, no negative inside α.
    let x = [0.0, 0.0, 0.01, 0.0, 5.0, 0.0, 5.01, 0.0];
    let y = [0.0, 0.0, 1.0, 1.0];
    for s in ALL {
        let (l, g, st) = eval(&params(s), &x, &y, 4, 2);
        assert!(g.iter().all(|&v| v == 0.0), "{s:?}: {g:?}");
        if s == Semantics::Paper {
            assert_eq!(l, 0.0);
        }
        assert!(st.chunks(4).all(|r| r[2] == 0.0 && r[3] == 0.0));
    }
}

#[test]
fn f32_agrees_with_f64_within_1e5_relative() {
    let mut r = rng(31);
    for p in variants() {
        for (n, d, k) in [(60, 64, 3), (30, 16, 5), (90, 128, 3)] {
            let data = normalised(&mut r, n, d, k);
            let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
            let y32: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
            // The reference is the f64 engine on the very same (f32-rounded) inputs.
            let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
            let (l64, g64, _) = eval(&p, &x64, &data.labels, n, d);
            let (l32, g32, _) = eval(&p, &x32, &y32, n, d);
            let le = (l32 as f64 - l64).abs() / l64.abs().max(1e-30);
            assert!(le < 1e-5, "{p:?} {n}x{d}: loss {l32} vs {l64} ({le})");
            let g32w: Vec<f64> = g32.iter().map(|&v| v as f64).collect();
            let ge = rel_err(&g32w, &g64, 1e-30);
            assert!(ge < 1e-5, "{p:?} {n}x{d}: gradient relative error {ge}");
        }
    }
}

#[test]
fn results_are_bit_identical_across_runs_and_thread_counts() {
    let mut r = rng(41);
    let data = normalised(&mut r, 300, 48, 3);
    let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
    let y32: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
    for p in variants() {
        set_num_threads(1);
        let reference = eval(&p, &x32, &y32, data.n, data.d);
        for threads in [1, 2, 3, 7] {
            set_num_threads(threads);
            let again = eval(&p, &x32, &y32, data.n, data.d);
            assert_eq!(reference.0.to_bits(), again.0.to_bits(), "{p:?}, {threads} threads");
            assert!(
                reference
                    .1
                    .iter()
                    .zip(&again.1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{p:?} {threads}"
            );
            assert!(
                reference
                    .2
                    .iter()
                    .zip(&again.2)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{p:?} {threads}"
            );
        }
    }
    set_num_threads(0);
}

#[test]
fn official_exponent_shift_leaves_the_result_unchanged() {
    // T_n = 50 with α = 3: negative weights up to e^150, beyond f32. The f32 engine must shift its exponents and
    // still agree with the f64 pair-by-pair reference, which has the range to need no shift.
    let mut r = rng(51);
    for s in [Semantics::OfficialV2019, Semantics::OfficialV2020] {
        let data = pk_batch(&mut r, 4, 3, 3, 0.4);
        let p = Params {
            semantics: s,
            t_n: 50.0,
            alpha: 3.0,
            margin: 2.0,
            base_n: 20.0,
            ..Params::default()
        };
        let x32: Vec<f32> = data.x.iter().map(|&v| v as f32).collect();
        let y32: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let data64 = Data { x: x64, ..data.clone() };
        let (_, rg) = official_reference(&p, &data64, 1.0);
        assert!(rg.iter().all(|v| v.is_finite()));
        let (_, g32, _) = eval(&p, &x32, &y32, data.n, data.d);
        let g: Vec<f64> = g32.iter().map(|&v| v as f64).collect();
        let e = rel_err(&g, &rg, 1e-30);
        assert!(e < 1e-4, "{s:?}: relative error {e}");
    }
}

#[test]
fn paper_exponent_shift_matches_the_unshifted_definition_in_f64() {
    // T = ±50 with distances up to ~5: e^±250, fine in f64 without a shift, so the plain definition is the
    // reference (a negative temperature's exponents are all negative: its shift starts below them, not at 0).
    let mut r = rng(61);
    for t in [50.0, -50.0] {
        for _ in 0..5 {
            let mut data = pk_batch(&mut r, 3, 3, 4, 1.0);
            data.x.iter_mut().for_each(|v| *v *= 2.0);
            let p = Params {
                t_n: t,
                t_p: t,
                alpha: 4.0,
                margin: 2.0,
                ..Params::default()
            };
            let (l, _, _) = eval(&p, &data.x, &data.labels, data.n, data.d);
            let reference = paper_loss(&p, &data, &data.x);
            assert!(
                (l - reference).abs() < 1e-12 * reference.abs().max(1e-12),
                "T {t}: {l} vs {reference}"
            );
        }
    }
}

#[test]
fn paper_negative_temperatures_reach_their_limit() {
    // T = -1e6: every weight but the smallest hinge's underflows in the definition, and the weighted means are the
    // smallest hinge of each set.
    let mut r = rng(62);
    for _ in 0..5 {
        let mut data = pk_batch(&mut r, 3, 3, 4, 1.0);
        data.x.iter_mut().for_each(|v| *v *= 2.0);
        let p = Params {
            t_n: -1e6,
            t_p: -1e6,
            alpha: 4.0,
            margin: 2.0,
            ..Params::default()
        };
        let (l, _, _) = eval(&p, &data.x, &data.labels, data.n, data.d);
        let (bp, bn) = (2.0, 4.0);
        let mut limit = 0.0;
        for i in 0..data.n {
            let (mut hp, mut hn) = (f64::INFINITY, f64::INFINITY);
            for j in (0..data.n).filter(|&j| j != i) {
                let dij = common::dist(&data.x, data.d, i, j);
                if data.labels[j] == data.labels[i] && dij > bp {
                    hp = hp.min(dij - bp);
                } else if data.labels[j] != data.labels[i] && dij < bn {
                    hn = hn.min(bn - dij);
                }
            }
            limit += if hp.is_finite() { hp } else { 0.0 } + if hn.is_finite() { hn } else { 0.0 };
        }
        limit /= data.n as f64;
        assert!(
            (l - limit).abs() < 1e-9 * limit.max(1e-12),
            "{l} vs the T -> -inf limit {limit}"
        );
    }
}

#[test]
fn stats_count_the_sets_of_the_paper() {
    // Spec B.3's example under PAPER (β_P = 0.8, β_N = 1.2): P*_0 = {1} (d = 1), N*_0 = {2} (d = 0.5176).
    let x: Vec<f64> = [0f64, 60.0, 30.0, 150.0]
        .iter()
        .flat_map(|deg: &f64| [deg.to_radians().cos(), deg.to_radians().sin()])
        .collect();
    let (_, _, s) = eval(&Params::default(), &x, &[0.0, 0.0, 1.0, 1.0], 4, 2);
    let counts: Vec<(f64, f64)> = s.chunks(4).map(|r| (r[2], r[3])).collect();
    assert_eq!(counts, vec![(1.0, 1.0), (1.0, 1.0), (1.0, 2.0), (1.0, 0.0)]);
    // L_P(0) = d − β_P = 0.2; L_N(0) = β_N − d_02.
    assert!((s[0] - 0.2).abs() < 1e-6);
    let d02 = (2.0 - 2.0 * 30f64.to_radians().cos()).sqrt();
    assert!((s[1] - (1.2 - d02)).abs() < 1e-6);
}
