//! Where a second thread starts to pay: forward + backward (f32, PAPER, normalised features) on 1 and 2 threads,
//! median of repeated calls, for batches around the crossover. `parallel::WORK_PER_THREAD` comes from this table.
//!   cargo run --release --example thread_crossover

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use ranked_list_loss::{compute, set_num_threads, threads_for, Batch, Params};
use std::time::Instant;

fn median_ms(x: &[f32], labels: &[f32], n: usize, d: usize, threads: usize) -> f64 {
    set_num_threads(threads);
    let mut grad = vec![0f32; n * d];
    let p = Params::default();
    let mut run = || {
        let t = Instant::now();
        compute(&p, Batch { x, labels, n, d }, 1.0, Some(&mut grad), None).unwrap();
        t.elapsed().as_secs_f64() * 1e3
    };
    let first = run();
    let reps = ((200.0 / first.max(1e-3)) as usize).clamp(5, 400);
    let mut t: Vec<f64> = (0..reps).map(|_| run()).collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    println!(
        "{:>6} {:>5} {:>12} {:>9} {:>9} {:>8} {:>6}",
        "n", "d", "N²(D+64)", "1t (ms)", "2t (ms)", "2t/1t", "auto"
    );
    for (n, d) in [
        (60, 512),
        (120, 128),
        (120, 512),
        (180, 128),
        (180, 512),
        (256, 512),
        (360, 512),
        (512, 128),
        (512, 512),
        (1024, 512),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut x: Vec<f32> = (0..n * d).map(|_| rng.gen::<f32>() - 0.5).collect();
        for row in x.chunks_exact_mut(d) {
            let s = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.iter_mut().for_each(|v| *v /= s);
        }
        let labels: Vec<f32> = (0..n).map(|i| (i / 3) as f32).collect();
        // Interleaved, twice, so that a noisy moment hits both counts alike.
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            one.push(median_ms(&x, &labels, n, d, 1));
            two.push(median_ms(&x, &labels, n, d, 2));
        }
        let (a, b) = (
            one.iter().cloned().fold(f64::MAX, f64::min),
            two.iter().cloned().fold(f64::MAX, f64::min),
        );
        set_num_threads(0);
        let work = (n * n) as f64 * (d as f64 + 64.0);
        println!(
            "{n:>6} {d:>5} {work:>12.3e} {a:>9.3} {b:>9.3} {:>8.2} {:>6}",
            b / a,
            threads_for(n, d)
        );
    }
}
