//! The CUDA path against the CPU path: every semantics and option, f32 and f64, P×K and irregular batches, sparse
//! and dense sets, close pairs, L2 normalisation, the error paths. On a real GPU through tests/gpu/engine_check.sh;
//! in every `make test` against the kernel emulation (`make test-cuda-emu`: the kernels of cuda/ compiled for the
//! CPU behind an emulated libcuda.so, docs/gpu.md), where the two largest batches are scaled down (`large`) so that
//! the suite takes minutes; every assertion is the same on both.
#![cfg(feature = "cuda")]

mod common;
use common::*;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr};
use ranked_list_loss::cuda::{
    compute_gpu, compute_gpu_half, compute_gpu_weighted, convert_gpu, l2_backward_gpu, l2_forward_gpu, Direction,
    GpuHalf, GpuReal, Labels,
};
use ranked_list_loss::normalize::{l2_backward, l2_forward};
use ranked_list_loss::{compute, Batch, ErrorKind, GpuL2, GpuLoss, Params, Real};
use std::sync::Arc;

fn stream() -> Arc<CudaStream> {
    CudaContext::new(0).expect("a CUDA device").default_stream()
}

/// Whether device 0 is the kernel emulation (tests/cuda_emu) rather than a GPU.
fn emulated() -> bool {
    let name = CudaContext::new(0).expect("a CUDA device").name().unwrap();
    name.contains("emulation")
}

/// (n, d) of a large batch: as given on a GPU, `emu` under the kernel emulation (said on stdout).
fn large(gpu: (usize, usize), emu: (usize, usize)) -> (usize, usize) {
    let shape = if emulated() { emu } else { gpu };
    println!(
        "batch {}x{} ({})",
        shape.0,
        shape.1,
        if emulated() { "kernel emulation" } else { "GPU" }
    );
    shape
}

fn ptr<T>(s: &Arc<CudaStream>, v: &CudaSlice<T>) -> usize {
    let (p, _sync) = v.device_ptr(s);
    p as usize
}

/// `compute_gpu` on arguments a test made.
fn try_gpu(p: &Params, a: &GpuLoss) -> ranked_list_loss::Result<f32> {
    // SAFETY: every address in `a` is a buffer of the calling test of the sizes in `a`, or a bad value (0, a wrong
    // size or device) that the host-side checks refuse before the device is touched.
    unsafe { compute_gpu::<f32>(p, a, 1.0) }
}

/// (loss, grad, stats) on the GPU.
fn gpu<T: GpuReal>(
    s: &Arc<CudaStream>,
    p: &Params,
    x: &[T],
    y: &[T],
    n: usize,
    d: usize,
    lw: T,
) -> (T, Vec<T>, Vec<T>) {
    let (xd, yd) = (s.clone_htod(x).unwrap(), s.clone_htod(y).unwrap());
    let gd = s.alloc_zeros::<T>(n * d).unwrap();
    let sd = s.alloc_zeros::<T>(n * 4).unwrap();
    let args = GpuLoss {
        x: ptr(s, &xd),
        labels: ptr(s, &yd),
        n,
        d,
        grad: ptr(s, &gd),
        stats: ptr(s, &sd),
        stream: s.cu_stream() as usize,
        device: 0,
    };
    // SAFETY: the buffers uploaded and allocated above, of the sizes in `args`.
    let loss = unsafe { compute_gpu::<T>(p, &args, lw) }.unwrap();
    (loss, s.clone_dtoh(&gd).unwrap(), s.clone_dtoh(&sd).unwrap())
}

fn cpu<T: Real>(p: &Params, x: &[T], y: &[T], n: usize, d: usize, lw: T) -> (T, Vec<T>, Vec<T>) {
    let mut g = vec![T::zero(); n * d];
    let mut st = vec![T::zero(); n * 4];
    let loss = compute(p, Batch { x, labels: y, n, d }, lw, Some(&mut g), Some(&mut st)).unwrap();
    (loss, g, st)
}

fn batch(seed: u64, n: usize, d: usize, radius: f64, irregular: bool) -> Data {
    let mut r = rng(seed);
    let mut data = if irregular {
        irregular_batch(&mut r, n, 7, d, 1.0)
    } else {
        pk_batch(&mut r, n / 3, 3, d, 1.0)
    };
    for row in data.x.chunks_exact_mut(d) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v *= radius / norm);
    }
    data
}

fn to<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::of(x)).collect()
}

fn rel<T: Real>(a: &[T], b: &[T]) -> f64 {
    let scale = b.iter().fold(1e-30f64, |m, v| m.max(v.f64().abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.f64() - y.f64()).abs())
        .fold(0.0, f64::max)
        / scale
}

fn agree<T: GpuReal>(tol: f64) {
    let s = stream();
    let shapes = [
        (60, 32, 1.0, false),
        (180, 128, 1.0, false),
        (180, 128, 0.5, false),
        (301, 64, 0.7, true),
    ];
    for (k, &(n, d, radius, irregular)) in shapes.iter().enumerate() {
        let data = batch(k as u64, n, d, radius, irregular);
        let (x, y) = (to::<T>(&data.x), to::<T>(&data.labels));
        for p in variants() {
            let (lc, gc, sc) = cpu(&p, &x, &y, n, d, T::of(0.5));
            let (lg, gg, sg) = gpu(&s, &p, &x, &y, n, d, T::of(0.5));
            let le = (lg.f64() - lc.f64()).abs() / lc.f64().abs().max(1e-30);
            assert!(le < tol, "{} {n}x{d} r{radius} {p:?}: loss gpu {lg} cpu {lc}", T::NAME);
            let ge = rel(&gg, &gc);
            assert!(
                ge < tol,
                "{} {n}x{d} r{radius} {p:?}: gradient relative error {ge}",
                T::NAME
            );
            let counts_gpu: Vec<f64> = sg.chunks(4).flat_map(|r| [r[2].f64(), r[3].f64()]).collect();
            let counts_cpu: Vec<f64> = sc.chunks(4).flat_map(|r| [r[2].f64(), r[3].f64()]).collect();
            assert_eq!(counts_gpu, counts_cpu, "{} {p:?}: set sizes", T::NAME);
        }
    }
}

#[test]
fn gpu_matches_cpu_f32() {
    agree::<f32>(1e-5);
}

#[test]
fn gpu_matches_cpu_f64() {
    agree::<f64>(1e-12);
}

#[test]
fn gpu_matches_cpu_at_1024x512() {
    let s = stream();
    let (n, d) = large((1024, 512), (1024, 64));
    let data = batch(9, n, d, 1.0, true);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    for p in variants() {
        let (lc, gc, _) = cpu(&p, &x, &y, n, d, 1.0);
        let (lg, gg, _) = gpu(&s, &p, &x, &y, n, d, 1.0);
        assert!((lg - lc).abs() <= 1e-5 * lc.abs().max(1e-30), "{p:?}: {lg} vs {lc}");
        assert!(rel(&gg, &gc) < 1e-5, "{p:?}: {}", rel(&gg, &gc));
    }
}

