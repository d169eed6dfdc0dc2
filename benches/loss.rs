//! Forward + backward, f32, at the shapes, on 1 and 2 threads (criterion; medians in the report).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ranked_list_loss::{compute, set_num_threads, Batch, Params, Semantics};

/// L2-normalised Gaussian features and P×K labels (K = 3), as a metric-learning batch looks.
fn batch(n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut x: Vec<f32> = (0..n * d).map(|_| rng.gen::<f32>() - 0.5).collect();
    for row in x.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let labels = (0..n).map(|i| (i / 3) as f32).collect();
    (x, labels)
}

fn bench(c: &mut Criterion) {
    let shapes = [(60, 512), (180, 512), (1024, 512), (4096, 128)];
    for semantics in [Semantics::Paper, Semantics::OfficialV2020] {
        let params = Params {
            semantics,
            ..Params::default()
        };
        let mut group = c.benchmark_group(format!("{semantics:?}"));
        group.sample_size(10);
        for &(n, d) in &shapes {
            let (x, labels) = batch(n, d);
            let mut grad = vec![0f32; n * d];
            for threads in [1, 2] {
                set_num_threads(threads);
                group.bench_with_input(
                    BenchmarkId::new(format!("{n}x{d}"), format!("{threads}t")),
                    &(),
                    |b, _| {
                        b.iter(|| {
                            compute(
                                &params,
                                Batch {
                                    x: &x,
                                    labels: &labels,
                                    n,
                                    d,
                                },
                                1.0,
                                Some(&mut grad),
                                None,
                            )
                        })
                    },
                );
            }
        }
        group.finish();
    }
    set_num_threads(0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
