//! Writes the guest ICD's generated layer (`icd/src/driver/generated/`):
//! - `calls.rs`: a typed wrapper per command, taking ash's types, in three shapes as Mesa's
//!   Venus has them: `call_*` (sent with the reply bit, waits, writes the outputs back),
//!   `send_*` (sent without waiting) and, for `vkCmd*`, `record_*` (encoded into the command
//!   buffer's own stream);
//! - `entries.rs`: the default entry point of every command the data file does not give to a
//!   hand-written module (`data/icd-entries.json`);
//! - `table.rs`: every command name the ICD answers `vkGet*ProcAddr` for, sorted, with its
//!   scope and the core version or extensions that provide it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::ash_layout::AshTypes;
use crate::emit::{snake, HEADER};
use crate::model::{CommandIr, Kind, Model, Scalar};
use crate::registry::{RawCommand, RawMember, Registry, TypeDef};

/// How the ICD answers one command.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    /// The generated default.
    Generated,
    /// `crate::driver::<module>::<function>`.
    Custom { module: String },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scope {
    Global,
    Instance,
    PhysicalDevice,
    Device,
}

impl Scope {
    fn of(raw: &RawCommand, reg: &Registry) -> Scope {
        let first = raw
            .params
            .first()
            .map(|p| reg.resolve_type(&p.ty).to_string())
            .unwrap_or_default();
        match first.as_str() {
            "VkInstance" => Scope::Instance,
            "VkPhysicalDevice" => Scope::PhysicalDevice,
            "VkDevice" | "VkQueue" | "VkCommandBuffer" => Scope::Device,
            _ => Scope::Global,
        }
    }

    fn rust(self) -> &'static str {
        match self {
            Scope::Global => "Scope::Global",
            Scope::Instance => "Scope::Instance",
            Scope::PhysicalDevice => "Scope::PhysicalDevice",
            Scope::Device => "Scope::Device",
        }
    }
}

fn fn_name(name: &str) -> String {
    snake(name.strip_prefix("vk").unwrap_or(name))
}

struct IcdEmitter<'m> {
    model: &'m Model,
    reg: &'m Registry,
    ash: &'m AshTypes,
    routes: BTreeMap<String, Route>,
    /// Commands whose VkResult the ICD reports as VK_SUCCESS without waiting (sent async).
    async_results: BTreeSet<String>,
}

/// A parameter as an entry point declares it and as the encoder takes it.
struct Param {
    name: String,
    /// The Rust type in the entry point's (ash-typed) signature.
    ty: String,
    /// Converts the entry point's value to the encoder's argument.
    to_wire: String,
}

