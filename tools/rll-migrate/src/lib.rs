//! rll-migrate: rewrites an original-style RLL prototxt into the `RankedListLoss` form with equal behaviour.
//!
//! Every `DistanceWeightedValidPairLossV12` layer becomes a `RankedListLoss` layer whose
//! `ranked_list_loss_param` holds exactly the parameters the original messages select (OFFICIAL_V2019 when
//! `contrastive_loss_param_v2.margin` is set, else OFFICIAL_V2020), or, with `--paper`, the PAPER semantics with
//! the same boundaries. Everything else in the file is kept byte for byte (comments and layout too): only the
//! loss layers' `type` and parameter blocks are rewritten in the text. The result is then checked: parsed again, it
//! must equal the original net with the same rewrite applied to the parsed messages.
//!
//! The library behind the `rll-migrate` command (src/main.rs), and the fuzz targets' entry (fuzz/).

use prost::Message;
/// The schema a prototxt is read with (a caffe.proto's NetParameter).
pub use prost_reflect::MessageDescriptor;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage, Value};
use ranked_list_loss::params::pb;
use ranked_list_loss::{Params, Semantics};
use std::path::Path;

const ORIGINAL: &str = "DistanceWeightedValidPairLossV12";

/// The NetParameter descriptor of a (patched) caffe.proto, compiled at run time.
pub fn net_descriptor(caffe_proto: &Path) -> Result<MessageDescriptor, String> {
    let dir = caffe_proto.parent().unwrap_or(Path::new("."));
    let name = caffe_proto.file_name().ok_or("bad --caffe-proto path")?;
    let fds = protox::compile([name], [dir]).map_err(|e| format!("{}: {e}", caffe_proto.display()))?;
    let pool = DescriptorPool::from_file_descriptor_set(fds).map_err(|e| e.to_string())?;
    if pool.get_message_by_name("caffe.RankedListLossParameter").is_none() {
        return Err(format!(
            "{} has no RankedListLossParameter: patch the tree first (caffe_patch/apply)",
            caffe_proto.display()
        ));
    }
    pool.get_message_by_name("caffe.NetParameter")
        .ok_or_else(|| format!("{} has no caffe.NetParameter", caffe_proto.display()))
}

/// The `ranked_list_loss_param` equal in behaviour to an original layer's parameters.
pub fn migrated_params(original: &Params, paper: bool) -> pb::RankedListLossParameter {
    let p = if paper {
        // The paper's boundaries are α − m and α: keep the original's (V2020: 1 ∓ m/2, so α = 1 + m/2).
        let alpha = match original.semantics {
            Semantics::OfficialV2020 => 1.0 + original.margin / 2.0,
            _ => original.alpha,
        };
        Params {
            semantics: Semantics::Paper,
            alpha,
            lambda: 1.0,
            ..*original
        }
    } else {
        *original
    };
    pb::RankedListLossParameter {
        margin: Some(p.margin),
        alpha: Some(p.alpha),
        t_n: Some(p.t_n),
        t_p: Some(p.t_p),
        lambda: None,
        base_n: (p.base_n != pb::RankedListLossParameter::default().base_n()).then_some(p.base_n),
        base_p: (p.base_p != pb::RankedListLossParameter::default().base_p()).then_some(p.base_p),
        semantics: Some(p.semantics as i32),
        query_only: None,
        detach_weights: None,
        memory_size: None,
    }
}