#[test]
fn gpu_results_are_bit_identical_run_to_run() {
    let s = stream();
    let (n, d) = large((600, 96), (300, 32));
    let data = batch(3, n, d, 0.6, true);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    for p in variants() {
        let a = gpu(&s, &p, &x, &y, n, d, 1.0);
        let b = gpu(&s, &p, &x, &y, n, d, 1.0);
        assert_eq!(a.0.to_bits(), b.0.to_bits());
        assert!(a.1.iter().zip(&b.1).all(|(u, v)| u.to_bits() == v.to_bits()), "{p:?}");
    }
}

#[test]
fn gpu_works_on_a_created_stream() {
    let ctx = CudaContext::new(0).unwrap();
    let s = ctx.new_stream().unwrap();
    let data = batch(5, 90, 16, 0.8, false);
    let (x, y) = (to::<f64>(&data.x), to::<f64>(&data.labels));
    let p = Params::default();
    let (lc, gc, _) = cpu(&p, &x, &y, 90, 16, 1.0);
    let (lg, gg, _) = gpu(&s, &p, &x, &y, 90, 16, 1.0);
    assert!((lg - lc).abs() < 1e-12 && rel(&gg, &gc) < 1e-12);
}

#[test]
fn gpu_rejects_bad_input_with_errors() {
    let s = stream();
    let x = s.clone_htod(&[0.5f32, f32::NAN, 0.1, 0.2]).unwrap();
    let y = s.clone_htod(&[0.0f32, 1.0]).unwrap();
    let base = GpuLoss {
        x: ptr(&s, &x),
        labels: ptr(&s, &y),
        n: 2,
        d: 2,
        grad: 0,
        stats: 0,
        stream: 0,
        device: 0,
    };
    let p = Params::default();
    let e = try_gpu(&p, &base).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NonFinite, "x[0][1] = NaN is not finite")
    );
    // The labels' first non-finite value, named with its value as on the CPU.
    let finite_x = s.clone_htod(&[0.5f32, 0.3, 0.1, 0.2]).unwrap();
    let bad_y = s.clone_htod(&[0.0f32, f32::NEG_INFINITY]).unwrap();
    let e = try_gpu(
        &p,
        &GpuLoss {
            x: ptr(&s, &finite_x),
            labels: ptr(&s, &bad_y),
            ..base
        },
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NonFinite, "labels[1] = -inf is not finite")
    );
    let e = try_gpu(&p, &GpuLoss { x: 0, ..base }).unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NullPointer, "x is NULL"));
    let e = try_gpu(&p, &GpuLoss { n: 0, ..base }).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size);
    let e = try_gpu(&p, &GpuLoss { device: 57, ..base }).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Device, "{e}");
    let e = try_gpu(&Params { margin: -1.0, ..p }, &base).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parameter);
}

/// A batch whose N×N matrices exceed the device's memory (2^18 rows: 256 GiB in f32, more than any GPU has, and
/// more than the emulation's 8 GiB) is a Size error naming the buffer, and the device works afterwards.
#[test]
fn gpu_out_of_memory_is_a_size_error() {
    let s = stream();
    let n = 1usize << 18;
    let x = s.clone_htod(&vec![0.5f32; n]).unwrap();
    let y = s
        .clone_htod(&(0..n).map(|i| (i % 7) as f32).collect::<Vec<_>>())
        .unwrap();
    let args = GpuLoss {
        x: ptr(&s, &x),
        labels: ptr(&s, &y),
        n,
        d: 1,
        grad: 0,
        stats: 0,
        stream: 0,
        device: 0,
    };
    let e = try_gpu(&Params::default(), &args).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size, "{e}");
    assert!(e.message.contains("device"), "{e}");
    let data = batch(6, 30, 8, 1.0, false);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    let (lc, _, _) = cpu(&Params::default(), &x, &y, 30, 8, 1.0);
    let (lg, _, _) = gpu(&s, &Params::default(), &x, &y, 30, 8, 1.0);
    assert!((lg - lc).abs() <= 1e-5 * lc.abs());
}

/// y = x/‖x‖ and its backward on the device against the CPU's `normalize`, a zero row included.
fn l2_agree<T: GpuReal>(tol_y: f64, tol_dx: f64) {
    let s = stream();
    let mut r = rng(4);
    let (n, d) = (37, 300);
    let mut x: Vec<f64> = (0..n * d).map(|_| rand::Rng::gen_range(&mut r, -2.0..2.0)).collect();
    x[3 * d..4 * d].iter_mut().for_each(|v| *v = 0.0); // a zero row
    let dy: Vec<f64> = (0..n * d).map(|_| rand::Rng::gen_range(&mut r, -1.0..1.0)).collect();
    let (x, dy) = (to::<T>(&x), to::<T>(&dy));
    let (mut y, mut norms, mut dx) = (vec![T::zero(); n * d], vec![T::zero(); n], vec![T::zero(); n * d]);
    l2_forward(&x, n, d, &mut y, &mut norms).unwrap();
    l2_backward(&y, &dy, &norms, n, d, &mut dx).unwrap();
    let (xd, dyd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&dy).unwrap());
    let (yd, nd, dxd) = (
        s.alloc_zeros::<T>(n * d).unwrap(),
        s.alloc_zeros::<T>(n).unwrap(),
        s.alloc_zeros::<T>(n * d).unwrap(),
    );
    let args = GpuL2 {
        x: ptr(&s, &xd),
        y: ptr(&s, &yd),
        norms: ptr(&s, &nd),
        dy: ptr(&s, &dyd),
        dx: ptr(&s, &dxd),
        n,
        d,
        stream: 0,
        device: 0,
    };
    // SAFETY: the buffers uploaded and allocated above, of the sizes in `args`.
    unsafe {
        l2_forward_gpu::<T>(&args).unwrap();
        l2_backward_gpu::<T>(&args).unwrap();
    }
    let ey = rel(&s.clone_dtoh(&yd).unwrap(), &y);
    let edx = rel(&s.clone_dtoh(&dxd).unwrap(), &dx);
    assert!(ey < tol_y && edx < tol_dx, "{}: y {ey}, dx {edx}", T::NAME);
}

#[test]
fn gpu_l2_normalisation_matches_cpu() {
    l2_agree::<f64>(1e-13, 1e-12);
    l2_agree::<f32>(1e-6, 1e-5);
}

