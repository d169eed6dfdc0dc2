use std::time::Instant;
fn main() {
    let (m, k, n) = (4096usize, 128usize, 4096usize);
    let a = vec![0.5f32; m * k];
    let mut c = vec![0f32; m * n];
    for _ in 0..3 {
        let t = Instant::now();
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                a.as_ptr(),
                1,
                k as isize,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            )
        };
        let s = t.elapsed().as_secs_f64();
        println!(
            "full {:.1} ms, {:.1} GFLOP/s",
            s * 1e3,
            2.0 * (m * n * k) as f64 / s / 1e9
        );
        let t = Instant::now();
        for r0 in (0..m).step_by(32) {
            unsafe {
                matrixmultiply::sgemm(
                    32,
                    k,
                    n - r0,
                    1.0,
                    a.as_ptr().add(r0 * k),
                    k as isize,
                    1,
                    a.as_ptr().add(r0 * k),
                    1,
                    k as isize,
                    0.0,
                    c.as_mut_ptr().add(r0 * n + r0),
                    n as isize,
                    1,
                )
            };
        }
        println!("blocks32 tri {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        for r0 in (0..m).step_by(256) {
            unsafe {
                matrixmultiply::sgemm(
                    256,
                    k,
                    n - r0,
                    1.0,
                    a.as_ptr().add(r0 * k),
                    k as isize,
                    1,
                    a.as_ptr().add(r0 * k),
                    1,
                    k as isize,
                    0.0,
                    c.as_mut_ptr().add(r0 * n + r0),
                    n as isize,
                    1,
                )
            };
        }
        println!("blocks256 tri {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
}