/// Rewrites the net in place; returns the names of the layers it changed.
pub fn migrate(net: &mut DynamicMessage, paper: bool) -> Result<Vec<String>, String> {
    let rll_desc = net
        .descriptor()
        .parent_pool()
        .get_message_by_name("caffe.RankedListLossParameter")
        .ok_or("caffe.proto has no RankedListLossParameter")?;
    let mut changed = Vec::new();
    let Some(Value::List(layers)) = net.get_field_by_name_mut("layer") else {
        return Ok(changed);
    };
    for layer in layers.iter_mut() {
        let Value::Message(layer) = layer else { continue };
        if layer
            .get_field_by_name("type")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            != Some(ORIGINAL)
        {
            continue;
        }
        // The engine's own reading of the original messages: the migrated layer behaves exactly like it.
        let original = Params::decode_layer(&layer.encode_to_vec()).map_err(|e| e.to_string())?;
        let bytes = migrated_params(&original, paper).encode_to_vec();
        let param = DynamicMessage::decode(rll_desc.clone(), bytes.as_slice()).map_err(|e| e.to_string())?;
        for old in ["contrastive_loss_param_v2", "softmax_t_p_param", "softmax_t_n_param"] {
            layer.clear_field_by_name(old);
        }
        layer.set_field_by_name("type", Value::String("RankedListLoss".into()));
        layer.set_field_by_name("ranked_list_loss_param", Value::Message(param));
        changed.push(
            layer
                .get_field_by_name("name")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
    }
    Ok(changed)
}

/// A `{ ... }` block in prototxt text: `start` at its field name, `open` at '{', `end` one past '}'.
#[derive(Debug, Clone, Copy)]
struct Block {
    start: usize,
    open: usize,
    end: usize,
}

/// The `name { ... }` (or `name: { ... }`) blocks directly inside `text[from..to]`, skipping strings and comments.
fn blocks(text: &str, from: usize, to: usize) -> Vec<(String, Block)> {
    let b = text.as_bytes();
    let (mut i, mut depth, mut out) = (from, 0usize, Vec::new());
    let mut open_at: Option<(String, usize, usize)> = None;
    let mut last_ident: Option<(String, usize)> = None;
    while i < to {
        match b[i] {
            b'#' => {
                while i < to && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < to && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                if depth == 0 {
                    if let Some((name, start)) = last_ident.take() {
                        open_at = Some((name, start, i));
                    }
                }
                depth += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if let Some((name, start, open)) = open_at.take() {
                        out.push((
                            name,
                            Block {
                                start,
                                open,
                                end: i + 1,
                            },
                        ));
                    }
                }
            }
            c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let s = i;
                while i < to && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                last_ident = Some((text[s..i].to_string(), s));
                continue;
            }
            c if depth == 0 && !(c.is_ascii_whitespace() || c == b':') => last_ident = None,
            _ => {}
        }
        i += 1;
    }
    out
}

/// A string-valued field `name: "..."` directly inside a block of prototxt text: the value's span (its adjacent
/// literals, which the text format concatenates, with the whitespace and comments between them) and its text, or
/// `None` when a literal has an escape (never equal to a plain type name then).
struct StringField {
    name: String,
    start: usize,
    end: usize,
    value: Option<String>,
}

/// The string-valued fields directly inside `text[from..to]`, skipping comments and nested blocks.
fn string_fields(text: &str, from: usize, to: usize) -> Vec<StringField> {
    let b = text.as_bytes();
    let skip_space = |mut j: usize| loop {
        while j < to && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < to && b[j] == b'#' {
            while j < to && b[j] != b'\n' {
                j += 1;
            }
        } else {
            return j;
        }
    };
    let (mut i, mut depth, mut out) = (from, 0usize, Vec::new());
    let mut last_ident: Option<String> = None;
    while i < to {
        match b[i] {
            b'#' => {
                while i < to && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let (start, mut value) = (i, Some(String::new()));
                loop {
                    let q = b[i];
                    i += 1;
                    let s = i;
                    while i < to && b[i] != q {
                        if b[i] == b'\\' {
                            value = None;
                            i += 2;
                        } else {
                            i += 1;
                        }
                    }
                    if let Some(v) = value.as_mut() {
                        v.push_str(&text[s..i.min(to)]);
                    }
                    i = (i + 1).min(to);
                    let next = skip_space(i);
                    if next < to && (b[next] == b'"' || b[next] == b'\'') {
                        i = next;
                    } else {
                        break;
                    }
                }
                if let (0, Some(name)) = (depth, last_ident.take()) {
                    out.push(StringField {
                        name,
                        start,
                        end: i,
                        value,
                    });
                }
                continue;
            }
            b'{' => {
                depth += 1;
                last_ident = None;
            }
            b'}' => depth = depth.saturating_sub(1),
            c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                let s = i;
                while i < to && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                last_ident = Some(text[s..i].to_string());
                continue;
            }
            c if depth == 0 && !(c.is_ascii_whitespace() || c == b':') => last_ident = None,
            _ => {}
        }
        i += 1;
    }
    out
}