/// Rows without features are the CPU's Size error on the device too; an empty batch does nothing.
#[test]
fn gpu_l2_normalisation_checks_sizes_as_the_cpu() {
    let args = GpuL2 {
        x: 1,
        y: 1,
        norms: 1,
        dy: 1,
        dx: 1,
        n: 3,
        d: 0,
        stream: 0,
        device: 0,
    };
    // SAFETY: every call below is refused by the size checks, or has no rows, before any device access.
    let e = unsafe { l2_forward_gpu::<f32>(&args) }.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Size, "d = 0: the features are empty")
    );
    assert_eq!(
        unsafe { l2_backward_gpu::<f64>(&args) }.unwrap_err().kind,
        ErrorKind::Size
    );
    assert!(unsafe { l2_forward_gpu::<f32>(&GpuL2 { n: 0, d: 4, ..args }) }.is_ok());
}

#[test]
fn gpu_matches_cpu_at_8192x128() {
    let s = stream();
    let (n, d) = large((8192, 128), (1028, 16)); // n − 2 a multiple of 3, as 8192
                                                 // Two regimes: K = 3 per class (sparse sets, as the benchmark) and 7 large classes (dense positives).
    let sparse = {
        let mut b = batch(21, n - 2, d, 1.0, false);
        let extra = batch(22, 3, d, 1.0, false);
        b.x.extend_from_slice(&extra.x[..2 * d]);
        b.labels.extend([1e6, 1e6]);
        b.n = n;
        b
    };
    for data in [sparse, batch(21, n, d, 1.0, true)] {
        let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
        for p in variants() {
            ranked_list_loss::set_num_threads(1);
            let (lc1, gc1, _) = cpu(&p, &x, &y, n, d, 1.0);
            ranked_list_loss::set_num_threads(0);
            let (lc, gc, sc) = cpu(&p, &x, &y, n, d, 1.0);
            assert_eq!(lc1.to_bits(), lc.to_bits(), "CPU: thread count changed the loss");
            assert!(
                gc1.iter().zip(&gc).all(|(a, b)| a.to_bits() == b.to_bits()),
                "CPU: thread count changed the gradient"
            );
            let (lg, gg, sg) = gpu(&s, &p, &x, &y, n, d, 1.0);
            let e = rel(&gg, &gc);
            if e >= 1e-5 {
                // Which rows disagree, and what their lists look like, to say where it goes wrong.
                let scale = gc.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
                let bad: Vec<usize> = (0..n)
                    .filter(|&i| (0..d).any(|k| (gg[i * d + k] - gc[i * d + k]).abs() > 1e-5 * scale))
                    .collect();
                let show: Vec<String> = bad
                    .iter()
                    .take(8)
                    .map(|&i| {
                        format!(
                            "row {i}: cpu sets {:?} gpu sets {:?}",
                            &sc[4 * i + 2..4 * i + 4],
                            &sg[4 * i + 2..4 * i + 4]
                        )
                    })
                    .collect();
                panic!("{p:?}: gradient error {e}, {} bad rows: {}", bad.len(), show.join("; "));
            }
            assert!((lg - lc).abs() <= 1e-5 * lc.abs(), "{p:?}: {lg} vs {lc}");
        }
    }
}

