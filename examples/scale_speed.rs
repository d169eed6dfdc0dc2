use std::time::Instant;
fn main() {
    let (n, d) = (180usize, 512usize);
    let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    for _ in 0..3 {
        let t = Instant::now();
        let s = ranked_list_loss::distance::center_and_scale(&x, n, d);
        println!("{:?} {}", t.elapsed(), s.exp);
    }
}
