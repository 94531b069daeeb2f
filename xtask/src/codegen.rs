//! `cargo xtask codegen [--check]`: regenerates the Venus wire format in `encoder/src/generated/` from the
//! Vulkan registry pinned in `encoder-gen/data/vk.xml` (or `VENUS_RS_VK_XML`) and the project's protocol data file.

use crate::ours::workspace_dir;

pub fn codegen(check: bool) -> Result<(), String> {
    let workspace = workspace_dir();
    let vk_xml = match std::env::var_os("VENUS_RS_VK_XML") {
        Some(path) => path.into(),
        None => workspace.join(venus_rs_encoder_gen::PINNED_VK_XML),
    };
    // The generator checks the C layouts it assumes against ash's own definitions, read from cargo's source cache.
    let status = crate::test::cargo()
        .args(["fetch", "--quiet"])
        .current_dir(&workspace)
        .status()
        .map_err(|e| format!("cannot run cargo fetch: {e}"))?;
    if !status.success() {
        return Err(format!(
            "cargo fetch failed ({status}): the generator needs ash's sources"
        ));
    }
    let report = venus_rs_encoder_gen::run(&workspace, &vk_xml, check)?;
    print!("{report}");
    if check {
        println!("[codegen] the checked-in code matches {}", vk_xml.display());
    } else {
        println!("[codegen] wrote {} files", report.files.len());
    }
    Ok(())
}
