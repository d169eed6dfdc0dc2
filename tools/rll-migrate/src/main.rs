//! rll-migrate: rewrites an original-style RLL prototxt into the `RankedListLoss` form with equal behaviour (see
//! the library, src/lib.rs).
//!
//! Usage: rll-migrate --caffe-proto <patched caffe.proto> [--paper] <in.prototxt> [-o <out.prototxt>]

use rll_migrate::{migrate_text, net_descriptor};
use std::path::PathBuf;
use std::process::ExitCode;

struct Args {
    caffe_proto: PathBuf,
    paper: bool,
    input: PathBuf,
    output: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut caffe_proto, mut paper, mut input, mut output) = (None, false, None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--caffe-proto" => caffe_proto = args.next().map(PathBuf::from),
            "--paper" => paper = true,
            "-o" | "--output" => output = args.next().map(PathBuf::from),
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => input = Some(PathBuf::from(a)),
        }
    }
    Ok(Args {
        caffe_proto: caffe_proto.ok_or("--caffe-proto <caffe.proto of a patched tree> is required")?,
        paper,
        input: input.ok_or("no input prototxt given")?,
        output,
    })
}

fn run(args: Args) -> Result<(), String> {
    let desc = net_descriptor(&args.caffe_proto)?;
    let text = std::fs::read_to_string(&args.input).map_err(|e| format!("{}: {e}", args.input.display()))?;
    let (out, changed) = migrate_text(desc, &text, args.paper).map_err(|e| format!("{}: {e}", args.input.display()))?;
    let header = format!(
        "# Migrated by rll-migrate from {} ({} layer(s): {}).\n",
        args.input.display(),
        changed.len(),
        changed.join(", ")
    );
    match &args.output {
        Some(p) => std::fs::write(p, header + &out).map_err(|e| format!("{}: {e}", p.display()))?,
        None => print!("{header}{out}"),
    }
    eprintln!(
        "rll-migrate: {} layer(s) rewritten: {}",
        changed.len(),
        changed.join(", ")
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args() {
        Err(e) => {
            if !e.is_empty() {
                eprintln!("rll-migrate: {e}");
            }
            eprintln!("usage: rll-migrate --caffe-proto <patched caffe.proto> [--paper] <in.prototxt> [-o <out>]");
            ExitCode::from(2)
        }
        Ok(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rll-migrate: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
