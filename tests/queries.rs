//! A batch's queries split into parts (`compute_queries`, as the processes of a distributed batch compute them):
//! the parts' values and gradients, summed, against the pair-by-pair references and the whole-batch call.
mod common;
use common::*;
use ranked_list_loss::{compute, compute_queries, query_ln_mass, Batch, ErrorKind, Params, Queries, Real, Semantics};

/// The loss and gradient of a batch computed as `parts` (row counts, in order, summing to n): OFFICIAL's ln masses
/// first (every part's, concatenated, as an all-gather would), then each part's value and gradient, added in order.
fn split<T: Real>(p: &Params, x: &[T], labels: &[T], d: usize, parts: &[usize]) -> (T, Vec<T>) {
    let n = labels.len();
    assert_eq!(parts.iter().sum::<usize>(), n);
    let batch = || Batch { x, labels, n, d };
    let starts: Vec<usize> = parts
        .iter()
        .scan(0, |s, &c| Some(std::mem::replace(s, *s + c)))
        .collect();
    let ln_mass = (p.semantics != Semantics::Paper).then(|| {
        let mut all = vec![0f64; n];
        for (&start, &count) in starts.iter().zip(parts) {
            query_ln_mass(p, batch(), start, count, &mut all[start..start + count]).unwrap();
        }
        all
    });
    let (mut value, mut grad) = (T::zero(), vec![T::zero(); n * d]);
    let mut part = vec![T::zero(); n * d];
    for (&start, &count) in starts.iter().zip(parts) {
        let q = Queries {
            start,
            count,
            ln_mass: ln_mass.as_deref(),
        };
        value = value + compute_queries(p, batch(), q, T::one(), Some(&mut part)).unwrap();
        grad.iter_mut().zip(&part).for_each(|(g, &v)| *g = *g + v);
    }
    (value, grad)
}

fn partitions(n: usize) -> Vec<Vec<usize>> {
    vec![
        vec![n],
        vec![n / 2, n - n / 2],
        vec![3, n - 3 - n / 3, n / 3],
        vec![0, n - 5, 5, 0],
        vec![1; n],
    ]
}

#[test]
fn parts_add_up_to_the_pair_by_pair_reference_in_f64() {
    let mut r = rng(71);
    for data in [pk_batch(&mut r, 6, 4, 16, 0.6), irregular_batch(&mut r, 30, 7, 8, 0.5)] {
        for p in variants() {
            let (want_v, want_g) = reference(&p, &data);
            for parts in partitions(data.n) {
                let (v, g) = split(&p, &data.x, &data.labels, data.d, &parts);
                let what = format!("{:?} parts {parts:?}", p.semantics);
                assert!(
                    (v - want_v).abs() <= 1e-12 * want_v.abs().max(1e-3),
                    "{what}: value {v} vs {want_v}"
                );
                let e = rel_err(&g, &want_g, 1e-12);
                assert!(e < 1e-10, "{what}: gradient off by {e:e}");
                assert!(g.iter().any(|&v| v != 0.0), "{what}: a zero gradient");
            }
        }
    }
}

#[test]
fn parts_agree_with_the_whole_batch_call_in_f32() {
    let mut r = rng(72);
    let data = pk_batch(&mut r, 8, 8, 64, 0.3);
    let (x, _) = as_f32(&data);
    let labels: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
    let (n, d) = (data.n, data.d);
    for p in variants() {
        let mut whole = vec![0f32; n * d];
        let want = compute(
            &p,
            Batch {
                x: &x,
                labels: &labels,
                n,
                d,
            },
            1.0,
            Some(&mut whole),
            None,
        )
        .unwrap();
        for parts in [vec![20, 21, 23], vec![64], vec![1, 63]] {
            let (v, g) = split(&p, &x, &labels, d, &parts);
            let wide = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
            assert!(
                (v - want).abs() <= 1e-5 * want.abs(),
                "{:?}: {v} vs {want}",
                p.semantics
            );
            let e = rel_err(&wide(&g), &wide(&whole), 1e-6);
            assert!(e < 2e-5, "{:?} {parts:?}: gradient off by {e:e}", p.semantics);
        }
    }
}

/// Duplicates, near-duplicates and clumps (the close pairs recomputed from the input) split in three, in float32,
/// within 1e-5 of the float64 references.
#[test]
fn close_pairs_stay_exact_when_split() {
    check_close_pairs("", |p, x, labels, _n, d| {
        let n = labels.len();
        split(p, x, labels, d, &[n / 3, n / 3, n - 2 * (n / 3)])
    });
}

#[test]
fn bad_parts_are_errors_that_name_the_argument() {
    let (x, labels) = (vec![0.5f64, 0.1, -0.3, 0.2, 0.9, -0.4], vec![1.0, 1.0, 2.0]);
    let batch = || Batch {
        x: &x,
        labels: &labels,
        n: 3,
        d: 2,
    };
    let official = params(Semantics::OfficialV2020);
    let paper = params(Semantics::Paper);
    let run = |p: &Params, start, count, ln_mass: Option<&[f64]>| {
        let mut g = vec![0.0; 6];
        let q = Queries { start, count, ln_mass };
        compute_queries(p, batch(), q, 1.0, Some(&mut g))
            .map(|_| g)
            .unwrap_err()
    };
    let e = run(&paper, 2, 2, None);
    assert_eq!(e.kind, ErrorKind::Size);
    assert!(
        e.message.contains("start = 2, count = 2") && e.message.contains("n = 3"),
        "{}",
        e.message
    );
    let e = run(&official, 0, 2, None);
    assert_eq!(e.kind, ErrorKind::Parameter);
    assert!(e.message.contains("ln_mass is NULL"), "{}", e.message);
    let e = run(&paper, 0, 3, Some(&[0.0; 3]));
    assert!(
        e.kind == ErrorKind::Parameter && e.message.contains("OFFICIAL"),
        "{}",
        e.message
    );
    let e = run(&official, 0, 1, Some(&[0.0; 2]));
    assert!(
        e.kind == ErrorKind::Size && e.message.contains("ln_mass has 2 values"),
        "{}",
        e.message
    );
    let e = run(&official, 0, 1, Some(&[0.0, f64::NAN, 0.0]));
    assert!(
        e.kind == ErrorKind::NonFinite && e.message.contains("ln_mass[1] = NaN"),
        "{}",
        e.message
    );
    let e = query_ln_mass(&paper, batch(), 0, 3, &mut [0.0; 3]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parameter);
    let e = query_ln_mass(&official, batch(), 1, 2, &mut [0.0; 3]).unwrap_err();
    assert!(
        e.kind == ErrorKind::Size && e.message.contains("ln_mass has 3 values"),
        "{}",
        e.message
    );
    // Nothing is written on error.
    let mut g = vec![7.0; 6];
    let q = Queries {
        start: 0,
        count: 4,
        ln_mass: None,
    };
    assert!(compute_queries(&paper, batch(), q, 1.0, Some(&mut g)).is_err());
    assert!(g.iter().all(|&v| v == 7.0));
}
