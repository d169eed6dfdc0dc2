//! One small case of every semantics on the GPU, for compute-sanitizer (memcheck, racecheck) in
//! tests/gpu/engine_check.sh. Needs `--features cuda` and a GPU.

#[cfg(feature = "cuda")]
fn main() {
    use cudarc::driver::{CudaContext, DevicePtr};
    use ranked_list_loss::cuda::{compute_gpu, l2_forward_gpu};
    use ranked_list_loss::{GpuL2, GpuLoss};
    use ranked_list_loss::{Params, Semantics};
    let s = CudaContext::new(0).expect("a CUDA device").default_stream();
    let (n, d) = (70usize, 20usize);
    let x: Vec<f32> = (0..n * d)
        .map(|k| ((k * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.4)
        .collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 9) as f32).collect();
    let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
    let (gd, sd) = (
        s.alloc_zeros::<f32>(n * d).unwrap(),
        s.alloc_zeros::<f32>(n * 4).unwrap(),
    );
    let p = |v: &cudarc::driver::CudaSlice<f32>| v.device_ptr(&s).0 as usize;
    for semantics in [Semantics::Paper, Semantics::OfficialV2020, Semantics::OfficialV2019] {
        for query_only in [false, true] {
            let params = Params {
                semantics,
                query_only,
                t_p: 1.0,
                ..Params::default()
            };
            let args = GpuLoss {
                x: p(&xd),
                labels: p(&yd),
                n,
                d,
                grad: p(&gd),
                stats: p(&sd),
                stream: 0,
                device: 0,
            };
            // SAFETY: the device buffers allocated above, of the sizes in `args`.
            let loss = unsafe { compute_gpu::<f32>(&params, &args, 1.0) }.unwrap();
            println!("{semantics:?} query_only={query_only}: loss {loss}");
        }
    }
    let (yn, nn) = (s.alloc_zeros::<f32>(n * d).unwrap(), s.alloc_zeros::<f32>(n).unwrap());
    let l2 = GpuL2 {
        x: p(&xd),
        y: p(&yn),
        norms: p(&nn),
        dy: 0,
        dx: 0,
        n,
        d,
        stream: 0,
        device: 0,
    };
    // SAFETY: the device buffers allocated above, of the sizes in `l2`.
    unsafe { l2_forward_gpu::<f32>(&l2) }.unwrap();
    println!("l2 normalisation ok");
}

#[cfg(not(feature = "cuda"))]
fn main() {
    eprintln!("gpu_small needs --features cuda");
    std::process::exit(2);
}