impl IcdEmitter<'_> {
    /// ash's name for a Vulkan type, following vk.xml aliases (ash follows an older registry)
    /// and ash's use of `*Flags` for `*FlagBits`.
    fn ash_name(&self, c_type: &str) -> Option<(String, bool)> {
        let mut candidates = vec![c_type.to_string()];
        let resolved = self.reg.resolve_type(c_type).to_string();
        candidates.push(resolved.clone());
        candidates.extend(
            self.reg
                .type_alias
                .iter()
                .filter(|(_, target)| **target == resolved)
                .map(|(alias, _)| alias.clone()),
        );
        for candidate in candidates {
            let base = candidate.strip_prefix("Vk")?;
            let base = base
                .replace("FlagBits2", "Flags2")
                .replace("FlagBits", "Flags");
            if let Some(&lifetime) = self.ash.names.get(&base) {
                return Some((base, lifetime));
            }
        }
        None
    }

    /// The Rust type of a value of C type `c_type` (not a pointer).
    fn value_type(&self, c_type: &str) -> String {
        match c_type {
            "void" => "c_void".into(),
            "char" => "c_char".into(),
            "uint8_t" => "u8".into(),
            "uint16_t" => "u16".into(),
            "uint32_t" => "u32".into(),
            "int32_t" => "i32".into(),
            "uint64_t" => "u64".into(),
            "int64_t" => "i64".into(),
            "float" => "f32".into(),
            "double" => "f64".into(),
            "size_t" => "usize".into(),
            _ => match self.ash_name(c_type) {
                Some((name, true)) => format!("vk::{name}<'_>"),
                Some((name, false)) => format!("vk::{name}"),
                None => match self.reg.types.get(self.reg.resolve_type(c_type)) {
                    Some(TypeDef::Enum { bits64: false }) => "i32".into(),
                    Some(TypeDef::Enum { bits64: true })
                    | Some(TypeDef::Bitmask { bits64: true }) => "u64".into(),
                    Some(TypeDef::Bitmask { bits64: false }) => "u32".into(),
                    Some(TypeDef::Handle { .. }) => "u64".into(),
                    _ => "c_void".into(),
                },
            },
        }
    }

    /// Whether values of C type `c_type` are an ash newtype (enum, flags or handle) that the
    /// encoder takes as its raw value.
    fn is_newtype(&self, c_type: &str) -> bool {
        self.ash_name(c_type).is_some()
            && matches!(
                self.reg.types.get(self.reg.resolve_type(c_type)),
                Some(TypeDef::Enum { .. } | TypeDef::Bitmask { .. } | TypeDef::Handle { .. })
            )
    }

    fn param(&self, raw: &RawMember, wire: Option<&Kind>) -> Param {
        let name = snake(&raw.name);
        let value = self.value_type(&raw.ty);
        let is_pointer = raw.ptr_depth > 0 || !raw.array_dims.is_empty();
        if !is_pointer {
            let to_wire = match wire {
                Some(Kind::Handle { .. }) => format!("{name}.as_raw()"),
                Some(Kind::Scalar(s)) if self.is_newtype(&raw.ty) => {
                    format!("{name}.as_raw() as {}", s.c_rust())
                }
                _ => name.clone(),
            };
            return Param {
                name,
                ty: value,
                to_wire,
            };
        }
        // A C array parameter (`const float blendConstants[4]`) is a pointer to the array.
        let pointee = match raw.array_dims.as_slice() {
            [n] => format!("[{value}; {n}]"),
            _ => value,
        };
        let ty = match (raw.ptr_depth, raw.is_const) {
            (2, true) => format!("*const *const {pointee}"),
            (2, false) => format!("*mut *mut {pointee}"),
            (_, true) => format!("*const {pointee}"),
            (_, false) if !raw.array_dims.is_empty() => format!("*const {pointee}"),
            (_, false) => format!("*mut {pointee}"),
        };
        let to_wire = format!("{name}.cast()");
        Param { name, ty, to_wire }
    }

    fn raw_command(&self, name: &str) -> Option<&RawCommand> {
        self.reg.commands.get(name).or_else(|| {
            self.reg
                .command_alias
                .get(name)
                .and_then(|target| self.reg.commands.get(target))
        })
    }

    fn params(&self, c: &CommandIr) -> Vec<Param> {
        let raw = self
            .raw_command(&c.name)
            .expect("every model command is in vk.xml");
        raw.params
            .iter()
            .zip(&c.params)
            .map(|(raw, wire)| self.param(raw, Some(&wire.kind)))
            .collect()
    }

    fn return_type(c: &CommandIr) -> &'static str {
        match c.ret {
            None => "()",
            Some(Scalar::I32) => "vk::Result",
            Some(s) => s.c_rust(),
        }
    }

    fn wire_return(c: &CommandIr) -> &'static str {
        match c.ret {
            Some(Scalar::I32) => ".map(vk::Result::from_raw)",
            _ => "",
        }
    }

    /// Commands on a command buffer (vkCmd*, vkBegin/End/ResetCommandBuffer) go into its
    /// stream, which the host sees at submission.
    fn is_recorded(c: &CommandIr) -> bool {
        matches!(c.params.first().map(|p| &p.kind),
            Some(Kind::Handle { dispatchable: true, name }) if name == "VkCommandBuffer")
    }

    fn emit_calls(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str(
            "//! Typed wrappers over the generated encoders (see `venus_rs_encoder::guest`): ash's types\n\
             //! in, the host's answer out. `call_*` waits for the reply and writes the outputs into the\n\
             //! application's memory; `send_*` does not wait; `record_*` appends a `vkCmd*` to the\n\
             //! command buffer's own stream. Unused wrappers are kept: they are the API hand-written\n\
             //! code builds on, as Mesa's generated protocol headers are.\n\
             #![allow(dead_code, clippy::too_many_arguments, clippy::unnecessary_cast, clippy::needless_lifetimes)]\n\n\
             use std::ffi::{c_char, c_void};\n\n\
             use ash::vk;\n\
             use ash::vk::Handle as _;\n\
             use venus_rs_encoder::guest as g;\n\
             use venus_rs_encoder::protocol::GENERATE_REPLY;\n\n\
             use crate::driver::command_buffer::CommandBuffer;\n\
             use crate::driver::host::Host;\n\n",
        );
        for c in &self.model.commands {
            if c.name.ends_with("MESA") {
                continue;
            }
            let params = self.params(c);
            let decl: Vec<String> = params
                .iter()
                .map(|p| format!("{}: {}", p.name, p.ty))
                .collect();
            let convert: Vec<String> = params
                .iter()
                .filter(|p| p.to_wire != p.name)
                .map(|p| format!("let {} = {};", p.name, p.to_wire))
                .collect();
            let args: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
            let (decl, convert, args) = (decl.join(", "), convert.join(" "), args.join(", "));
            let enc = snake(&c.name);
            let name = &c.name;
            let f = fn_name(name);
            if Self::is_recorded(c) {
                let _ = writeln!(
                    out,
                    "/// Records `{name}` into the command buffer's stream.\n///\n/// # Safety\n/// The arguments follow the command's valid usage.\npub(crate) unsafe fn record_{f}(recording: &CommandBuffer, {decl}) {{\n    {convert}\n    recording.record({name:?}, |w, cx| {{\n        // SAFETY: per this function's contract; the pointers stay valid during the encode.\n        unsafe {{ g::{enc}(w, cx, 0, {args}) }}\n    }});\n}}\n"
                );
                continue;
            }
            let ret = Self::return_type(c);
            let _ = writeln!(
                out,
                "/// `{name}` with the reply: the host's result, the outputs written back.\n///\n/// # Safety\n/// The arguments follow the command's valid usage and stay valid until this returns.\npub(crate) unsafe fn call_{f}(host: &Host, {decl}) -> Result<{ret}, vk::Result> {{\n    {convert}\n    let cx = host.guest_context();\n    // SAFETY: per this function's contract.\n    unsafe {{\n        host.call(\n            {name:?},\n            g::{enc}_size(&cx, {args}),\n            g::{enc}_reply_size(&cx, {args}),\n            |w| g::{enc}(w, &cx, GENERATE_REPLY, {args}),\n            |r| g::{enc}_decode_reply(r, &cx, {args}),\n        )\n    }}{}\n}}\n",
                Self::wire_return(c)
            );
            let _ = writeln!(
                out,
                "/// `{name}` without waiting for the host.\n///\n/// # Safety\n/// The arguments follow the command's valid usage.\npub(crate) unsafe fn send_{f}(host: &Host, {decl}) -> Result<(), vk::Result> {{\n    {convert}\n    let cx = host.guest_context();\n    // SAFETY: per this function's contract.\n    unsafe {{ host.send({name:?}, g::{enc}_size(&cx, {args}), |w| g::{enc}(w, &cx, 0, {args})) }}\n}}\n"
            );
        }
        out
    }

    /// How a generated entry point reaches the host from its first parameter.
    fn host_expr(c: &CommandIr) -> Option<&'static str> {
        match c.params.first().map(|p| &p.kind) {
            Some(Kind::Handle {
                dispatchable: true,
                name,
            }) => Some(match name.as_str() {
                "VkPhysicalDevice" => "physical_device_host(physical_device)?",
                "VkDevice" => "device_host(device)?",
                // Instance and queue commands are all hand-written.
                _ => return None,
            }),
            _ => None,
        }
    }

    fn emit_entry(&self, c: &CommandIr) -> Result<String, String> {
        let params = self.params(c);
        let decl: Vec<String> = params
            .iter()
            .map(|p| format!("{}: {}", p.name, p.ty))
            .collect();
        let args: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
        let (decl, args) = (decl.join(", "), args.join(", "));
        let name = &c.name;
        let f = fn_name(name);
        let ret = c
            .ret
            .map(|_| format!(" -> {}", Self::return_type(c)))
            .unwrap_or_default();
        let mut out = format!(
            "/// `{name}`.\n///\n/// # Safety\n/// Called by the application with arguments that follow the command's valid usage.\npub(crate) unsafe extern \"system\" fn {f}({decl}){ret} {{\n"
        );
        if Self::is_recorded(c) {
            let first = &params[0].name;
            let _ = writeln!(
                out,
                "    guard_void({name:?}, || {{\n        let recording = command_buffer_of({first})?;\n        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::record_{f}(recording, {args}) }};\n        Ok(())\n    }})\n}}\n"
            );
            return Ok(out);
        }
        let host = Self::host_expr(c).ok_or("no dispatchable first parameter")?;
        // Objects the command creates: ids chosen here, written before the command is sent.
        let created: Vec<(usize, &crate::model::Member)> = c
            .params
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.out
                    && matches!(&m.kind, Kind::Ptr(k) | Kind::Array(k, _)
                        if matches!(**k, Kind::Handle { dispatchable: false, .. }))
            })
            .collect();
        let other_outputs = c.params.iter().any(|m| {
            m.out
                && !matches!(&m.kind, Kind::Ptr(k) | Kind::Array(k, _)
                    if matches!(**k, Kind::Handle { dispatchable: false, .. }))
        });
        let is_destroy = name.starts_with("vkDestroy") || name.starts_with("vkFree");
        let mut body = String::new();
        let _ = writeln!(body, "        let host = {host};");
        for (index, m) in &created {
            let p = &params[*index];
            match &m.kind {
                Kind::Ptr(_) => {
                    let _ = writeln!(body, "        // SAFETY: the output handle is writable by the command's valid usage.\n        unsafe {{ {}.write(vk::Handle::from_raw(new_object_id())) }};", p.name);
                }
                Kind::Array(_, len) => {
                    let count = snake(&len.var);
                    let count_expr = match &len.field {
                        // SAFETY of the read is the command's valid usage (the info is valid).
                        Some(field) => format!("unsafe {{ (*{count}).{} }}", snake(field)),
                        None => count,
                    };
                    let _ = writeln!(body, "        #[allow(clippy::unnecessary_cast)]\n        let count = {count_expr} as usize;\n        for index in 0..count {{\n            // SAFETY: the output array holds `count` handles by the command's valid usage.\n            unsafe {{ {}.add(index).write(vk::Handle::from_raw(new_object_id())) }};\n        }}", p.name);
                }
                _ => unreachable!("filtered above"),
            }
        }
        let send_async = !other_outputs
            && (is_destroy
                || !created.is_empty()
                || c.ret.is_none()
                || self.async_results.contains(name));
        if is_destroy && c.ret.is_none() && params.len() == 3 {
            // Destroying VK_NULL_HANDLE does nothing.
            if let Some(p) = params.get(1) {
                let _ = writeln!(
                    body,
                    "        if vk::Handle::as_raw({}) == 0 {{\n            return Ok(());\n        }}",
                    p.name
                );
            }
        }
        let (guard, tail) = match (c.ret, send_async) {
            (None, true) => ("guard_void", format!("        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::send_{f}(host, {args}) }}")),
            (None, false) => ("guard_void", format!("        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::call_{f}(host, {args}) }}")),
            (Some(Scalar::I32), true) => ("guard_result", format!("        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::send_{f}(host, {args}) }}?;\n        Ok(vk::Result::SUCCESS)")),
            (Some(Scalar::I32), false) => ("guard_result", format!("        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::call_{f}(host, {args}) }}")),
            (Some(_), _) => ("guard_value", format!("        // SAFETY: the application's arguments, valid by the command's valid usage.\n        unsafe {{ calls::call_{f}(host, {args}) }}")),
        };
        let _ = writeln!(
            out,
            "    {guard}({name:?}, || {{\n{body}{tail}\n    }})\n}}\n"
        );
        Ok(out)
    }

    fn emit_entries(&self) -> (String, Vec<String>) {
        let mut notes = Vec::new();
        let mut body = String::new();
        for c in &self.model.commands {
            if c.name.ends_with("MESA") || self.routes.get(&c.name) != Some(&Route::Generated) {
                continue;
            }
            match self.emit_entry(c) {
                Ok(code) => body.push_str(&code),
                Err(reason) => notes.push(format!("{}: {reason}", c.name)),
            }
        }
        let ffi: Vec<&str> = ["c_char", "c_void"]
            .into_iter()
            .filter(|t| body.contains(t))
            .collect();
        let mut out = String::from(HEADER);
        out.push_str(
            "//! The default entry point of every command no hand-written module takes\n\
             //! (`encoder-gen/data/icd-entries.json`): `vkCmd*` are recorded into the command buffer's\n\
             //! stream; creations choose the new objects' ids and are sent without waiting, as are\n\
             //! destructions and commands without outputs; queries wait for the host's answer.\n\
             #![allow(clippy::too_many_arguments)]\n\n",
        );
        let _ = writeln!(out, "use std::ffi::{{{}}};\n\nuse ash::vk;\n\nuse super::calls;\nuse crate::driver::runtime::*;\n", ffi.join(", "));
        out.push_str(&body);
        (out, notes)
    }

    /// (name, scope, api, extension numbers, path of the function) of every name the ICD
    /// answers for.
    fn table_rows(&self) -> Vec<(String, Scope, u32, Vec<u32>, String)> {
        let mut rows = Vec::new();
        for (command, route) in &self.routes {
            let Some(raw) = self.raw_command(command) else {
                continue;
            };
            let scope = Scope::of(raw, self.reg);
            let path = match route {
                Route::Generated => format!("generated::entries::{}", fn_name(command)),
                Route::Custom { module } => format!("{module}::{}", fn_name(command)),
            };
            let core = self.reg.command_alias.get(command).unwrap_or(command);
            let mut names: BTreeSet<String> = BTreeSet::new();
            names.insert(command.clone());
            names.insert(core.clone());
            names.extend(
                self.reg
                    .command_alias
                    .iter()
                    .filter(|(_, target)| *target == core)
                    .map(|(alias, _)| alias.clone()),
            );
            for name in names {
                let origin = self.reg.origins.get(&name).cloned().unwrap_or_default();
                rows.push((
                    name,
                    scope,
                    origin.core,
                    origin.extensions.into_iter().collect(),
                    path.clone(),
                ));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        rows
    }

    fn emit_table(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str(
            "//! Every command name the ICD answers `vkGet*ProcAddr` for, sorted by name (aliases\n\
             //! included), with its scope and what provides it: a core version (0: none) or any of\n\
             //! the listed extensions (vk.xml numbers).\n\n\
             use crate::driver::entry::{entry_point, Entry, Scope};\n\
             use crate::driver::*;\n\n\
             /// Sorted by name (binary search).\n\
             pub(crate) static ENTRIES: &[Entry] = &[\n",
        );
        let rows = self.table_rows();
        let used: BTreeSet<u32> = rows.iter().flat_map(|r| r.3.iter().copied()).collect();
        let mut extensions: Vec<(&String, &u32)> = self
            .reg
            .extension_numbers
            .iter()
            .filter(|(_, number)| used.contains(number))
            .collect();
        extensions.sort();
        for (name, scope, api, exts, path) in rows {
            // ash's function type, where ash has the command, makes the compiler check the
            // entry point's signature.
            let checked = [name.clone()]
                .into_iter()
                .chain(self.reg.command_alias.get(&name).cloned())
                .map(|n| format!("PFN_{n}"))
                .find(|pfn| self.ash.names.contains_key(pfn));
            let function = match checked {
                Some(pfn) => format!("entry_point!({path} as {pfn})"),
                None => format!("entry_point!({path})"),
            };
            let _ = writeln!(
                out,
                "    Entry {{ name: {name:?}, scope: {}, api: 0x{api:x}, extensions: &{exts:?}, function: {function} }},",
                scope.rust()
            );
        }
        out.push_str("];\n\n/// The extensions that provide commands of the table, by name (sorted), with their numbers.\npub(crate) static EXTENSIONS: &[(&str, u32)] = &[\n");
        for (name, number) in extensions {
            let _ = writeln!(out, "    ({name:?}, {number}),");
        }
        out.push_str("];\n\n/// Extensions with a command this ICD has no entry point for: never offered.\npub(crate) static INCOMPLETE_EXTENSIONS: &[&str] = &[\n");
        for name in self.incomplete_extensions() {
            let _ = writeln!(out, "    {name:?},");
        }
        out.push_str("];\n");
        out
    }

    /// Extensions that add a command missing from the table.
    fn incomplete_extensions(&self) -> Vec<String> {
        let answered: BTreeSet<String> = self.table_rows().into_iter().map(|r| r.0).collect();
        let names: BTreeMap<u32, &String> = self
            .reg
            .extension_numbers
            .iter()
            .map(|(name, number)| (*number, name))
            .collect();
        let mut incomplete = BTreeSet::new();
        for (command, origin) in &self.reg.origins {
            if !self.reg.commands.contains_key(command)
                && !self.reg.command_alias.contains_key(command)
            {
                continue;
            }
            if answered.contains(command) {
                continue;
            }
            for number in &origin.unconditional {
                if let Some(name) = names.get(number) {
                    incomplete.insert((*name).clone());
                }
            }
        }
        incomplete.into_iter().collect()
    }
}

/// The generated files of `icd/src/driver/generated/` and notes for the report.
pub fn emit_icd(
    model: &Model,
    reg: &Registry,
    ash: &AshTypes,
    data: &Value,
) -> Result<(crate::GeneratedFiles, Vec<String>), String> {
    let mut routes: BTreeMap<String, Route> = model
        .commands
        .iter()
        .filter(|c| !c.name.ends_with("MESA"))
        .map(|c| (c.name.clone(), Route::Generated))
        .collect();
    for (name, entry) in data["custom"].as_object().into_iter().flatten() {
        let module = entry[0].as_str().ok_or("custom module")?.to_string();
        if !reg.commands.contains_key(name) && !reg.command_alias.contains_key(name) {
            return Err(format!(
                "icd-entries.json names {name}, which vk.xml does not have"
            ));
        }
        routes.insert(name.clone(), Route::Custom { module });
    }
    let async_results: BTreeSet<String> = data["async_results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let e = IcdEmitter {
        model,
        reg,
        ash,
        routes,
        async_results,
    };
    let (entries, notes) = e.emit_entries();
    let files = vec![
        (
            "mod.rs".to_string(),
            format!("{HEADER}//! Generated ICD layer; see `venus-rs-encoder-gen`'s `emit_icd`.\n\npub(crate) mod calls;\npub(crate) mod entries;\npub(crate) mod table;\n"),
        ),
        ("calls.rs".to_string(), e.emit_calls()),
        ("entries.rs".to_string(), entries),
        ("table.rs".to_string(), e.emit_table()),
    ];
    Ok((files, notes))
}
