//! Bad input: the right error kind, a message naming the argument and the value, and untouched outputs —
//! through the Rust API, the C ABI, and the parameter decoding the Caffe layers use.

#![allow(clippy::approx_constant)] // 2.71828 is the proto default literal, not e
use prost::Message;
use ranked_list_loss::capi::{self, rll_params};
use ranked_list_loss::params::pb;
use ranked_list_loss::{compute, Batch, ErrorKind, Params, Semantics};
use std::ffi::CStr;

const SENTINEL: f32 = 12345.0;

fn call(p: &Params, x: &[f32], labels: &[f32], n: usize, d: usize, grad_len: usize) -> (ErrorKind, String, Vec<f32>) {
    let mut g = vec![SENTINEL; grad_len];
    let e = compute(p, Batch { x, labels, n, d }, 1.0, Some(&mut g), None).unwrap_err();
    (e.kind, e.message, g)
}

fn expect(p: &Params, x: &[f32], labels: &[f32], n: usize, d: usize, kind: ErrorKind, needles: &[&str]) {
    let (k, msg, g) = call(p, x, labels, n, d, x.len().max(1));
    assert_eq!(k, kind, "{msg}");
    for needle in needles {
        assert!(msg.contains(needle), "message '{msg}' lacks '{needle}'");
    }
    assert!(
        g.iter().all(|&v| v == SENTINEL),
        "gradient was written before the error"
    );
}

#[test]
fn size_errors_name_the_argument_and_value() {
    let p = Params::default();
    let x = [0.0f32; 6];
    expect(
        &p,
        &x,
        &[0.0, 1.0],
        2,
        2,
        ErrorKind::Size,
        &["x has 6 values", "n·d = 2·2 = 4"],
    );
    expect(
        &p,
        &x,
        &[0.0, 1.0],
        3,
        2,
        ErrorKind::Size,
        &["labels has 2 values", "n = 3"],
    );
    expect(&p, &[], &[], 0, 2, ErrorKind::Size, &["n = 0"]);
    expect(&p, &[], &[0.0], 1, 0, ErrorKind::Size, &["d = 0"]);
    let mut g = vec![SENTINEL; 5];
    let e = compute(
        &p,
        Batch {
            x: &x,
            labels: &[0.0, 1.0, 2.0],
            n: 3,
            d: 2,
        },
        1.0,
        Some(&mut g),
        None,
    )
    .unwrap_err();
    assert!(e.message.contains("grad has 5 values"), "{e}");
}

#[test]
fn non_finite_inputs_are_located() {
    let p = Params::default();
    let mut x = [0.5f32; 6];
    x[4] = f32::NAN;
    expect(&p, &x, &[0.0, 1.0, 0.0], 3, 2, ErrorKind::NonFinite, &["x[2][0] = NaN"]);
    x[4] = f32::INFINITY;
    expect(&p, &x, &[0.0, 1.0, 0.0], 3, 2, ErrorKind::NonFinite, &["x[2][0] = inf"]);
    let x = [0.5f32; 6];
    expect(
        &p,
        &x,
        &[0.0, f32::NAN, 0.0],
        3,
        2,
        ErrorKind::NonFinite,
        &["labels[1] = NaN"],
    );
    let mut g = vec![SENTINEL; 6];
    let e = compute(
        &p,
        Batch {
            x: &x,
            labels: &[0.0, 1.0, 0.0],
            n: 3,
            d: 2,
        },
        f32::NAN,
        Some(&mut g),
        None,
    );
    assert!(e.unwrap_err().message.contains("loss_weight = NaN"));
}

#[test]
fn parameter_errors_name_the_field_and_value() {
    let x = [0.5f32, 0.1, 0.2, 0.3];
    let y = [0.0f32, 1.0];
    let cases: Vec<(Params, &str)> = vec![
        (
            Params {
                margin: -0.1,
                ..Params::default()
            },
            "margin = -0.1 is negative",
        ),
        (
            Params {
                t_n: f32::INFINITY,
                ..Params::default()
            },
            "t_n = inf is not finite",
        ),
        (
            Params {
                weight_eps: -1e-5,
                ..Params::default()
            },
            "weight_eps = -0.00001 is negative",
        ),
        (
            Params {
                weight_eps: 1e-5,
                semantics: Semantics::OfficialV2020,
                ..Params::default()
            },
            "weight_eps = 0.00001 applies to the PAPER semantics only",
        ),
        (
            Params {
                lambda_p: -0.5,
                ..Params::default()
            },
            "lambda_p = -0.5 is negative",
        ),
        (
            Params {
                lambda_p: 0.5,
                semantics: Semantics::OfficialV2019,
                ..Params::default()
            },
            "lambda_p = 0.5 applies to the PAPER semantics only",
        ),
        (
            Params {
                lambda: -1.0,
                ..Params::default()
            },
            "lambda = -1 is negative",
        ),
        (
            Params {
                alpha: 0.0,
                ..Params::default()
            },
            "alpha = 0 must be > 0",
        ),
        (
            Params {
                alpha: -1.0,
                ..Params::default()
            },
            "alpha = -1 must be > 0",
        ),
        (
            Params {
                base_n: 0.0,
                ..Params::default()
            },
            "base_n = 0 must be > 0",
        ),
        (
            Params {
                margin: f32::NAN,
                ..Params::default()
            },
            "margin = NaN is not finite",
        ),
    ];
    for (p, needle) in cases {
        expect(&p, &x, &y, 2, 2, ErrorKind::Parameter, &[needle]);
    }
}

