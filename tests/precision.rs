//! Close pairs in float32: exact duplicates, near-duplicates at 1e-3..1e-6 of the norms and low-dimensional
//! batches full of close pairs, for every semantics. The float32 engine must agree with the float64 pair-by-pair
//! references (which subtract the vectors directly) on the same float32 inputs within 1e-5 relative, on the value
//! and on the gradient.
mod common;
use common::*;
use ranked_list_loss::{compute, Batch};

const TOL: f64 = 1e-5;

fn check(what: &str, data: &Data) {
    let (x32, wide) = as_f32(data);
    let l32: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
    for (name, p) in close_pair_variants() {
        // Sets decided within float32 rounding of a boundary may differ: such batches are not a precision test.
        assert!(
            boundary_gap(&p, &wide, &boundaries(&p)) > 1e-4,
            "{what}: too close to a boundary"
        );
        let (v64, g64) = reference(&p, &wide);
        let mut g = vec![0f32; data.n * data.d];
        let batch = Batch {
            x: &x32,
            labels: &l32,
            n: data.n,
            d: data.d,
        };
        let v = compute(&p, batch, 1.0, Some(&mut g), None).unwrap() as f64;
        let g: Vec<f64> = g.iter().map(|&v| v as f64).collect();
        let ev = (v - v64).abs() / v64.abs().max(1e-30);
        let eg = rel_err(&g, &g64, 1e-30);
        assert!(
            ev < TOL,
            "{what}, {name}: value {v} against {v64}: relative error {ev:.2e}"
        );
        assert!(eg < TOL, "{what}, {name}: gradient relative error {eg:.2e}");
    }
}

fn check_all(filter: &str) {
    let cases: Vec<_> = close_pair_batches()
        .into_iter()
        .filter(|(w, _)| w.starts_with(filter))
        .collect();
    assert!(!cases.is_empty());
    for (what, data) in cases {
        check(&what, &data);
    }
}

#[test]
fn exact_duplicates_with_the_same_and_with_other_labels() {
    check_all("duplicates");
}

#[test]
fn near_duplicates_from_1e3_to_1e6_of_the_norm() {
    check_all("near-duplicates");
}

#[test]
fn low_dimension_with_many_close_pairs() {
    check_all("clumps");
}
