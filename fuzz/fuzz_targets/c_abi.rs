//! The C ABI under arbitrary shapes, values, labels, parameters and loss weights: every entry point that takes
//! host memory (float32, float64, float16, bfloat16, and a part of the queries). The contract, asserted on every
//! input: a return code and a message, or (code 0) a finite loss and gradient; a valid call on finite input always
//! succeeds; nothing is written on failure and nothing past a buffer (checked by sentinels after each buffer);
//! never a panic or an abort (a panic crossing the ABI would abort the process, which libFuzzer reports).
#![no_main]

use arbitrary::Arbitrary;
use half::{bf16, f16};
use libfuzzer_sys::fuzz_target;
use ranked_list_loss::capi::*;
use std::ffi::CStr;

/// A value from the places where numbers go wrong.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Val {
    Small(i16),
    Zero,
    NegZero,
    Nan,
    Inf,
    NegInf,
    Max,
    NegMax,
    Denormal,
    Huge(i8),
    Tiny(i8),
}

impl Val {
    fn get(self) -> f64 {
        match self {
            Val::Small(v) => v as f64 / 4096.0,
            Val::Zero => 0.0,
            Val::NegZero => -0.0,
            Val::Nan => f64::NAN,
            Val::Inf => f64::INFINITY,
            Val::NegInf => f64::NEG_INFINITY,
            Val::Max => f32::MAX as f64,
            Val::NegMax => -(f32::MAX as f64),
            Val::Denormal => 1e-40,
            Val::Huge(e) => 10f64.powi(20 + (e as i32).rem_euclid(18)),
            Val::Tiny(e) => 10f64.powi(-20 - (e as i32).rem_euclid(18)),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Entry {
    F32,
    F64,
    F16,
    Bf16,
    QueriesF32 { start: i8, count: i8 },
    QueriesF64 { start: i8, count: i8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    n: i8,
    d: i8,
    values: Vec<Val>,
    labels: Vec<u8>,
    /// margin, alpha, t_n, t_p, base_n, base_p, lambda; None: the proto default.
    params: [Option<Val>; 7],
    semantics: i8,
    query_only: bool,
    detach_weights: bool,
    loss_weight: Option<Val>,
    with_grad: bool,
    entry: Entry,
}

const SENTINEL: usize = 8;

/// `len` values followed by SENTINEL guard values, all `fill`.
fn guarded<T: Copy>(len: usize, fill: T) -> Vec<T> {
    vec![fill; len + SENTINEL]
}

fn valid(p: &rll_params) -> bool {
    let f = [p.margin, p.alpha, p.t_n, p.t_p, p.base_n, p.base_p, p.lambda];
    f.iter().all(|v| v.is_finite())
        && p.margin >= 0.0
        && p.t_n >= 0.0
        && p.t_p >= 0.0
        && p.lambda >= 0.0
        && p.alpha > 0.0
        && p.base_n > 0.0
        && p.base_p > 0.0
        && (0..=2).contains(&p.semantics)
}

fn message() -> String {
    // SAFETY: rll_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(rll_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fuzz_target!(|input: Input| {
    let (n, d) = (input.n as i64 % 13, input.d as i64 % 9);
    let (nu, du) = (n.max(0) as usize, d.max(0) as usize);
    let nd = nu * du;
    let xs: Vec<f64> = (0..nd)
        .map(|k| input.values.get(k % input.values.len().max(1)).map_or(0.5, |v| v.get()))
        .collect();
    let ls: Vec<f64> = (0..nu)
        .map(|i| input.labels.get(i).map_or(i as f64, |&l| (l % 5) as f64))
        .collect();
    let mut p = rll_params {
        margin: 0.0,
        alpha: 0.0,
        t_n: 0.0,
        t_p: 0.0,
        base_n: 0.0,
        base_p: 0.0,
        lambda: 0.0,
        semantics: 0,
        query_only: 0,
        detach_weights: 0,
    };
    // SAFETY: p is a valid rll_params to write.
    unsafe { rll_params_default(&mut p) };
    let fields = [
        &mut p.margin,
        &mut p.alpha,
        &mut p.t_n,
        &mut p.t_p,
        &mut p.base_n,
        &mut p.base_p,
        &mut p.lambda,
    ];
    for (field, v) in fields.into_iter().zip(input.params) {
        if let Some(v) = v {
            *field = v.get() as f32;
        }
    }
    p.semantics = input.semantics as i32 % 4;
    p.query_only = input.query_only as i32;
    p.detach_weights = input.detach_weights as i32;
    let lw = input.loss_weight.map_or(1.0, |v| v.get());
    let finite_x = xs.iter().all(|v| (*v as f32).is_finite());
    let must_succeed = n > 0 && d > 0 && valid(&p) && finite_x && (lw as f32).is_finite();

    let (rc, loss, grad_ok) = match input.entry {
        Entry::F32 | Entry::QueriesF32 { .. } => {
            let x: Vec<f32> = xs.iter().map(|&v| v as f32).collect();
            let l: Vec<f32> = ls.iter().map(|&v| v as f32).collect();
            let mut g = guarded(nd, 12345.0f32);
            let mut loss = 777.0f32;
            let gp = if input.with_grad {
                g.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            };
            // SAFETY: x and l hold n·d and n values, g n·d plus guards, loss one.
            let rc = unsafe {
                match input.entry {
                    Entry::QueriesF32 { start, count } => rll_loss_queries_f32(
                        &p,
                        x.as_ptr(),
                        l.as_ptr(),
                        n,
                        d,
                        start as i64 % 14,
                        count as i64 % 14,
                        std::ptr::null(),
                        lw as f32,
                        &mut loss,
                        gp,
                    ),
                    _ => rll_loss_f32(&p, x.as_ptr(), l.as_ptr(), n, d, lw as f32, &mut loss, gp),
                }
            };
            let ok = check_grad(rc, &g, nd, input.with_grad, 12345.0, |v| v.is_finite());
            (rc, loss as f64, ok)
        }
        Entry::F64 | Entry::QueriesF64 { .. } => {
            let mut g = guarded(nd, 12345.0f64);
            let mut loss = 777.0f64;
            let gp = if input.with_grad {
                g.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            };
            // SAFETY: as above.
            let rc = unsafe {
                match input.entry {
                    Entry::QueriesF64 { start, count } => {
                        let (start, count) = (start as i64 % 14, count as i64 % 14);
                        // OFFICIAL over a part needs every row's ln mass: computed first, as a split batch does.
                        let mut masses = vec![0f64; nu + SENTINEL];
                        let whole = (start, count) == (0, n);
                        let have = p.semantics != 0
                            && !whole
                            && rll_query_ln_mass_f64(&p, xs.as_ptr(), ls.as_ptr(), n, d, 0, n, masses.as_mut_ptr())
                                == 0;
                        assert!(
                            masses[nu..].iter().all(|&v| v == 0.0),
                            "rll_query_ln_mass_f64 wrote past n"
                        );
                        rll_loss_queries_f64(
                            &p,
                            xs.as_ptr(),
                            ls.as_ptr(),
                            n,
                            d,
                            start,
                            count,
                            if have { masses.as_ptr() } else { std::ptr::null() },
                            lw,
                            &mut loss,
                            gp,
                        )
                    }
                    _ => rll_loss_f64(&p, xs.as_ptr(), ls.as_ptr(), n, d, lw, &mut loss, gp),
                }
            };
            let ok = check_grad(rc, &g, nd, input.with_grad, 12345.0, |v| v.is_finite());
            (rc, loss, ok)
        }
        Entry::F16 | Entry::Bf16 => {
            let bf = matches!(input.entry, Entry::Bf16);
            let bits = |v: f64| {
                if bf {
                    bf16::from_f64(v).to_bits()
                } else {
                    f16::from_f64(v).to_bits()
                }
            };
            let x: Vec<u16> = xs.iter().map(|&v| bits(v)).collect();
            let l: Vec<u16> = ls.iter().map(|&v| bits(v)).collect();
            let mut g = guarded(nd, 0x7777u16);
            let mut loss = 777.0f32;
            let gp = if input.with_grad {
                g.as_mut_ptr()
            } else {
                std::ptr::null_mut()
            };
            // SAFETY: as above, 16-bit patterns.
            let rc = unsafe {
                if bf {
                    rll_loss_bf16(&p, x.as_ptr(), l.as_ptr(), n, d, lw as f32, &mut loss, gp)
                } else {
                    rll_loss_f16(&p, x.as_ptr(), l.as_ptr(), n, d, lw as f32, &mut loss, gp)
                }
            };
            let finite = |b: u16| {
                if bf {
                    bf16::from_bits(b).is_finite()
                } else {
                    f16::from_bits(b).is_finite()
                }
            };
            let ok = check_grad(rc, &g, nd, input.with_grad, 0x7777, finite);
            // A value finite in float32 can be infinite in the 16-bit format: then it is refused, not a success.
            let x_finite = x.iter().all(|&b| finite(b));
            if rc == 0 {
                assert!(x_finite, "a non-finite 16-bit feature was accepted");
            }
            (rc, loss as f64, ok)
        }
    };
    if rc == 0 {
        assert!(loss.is_finite(), "rc 0 with loss {loss} for {input:?}");
        assert!(
            grad_ok,
            "rc 0 with a non-finite gradient, or a write past it, for {input:?}"
        );
    } else {
        assert!(!message().is_empty(), "rc {rc} without a message");
        assert_eq!(loss, 777.0, "rc {rc}: the loss was written ({})", message());
        assert!(grad_ok, "rc {rc}: the gradient was written, or past it ({})", message());
        let queries = matches!(input.entry, Entry::QueriesF32 { .. } | Entry::QueriesF64 { .. });
        let half = matches!(input.entry, Entry::F16 | Entry::Bf16);
        assert!(
            !(must_succeed && !queries && !half),
            "a valid call on finite input failed: rc {rc}, {} ({input:?})",
            message()
        );
    }
});

/// On success: the n·d gradient values finite (when asked) and the guards intact; on failure: nothing written.
fn check_grad<T: Copy + PartialEq>(
    rc: i32,
    g: &[T],
    nd: usize,
    asked: bool,
    fill: T,
    finite: impl Fn(T) -> bool,
) -> bool {
    let guards = g[nd..].iter().all(|&v| v == fill);
    if rc == 0 && asked {
        guards && g[..nd].iter().all(|&v| finite(v))
    } else {
        g.iter().all(|&v| v == fill)
    }
}
