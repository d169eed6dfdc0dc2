use ranked_list_loss::*;
use std::time::Instant;
fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (n, d) = (args[0], args[1]);
    set_num_threads(1);
    let mut s = 1u64;
    let mut x: Vec<f32> = (0..n * d)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((s >> 33) as f32 / 2f32.powi(31)) - 0.5
        })
        .collect();
    for r in x.chunks_exact_mut(d) {
        let nn = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        let sc = std::env::var("RADIUS")
            .ok()
            .and_then(|v| v.parse::<f32>().ok())
            .unwrap_or(1.0);
        r.iter_mut().for_each(|v| *v *= sc / nn);
    }
    let y: Vec<f32> = (0..n).map(|i| (i / 3) as f32).collect();
    let mut g = vec![0f32; n * d];
    let p = Params::default();
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..10 {
            compute(
                &p,
                Batch {
                    x: &x,
                    labels: &y,
                    n,
                    d,
                },
                1.0,
                Some(&mut g),
                None,
            )
            .unwrap();
        }
        println!("{:.3} ms", t.elapsed().as_secs_f64() * 100.0);
    }
}
