//! Close pairs in float32: exact duplicates, near-duplicates at 1e-3..1e-6 of the norms and low-dimensional
//! batches full of close pairs, for every semantics. The float32 engine must agree with the float64 pair-by-pair
//! references (which subtract the vectors directly) on the same float32 inputs within 1e-5 relative, on the value
//! and on the gradient (`common::check_close_pairs`; tests/gpu.rs runs the same on a GPU).
mod common;
use common::*;
use ranked_list_loss::{compute, Batch, Params};

fn cpu(p: &Params, x: &[f32], labels: &[f32], n: usize, d: usize) -> (f32, Vec<f32>) {
    let mut g = vec![0f32; n * d];
    let v = compute(p, Batch { x, labels, n, d }, 1.0, Some(&mut g), None).unwrap();
    (v, g)
}

#[test]
fn exact_duplicates_with_the_same_and_with_other_labels() {
    check_close_pairs("duplicates", cpu);
}

#[test]
fn near_duplicates_from_1e3_to_1e6_of_the_norm() {
    check_close_pairs("near-duplicates", cpu);
}

#[test]
fn low_dimension_with_many_close_pairs() {
    check_close_pairs("clumps", cpu);
}
