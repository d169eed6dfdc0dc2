//! rll-migrate's caffe.proto side: arbitrary proto text as the --caffe-proto file (beside our
//! ranked_list_loss.proto, which it may import). The contract: a descriptor or an error with a message; never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rll-fuzz-proto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ranked_list_loss.proto"),
            include_str!("../../proto/ranked_list_loss.proto"),
        )
        .unwrap();
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join("caffe.proto");
    std::fs::write(&path, data).unwrap();
    if let Err(e) = rll_migrate::net_descriptor(&path) {
        assert!(!e.is_empty(), "an error without a message");
    }
});