/// A batch from files (RLL_GPU_CASE=<prefix>: <prefix>.x, n·d f32 LE; <prefix>.y, n f32; <prefix>.shape, "n d"),
/// GPU against CPU with a per-row report: to reproduce a disagreement seen elsewhere (e.g. in bench/gpu_bench.py).
#[test]
fn gpu_matches_cpu_on_the_case_in_rll_gpu_case() {
    let Ok(prefix) = std::env::var("RLL_GPU_CASE") else {
        println!("RLL_GPU_CASE not set: nothing to compare");
        return;
    };
    let read = |ext: &str| -> Vec<f32> {
        std::fs::read(format!("{prefix}.{ext}"))
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let shape = std::fs::read_to_string(format!("{prefix}.shape")).unwrap();
    let dims: Vec<usize> = shape.split_whitespace().map(|v| v.parse().unwrap()).collect();
    let (n, d) = (dims[0], dims[1]);
    let (x, y) = (read("x"), read("y"));
    let s = stream();
    for p in variants() {
        let (lc, gc, sc) = cpu(&p, &x, &y, n, d, 1.0);
        let (lg, gg, sg) = gpu(&s, &p, &x, &y, n, d, 1.0);
        let scale = gc.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
        let mut rows: Vec<(f32, usize)> = (0..n)
            .map(|i| {
                (
                    (0..d)
                        .map(|k| (gg[i * d + k] - gc[i * d + k]).abs())
                        .fold(0f32, f32::max)
                        / scale,
                    i,
                )
            })
            .collect();
        rows.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        println!("{p:?}: loss gpu {lg} cpu {lc}; worst rows:");
        for &(e, i) in rows.iter().take(4) {
            println!(
                "  row {i}: error {e:.2e}; cpu stats {:?}; gpu stats {:?}",
                &sc[4 * i..4 * i + 4],
                &sg[4 * i..4 * i + 4]
            );
        }
    }
}

/// Close pairs on the GPU: the batches of tests/precision.rs (duplicates, near-duplicates at 1e-3..1e-6 of the
/// norm, 2-D and 3-D clumps), float32 on the device against the float64 pair-by-pair references, within 1e-5
/// relative on the value and the gradient, for every semantics.
#[test]
fn gpu_close_pairs_match_the_f64_reference() {
    let s = stream();
    check_close_pairs("", |p, x, y, n, d| {
        let (v, g, _) = gpu::<f32>(&s, p, x, y, n, d, 1.0);
        (v, g)
    });
}

/// The conversion kernels (cuda/convert.cu) against the `half` crate: every float16 and bfloat16 pattern widened,
/// and float32 values narrowed (ties, subnormals, the edges of each range, ±∞) as `Half::narrow` does: nearest
/// even, saturated at ±MAX.
#[test]
fn gpu_half_conversions_match_the_half_crate() {
    fn check<H: GpuHalf>() {
        let s = stream();
        let patterns: Vec<u16> = (0..=u16::MAX).collect();
        let mut values: Vec<f32> = vec![0.0, 1.0, 65504.0, 65519.0, 65520.0, 1e30, f32::MAX, f32::INFINITY];
        values.extend((1..=64).map(|k| 1.0 + k as f32 / 4096.0)); // ties of float16 and bfloat16 near 1
        values.extend((0..2000).map(|k| (k as f32 * 0.37).sin() * 10f32.powi(k % 12 - 8)));
        values.extend((0..200).map(|k| k as f32 * 2f32.powi(-25))); // float16 subnormals and their ties
        let negated: Vec<f32> = values.iter().map(|v| -v).collect();
        values.extend(negated);
        let (pd, vd) = (s.clone_htod(&patterns).unwrap(), s.clone_htod(&values).unwrap());
        let wide = s.alloc_zeros::<f32>(patterns.len()).unwrap();
        let narrow = s.alloc_zeros::<u16>(values.len()).unwrap();
        // SAFETY: buffers of these lengths on device 0, allocated above.
        unsafe {
            convert_gpu::<H>(ptr(&s, &pd), ptr(&s, &wide), patterns.len(), Direction::Widen, 0).unwrap();
            convert_gpu::<H>(ptr(&s, &vd), ptr(&s, &narrow), values.len(), Direction::Narrow, 0).unwrap();
        }
        let (wide, narrow) = (s.clone_dtoh(&wide).unwrap(), s.clone_dtoh(&narrow).unwrap());
        for (&p, w) in patterns.iter().zip(&wide) {
            let want = H::of_bits(p).widen();
            assert!(
                want.to_bits() == w.to_bits() || (want.is_nan() && w.is_nan()),
                "{} {p:#06x}: {w} vs {want}",
                H::NAME
            );
        }
        for (&v, &h) in values.iter().zip(&narrow) {
            assert_eq!(h, H::narrow(v).bits(), "{} {v:e}", H::NAME);
        }
    }
    check::<half::f16>();
    check::<half::bf16>();
}

/// Half-precision batches on the device against the host's `compute_half`: the batches of tests/half.rs (a
/// negative at d ≈ 0.02, T_n up to 100), every semantics, float16 and bfloat16, labels as float32 ids and in the
/// features' format; the loss within 1e-5 and the gradient within two units in the last place of the format (the
/// float32 gradients agree within 1e-5 and may round to neighbouring half values).
#[test]
fn gpu_half_matches_cpu() {
    fn check<H: GpuHalf>() {
        let s = stream();
        let mut r = rng(8);
        let mut data = sphere(&mut r, 8, 6, 32);
        for c in 0..8 {
            near_copy(&mut r, &mut data, c * 6, ((c + 1) % 8) * 6 + 3, 0.02);
        }
        let (n, d) = (data.n, data.d);
        let xh: Vec<H> = data.x.iter().map(|&v| H::narrow(v as f32)).collect();
        let labels: Vec<f32> = data.labels.iter().map(|&v| v as f32).collect();
        let bits = |v: &[H]| -> Vec<u16> { v.iter().map(|h| h.bits()).collect() };
        let xd = s.clone_htod(&bits(&xh)).unwrap();
        let labels_h: Vec<H> = labels.iter().map(|&v| H::narrow(v)).collect();
        let (ld, lhd) = (s.clone_htod(&labels).unwrap(), s.clone_htod(&bits(&labels_h)).unwrap());
        let gd = s.alloc_zeros::<u16>(n * d).unwrap();
        let ulp = 2f32.powi(1 - H::DIGITS);
        for t_n in [10.0f32, 100.0] {
            for base in variants() {
                let p = Params { t_n, ..base };
                let mut gc = vec![H::narrow(0.0); n * d];
                let lc = ranked_list_loss::compute_half::<H>(&p, &xh, &labels, n, d, 1.0, Some(&mut gc)).unwrap();
                let scale = gc.iter().fold(0f32, |m, h| m.max(h.widen().abs()));
                for (labels_ptr, kind) in [(ptr(&s, &ld), Labels::F32), (ptr(&s, &lhd), Labels::SameAsX)] {
                    let args = GpuLoss {
                        x: ptr(&s, &xd),
                        labels: labels_ptr,
                        n,
                        d,
                        grad: ptr(&s, &gd),
                        stats: 0,
                        stream: 0,
                        device: 0,
                    };
                    // SAFETY: the buffers uploaded above, of the sizes in `args`.
                    let lg = unsafe { compute_gpu_half::<H>(&p, &args, kind, 1.0) }.unwrap();
                    assert!(
                        lg.is_finite() && (lg - lc).abs() <= 1e-5 * lc.abs(),
                        "{p:?} {kind:?}: {lg} vs {lc}"
                    );
                    for (k, (&g, c)) in s.clone_dtoh(&gd).unwrap().iter().zip(&gc).enumerate() {
                        let (a, b) = (H::of_bits(g).widen(), c.widen());
                        let tol = 2.0 * ulp * b.abs().max(1e-5 * scale);
                        assert!((a - b).abs() <= tol, "{} {p:?} {kind:?} [{k}]: {a} vs {b}", H::NAME);
                    }
                }
            }
        }
    }
    check::<half::f16>();
    check::<half::bf16>();
}

/// Per-query weights on the device against the host's `compute_weighted`, PAPER variants, f32 and f64.
fn weighted_agree<T: GpuReal>(tol: f64, shapes: &[(usize, usize, bool)]) {
    let s = stream();
    for (k, &(n, d, irregular)) in shapes.iter().enumerate() {
        let data = batch(40 + k as u64, n, d, 0.8, irregular);
        let (x, y) = (to::<T>(&data.x), to::<T>(&data.labels));
        let mut r = rng(50 + k as u64);
        let u: Vec<T> = (0..n).map(|_| T::of(rand::Rng::gen_range(&mut r, -1.0..2.0))).collect();
        for p in variants()
            .into_iter()
            .filter(|p| p.semantics == ranked_list_loss::Semantics::Paper)
        {
            let mut gc = vec![T::zero(); n * d];
            let batch = Batch {
                x: &x,
                labels: &y,
                n,
                d,
            };
            let lc = ranked_list_loss::compute_weighted(&p, batch, &u, T::one(), Some(&mut gc), None).unwrap();
            let (xd, yd, ud) = (
                s.clone_htod(&x).unwrap(),
                s.clone_htod(&y).unwrap(),
                s.clone_htod(&u).unwrap(),
            );
            let gd = s.alloc_zeros::<T>(n * d).unwrap();
            let args = GpuLoss {
                x: ptr(&s, &xd),
                labels: ptr(&s, &yd),
                n,
                d,
                grad: ptr(&s, &gd),
                stats: 0,
                stream: s.cu_stream() as usize,
                device: 0,
            };
            // SAFETY: the buffers uploaded and allocated above, of the sizes in `args`; n weights at `ud`.
            let lg = unsafe { compute_gpu_weighted::<T>(&p, &args, ptr(&s, &ud), T::one()) }.unwrap();
            let le = (lg.f64() - lc.f64()).abs() / lc.f64().abs().max(1e-30);
            assert!(le < tol, "{} {n}x{d} {p:?}: weighted loss gpu {lg} cpu {lc}", T::NAME);
            let ge = rel(&s.clone_dtoh(&gd).unwrap(), &gc);
            assert!(
                ge < tol,
                "{} {n}x{d} {p:?}: weighted gradient relative error {ge}",
                T::NAME
            );
        }
    }
}

#[test]
fn gpu_per_query_weights_match_cpu() {
    weighted_agree::<f32>(1e-5, &[(97, 48, true)]);
    weighted_agree::<f64>(1e-11, &[(60, 32, false)]);
}

#[test]
fn gpu_calls_leave_the_callers_current_context() {
    use cudarc::driver::result::ctx::{get_current, set_current};
    let s = stream();
    let data = batch(60, 12, 4, 0.8, false);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
    let args = GpuLoss {
        x: ptr(&s, &xd),
        labels: ptr(&s, &yd),
        n: 12,
        d: 4,
        grad: 0,
        stats: 0,
        stream: s.cu_stream() as usize,
        device: 0,
    };
    let engine = get_current().unwrap();
    assert!(engine.is_some(), "the test's own stream made the context current");
    // A caller with no current context has none after the call (the engine's was left current before).
    // SAFETY: null (no context) is always a valid current context.
    unsafe { set_current(std::ptr::null_mut()) }.unwrap();
    try_gpu(&Params::default(), &args).unwrap();
    assert_eq!(get_current().unwrap(), None);
    // A caller whose context is current keeps it.
    // SAFETY: the context the test's stream made current, alive in this process.
    unsafe { set_current(engine.unwrap()) }.unwrap();
    try_gpu(&Params::default(), &args).unwrap();
    assert_eq!(get_current().unwrap(), engine);
}

/// This thread's counts of host synchronisations, device-to-host copies, allocations and frees so far, from the
/// kernel emulation's `rll_emu_counts` (None on a real driver, which counts nothing for us).
fn emu_counts() -> Option<[u64; 4]> {
    type Counts = unsafe extern "C" fn(*mut u64);
    for name in [c"libcuda.so", c"libcuda.so.1"] {
        // SAFETY: RTLD_NOLOAD only finds a library cudarc already loaded; the symbol, when there, has the type of
        // `rll_emu_counts` in tests/cuda_emu/driver.cpp and writes 4 values.
        unsafe {
            let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
            if h.is_null() {
                continue;
            }
            let f = libc::dlsym(h, c"rll_emu_counts".as_ptr());
            if f.is_null() {
                return None;
            }
            let f: Counts = std::mem::transmute(f);
            let mut out = [0u64; 4];
            f(out.as_mut_ptr());
            return Some(out);
        }
    }
    None
}

/// One element type of the C ABI's device calls: its host call and its stream-ordered call.
trait AbiType: Copy + PartialEq + std::fmt::Debug + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits {
    /// The loss's type (the element type, or f32 for 16-bit inputs).
    type Loss: Real + cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits;
    const NAME: &'static str;
    fn of(v: f64) -> Self;
    fn is_nan(self) -> bool;
    fn bytes(p: &capi::rll_params, n: i64, d: i64) -> usize;
    /// # Safety
    /// The pointers address the sizes `rll_loss_gpu_f32` documents on device 0.
    unsafe fn sync(p: &capi::rll_params, x: usize, y: usize, n: i64, d: i64, loss: &mut Self::Loss, grad: usize)
        -> i32;
    /// # Safety
    /// As `rll_loss_gpu_async_f32` on device 0.
    unsafe fn run_async(
        p: &capi::rll_params,
        x: usize,
        y: usize,
        n: i64,
        d: i64,
        out: &ranked_list_loss::cuda::GpuOutputs,
        grad: usize,
    ) -> i32;
}

macro_rules! abi_type {
    ($t:ty, $loss:ty, $name:expr, $of:expr, $nan:expr, $bytes:ident, $sync:ident, $async:ident) => {
        impl AbiType for $t {
            type Loss = $loss;
            const NAME: &'static str = $name;
            fn of(v: f64) -> Self {
                $of(v)
            }
            fn is_nan(self) -> bool {
                $nan(self)
            }
            fn bytes(p: &capi::rll_params, n: i64, d: i64) -> usize {
                // SAFETY: a valid rll_params.
                unsafe { capi::$bytes(p, n, d) }
            }
            unsafe fn sync(
                p: &capi::rll_params,
                x: usize,
                y: usize,
                n: i64,
                d: i64,
                loss: &mut $loss,
                grad: usize,
            ) -> i32 {
                // SAFETY: the caller's contract.
                unsafe {
                    capi::$sync(
                        p,
                        x as _,
                        y as _,
                        n,
                        d,
                        1.0 as _,
                        loss,
                        grad as _,
                        std::ptr::null_mut(),
                        0,
                    )
                }
            }
            unsafe fn run_async(
                p: &capi::rll_params,
                x: usize,
                y: usize,
                n: i64,
                d: i64,
                o: &ranked_list_loss::cuda::GpuOutputs,
                grad: usize,
            ) -> i32 {
                // SAFETY: the caller's contract.
                unsafe {
                    capi::$async(
                        p,
                        x as _,
                        y as _,
                        n,
                        d,
                        1.0 as _,
                        o.loss as _,
                        grad as _,
                        o.status as _,
                        o.workspace as _,
                        o.workspace_bytes,
                        std::ptr::null_mut(),
                        0,
                    )
                }
            }
        }
    };
}
use ranked_list_loss::capi;
abi_type!(
    f32,
    f32,
    "f32",
    |v| v as f32,
    f32::is_nan,
    rll_gpu_workspace_bytes_f32,
    rll_loss_gpu_f32,
    rll_loss_gpu_async_f32
);
abi_type!(
    f64,
    f64,
    "f64",
    |v| v,
    f64::is_nan,
    rll_gpu_workspace_bytes_f64,
    rll_loss_gpu_f64,
    rll_loss_gpu_async_f64
);
abi_type!(
    u16,
    f32,
    "f16",
    |v| half::f16::from_f64(v).to_bits(),
    |b| half::f16::from_bits(b).is_nan(),
    rll_gpu_workspace_bytes_f16,
    rll_loss_gpu_f16,
    rll_loss_gpu_async_f16
);

/// bfloat16 bit patterns (a second 16-bit type, so that `AbiType` can tell it from binary16).
#[derive(Clone, Copy, PartialEq, Debug, Default)]
#[repr(transparent)]
struct Bf16(u16);
// SAFETY: a plain 16-bit value, as u16.
unsafe impl cudarc::driver::DeviceRepr for Bf16 {}
// SAFETY: all-zero bits are bfloat16's +0.
unsafe impl cudarc::driver::ValidAsZeroBits for Bf16 {}
abi_type!(
    Bf16,
    f32,
    "bf16",
    |v| Bf16(half::bf16::from_f64(v).to_bits()),
    |b: Bf16| half::bf16::from_bits(b.0).is_nan(),
    rll_gpu_workspace_bytes_bf16,
    rll_loss_gpu_bf16,
    rll_loss_gpu_async_bf16
);

/// Per call of `rll_loss_gpu_async_*` (forward and backward): no synchronisation, no device-to-host copy, no
/// allocation or free (counted by the kernel emulation), and the host call's value and gradient, bit for bit.
fn async_enqueues_only<T: AbiType>(shapes: &[(usize, usize)], params: &[Params]) {
    let s = stream();
    for (k, &(n, d)) in shapes.iter().enumerate() {
        let data = batch(70 + k as u64, n.max(3), d, 0.9, true);
        let x: Vec<T> = data.x[..n * d].iter().map(|&v| T::of(v)).collect();
        let y: Vec<T> = data.labels[..n].iter().map(|&v| T::of(v)).collect();
        let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
        let (g_sync, g_async) = (s.alloc_zeros::<T>(n * d).unwrap(), s.alloc_zeros::<T>(n * d).unwrap());
        let loss_d = s.alloc_zeros::<T::Loss>(1).unwrap();
        let status_d = s.clone_htod(&[7i64]).unwrap();
        for p in params {
            let cp = capi::rll_params::from(p);
            let bytes = T::bytes(&cp, n as i64, d as i64);
            assert!(bytes > 0, "{} {p:?}", T::NAME);
            let ws = s.alloc_zeros::<u8>(bytes).unwrap();
            let out = ranked_list_loss::cuda::GpuOutputs {
                loss: ptr(&s, &loss_d),
                status: ptr(&s, &status_d),
                workspace: ptr(&s, &ws),
                workspace_bytes: bytes,
            };
            let (ni, di) = (n as i64, d as i64);
            let mut host_loss = <T::Loss as Real>::of(0.0);
            // SAFETY: the buffers above, of the sizes the calls read and write (the first call also loads the
            // kernels, which the counted call must not).
            assert_eq!(
                unsafe {
                    T::sync(
                        &cp,
                        ptr(&s, &xd),
                        ptr(&s, &yd),
                        ni,
                        di,
                        &mut host_loss,
                        ptr(&s, &g_sync),
                    )
                },
                0
            );
            let before = emu_counts();
            // SAFETY: as above; the workspace is `bytes` long.
            let rc = unsafe { T::run_async(&cp, ptr(&s, &xd), ptr(&s, &yd), ni, di, &out, ptr(&s, &g_async)) };
            let after = emu_counts();
            assert_eq!(rc, 0, "{} {n}x{d} {p:?}", T::NAME);
            if let (Some(b), Some(a)) = (before, after) {
                let delta: Vec<u64> = a.iter().zip(&b).map(|(a, b)| a - b).collect();
                assert_eq!(
                    delta,
                    [0, 0, 0, 0],
                    "{} {n}x{d} {p:?}: syncs, D2H copies, allocations, frees",
                    T::NAME
                );
            }
            let loss = s.clone_dtoh(&loss_d).unwrap()[0];
            assert_eq!(
                loss.f64().to_bits(),
                host_loss.f64().to_bits(),
                "{} {n}x{d} {p:?}",
                T::NAME
            );
            assert_eq!(s.clone_dtoh(&status_d).unwrap(), [-1], "{} {n}x{d} {p:?}", T::NAME);
            assert_eq!(
                s.clone_dtoh(&g_async).unwrap(),
                s.clone_dtoh(&g_sync).unwrap(),
                "{} {n}x{d} {p:?}: gradient",
                T::NAME
            );
        }
    }
    if emu_counts().is_none() {
        println!(
            "{}: counts need the kernel emulation; values checked on this device",
            T::NAME
        );
    }
}

#[test]
fn gpu_async_calls_only_enqueue_and_match_the_host_call() {
    // Every variant at small n, each semantics at n = 130 and (spread over the types) at n = 1000: the emulation
    // runs one block per row, so its time grows with n times the variants.
    let small = [(1, 3), (2, 5), (7, 4), (33, 16)];
    let semantics: Vec<Params> = variants().into_iter().take(3).collect();
    let medium = [(130, 9)];
    async_enqueues_only::<f32>(&small, &variants());
    async_enqueues_only::<f64>(&small, &variants());
    async_enqueues_only::<u16>(&small, &variants());
    async_enqueues_only::<Bf16>(&small, &variants());
    async_enqueues_only::<f32>(&medium, &semantics);
    async_enqueues_only::<Bf16>(&medium, &semantics);
    let large = [large((1000, 64), (1000, 4))];
    async_enqueues_only::<f32>(&large, &semantics[..1]);
    async_enqueues_only::<f64>(&large, &semantics[1..2]);
    async_enqueues_only::<u16>(&large, &semantics[2..3]);
}

/// A planted non-finite value: its index in `*status` (the smallest, when there are two), a NaN loss and NaN in
/// every gradient value; the host call names it, as on the CPU.
fn async_reports_non_finite<T: AbiType>(bad: T) {
    let s = stream();
    let (n, d) = (12usize, 5usize);
    let data = batch(90, n, d, 0.9, false);
    let clean_x: Vec<T> = data.x.iter().map(|&v| T::of(v)).collect();
    let clean_y: Vec<T> = data.labels.iter().map(|&v| T::of(v)).collect();
    let nd = n * d;
    // (planted x indices, planted label indices, the status expected)
    let cases: [(&[usize], &[usize], usize); 6] = [
        (&[0], &[], 0),
        (&[37], &[], 37),
        (&[nd - 1], &[], nd - 1),
        (&[44, 9], &[3], 9),
        (&[], &[5], nd + 5),
        (&[], &[11, 2], nd + 2),
    ];
    let cp = capi::rll_params::from(&Params::default());
    let bytes = T::bytes(&cp, n as i64, d as i64);
    let ws = s.alloc_zeros::<u8>(bytes).unwrap();
    let loss_d = s.alloc_zeros::<T::Loss>(1).unwrap();
    let status_d = s.alloc_zeros::<i64>(1).unwrap();
    let gd = s.alloc_zeros::<T>(nd).unwrap();
    for (xs, ys, expected) in cases {
        let (mut x, mut y) = (clean_x.clone(), clean_y.clone());
        xs.iter().for_each(|&k| x[k] = bad);
        ys.iter().for_each(|&i| y[i] = bad);
        let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
        let out = ranked_list_loss::cuda::GpuOutputs {
            loss: ptr(&s, &loss_d),
            status: ptr(&s, &status_d),
            workspace: ptr(&s, &ws),
            workspace_bytes: bytes,
        };
        // SAFETY: the buffers above, of the sizes the call reads and writes.
        let rc = unsafe { T::run_async(&cp, ptr(&s, &xd), ptr(&s, &yd), n as i64, d as i64, &out, ptr(&s, &gd)) };
        assert_eq!(rc, 0, "{}: the asynchronous call reports through status", T::NAME);
        assert_eq!(
            s.clone_dtoh(&status_d).unwrap(),
            [expected as i64],
            "{} {xs:?} {ys:?}",
            T::NAME
        );
        assert!(
            s.clone_dtoh(&loss_d).unwrap()[0].f64().is_nan(),
            "{} {xs:?} {ys:?}",
            T::NAME
        );
        assert!(
            s.clone_dtoh(&gd).unwrap().iter().all(|g| g.is_nan()),
            "{} {xs:?} {ys:?}",
            T::NAME
        );
        let mut loss = <T::Loss as Real>::of(0.0);
        // SAFETY: as above.
        let rc = unsafe {
            T::sync(
                &cp,
                ptr(&s, &xd),
                ptr(&s, &yd),
                n as i64,
                d as i64,
                &mut loss,
                ptr(&s, &gd),
            )
        };
        assert_eq!(rc, ErrorKind::NonFinite as i32, "{}", T::NAME);
        // SAFETY: the message of the call just made on this thread.
        let msg = unsafe { std::ffi::CStr::from_ptr(capi::rll_last_error()) }
            .to_str()
            .unwrap()
            .to_string();
        let named = if expected < nd {
            format!("x[{}][{}] = ", expected / d, expected % d)
        } else {
            format!("labels[{}] = ", expected - nd)
        };
        assert!(
            msg.starts_with(&named) && msg.ends_with("is not finite"),
            "{}: {msg}",
            T::NAME
        );
    }
}

#[test]
fn gpu_async_calls_report_non_finite_inputs_in_status() {
    async_reports_non_finite::<f32>(f32::NAN);
    async_reports_non_finite::<f32>(f32::INFINITY);
    async_reports_non_finite::<f64>(f64::NEG_INFINITY);
    async_reports_non_finite::<u16>(half::f16::NAN.to_bits());
    async_reports_non_finite::<Bf16>(Bf16(half::bf16::INFINITY.to_bits()));
}

/// The asynchronous call's argument errors come back at once: too small or no workspace, no loss pointer.
#[test]
fn gpu_async_calls_check_their_workspace_and_outputs() {
    let s = stream();
    let (n, d) = (6usize, 3usize);
    let data = batch(91, n, d, 0.9, false);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
    let p = Params::default();
    let bytes = ranked_list_loss::cuda::gpu_workspace_bytes::<f32>(&p, n, d).unwrap();
    let ws = s.alloc_zeros::<u8>(bytes).unwrap();
    let loss = s.alloc_zeros::<f32>(1).unwrap();
    let args = GpuLoss {
        x: ptr(&s, &xd),
        labels: ptr(&s, &yd),
        n,
        d,
        grad: 0,
        stats: 0,
        stream: 0,
        device: 0,
    };
    let out = ranked_list_loss::cuda::GpuOutputs {
        loss: ptr(&s, &loss),
        status: 0,
        workspace: ptr(&s, &ws),
        workspace_bytes: bytes,
    };
    let call = |o: &ranked_list_loss::cuda::GpuOutputs| {
        // SAFETY: the buffers above; a bad `o` is refused on the host before anything is enqueued.
        unsafe { ranked_list_loss::cuda::compute_gpu_async::<f32>(&p, &args, 1.0, o) }
    };
    let e = call(&ranked_list_loss::cuda::GpuOutputs {
        workspace_bytes: bytes / 2,
        ..out
    })
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size, "{e}");
    assert!(e.message.contains(&format!("need {bytes}")), "{e}");
    let e = call(&ranked_list_loss::cuda::GpuOutputs { workspace: 0, ..out }).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::NullPointer, "workspace is NULL")
    );
    let e = call(&ranked_list_loss::cuda::GpuOutputs { loss: 0, ..out }).unwrap_err();
    assert_eq!((e.kind, e.message.as_str()), (ErrorKind::NullPointer, "loss is NULL"));
    call(&out).unwrap();
    let (lc, _, _) = cpu(&p, &x, &y, n, d, 1.0);
    assert!((s.clone_dtoh(&loss).unwrap()[0] - lc).abs() <= 1e-6 * lc.abs());
    // An unaligned workspace works: the layout aligns itself.
    let offset = ranked_list_loss::cuda::GpuOutputs {
        workspace: out.workspace + 1,
        workspace_bytes: bytes - 1,
        ..out
    };
    // A workspace 1 byte short of `bytes` from an odd address still holds the layout (the slack covers it).
    call(&offset).unwrap();
    let cp = capi::rll_params::from(&Params { margin: -1.0, ..p });
    // SAFETY: a valid rll_params.
    assert_eq!(unsafe { capi::rll_gpu_workspace_bytes_f32(&cp, 6, 3) }, 0);
}

