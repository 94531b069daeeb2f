//! `cargo xtask compare-vulkaninfo --a PAIRING --b PAIRING`: runs vulkaninfo in two pairings and reports every
//! difference in what the device reports — properties and limits, features, format properties, queue families,
//! extensions (from `vulkaninfo --json`), memory types and heaps (from the text report, which the JSON lacks).
//! Only differences named in `tests/vulkaninfo-allowlist.txt`, each with its reason, are accepted.

use crate::ours::workspace_dir;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

pub const USAGE: &str =
    "usage: cargo xtask compare-vulkaninfo --a GUEST,HOST,TRANSPORT --b GUEST,HOST,TRANSPORT \
[--timeout SECONDS] [--reference {newest|trixie}]\n  e.g. --a mesa,virgl,vtest --b ours,virgl,vtest";

const JSON_BEGIN: &str = "=== venus-rs: vulkaninfo --json begin ===";
const JSON_END: &str = "=== venus-rs: vulkaninfo --json end ===";
const ALLOWLIST: &str = "tests/vulkaninfo-allowlist.txt";

/// One flattened report: `path = value` for every leaf.
type Report = BTreeMap<String, String>;

pub fn compare(args: &[String]) -> Result<i32, String> {
    let mut a = None;
    let mut b = None;
    let mut timeout = "300".to_string();
    // Both pairings run on one reference stack; `pair` takes $VENUS_RS_REFERENCE when none is given.
    let mut reference = Vec::new();
    let mut rest = args.iter();
    while let Some(option) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))?;
        match option.as_str() {
            "--a" => a = Some(value.clone()),
            "--b" => b = Some(value.clone()),
            "--timeout" => timeout = value.clone(),
            "--reference" => reference = vec!["--reference".to_string(), value.clone()],
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    let a = a.ok_or_else(|| format!("--a is required\n{USAGE}"))?;
    let b = b.ok_or_else(|| format!("--b is required\n{USAGE}"))?;
    let allowlist = Allowlist::load()?;
    let report_a = collect(&a, &timeout, &reference)?;
    let report_b = collect(&b, &timeout, &reference)?;
    let differences = differences(&report_a, &report_b);
    let (allowed, refused): (Vec<_>, Vec<_>) = differences
        .iter()
        .partition(|difference| allowlist.reason(&difference.path).is_some());
    println!(
        "[compare] {a}: {} values, {b}: {} values, {} differences ({} allowed, {} not allowed)",
        report_a.len(),
        report_b.len(),
        differences.len(),
        allowed.len(),
        refused.len()
    );
    for difference in &allowed {
        let reason = allowlist.reason(&difference.path).unwrap_or_default();
        println!("  allowed  {difference}\n           because: {reason}");
    }
    for difference in &refused {
        println!("  DIFFERS  {difference}");
    }
    Ok(if refused.is_empty() { 0 } else { 1 })
}

