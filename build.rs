//! Generates the parameter types from `proto/` (prost, through protox: no protoc needed) and compiles the cxx
//! bridge used by the C++ Caffe layers.

fn main() {
    let proto = "proto/ranked_list_loss.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"]).expect("proto/ranked_list_loss.proto does not compile");
    prost_build::Config::new()
        .compile_fds(fds)
        .expect("prost code generation failed");

    // Two bridges: the layers' functions, and the device calls' argument structs they share with the backends.
    println!("cargo:rerun-if-changed=src/bridge.rs");
    println!("cargo:rerun-if-changed=src/device_args.rs");
    cxx_build::bridges(["src/bridge.rs", "src/device_args.rs"])
        .std("c++11")
        .compile("ranked_list_loss_bridge");

    // The generated headers' SHA-256 names a symbol of the library (lib.rs, BRIDGE_STAMP) that the Caffe layers'
    // copy of the headers references (caffe_patch/apply computes the same hash): a library built from another
    // bridge then fails to link, naming the symbol, instead of linking new code against stale headers.
    use sha2::Digest;
    let out = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    let mut hash = sha2::Sha256::new();
    for header in ["bridge.rs.h", "device_args.rs.h"] {
        let path = format!("{out}/cxxbridge/include/ranked-list-loss/src/{header}");
        hash.update(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")));
    }
    let hex: String = hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    println!("cargo:rustc-env=RLL_BRIDGE_STAMP={hex}");
}
