//! Half-precision inputs (float16 and bfloat16) through the Rust API: batches with near-duplicate negatives of other
//! classes (d ≈ 0.02) at T_n up to 100 give finite values; against the float32 engine on the same rounded inputs
//! the loss is equal bit for bit (half inputs widen exactly and the computation is the float32 one) and the gradient
//! is that float32 gradient rounded to nearest even (cosine ≥ 0.999), for every semantics and option.

mod common;
use common::*;
use half::{bf16, f16};
use ranked_list_loss::{compute, compute_half, Batch, ErrorKind, Half, Params};

/// Unit rows of 8 classes × 6, where every third row of a class gets a near-copy from another class at
/// distance ≈ 0.02: negatives far inside α, whose weights exp(T_n (α − d)) overflow float16 from T_n ≈ 9.2.
fn hard_batch(seed: u64) -> Data {
    let mut r = rng(seed);
    let mut data = sphere(&mut r, 8, 6, 32);
    for c in 0..8 {
        let from = c * 6;
        let to = ((c + 1) % 8) * 6 + 3;
        near_copy(&mut r, &mut data, from, to, 0.02);
    }
    data
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-300)
}

fn check<H: Half + PartialEq + std::fmt::Debug>(name: &str) {
    let data = hard_batch(7);
    let (n, d) = (data.n, data.d);
    let xh: Vec<H> = data.x.iter().map(|&v| H::narrow(v as f32)).collect();
    let wide: Vec<f32> = xh.iter().map(|h| h.widen()).collect();
    let labels: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
    // The closest pair of different classes, as rounded to the format.
    let closest = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .filter(|&(i, j)| labels[i] != labels[j])
        .map(|(i, j)| {
            let w: Vec<f64> = wide.iter().map(|&v| v as f64).collect();
            dist(&w, d, i, j)
        })
        .fold(f64::INFINITY, f64::min);
    assert!(
        closest > 0.01 && closest < 0.03,
        "{name}: closest negative at {closest}"
    );
    for t_n in [10.0f32, 30.0, 100.0] {
        for base in variants() {
            let p = Params { t_n, ..base };
            let mut gh = vec![H::narrow(0.0); n * d];
            let loss = compute_half::<H>(&p, &xh, &labels, n, d, 1.0, Some(&mut gh)).unwrap();
            let mut g32 = vec![0f32; n * d];
            let batch = Batch {
                x: &wide,
                labels: &labels,
                n,
                d,
            };
            let loss32 = compute(&p, batch, 1.0, Some(&mut g32), None).unwrap();
            assert!(loss.is_finite(), "{name} T_n {t_n} {p:?}: loss {loss}");
            let gw: Vec<f32> = gh.iter().map(|h| h.widen()).collect();
            assert!(
                gw.iter().all(|v| v.is_finite()),
                "{name} T_n {t_n} {p:?}: gradient not finite"
            );
            assert_eq!(loss.to_bits(), loss32.to_bits(), "{name} T_n {t_n} {p:?}");
            assert!(
                gh.iter().zip(&g32).all(|(h, &v)| *h == H::narrow(v)),
                "{name} {p:?}: not the rounded gradient"
            );
            let c = cosine(&gw, &g32);
            assert!(c >= 0.999, "{name} T_n {t_n} {p:?}: gradient cosine {c}");
        }
    }
}

#[test]
fn float16_is_finite_and_the_rounded_float32_result() {
    check::<f16>("float16");
}

#[test]
fn bfloat16_is_finite_and_the_rounded_float32_result() {
    check::<bf16>("bfloat16");
}

#[test]
fn half_inputs_are_checked_like_float_ones() {
    let x = [f16::from_f32(0.5), f16::NAN, f16::from_f32(0.1), f16::from_f32(0.2)];
    let labels = [0.0f32, 1.0];
    let e = compute_half::<f16>(&Params::default(), &x, &labels, 2, 2, 1.0, None).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NonFinite, "x[0][1] = NaN is not finite")
    );
    let mut g = vec![f16::ZERO; 3];
    let e = compute_half::<f16>(&Params::default(), &x, &labels, 2, 2, 1.0, Some(&mut g)).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Size, "grad has 3 values but n·d = 2·2 = 4")
    );
    let e = compute_half::<bf16>(&Params::default(), &[bf16::ONE; 4], &labels, 2, 0, 1.0, None).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size);
}
