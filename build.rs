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
    println!("cargo:rerun-if-changed=src/batch.rs");
    cxx_build::bridges(["src/bridge.rs", "src/batch.rs"])
        .std("c++11")
        .compile("ranked_list_loss_bridge");
}