fn last_error() -> String {
    unsafe { CStr::from_ptr(capi::rll_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn c_abi_rejects_null_pointers_and_bad_sizes_without_writing() {
    let mut p: rll_params = unsafe { std::mem::zeroed() };
    unsafe { capi::rll_params_default(&mut p) };
    let x = [0.1f32, 0.2, 0.3, 0.4];
    let y = [0.0f32, 1.0];
    let mut loss = SENTINEL;
    let mut g = [SENTINEL; 4];
    let (null, nullf) = (std::ptr::null(), std::ptr::null::<f32>());
    unsafe {
        let rc = capi::rll_loss_f32(null, x.as_ptr(), y.as_ptr(), 2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!(rc, ErrorKind::NullPointer as i32);
        assert_eq!(last_error(), "p is NULL");
        let rc = capi::rll_loss_f32(&p, nullf, y.as_ptr(), 2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!((rc, last_error().as_str()), (1, "x is NULL"));
        let rc = capi::rll_loss_f32(&p, x.as_ptr(), nullf, 2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!((rc, last_error().as_str()), (1, "labels is NULL"));
        let rc = capi::rll_loss_f32(
            &p,
            x.as_ptr(),
            y.as_ptr(),
            2,
            2,
            1.0,
            std::ptr::null_mut(),
            g.as_mut_ptr(),
        );
        assert_eq!((rc, last_error().as_str()), (1, "loss is NULL"));
        let rc = capi::rll_loss_f32(&p, x.as_ptr(), y.as_ptr(), -2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!((rc, last_error().as_str()), (2, "n = -2 must be > 0"));
        let rc = capi::rll_loss_f32(&p, x.as_ptr(), y.as_ptr(), 2, 0, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!((rc, last_error().as_str()), (2, "d = 0 must be > 0"));
        let rc = capi::rll_loss_f32(&p, x.as_ptr(), y.as_ptr(), i64::MAX, 4, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!(rc, 2, "{}", last_error());
        let mut bad = p;
        bad.semantics = 7;
        let rc = capi::rll_loss_f32(&bad, x.as_ptr(), y.as_ptr(), 2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!(rc, ErrorKind::Parameter as i32);
        assert!(last_error().contains("semantics = 7 is unknown"));
        assert_eq!(loss, SENTINEL);
        assert!(g.iter().all(|&v| v == SENTINEL));
        // And a good call succeeds, writing both.
        let rc = capi::rll_loss_f32(&p, x.as_ptr(), y.as_ptr(), 2, 2, 1.0, &mut loss, g.as_mut_ptr());
        assert_eq!(rc, 0);
        assert!(loss != SENTINEL && g.iter().all(|&v| v != SENTINEL));
        assert_eq!(capi::rll_set_num_threads(-1), ErrorKind::Parameter as i32);
        capi::rll_params_default(std::ptr::null_mut());
        assert_eq!(last_error(), "p is NULL");
    }
}

#[test]
fn a_layer_memory_needs_the_paper_semantics() {
    let layer = |semantics: i32, memory: u32| {
        pb::RllLayerFields {
            name: Some("loss".into()),
            r#type: Some("RankedListLoss".into()),
            ranked_list_loss_param: Some(pb::RankedListLossParameter {
                semantics: Some(semantics),
                memory_size: Some(memory),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    };
    assert_eq!(Params::layer_memory_size(&layer(0, 1200)).unwrap(), 1200);
    assert_eq!(Params::layer_memory_size(&layer(1, 0)).unwrap(), 0);
    let e = Params::layer_memory_size(&layer(1, 64)).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::Parameter,
            "layer 'loss': memory_size = 64 needs semantics PAPER (queries against references)"
        )
    );
}

#[test]
fn layer_parameters_decode_from_a_serialized_layer() {
    let rll = pb::RllLayerFields {
        name: Some("loss_h".into()),
        r#type: Some("RankedListLoss".into()),
        ranked_list_loss_param: Some(pb::RankedListLossParameter {
            margin: Some(0.3),
            t_n: Some(7.0),
            semantics: Some(2),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = Params::decode_layer(&rll.encode_to_vec()).unwrap();
    assert_eq!(
        (p.margin, p.t_n, p.alpha, p.semantics),
        (0.3, 7.0, 1.2, Semantics::OfficialV2019)
    );

    // The original layer: V2020 when `margin` is absent, V2019 (alpha = margin) when present.
    let mut orig = pb::RllLayerFields {
        name: Some("WSiamese/loss_image".into()),
        r#type: Some("DistanceWeightedValidPairLossV12".into()),
        contrastive_loss_param_v2: Some(pb::ContrastiveLossParameterV2 {
            pn_margin: Some(0.4),
            ..Default::default()
        }),
        softmax_t_p_param: Some(pb::SoftmaxTpParameter {
            scale: Some(0.0),
            ..Default::default()
        }),
        softmax_t_n_param: Some(pb::SoftmaxTnParameter {
            scale: Some(12.0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = Params::decode_layer(&orig.encode_to_vec()).unwrap();
    assert_eq!(
        (p.semantics, p.alpha, p.t_n, p.t_p),
        (Semantics::OfficialV2020, 1.2, 12.0, 0.0)
    );
    orig.contrastive_loss_param_v2.as_mut().unwrap().margin = Some(1.0);
    let p = Params::decode_layer(&orig.encode_to_vec()).unwrap();
    assert_eq!((p.semantics, p.alpha), (Semantics::OfficialV2019, 1.0));

    // Errors name the layer and the field.
    orig.softmax_t_n_param.as_mut().unwrap().scale = Some(f32::NAN);
    let e = Params::decode_layer(&orig.encode_to_vec()).unwrap_err();
    assert_eq!(e.message, "layer 'WSiamese/loss_image': t_n = NaN is not finite");
    orig.softmax_t_n_param.as_mut().unwrap().scale = Some(3.0);
    orig.contrastive_loss_param_v2.as_mut().unwrap().legacy_version = Some(true);
    assert!(Params::decode_layer(&orig.encode_to_vec())
        .unwrap_err()
        .message
        .contains("legacy_version"));
    let e = Params::decode_layer(&[0xff, 0xff, 0xff]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode);
}

#[test]
fn proto_defaults_are_the_documented_ones() {
    let p = Params::default();
    assert_eq!(
        (p.margin, p.alpha, p.t_n, p.t_p, p.lambda, p.base_n, p.base_p),
        (0.4, 1.2, 10.0, 0.0, 1.0, 2.71828, 2.71828)
    );
    assert_eq!(
        (p.semantics, p.query_only, p.detach_weights),
        (Semantics::Paper, false, false)
    );
    let c = pb::ContrastiveLossParameterV2::default();
    assert_eq!(
        (c.negative_threshold(), c.pn_margin(), c.legacy_version()),
        (1.2, 0.4, false)
    );
    assert_eq!(
        (
            pb::SoftmaxTpParameter::default().scale(),
            pb::SoftmaxTnParameter::default().scale()
        ),
        (0.0, 10.0)
    );
}

/// A batch whose N×N buffer cannot be allocated: a size error with the bytes it needed, through the Rust API and
/// the C ABI, and the process lives on. n = 2^21 needs 16 TiB for the f32 distance matrix.
#[test]
fn a_batch_too_large_for_memory_is_a_size_error_naming_the_bytes() {
    let n = 1usize << 21;
    let x = vec![0.5f32; n];
    let labels: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let bytes = (n * n * 4).to_string();
    expect(
        &Params::default(),
        &x,
        &labels,
        n,
        1,
        ErrorKind::Size,
        &["distance matrix", &bytes, "cannot be allocated"],
    );
    let mut cp: rll_params = unsafe { std::mem::zeroed() };
    // SAFETY: cp is a valid, writable rll_params.
    unsafe { capi::rll_params_default(&mut cp) };
    let mut loss = SENTINEL;
    let mut g = vec![SENTINEL; n];
    // SAFETY: every pointer is valid for the sizes given.
    let rc = unsafe {
        capi::rll_loss_f32(
            &cp,
            x.as_ptr(),
            labels.as_ptr(),
            n as i64,
            1,
            1.0,
            &mut loss,
            g.as_mut_ptr(),
        )
    };
    assert_eq!(rc, ErrorKind::Size as i32);
    assert!(last_error().contains(&bytes), "{}", last_error());
    assert_eq!(loss, SENTINEL);
}

/// The L2 normalisation (the Normalization layer's maths) refuses rows without features with the loss's message,
/// where it used to panic in `chunks_exact(0)`; an empty batch has nothing to do.
#[test]
fn normalisation_of_zero_features_is_a_size_error() {
    use ranked_list_loss::normalize::{l2_backward, l2_forward};
    let (mut y, mut norms, mut dx) = (vec![], vec![0.0f32; 3], vec![]);
    let e = l2_forward::<f32>(&[], 3, 0, &mut y, &mut norms).unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Size, "d = 0: the features are empty")
    );
    let e = l2_backward::<f32>(&[], &[], &norms, 3, 0, &mut dx).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Size);
    assert!(l2_forward::<f64>(&[], 0, 4, &mut [], &mut []).is_ok());
}
