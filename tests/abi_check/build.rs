//! Runs bindgen on the public header, so the test compiles only while the header and the Rust exports agree.

fn main() {
    let header = "../../cpp/include/ranked_list_loss.h";
    println!("cargo:rerun-if-changed={header}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    bindgen::Builder::default()
        .header(header)
        .allowlist_function("rll_.*")
        .allowlist_type("rll_.*")
        .allowlist_var("RLL_.*")
        .generate()
        .expect("bindgen could not parse cpp/include/ranked_list_loss.h")
        .write_to_file(out.join("header.rs"))
        .unwrap();
}