/// Queries against references on the device (the stacked batch [Q; R], the first rows the queries) against the host's
/// `compute_references`: with and without own indices, every PAPER option, f32 and f64; the stream-ordered call
/// makes no synchronisation, copy or allocation (under the emulation) and gives the synchronous call's bits.
fn references_agree<T: GpuReal>(tol: f64) {
    let s = stream();
    for (k, &(nq, nr, d)) in [(12usize, 40usize, 8usize), (1, 9, 3), (70, 150, 16)]
        .iter()
        .enumerate()
    {
        let data = batch(100 + k as u64, nq + nr, d, 0.8, true);
        let mut x = to::<T>(&data.x);
        let y = to::<T>(&data.labels);
        // Query i's copy sits among the references at own[i] (7 does not divide nr), with its label.
        let mut y = y;
        let own: Vec<i64> = (0..nq).map(|i| ((7 * i + 1) % nr) as i64).collect();
        for (i, &j) in own.iter().enumerate() {
            let j = nq + j as usize;
            let row: Vec<T> = x[i * d..(i + 1) * d].to_vec();
            x[j * d..(j + 1) * d].copy_from_slice(&row);
            y[j] = y[i];
        }
        let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
        let own_d = s.clone_htod(&own).unwrap();
        let gd = s.alloc_zeros::<T>(nq * d).unwrap();
        let rgd = s.alloc_zeros::<T>(nr * d).unwrap();
        let args = GpuLoss {
            x: ptr(&s, &xd),
            labels: ptr(&s, &yd),
            n: nq + nr,
            d,
            grad: ptr(&s, &gd),
            stats: 0,
            stream: s.cu_stream() as usize,
            device: 0,
        };
        for p in variants()
            .into_iter()
            .filter(|p| p.semantics == ranked_list_loss::Semantics::Paper)
        {
            for with_own in [true, false] {
                let (mut gc, mut rgc) = (vec![T::zero(); nq * d], vec![T::zero(); nr * d]);
                let queries = Batch {
                    x: &x[..nq * d],
                    labels: &y[..nq],
                    n: nq,
                    d,
                };
                let refs = ranked_list_loss::References {
                    x: &x[nq * d..],
                    labels: &y[nq..],
                    n: nr,
                    own: with_own.then_some(&own[..]),
                };
                let lc =
                    ranked_list_loss::compute_references(&p, queries, refs, T::one(), Some(&mut gc), Some(&mut rgc))
                        .unwrap();
                let own_addr = if with_own { ptr(&s, &own_d) } else { 0 };
                // SAFETY: the buffers above: n rows and labels, nq·d gradient, nq own indices.
                let ref_grad = ptr(&s, &rgd);
                let lg = unsafe {
                    ranked_list_loss::cuda::compute_gpu_references::<T>(&p, &args, nq, own_addr, ref_grad, T::one())
                }
                .unwrap();
                let le = (lg.f64() - lc.f64()).abs() / lc.f64().abs().max(1e-30);
                assert!(
                    le < tol,
                    "{} {nq}x{nr} {p:?} own {with_own}: loss gpu {lg} cpu {lc}",
                    T::NAME
                );
                let g_sync = s.clone_dtoh(&gd).unwrap();
                let ge = rel(&g_sync, &gc);
                assert!(ge < tol, "{} {nq}x{nr} {p:?} own {with_own}: gradient {ge}", T::NAME);
                let rg_sync = s.clone_dtoh(&rgd).unwrap();
                let re = rel(&rg_sync, &rgc);
                assert!(
                    re < tol,
                    "{} {nq}x{nr} {p:?} own {with_own}: references' gradient {re}",
                    T::NAME
                );
                // The stream-ordered call: nothing but launches, and the same bits.
                let bytes = ranked_list_loss::cuda::gpu_references_workspace_bytes::<T>(&p, nq + nr, d, nq).unwrap();
                let ws = s.alloc_zeros::<u8>(bytes).unwrap();
                let loss_d = s.alloc_zeros::<T>(1).unwrap();
                let out = ranked_list_loss::GpuOutputs {
                    loss: ptr(&s, &loss_d),
                    status: 0,
                    workspace: ptr(&s, &ws),
                    workspace_bytes: bytes,
                };
                let before = emu_counts();
                // SAFETY: as above, and the workspace and loss just allocated.
                unsafe {
                    ranked_list_loss::cuda::compute_gpu_references_async::<T>(
                        &p,
                        &args,
                        nq,
                        own_addr,
                        ref_grad,
                        T::one(),
                        &out,
                    )
                }
                .unwrap();
                if let (Some(b), Some(a)) = (before, emu_counts()) {
                    assert_eq!(a, b, "{} {p:?}: syncs, D2H copies, allocations, frees", T::NAME);
                }
                assert_eq!(s.clone_dtoh(&loss_d).unwrap()[0].f64().to_bits(), lg.f64().to_bits());
                assert_eq!(s.clone_dtoh(&gd).unwrap(), g_sync);
                assert_eq!(s.clone_dtoh(&rgd).unwrap(), rg_sync);
            }
        }
    }
}

