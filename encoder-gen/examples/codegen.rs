//! Runs the generator until `cargo xtask codegen` is wired to it.
//! Usage: cargo run -p venus-rs-encoder-gen --example codegen [-- --check]

use std::path::PathBuf;

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let home = std::env::var_os("VENUS_RS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/venus-rs")
        });
    let vk_xml = home.join("reference-root/usr/share/vulkan/registry/vk.xml");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("encoder/venus-protocol.json");
    let out = root.join("encoder/src/generated");
    match venus_rs_encoder_gen::run(&vk_xml, &data, &out, check) {
        Ok(report) => print!("{report}"),
        Err(e) => {
            eprintln!("codegen failed: {e}");
            std::process::exit(1);
        }
    }
}