/// The prototxt text of a `ranked_list_loss_param` block, indented like its layer's fields.
fn param_text(p: &pb::RankedListLossParameter, indent: &str) -> String {
    let semantics = match p.semantics() {
        pb::ranked_list_loss_parameter::Semantics::Paper => "PAPER",
        pb::ranked_list_loss_parameter::Semantics::OfficialV2020 => "OFFICIAL_V2020",
        pb::ranked_list_loss_parameter::Semantics::OfficialV2019 => "OFFICIAL_V2019",
    };
    let mut fields = vec![
        format!("margin: {}", p.margin()),
        format!("alpha: {}", p.alpha()),
        format!("t_n: {}", p.t_n()),
        format!("t_p: {}", p.t_p()),
    ];
    if let Some(b) = p.base_n {
        fields.push(format!("base_n: {b}"));
    }
    if let Some(b) = p.base_p {
        fields.push(format!("base_p: {b}"));
    }
    fields.push(format!("semantics: {semantics}"));
    let inner: String = fields.iter().map(|f| format!("{indent}  {f}\n")).collect();
    format!("ranked_list_loss_param {{\n{inner}{indent}}}")
}

/// Rewrites the loss layers in the text itself, in file order, with the parameters `params` (one per layer).
fn rewrite_text(text: &str, params: &[pb::RankedListLossParameter]) -> Result<String, String> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut k = 0;
    for (name, layer) in blocks(text, 0, text.len()) {
        let body = (layer.open + 1, layer.end - 1);
        // The layer's type as the parser reads it: its last `type` field (a repeated scalar field's last value).
        let fields = string_fields(text, body.0, body.1);
        let Some(type_field) = fields.iter().rev().find(|f| f.name == "type") else {
            continue;
        };
        if name != "layer" || type_field.value.as_deref() != Some(ORIGINAL) {
            continue;
        }
        let p = params
            .get(k)
            .ok_or("more original layers in the text than in the parsed net")?;
        k += 1;
        let mut first = true;
        for (field, b) in blocks(text, body.0, body.1) {
            if !["contrastive_loss_param_v2", "softmax_t_p_param", "softmax_t_n_param"].contains(&field.as_str()) {
                continue;
            }
            let line_start = text[..b.start].rfind('\n').map_or(0, |i| i + 1);
            let indent = &text[line_start..b.start];
            let only_on_line = indent.trim().is_empty();
            let tail_end = b.end + text[b.end..].find('\n').map_or(0, |i| i + 1);
            let whole_line = only_on_line && text[b.end..tail_end].trim().is_empty();
            let (s, e) = if whole_line {
                (line_start, tail_end)
            } else {
                (b.start, b.end)
            };
            let replacement = if first {
                first = false;
                let indent = if only_on_line {
                    indent.to_string()
                } else {
                    "  ".to_string()
                };
                let t = param_text(p, &indent);
                if whole_line {
                    format!("{indent}{t}\n")
                } else {
                    t
                }
            } else {
                String::new()
            };
            edits.push((s, e, replacement));
        }
        edits.push((type_field.start, type_field.end, "\"RankedListLoss\"".to_string()));
    }
    if k != params.len() {
        return Err(format!(
            "found {k} original layers in the text but {} in the parsed net",
            params.len()
        ));
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, r) in edits {
        out.push_str(&text[at..s]);
        out.push_str(&r);
        at = e;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// The migrated parameters of every original layer of the net, in order.
fn original_params(net: &DynamicMessage, paper: bool) -> Result<Vec<pb::RankedListLossParameter>, String> {
    let Some(layers) = net.get_field_by_name("layer") else {
        return Ok(Vec::new());
    };
    let Value::List(layers) = layers.as_ref() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for layer in layers {
        let Value::Message(layer) = layer else { continue };
        if layer
            .get_field_by_name("type")
            .and_then(|v| v.as_str().map(str::to_owned))
            .as_deref()
            == Some(ORIGINAL)
        {
            let original = Params::decode_layer(&layer.encode_to_vec()).map_err(|e| e.to_string())?;
            out.push(migrated_params(&original, paper));
        }
    }
    Ok(out)
}

/// The NetParameter descriptor of `schema/net.proto` (a small net schema around our proto, without a Caffe tree),
/// for the tests and the fuzz targets.
pub fn small_net_descriptor() -> Result<MessageDescriptor, String> {
    let dir = std::env::temp_dir().join(format!("rll-migrate-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ours = include_str!("../../../proto/ranked_list_loss.proto");
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("ranked_list_loss.proto", ours)?;
    write("net.proto", include_str!("../schema/net.proto"))?;
    net_descriptor(&dir.join("net.proto"))
}

/// Migrates prototxt text: the text rewrite, checked against the same rewrite of the parsed net.
pub fn migrate_text(desc: MessageDescriptor, text: &str, paper: bool) -> Result<(String, Vec<String>), String> {
    let mut net = DynamicMessage::parse_text_format(desc.clone(), text).map_err(|e| e.to_string())?;
    let params = original_params(&net, paper)?;
    let out = rewrite_text(text, &params)?;
    let changed = migrate(&mut net, paper)?;
    let reparsed = DynamicMessage::parse_text_format(desc, &out).map_err(|e| format!("rewritten text: {e}"))?;
    if reparsed != net {
        return Err("internal error: the rewritten text does not parse to the migrated net".into());
    }
    Ok((out, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small net schema around our proto (the real caffe.proto is used by `make test-caffe`); built once, since
    /// the tests run in parallel.
    fn descriptor() -> MessageDescriptor {
        static DESC: std::sync::OnceLock<MessageDescriptor> = std::sync::OnceLock::new();
        DESC.get_or_init(build_descriptor).clone()
    }

    fn build_descriptor() -> MessageDescriptor {
        small_net_descriptor().unwrap()
    }

    const NET: &str = r#"name: "t"  # a comment that must survive
input: "data"
input_dim: 6
layer {
  name: "fc"
  type: "InnerProduct"
  bottom: "data"
  top: "fc"
}
layer {
  name: "loss_2020"
  type: "DistanceWeightedValidPairLossV12"
  bottom: "fc"
  bottom: "label"
  top: "loss_2020"
  propagate_down: 1
  propagate_down: 0
  contrastive_loss_param_v2 { pn_margin: 0.4 }
  softmax_t_p_param { scale: 0 }
  softmax_t_n_param {
    scale: 12  # T_n of In-shop
  }
}
layer { name: "loss_2019" type: "DistanceWeightedValidPairLossV12" bottom: "fc" bottom: "label" top: "l19"
  contrastive_loss_param_v2 { margin: 1.0 pn_margin: 0.3 } softmax_t_n_param { scale: 10 base: 2 } }
"#;

    fn layer_params(text: &str) -> Vec<(String, Params)> {
        let net = DynamicMessage::parse_text_format(descriptor(), text).unwrap();
        let Value::List(layers) = net.get_field_by_name("layer").unwrap().into_owned() else {
            panic!()
        };
        layers
            .iter()
            .filter_map(|l| {
                let Value::Message(l) = l else { return None };
                let ty = l.get_field_by_name("type")?.as_str()?.to_owned();
                (ty != "InnerProduct").then(|| (ty, Params::decode_layer(&l.encode_to_vec()).unwrap()))
            })
            .collect()
    }

    #[test]
    fn migrated_layers_have_the_parameters_the_engine_reads_from_the_originals() {
        let (out, changed) = migrate_text(descriptor(), NET, false).unwrap();
        assert_eq!(changed, vec!["loss_2020", "loss_2019"]);
        let before = layer_params(NET);
        let after = layer_params(&out);
        assert_eq!(after.len(), 2);
        for ((t0, p0), (t1, p1)) in before.iter().zip(&after) {
            assert_eq!(t0, ORIGINAL);
            assert_eq!(t1, "RankedListLoss");
            assert_eq!(p0, p1, "the engine must see the same parameters");
        }
        assert_eq!(after[0].1.semantics, Semantics::OfficialV2020);
        assert_eq!((after[0].1.t_n, after[0].1.alpha), (12.0, 1.2));
        assert_eq!(after[1].1.semantics, Semantics::OfficialV2019);
        assert_eq!(
            (after[1].1.alpha, after[1].1.margin, after[1].1.base_n),
            (1.0, 0.3, 2.0)
        );
    }

    #[test]
    fn everything_else_is_kept_byte_for_byte() {
        let (out, _) = migrate_text(descriptor(), NET, false).unwrap();
        assert!(out.starts_with("name: \"t\"  # a comment that must survive\ninput: \"data\"\ninput_dim: 6\n"));
        let fc = &NET[NET.find("layer {").unwrap()..NET.find("layer {\n  name: \"loss_2020\"").unwrap()];
        assert!(out.contains(fc));
        assert!(out.contains("  propagate_down: 1\n  propagate_down: 0\n  ranked_list_loss_param {\n"));
        assert!(!out.contains("contrastive_loss_param_v2") && !out.contains("softmax_t_"));
    }

    #[test]
    fn paper_keeps_the_boundaries() {
        let (out, _) = migrate_text(descriptor(), NET, true).unwrap();
        let after = layer_params(&out);
        // V2020's boundaries 1 ∓ m/2 = 0.8, 1.2 become α − m, α with α = 1 + m/2.
        assert_eq!(after[0].1.semantics, Semantics::Paper);
        assert!((after[0].1.alpha - 1.2).abs() < 1e-6 && after[0].1.margin == 0.4);
        assert_eq!((after[1].1.alpha, after[1].1.margin), (1.0, 0.3));
    }

    #[test]
    fn unsupported_original_settings_are_refused() {
        let bad = NET.replace("{ pn_margin: 0.4 }", "{ pn_margin: 0.4 legacy_version: true }");
        let e = migrate_text(descriptor(), &bad, false).unwrap_err();
        assert!(e.contains("legacy_version"), "{e}");
    }

    /// Found by fuzzing (fuzz/regressions/migrate_prototxt): the original type's name as another field's value,
    /// and a value written as adjacent literals, which the text format concatenates. Only the layer's own `type`
    /// field decides, and only it is rewritten; migrating the result again changes nothing.
    #[test]
    fn only_the_type_field_decides_and_is_rewritten() {
        let net = r#"layer { name: "DistanceWeightedValidPairLossV12" type: "InnerProduct"
  bottom: "label"
   "DistanceWeightedValidPairLossV12" top: "x" }
layer { name: "DistanceWeightedValidPairLossV12" bottom: "DistanceWeightedValidPairLossV12"
  type: "DistanceWeighted" # the type, in two pieces
    'ValidPairLossV12'
  contrastive_loss_param_v2 { pn_margin: 0.4 } }
"#;
        let (out, changed) = migrate_text(descriptor(), net, false).unwrap();
        assert_eq!(changed.len(), 1);
        assert!(out.contains("layer { name: \"DistanceWeightedValidPairLossV12\" type: \"InnerProduct\""));
        assert!(
            out.contains("bottom: \"DistanceWeightedValidPairLossV12\"\n  type: \"RankedListLoss\"\n"),
            "{out}"
        );
        let (again, changed) = migrate_text(descriptor(), &out, false).unwrap();
        assert!(changed.is_empty() && again == out);
    }
}