/// The C ABI's `rll_loss_references_gpu_async_f32` gives `compute_gpu_references`' value.
fn references_through_the_c_abi() {
    let s = stream();
    let (nq, nr, d) = (9usize, 30usize, 6usize);
    let data = batch(120, nq + nr, d, 0.8, true);
    let (x, y) = (to::<f32>(&data.x), to::<f32>(&data.labels));
    let (xd, yd) = (s.clone_htod(&x).unwrap(), s.clone_htod(&y).unwrap());
    let gd = s.alloc_zeros::<f32>(nq * d).unwrap();
    let p = capi::rll_params::from(&Params::default());
    let (n, q) = ((nq + nr) as i64, nq as i64);
    // SAFETY: a valid rll_params.
    let bytes = unsafe { capi::rll_gpu_references_workspace_bytes_f32(&p, n, q, d as i64) };
    let ws = s.alloc_zeros::<u8>(bytes).unwrap();
    let (loss, status) = (s.alloc_zeros::<f32>(1).unwrap(), s.alloc_zeros::<i64>(1).unwrap());
    // SAFETY: the buffers above, of the sizes the call reads and writes.
    let rc = unsafe {
        capi::rll_loss_references_gpu_async_f32(
            &p,
            ptr(&s, &xd) as _,
            ptr(&s, &yd) as _,
            n,
            q,
            d as i64,
            std::ptr::null(),
            1.0,
            ptr(&s, &loss) as _,
            ptr(&s, &gd) as _,
            std::ptr::null_mut(),
            ptr(&s, &status) as _,
            ptr(&s, &ws) as _,
            bytes,
            std::ptr::null_mut(),
            0,
        )
    };
    assert_eq!(rc, 0);
    let args = GpuLoss {
        x: ptr(&s, &xd),
        labels: ptr(&s, &yd),
        n: nq + nr,
        d,
        grad: 0,
        stats: 0,
        stream: 0,
        device: 0,
    };
    // SAFETY: as above.
    let want =
        unsafe { ranked_list_loss::cuda::compute_gpu_references::<f32>(&Params::default(), &args, nq, 0, 0, 1.0) }
            .unwrap();
    assert_eq!(s.clone_dtoh(&loss).unwrap()[0], want);
    assert_eq!(s.clone_dtoh(&status).unwrap(), [-1]);
}

#[test]
fn gpu_queries_against_references_match_the_host() {
    references_through_the_c_abi();
    references_agree::<f32>(1e-5);
    references_agree::<f64>(1e-11);
    // OFFICIAL and a call without references are refused on the host.
    let s = stream();
    let x = s.clone_htod(&[0.0f32; 8]).unwrap();
    let y = s.clone_htod(&[0.0f32, 1.0, 0.0, 1.0]).unwrap();
    let args = GpuLoss {
        x: ptr(&s, &x),
        labels: ptr(&s, &y),
        n: 4,
        d: 2,
        grad: 0,
        stats: 0,
        stream: 0,
        device: 0,
    };
    let official = params(ranked_list_loss::Semantics::OfficialV2020);
    // SAFETY: refused before the device is touched.
    let e =
        unsafe { ranked_list_loss::cuda::compute_gpu_references::<f32>(&official, &args, 2, 0, 0, 1.0) }.unwrap_err();
    assert!(e.message.contains("PAPER semantics only"), "{e}");
    // SAFETY: as above.
    let e = unsafe { ranked_list_loss::cuda::compute_gpu_references::<f32>(&Params::default(), &args, 4, 0, 0, 1.0) }
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size, "{e}");
}
