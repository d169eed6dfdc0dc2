use std::time::Instant;
fn main() {
    let v: Vec<f32> = (0..1_000_000).map(|i| -(i as f32) * 1e-5).collect();
    let mut o = vec![0f32; v.len()];
    for _ in 0..3 {
        let t = Instant::now();
        for (a, b) in o.iter_mut().zip(&v) { *a = b.exp(); }
        let t1 = t.elapsed();
        let t = Instant::now();
        for (a, b) in o.iter_mut().zip(&v) { *a = *a / (*b - 1.0); }
        println!("exp {:?} div {:?} {}", t1, t.elapsed(), o[5]);
    }
}
