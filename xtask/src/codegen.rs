//! `cargo xtask codegen [--check]`: regenerates the Venus wire format in `encoder/src/generated/` from the
//! Vulkan registry of the reference stack and the project's protocol data file.

use crate::env::Home;
use crate::ours::workspace_dir;

pub fn codegen(home: &Home, check: bool) -> Result<(), String> {
    let vk_xml = match std::env::var_os("VENUS_RS_VK_XML") {
        Some(path) => path.into(),
        None => {
            home.require_reference()?;
            home.vk_xml()
        }
    };
    // The generator checks the C layouts it assumes against ash's own definitions, read from cargo's source cache.
    let status = crate::test::cargo()
        .args(["fetch", "--quiet"])
        .current_dir(workspace_dir())
        .status()
        .map_err(|e| format!("cannot run cargo fetch: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo fetch failed ({status}): the generator needs ash's sources"
        ));
    }
    let encoder = workspace_dir().join("encoder");
    let report = venus_rs_encoder_gen::run(
        &vk_xml,
        &encoder.join("venus-protocol.json"),
        &encoder.join("src/generated"),
        check,
    )?;
    print!("{report}");
    if check {
        println!("[codegen] the checked-in code matches {}", vk_xml.display());
    } else {
        println!("[codegen] wrote {} files", report.files.len());
    }
    Ok(())
}
