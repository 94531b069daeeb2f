//! Generator of `venus-rs-encoder`'s wire code.
//!
//! Reads the Vulkan registry (`data/vk.xml`, pinned in the repository, through `vk-parse`)
//! and the project data file `data/venus-protocol.json` (command numbers, protocol extension
//! list, the VK_MESA_venus_protocol additions and the protocol's special cases), builds a
//! wire model of every command in the VkCommandTypeEXT table and writes Rust source into
//! `encoder/src/generated/`, plus a test of the C layouts against the `ash` version the
//! workspace locks (read from its source). Every file is formatted with `rustfmt`. The
//! output is a pure function of these inputs.

mod ash_layout;
mod emit;
mod emit_convert;
mod emit_host;
mod emit_icd;
mod emit_mesa;
mod model;
mod registry;

use std::fmt;
use std::path::{Path, PathBuf};

/// Generated files: (file name, content).
pub(crate) type GeneratedFiles = Vec<(String, String)>;

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
    /// Hand-written host handlers: (command, module, why).
    pub host_custom: Vec<(String, String, String)>,
    /// Generated host dispatches with a hand-written check first: (command, module, why).
    pub host_guarded: Vec<(String, String, String)>,
    /// Commands the host runs through generated dispatch / refuses.
    pub host_generated: usize,
    pub host_unsupported: usize,
    /// Commands whose generated dispatch could not be written, with the reason.
    pub host_notes: Vec<String>,
    /// Commands without a generated ICD entry point, with the reason.
    pub icd_notes: Vec<String>,
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
        writeln!(
            f,
            "host dispatch: {} generated, {} hand-written, {} unsupported",
            self.host_generated,
            self.host_custom.len(),
            self.host_unsupported
        )?;
        writeln!(
            f,
            "hand-written host handlers ({}):",
            self.host_custom.len()
        )?;
        for (name, module, why) in &self.host_custom {
            writeln!(f, "  {name} ({module}): {why}")?;
        }
        writeln!(
            f,
            "generated host dispatches with a hand-written check ({}):",
            self.host_guarded.len()
        )?;
        for (name, module, why) in &self.host_guarded {
            writeln!(f, "  {name} ({module}): {why}")?;
        }
        for note in &self.host_notes {
            writeln!(f, "no generated dispatch: {note}")?;
        }
        for note in &self.icd_notes {
            writeln!(f, "no generated ICD entry point: {note}")?;
        }
        for s in &self.stale {
            writeln!(f, "stale: {}", s.display())?;
        }
        Ok(())
    }
}

/// The registry the generator reads unless told otherwise, relative to the workspace.
pub const PINNED_VK_XML: &str = "encoder-gen/data/vk.xml";
/// The Venus protocol data, relative to the workspace.
pub const PROTOCOL_DATA: &str = "encoder-gen/data/venus-protocol.json";
/// How the host runs each command (generated, hand-written, refused), relative to the workspace.
pub const HOST_DISPATCH_DATA: &str = "encoder-gen/data/host-dispatch.json";
/// How the guest ICD answers each command (generated or hand-written), relative to the workspace.
pub const ICD_ENTRIES_DATA: &str = "encoder-gen/data/icd-entries.json";

/// Generates every generated source file of the `workspace` from `vk_xml` (normally
/// [`PINNED_VK_XML`]) and [`PROTOCOL_DATA`].
///
/// With `check`, nothing is written: the report lists the files whose content differs and
/// the call fails when any does.
pub fn run(workspace: &Path, vk_xml: &Path, check: bool) -> Result<CodegenReport, String> {
    let data_file = workspace.join(PROTOCOL_DATA);
    let data_file = data_file.as_path();
    let out_dir = workspace.join("encoder/src/generated");
    let out_dir = out_dir.as_path();
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
    files.push((
        "mesa.rs".to_string(),
        emit_mesa::emit_mesa_structs(&model, &reg),
    ));
    let ash = ash_layout::load(workspace)?;
    files.push((
        "layout.rs".to_string(),
        emit::emit_layout_test(&model, &ash, &reg.type_alias),
    ));
    let host_data_file = workspace.join(HOST_DISPATCH_DATA);
    let host_text = std::fs::read_to_string(&host_data_file)
        .map_err(|e| format!("cannot read {}: {e}", host_data_file.display()))?;
    let host_data: serde_json::Value = serde_json::from_str(&host_text)
        .map_err(|e| format!("{}: {e}", host_data_file.display()))?;
    let (host_files, host_plan, host_notes) = emit_host::emit_host(&model, &reg, &host_data)?;
    let icd_data = read_json(&workspace.join(ICD_ENTRIES_DATA))?;
    let (icd_files, icd_notes) = emit_icd::emit_icd(&model, &reg, &ash, &icd_data)?;
    let icd_dir = workspace.join("icd/src/driver/generated");
    let host_dir = workspace.join("host/src/vulkan/generated");
    let mut outputs: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|(name, content)| (out_dir.join(name), content))
        .collect();
    outputs.extend(
        host_files
            .into_iter()
            .map(|(name, content)| (host_dir.join(name), content)),
    );
    outputs.extend(
        icd_files
            .into_iter()
            .map(|(name, content)| (icd_dir.join(name), content)),
    );
    let mut report = CodegenReport {
        vk_xml_version: model.vk_xml_version.clone(),
        encoded: model.commands.len(),
        decodable: model.commands.len(),
        table_size: model.table_size,
        structs: model.structs.len(),
        unions: model.unions.len(),
        left_out: model.left_out.clone(),
        host_custom: host_plan
            .custom()
            .map(|(n, m, w)| (n.to_string(), m.to_string(), w.to_string()))
            .collect(),
        host_guarded: host_plan
            .guarded()
            .map(|(n, m, w)| (n.to_string(), m.to_string(), w.to_string()))
            .collect(),
        host_generated: host_plan.count(|r| {
            matches!(
                r,
                emit_host::Route::Generated | emit_host::Route::Guarded { .. }
            )
        }),
        host_unsupported: host_plan.count(|r| matches!(r, emit_host::Route::Unsupported(_))),
        host_notes,
        icd_notes,
        files: Vec::new(),
        stale: Vec::new(),
    };
    for (path, content) in outputs {
        let content =
            rustfmt(&content).map_err(|e| format!("formatting {}: {e}", path.display()))?;
        if let (false, Some(dir)) = (check, path.parent()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
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

/// Formats generated source the way `cargo fmt` formats the rest of the workspace.
fn rustfmt(source: &str) -> Result<String, String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = source.to_owned();
    // rustfmt writes as it reads: feed it from a thread so neither side blocks on a full pipe.
    let feeder = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt failed: {e}"))?;
    feeder
        .join()
        .map_err(|_| "the rustfmt feeder panicked".to_string())?
        .map_err(|e| format!("writing to rustfmt failed: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt printed non-UTF-8: {e}"))
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