/// Runs vulkaninfo (JSON profile, then the text report) through `cargo xtask pair` and flattens both.
fn collect(pairing: &str, timeout: &str, reference: &[String]) -> Result<Report, String> {
    let parts: Vec<&str> = pairing.split(',').collect();
    let [guest, host, transport] = parts[..] else {
        return Err(format!(
            "a pairing is GUEST,HOST,TRANSPORT, not {pairing:?}\n{USAGE}"
        ));
    };
    let script = format!(
        "set -e; out=\"${{XDG_RUNTIME_DIR:-/tmp}}/vulkaninfo.json\"; vulkaninfo --json -o \"$out\" >/dev/null; \
         echo '{JSON_BEGIN}'; cat \"$out\"; echo; echo '{JSON_END}'; vulkaninfo"
    );
    let exe = std::env::current_exe().map_err(|e| format!("cannot find xtask itself: {e}"))?;
    println!("[compare] running vulkaninfo in {pairing} ...");
    let output = Command::new(exe)
        .args([
            "pair",
            "--guest",
            guest,
            "--host",
            host,
            "--transport",
            transport,
            "--timeout",
            timeout,
        ])
        .args(reference)
        .args(["--", "sh", "-c", &script])
        .current_dir(workspace_dir())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run the {pairing} pairing: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "vulkaninfo failed in {pairing} ({}); its output ended with:\n{}",
            output.status,
            tail(&text, 10)
        ));
    }
    let json_text = text
        .split_once(JSON_BEGIN)
        .and_then(|(_, after)| after.split_once(JSON_END))
        .map(|(json, _)| json)
        .ok_or_else(|| {
            format!(
                "{pairing}: no vulkaninfo JSON in the output:\n{}",
                tail(&text, 10)
            )
        })?;
    let json: Value = serde_json::from_str(json_text)
        .map_err(|e| format!("{pairing}: vulkaninfo printed invalid JSON: {e}"))?;
    let mut report = Report::new();
    let device = json
        .pointer("/capabilities/device")
        .ok_or_else(|| format!("{pairing}: vulkaninfo found no device"))?;
    flatten_json("device", device, &mut report);
    let text_report = text
        .split_once(JSON_END)
        .map(|(_, after)| after)
        .unwrap_or("");
    flatten_text_section(
        text_report,
        "VkPhysicalDeviceMemoryProperties:",
        "memory",
        &mut report,
    );
    Ok(report)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn flatten_json(path: &str, value: &Value, report: &mut Report) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                flatten_json(&format!("{path}.{key}"), child, report);
            }
        }
        // Lists of flag names compare as sets of flags; other lists by position.
        Value::Array(items) if items.iter().all(Value::is_string) => {
            for item in items {
                report.insert(
                    format!("{path}.{}", item.as_str().unwrap_or_default()),
                    "set".into(),
                );
            }
            if items.is_empty() {
                report.insert(path.to_string(), "[]".into());
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                flatten_json(&format!("{path}[{index}]"), child, report);
            }
        }
        leaf => {
            report.insert(path.to_string(), leaf.to_string());
        }
    }
}

/// Flattens one section of vulkaninfo's text report (`key = value`, `key:` groups, and bare flag names,
/// nested by tab indentation) up to the next section (a line followed by a `====` underline).
fn flatten_text_section(text: &str, header: &str, prefix: &str, report: &mut Report) {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|line| line.trim() == header) else {
        report.insert(format!("{prefix}.<section missing>"), header.into());
        return;
    };
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (index, line) in lines.iter().enumerate().skip(start + 2) {
        if lines
            .get(index + 1)
            .is_some_and(|next| next.starts_with("====") && !line.trim().is_empty())
        {
            break;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let depth = line.len() - line.trim_start_matches('\t').len();
        while stack.last().is_some_and(|(level, _)| *level >= depth) {
            stack.pop();
        }
        let parent: Vec<&str> = std::iter::once(prefix)
            .chain(stack.iter().map(|(_, key)| key.as_str()))
            .collect();
        let parent = parent.join(".");
        let group_with_count = trimmed
            .split_once(": count = ")
            .filter(|(group, _)| !group.contains(" = "));
        if let Some((group, count)) = group_with_count {
            report.insert(format!("{parent}.{group}.count"), count.to_string());
            stack.push((depth, group.to_string()));
        } else if let Some((key, value)) = trimmed.split_once(" = ") {
            let key = key.trim();
            let value = value.trim();
            // `propertyFlags = 0x000f: count = 4` opens a group of flag names as well as holding a value.
            let (value, opens_group) = match value.split_once(": count =") {
                Some((value, _)) => (value.trim(), true),
                None => (value, false),
            };
            report.insert(format!("{parent}.{key}"), value.to_string());
            if opens_group {
                stack.push((depth, key.to_string()));
            }
        } else if let Some(group) = trimmed.strip_suffix(':') {
            stack.push((depth, group.to_string()));
        } else {
            report.insert(format!("{parent}.{trimmed}"), "set".into());
        }
    }
}

struct Difference {
    path: String,
    a: Option<String>,
    b: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |value: &Option<String>| value.clone().unwrap_or_else(|| "(absent)".into());
        write!(
            f,
            "{}: a = {}, b = {}",
            self.path,
            show(&self.a),
            show(&self.b)
        )
    }
}

