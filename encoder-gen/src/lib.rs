//! Generator of `venus-rs-encoder`'s wire code.
//!
//! Reads the Vulkan registry (`vk.xml`, through `vk-parse`) and the project data file
//! `encoder/venus-protocol.json` (command numbers, protocol extension list, the
//! VK_MESA_venus_protocol additions and the protocol's special cases), builds a wire
//! model of every command in the VkCommandTypeEXT table and writes Rust source into
//! `encoder/src/generated/`, plus a test of the C layouts against the `ash` version the
//! workspace locks (read from its source). The output is a pure function of these inputs.

mod ash_layout;
mod emit;
mod emit_convert;
mod model;
mod registry;

use std::fmt;
use std::path::{Path, PathBuf};

/// What one generator run produced.
#[derive(Debug)]
pub struct CodegenReport {
    pub vk_xml_version: String,
    pub encoded: usize,
    pub decodable: usize,
    pub table_size: usize,
    pub structs: usize,
    pub unions: usize,
    /// (command type, name, reason)
    pub left_out: Vec<(u32, String, String)>,
    pub files: Vec<PathBuf>,
    /// In `--check` mode: files whose checked-in content differs from the generator's output.
    pub stale: Vec<PathBuf>,
}

impl fmt::Display for CodegenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "venus protocol from vk.xml {}: {} encoded / {} decodable / {} table size ({} structs, {} unions)",
            self.vk_xml_version, self.encoded, self.decodable, self.table_size, self.structs, self.unions
        )?;
        writeln!(f, "left out ({}):", self.left_out.len())?;
        for (value, name, reason) in &self.left_out {
            writeln!(f, "  {value:3} {name}: {reason}")?;
        }
        for s in &self.stale {
            writeln!(f, "stale: {}", s.display())?;
        }
        Ok(())
    }
}

/// Generates the encoder sources into `out_dir` (normally `encoder/src/generated`).
///
/// With `check`, nothing is written: the report lists the files whose content differs and
/// the call fails when any does.
pub fn run(
    vk_xml: &Path,
    data_file: &Path,
    out_dir: &Path,
    check: bool,
) -> Result<CodegenReport, String> {
    let text = std::fs::read_to_string(data_file)
        .map_err(|e| format!("cannot read {}: {e}", data_file.display()))?;
    let data: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", data_file.display()))?;
    let mut reg = registry::Registry::load(vk_xml)?;
    let expected = data["vk_xml_version"].as_str().unwrap_or("");
    if !expected.is_empty() && reg.version != expected {
        return Err(format!(
            "{} is vk.xml {}, but {} describes the protocol for {expected}",
            vk_xml.display(),
            reg.version,
            data_file.display()
        ));
    }
    reg.add_mesa(&data["mesa"])?;
    let model = model::build(&reg, &data)?;
    let mut files = emit::emit(&model, &data)?;
    files.push((
        "convert.rs".to_string(),
        emit_convert::emit_convert(&model, &reg),
    ));
    let workspace = data_file
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not inside a workspace", data_file.display()))?;
    let ash = ash_layout::load(workspace)?;
    files.push((
        "layout.rs".to_string(),
        emit::emit_layout_test(&model, &ash, &reg.type_alias),
    ));
    let mut report = CodegenReport {
        vk_xml_version: model.vk_xml_version.clone(),
        encoded: model.commands.len(),
        decodable: model.commands.len(),
        table_size: model.table_size,
        structs: model.structs.len(),
        unions: model.unions.len(),
        left_out: model.left_out.clone(),
        files: Vec::new(),
        stale: Vec::new(),
    };
    if !check {
        std::fs::create_dir_all(out_dir)
            .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    }
    for (name, content) in files {
        let path = out_dir.join(name);
        if check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != content {
                report.stale.push(path.clone());
            }
        } else {
            std::fs::write(&path, content)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        report.files.push(path);
    }
    if check && !report.stale.is_empty() {
        return Err(format!(
            "generated code is stale; run `cargo xtask codegen`\n{report}"
        ));
    }
    Ok(report)
}