fn differences(a: &Report, b: &Report) -> Vec<Difference> {
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .map(|path| Difference {
            path: path.clone(),
            a: a.get(path).cloned(),
            b: b.get(path).cloned(),
        })
        .collect()
}

/// `PATH_PREFIX  # reason` lines; a difference is allowed when its path starts with a listed prefix.
struct Allowlist {
    entries: Vec<(String, String)>,
}

impl Allowlist {
    fn load() -> Result<Allowlist, String> {
        let path = workspace_dir().join(ALLOWLIST);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Allowlist, String> {
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (prefix, reason) = line
                .split_once('#')
                .map(|(prefix, reason)| (prefix.trim(), reason.trim()))
                .filter(|(_, reason)| !reason.is_empty())
                .ok_or_else(|| format!("line {}: every entry needs a `# reason`", number + 1))?;
            entries.push((prefix.to_string(), reason.to_string()));
        }
        Ok(Allowlist { entries })
    }

    fn reason(&self, path: &str) -> Option<String> {
        self.entries
            .iter()
            .find(|(prefix, _)| path_has_prefix(path, prefix))
            .map(|(_, reason)| reason.clone())
    }
}

fn path_has_prefix(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY_SECTION: &str = "VkPhysicalDeviceMemoryProperties:
=================================
memoryHeaps: count = 1
\tmemoryHeaps[0]:
\t\tsize   = 2147483648 (0x80000000) (2.00 GiB)
\t\tflags: count = 1
\t\t\tMEMORY_HEAP_DEVICE_LOCAL_BIT
memoryTypes: count = 1
\tmemoryTypes[0]:
\t\theapIndex     = 0
\t\tpropertyFlags = 0x000f: count = 2
\t\t\tMEMORY_PROPERTY_DEVICE_LOCAL_BIT
\t\t\tMEMORY_PROPERTY_HOST_VISIBLE_BIT

VkPhysicalDeviceFeatures:
=========================
robustBufferAccess = true
";

    #[test]
    fn memory_section_flattens_to_paths_and_stops_at_the_next_section() {
        let mut report = Report::new();
        flatten_text_section(
            MEMORY_SECTION,
            "VkPhysicalDeviceMemoryProperties:",
            "memory",
            &mut report,
        );
        assert_eq!(report["memory.memoryHeaps.count"], "1");
        assert_eq!(
            report["memory.memoryHeaps.memoryHeaps[0].size"],
            "2147483648 (0x80000000) (2.00 GiB)"
        );
        assert_eq!(
            report["memory.memoryHeaps.memoryHeaps[0].flags.MEMORY_HEAP_DEVICE_LOCAL_BIT"],
            "set"
        );
        assert_eq!(
            report["memory.memoryTypes.memoryTypes[0].propertyFlags"],
            "0x000f"
        );
        assert!(report.contains_key(
            "memory.memoryTypes.memoryTypes[0].propertyFlags.MEMORY_PROPERTY_HOST_VISIBLE_BIT"
        ));
        assert!(!report.keys().any(|key| key.contains("robustBufferAccess")));
    }

    #[test]
    fn json_flag_lists_compare_as_sets() {
        let mut first = Report::new();
        let mut second = Report::new();
        flatten_json(
            "q",
            &serde_json::json!({"flags": ["A", "B"], "count": 1}),
            &mut first,
        );
        flatten_json(
            "q",
            &serde_json::json!({"flags": ["B", "A"], "count": 2}),
            &mut second,
        );
        let found = differences(&first, &second);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "q.count");
    }

    #[test]
    fn allowlist_matches_whole_path_components_and_requires_reasons() {
        let list = Allowlist::parse("device.properties.X.driverName  # each driver names itself\n")
            .unwrap();
        assert!(list.reason("device.properties.X.driverName").is_some());
        assert!(list
            .reason("device.properties.X.driverNameSuffix")
            .is_none());
        assert!(Allowlist::parse("device.extensions.VK_KHR_x\n").is_err());
    }
}
