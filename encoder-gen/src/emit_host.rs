//! Writes the host's generated dispatch (`host/src/vulkan/generated/`): the driver function
//! tables, the `VkObjectType` of every handle, and one dispatch function per command that
//! translates the guest's ids, calls the driver and registers or releases objects. Commands
//! the data file (`data/host-dispatch.json`) lists as transport, custom or unsupported are
//! routed to the executor, to a hand-written module, or to a FATAL with the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use crate::emit::{rust_name, snake, HEADER};
use crate::model::{CommandIr, Kind, Member, Model, Scalar};
use crate::registry::{Registry, TypeDef};

/// How the host runs one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Generated,
    Transport,
    /// A hand-written function in `host/src/vulkan/<module>.rs`.
    Custom {
        module: String,
        why: String,
    },
    Unsupported(String),
    /// Generated, after a hand-written check of the arguments in `<module>.rs`
    /// (`check_<command>`), where a value the decoder accepts would still crash the driver.
    Guarded {
        module: String,
        why: String,
    },
}

/// The host's dispatch plan, for the generator's report.
pub struct HostPlan {
    pub routes: BTreeMap<String, Route>,
}

impl HostPlan {
    pub fn guarded(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.routes.iter().filter_map(|(name, route)| match route {
            Route::Guarded { module, why } => Some((name.as_str(), module.as_str(), why.as_str())),
            _ => None,
        })
    }

    pub fn custom(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.routes.iter().filter_map(|(name, route)| match route {
            Route::Custom { module, why } => Some((name.as_str(), module.as_str(), why.as_str())),
            _ => None,
        })
    }

    pub fn count(&self, wanted: fn(&Route) -> bool) -> usize {
        self.routes.values().filter(|r| wanted(r)).count()
    }
}

fn plan(model: &Model, data: &Value) -> Result<HostPlan, String> {
    let known: BTreeSet<&str> = model.commands.iter().map(|c| c.name.as_str()).collect();
    let mut routes: BTreeMap<String, Route> = model
        .commands
        .iter()
        .map(|c| (c.name.clone(), Route::Generated))
        .collect();
    let mut set = |name: &str, route: Route| -> Result<(), String> {
        if !known.contains(name) {
            return Err(format!(
                "host-dispatch.json names {name}, which the protocol does not carry"
            ));
        }
        routes.insert(name.to_string(), route);
        Ok(())
    };
    for name in data["transport"].as_array().into_iter().flatten() {
        set(name.as_str().ok_or("transport entry")?, Route::Transport)?;
    }
    for (name, entry) in data["custom"].as_object().into_iter().flatten() {
        let module = entry[0].as_str().ok_or("custom module")?.to_string();
        let why = entry[1].as_str().ok_or("custom reason")?.to_string();
        set(name, Route::Custom { module, why })?;
    }
    for (name, entry) in data["guarded"].as_object().into_iter().flatten() {
        let module = entry[0].as_str().ok_or("guard module")?.to_string();
        let why = entry[1].as_str().ok_or("guard reason")?.to_string();
        set(name, Route::Guarded { module, why })?;
    }
    for (name, why) in data["unsupported"].as_object().into_iter().flatten() {
        let why = why.as_str().ok_or("unsupported reason")?.to_string();
        set(name, Route::Unsupported(why))?;
    }
    Ok(HostPlan { routes })
}

/// Which function table a command is loaded into, from its first parameter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    /// No dispatchable handle: a loader call.
    Global,
    Instance,
    PhysicalDevice,
    Device,
    Queue,
    CommandBuffer,
}

fn level(c: &CommandIr) -> Level {
    match c.params.first().map(|p| &p.kind) {
        Some(Kind::Handle {
            dispatchable: true,
            name,
        }) => match name.as_str() {
            "VkInstance" => Level::Instance,
            "VkPhysicalDevice" => Level::PhysicalDevice,
            "VkDevice" => Level::Device,
            "VkQueue" => Level::Queue,
            "VkCommandBuffer" => Level::CommandBuffer,
            _ => Level::Global,
        },
        _ => Level::Global,
    }
}

fn cmd_variant(name: &str) -> String {
    name.strip_prefix("vk").unwrap_or(name).to_string()
}

fn fn_name(name: &str) -> String {
    snake(name.strip_prefix("vk").unwrap_or(name))
}

fn pfn_name(name: &str) -> String {
    format!("Pfn{}", cmd_variant(name))
}

/// The C type of a parameter in a driver function signature (LP64: handles are 8 bytes,
/// dispatchable ones pointers passed like u64).
fn c_param_type(m: &Member) -> String {
    match &m.kind {
        Kind::Scalar(s) => s.c_rust().to_string(),
        Kind::Handle { .. } => "u64".into(),
        _ if m.out => "*mut c_void".into(),
        _ => "*const c_void".into(),
    }
}

fn c_return_type(c: &CommandIr) -> String {
    match c.ret {
        None => String::new(),
        Some(s) => format!(" -> {}", s.c_rust()),
    }
}

struct HostEmitter<'m> {
    model: &'m Model,
    reg: &'m Registry,
    plan: &'m HostPlan,
}

/// One generated dispatch body: what is done before the call, the arguments, and after.
#[derive(Default)]
struct Body {
    before: Vec<String>,
    args: Vec<String>,
    after: Vec<String>,
    /// Created objects: (parameter field, object type constant, is an array).
    created: Option<(String, String, bool)>,
}

impl HostEmitter<'_> {
    fn object_type_const(&self, handle: &str) -> String {
        snake(&rust_name(handle)).to_uppercase()
    }

    /// Handle types that commands take as parameters (what dispatch code names).
    fn parameter_handle_types(&self) -> BTreeSet<String> {
        fn collect(kind: &Kind, out: &mut BTreeSet<String>) {
            match kind {
                Kind::Handle { name, .. } => {
                    out.insert(name.clone());
                }
                Kind::FixedArray(e, _) | Kind::Array(e, _) | Kind::Ptr(e) => collect(e, out),
                _ => {}
            }
        }
        let mut used = BTreeSet::new();
        for c in &self.model.commands {
            c.params.iter().for_each(|p| collect(&p.kind, &mut used));
        }
        used
    }

    /// Every handle type the protocol carries, with its `VkObjectType` value.
    fn handle_types(&self) -> Vec<(String, i64, bool)> {
        fn collect(kind: &Kind, out: &mut BTreeSet<String>) {
            match kind {
                Kind::Handle { name, .. } => {
                    out.insert(name.clone());
                }
                Kind::FixedArray(e, _) | Kind::Array(e, _) | Kind::Ptr(e) => collect(e, out),
                _ => {}
            }
        }
        let mut used = BTreeSet::new();
        for c in &self.model.commands {
            c.params.iter().for_each(|p| collect(&p.kind, &mut used));
        }
        for s in self.model.structs.values() {
            s.members.iter().for_each(|m| collect(&m.kind, &mut used));
        }
        let mut out = Vec::new();
        for (name, def) in &self.reg.types {
            if !used.contains(name) {
                continue;
            }
            if let TypeDef::Handle { dispatchable } = def {
                let Some(value) = self
                    .reg
                    .object_types
                    .get(name)
                    .and_then(|e| self.reg.values.get(e))
                else {
                    continue;
                };
                out.push((name.clone(), *value, *dispatchable));
            }
        }
        out.sort_by_key(|(_, v, _)| *v);
        out
    }

    fn emit_object_types(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str("//! `VkObjectType` of every handle type (vk.xml `objtypeenum`): what the object tables\n//! check a guest id against.\n\n");
        let types = self.handle_types();
        let named = self.parameter_handle_types();
        for (name, value, _) in types.iter().filter(|(name, _, _)| named.contains(name)) {
            let _ = writeln!(
                out,
                "/// `{name}`.\npub(crate) const {}: i32 = {value};",
                self.object_type_const(name)
            );
        }
        let _ = writeln!(out, "\n/// The handle type's name, for messages.\npub(crate) fn name(object_type: i32) -> &'static str {{\n    match object_type {{");
        for (name, value, _) in &types {
            let _ = writeln!(out, "        {value} => \"{name}\",");
        }
        let _ = writeln!(out, "        _ => \"an unknown object type\",\n    }}\n}}");
        out
    }

    fn emit_fns(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str(
            "//! The driver's entry points, loaded by name (core name first, then each alias):\n\
             //! `InstanceFns` through vkGetInstanceProcAddr for instance and physical-device commands,\n\
             //! `DeviceFns` through vkGetDeviceProcAddr for device, queue and command-buffer commands.\n\
             //! Signatures use the C ABI of LP64 hosts: every handle is 8 bytes (dispatchable handles\n\
             //! are pointers, passed like u64), enums i32, flags u32 or u64, pointers untyped.\n\
             #![allow(dead_code)]\n\nuse std::ffi::{c_void, CStr};\n\n\
             /// What vkGet*ProcAddr returns.\npub(crate) type VoidFunction = unsafe extern \"system\" fn();\n\n",
        );
        let mut instance = Vec::new();
        let mut device = Vec::new();
        for c in &self.model.commands {
            let lvl = level(c);
            if lvl == Level::Global || self.plan.routes[&c.name] == Route::Transport {
                continue;
            }
            let params: Vec<String> = c.params.iter().map(c_param_type).collect();
            let _ = writeln!(
                out,
                "/// `{}`.\npub(crate) type {} = unsafe extern \"system\" fn({}){};",
                c.name,
                pfn_name(&c.name),
                params.join(", "),
                c_return_type(c)
            );
            match lvl {
                Level::Instance | Level::PhysicalDevice => instance.push(c),
                _ => device.push(c),
            }
        }
        for (table, list, doc) in [
            (
                "InstanceFns",
                &instance,
                "Instance and physical-device commands of one driver instance.",
            ),
            (
                "DeviceFns",
                &device,
                "Device, queue and command-buffer commands of one driver device.",
            ),
        ] {
            let _ = writeln!(
                out,
                "\n/// {doc} `None`: the driver does not have it (or the extension is not enabled).\n#[derive(Clone, Copy, Default)]\npub(crate) struct {table} {{"
            );
            for c in list.iter() {
                let _ = writeln!(
                    out,
                    "    pub(crate) {}: Option<{}>,",
                    fn_name(&c.name),
                    pfn_name(&c.name)
                );
            }
            let _ = writeln!(out, "}}\n\nimpl {table} {{\n    /// Looks every entry point up with `get`, which returns the driver's function for a name,\n    /// but only those `available` allows (by command type): a loader hands out entry points\n    /// of extensions the driver lacks, which must never be called.\n    pub(crate) fn load(\n        mut get: impl FnMut(&CStr) -> Option<VoidFunction>,\n        available: impl Fn(u32) -> bool,\n    ) -> Self {{\n        let mut find = |command_type: u32, names: &[&CStr]| {{\n            if available(command_type) {{\n                names.iter().find_map(|name| get(name))\n            }} else {{\n                None\n            }}\n        }};\n        Self {{");
            for c in list.iter() {
                let names: Vec<String> = std::iter::once(&c.name)
                    .chain(c.aliases.iter())
                    .map(|n| format!("c\"{n}\""))
                    .collect();
                let _ = writeln!(
                    out,
                    "            // SAFETY: the driver returned this function for the command's name (or an alias\n            // of it), so it has the command's signature, which `{pfn}` spells out.\n            {field}: find({value}, &[{names}]).map(|f| unsafe {{ std::mem::transmute::<VoidFunction, {pfn}>(f) }}),",
                    pfn = pfn_name(&c.name),
                    field = fn_name(&c.name),
                    value = c.value,
                    names = names.join(", ")
                );
            }
            let _ = writeln!(out, "        }}\n    }}\n}}");
        }
        out
    }

    /// The destroy function of each handle type that one `vkDestroy*(device, handle,
    /// pAllocator)` command (or vkFreeMemory) releases.
    fn destroyers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in &self.model.commands {
            if level(c) != Level::Device {
                continue;
            }
            let is_destroy = c.name.starts_with("vkDestroy") || c.name == "vkFreeMemory";
            if !is_destroy || c.params.len() != 3 {
                continue;
            }
            if let (
                Kind::Handle {
                    dispatchable: false,
                    name,
                },
                Kind::Allocator,
            ) = (&c.params[1].kind, &c.params[2].kind)
            {
                out.push((name.clone(), c.name.clone()));
            }
        }
        out
    }

    fn emit_dispatch(&self) -> Result<(String, Vec<String>), String> {
        let mut notes = Vec::new();
        let mut out = String::from(HEADER);
        out.push_str(
            "//! One dispatch function per command of the protocol (see `host/src/vulkan/translate.rs`\n\
             //! for the runtime it calls): guest ids become driver handles after a type and owner\n\
             //! check, structs are lowered to C with their ids translated, the driver is called, and\n\
             //! outputs are raised back into the reply. The hand-written handlers are listed, with\n\
             //! why, in `encoder-gen/data/host-dispatch.json` (`cargo xtask codegen` prints them).\n\
             #![allow(unused_mut, unused_variables, clippy::needless_borrow, clippy::let_unit_value)]\n\n\
             use std::ffi::c_void;\n\n\
             use venus_rs_encoder::host::*;\n\n\
             use super::object_types as ot;\n\
             use crate::executor::ContextFatal;\n\
             use crate::vulkan::objects::DeviceObject;\n\
             use crate::vulkan::translate::*;\n\n",
        );
        // The router.
        let _ = writeln!(out, "/// Runs one decoded Vulkan command (transport commands are the executor's).\npub(crate) fn dispatch(cx: &mut Dispatch<'_, '_>, command: &mut Command<'_>) -> Result<(), ContextFatal> {{\n    match command {{");
        for c in &self.model.commands {
            let variant = cmd_variant(&c.name);
            let line = match &self.plan.routes[&c.name] {
                Route::Generated | Route::Guarded { .. } => {
                    format!("Command::{variant}(a) => {}(cx, a),", fn_name(&c.name))
                }
                Route::Custom { module, .. } => format!(
                    "Command::{variant}(a) => crate::vulkan::{module}::{}(cx, a),",
                    fn_name(&c.name)
                ),
                Route::Unsupported(why) => format!(
                    "Command::{variant}(_) => Err(ContextFatal::new({:?})),",
                    format!("not supported: {why}")
                ),
                Route::Transport => format!(
                    "Command::{variant}(_) => Err(ContextFatal::new(\"a transport command reached the Vulkan dispatch\")),"
                ),
            };
            let _ = writeln!(out, "        {line}");
        }
        let _ = writeln!(out, "    }}\n}}\n");

        for c in &self.model.commands {
            if !matches!(
                self.plan.routes[&c.name],
                Route::Generated | Route::Guarded { .. }
            ) {
                continue;
            }
            match self.emit_command(c) {
                Ok(code) => out.push_str(&code),
                Err(reason) => {
                    notes.push(format!("{}: {reason}", c.name));
                    let _ = writeln!(
                        out,
                        "fn {}(_cx: &mut Dispatch<'_, '_>, _a: &mut {}Args) -> Result<(), ContextFatal> {{\n    Err(ContextFatal::new({:?}))\n}}\n",
                        fn_name(&c.name),
                        cmd_variant(&c.name),
                        format!("no generated dispatch: {reason}")
                    );
                }
            }
        }
        Ok((out, notes))
    }

    fn args_type(&self, c: &CommandIr) -> String {
        let lt = c
            .params
            .iter()
            .any(|p| crate::model::kind_needs_lt(&p.kind, &self.model.structs, &self.model.unions));
        if lt {
            format!("{}Args<'_>", cmd_variant(&c.name))
        } else {
            format!("{}Args", cmd_variant(&c.name))
        }
    }

    fn emit_command(&self, c: &CommandIr) -> Result<String, String> {
        let lvl = level(c);
        let (target, device_expr, fns) = match lvl {
            Level::Global => return Err("a loader command without a dispatchable handle".into()),
            Level::Instance => ("cx.instance(a.instance)?", None, "target.fns"),
            Level::PhysicalDevice => (
                "cx.physical_device(a.physical_device)?",
                None,
                "target.instance.fns",
            ),
            Level::Device => ("cx.device(a.device)?", Some("&target"), "target.fns"),
            Level::Queue => (
                "cx.queue(a.queue)?",
                Some("target.device()"),
                "target.device().fns",
            ),
            Level::CommandBuffer => (
                "cx.command_buffer(a.command_buffer)?",
                Some("target.device()"),
                "target.device().fns",
            ),
        };
        let mut body = Body::default();
        for (index, m) in c.params.iter().enumerate() {
            if index == 0 {
                body.args.push("target.raw".into());
                continue;
            }
            self.param(c, m, &mut body)?;
        }
        if body.created.is_some() && device_expr.is_none() {
            return Err("creates objects outside a device".into());
        }
        let keep = match (lvl, &body.created) {
            (_, Some(_)) => "Keep::Collect(Vec::new())",
            (Level::CommandBuffer, None) => "Keep::Recording(&target)",
            _ => "Keep::Collect(Vec::new())",
        };
        let owner = match lvl {
            Level::Instance => "Owner::Instance(&target)",
            Level::PhysicalDevice => "Owner::Instance(&target.instance)",
            _ => "Owner::Device(device)",
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "/// `{}`.\nfn {}(cx: &mut Dispatch<'_, '_>, a: &mut {}) -> Result<(), ContextFatal> {{",
            c.name,
            fn_name(&c.name),
            self.args_type(c)
        );
        if let Route::Guarded { module, .. } = &self.plan.routes[&c.name] {
            let _ = writeln!(
                out,
                "    crate::vulkan::{module}::check_{}(a)?;",
                fn_name(&c.name)
            );
        }
        let _ = writeln!(out, "    let target = {target};");
        if let Some(d) = device_expr {
            let _ = writeln!(out, "    let device: &std::sync::Arc<DeviceObject> = {d};");
        }
        let _ = writeln!(
            out,
            "    let f = {fns}.{}.ok_or_else(|| unavailable({:?}))?;",
            fn_name(&c.name),
            c.name
        );
        let _ = writeln!(out, "    let mut t = cx.translator({owner}, {keep});");
        for line in &body.before {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "    let kept = t.finish();");
        let call = format!("f({})", body.args.join(", "));
        let _ = writeln!(
            out,
            "    // SAFETY: `f` is the driver's {} for the target's instance or device; every handle\n    // was translated from a live guest id of the right type and owner (and is kept alive\n    // across the call), and every pointer is to memory lowered for this call.",
            c.name
        );
        match c.ret {
            Some(_) => {
                let _ = writeln!(out, "    let ret = unsafe {{ {call} }};");
            }
            None => {
                let _ = writeln!(out, "    unsafe {{ {call} }};");
            }
        }
        for line in &body.after {
            let _ = writeln!(out, "    {line}");
        }
        match &body.created {
            Some((field, object_type, array)) => {
                if *array {
                    // Some creations of an array may succeed while the command fails: every
                    // object the driver made is registered.
                    let _ = writeln!(
                        out,
                        "    cx.register_all({field}_ids, &{field}_raw, ot::{object_type}, device, kept)?;"
                    );
                } else if c.ret.is_some() {
                    let _ = writeln!(
                        out,
                        "    if ret >= 0 {{\n        cx.register({field}_id, {field}_raw, ot::{object_type}, device, kept)?;\n    }}"
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "    cx.register({field}_id, {field}_raw, ot::{object_type}, device, kept)?;"
                    );
                }
            }
            None => {
                let _ = writeln!(out, "    drop(kept);");
            }
        }
        if c.ret.is_some() {
            let _ = writeln!(out, "    a.ret = ret;");
        }
        let _ = writeln!(out, "    Ok(())\n}}\n");
        // A destroy command releases its object through the table.
        if self.is_destroy(c) {
            return Ok(self.emit_destroy(c));
        }
        Ok(out)
    }

    fn is_destroy(&self, c: &CommandIr) -> bool {
        self.destroyers().iter().any(|(_, name)| *name == c.name)
    }

    fn emit_destroy(&self, c: &CommandIr) -> String {
        let (handle, field) = match &c.params[1].kind {
            Kind::Handle { name, .. } => (name.clone(), snake(&c.params[1].name)),
            _ => unreachable!("checked by destroyers()"),
        };
        format!(
            "/// `{}`: the object leaves the table; the driver object goes once nothing refers to it.\nfn {}(cx: &mut Dispatch<'_, '_>, a: &mut {}) -> Result<(), ContextFatal> {{\n    let device = cx.device(a.device)?;\n    cx.release(ot::{}, a.{field}, &device)\n}}\n\n",
            c.name,
            fn_name(&c.name),
            self.args_type(c),
            self.object_type_const(&handle)
        )
    }

    /// Adds one parameter (after the dispatchable first one) to `body`.
    fn param(&self, c: &CommandIr, m: &Member, body: &mut Body) -> Result<(), String> {
        let f = snake(&m.name);
        let arg = match &m.kind {
            Kind::Scalar(Scalar::Usize) => format!("a.{f} as usize"),
            Kind::Scalar(_) => format!("a.{f}"),
            Kind::Allocator | Kind::NullPtr => "std::ptr::null()".into(),
            Kind::Handle { name, .. } => {
                body.before.push(format!(
                    "let {f} = t.handle(ot::{}, a.{f}, {})?;",
                    self.object_type_const(name),
                    m.optional
                ));
                f.clone()
            }
            Kind::FixedArray(e, _) if matches!(**e, Kind::Scalar(_)) => {
                if m.out {
                    format!("a.{f}.as_mut_ptr().cast::<c_void>()")
                } else {
                    format!("a.{f}.as_ptr().cast::<c_void>()")
                }
            }
            Kind::String => {
                format!("a.{f}.map_or(std::ptr::null(), |s| s.as_ptr().cast::<c_void>())")
            }
            Kind::Blob(_) => {
                if m.out {
                    format!("out_bytes(&mut a.{f})")
                } else {
                    format!("in_bytes(&a.{f})")
                }
            }
            Kind::Ptr(e) => match &**e {
                // The typed value has the C layout (size_t travels as u64, 8 bytes on LP64).
                Kind::Scalar(_) => {
                    if m.out {
                        format!("scalar_out(&mut a.{f})")
                    } else {
                        format!("scalar_in(&a.{f})")
                    }
                }
                Kind::Struct(_) | Kind::Union(_) => {
                    body.before
                        .push(format!("let mut {f} = t.lower_one(a.{f}.take())?;"));
                    if m.out {
                        body.after.push(format!("a.{f} = raise_one({f})?;"));
                    }
                    format!("lowered_ptr(&mut {f})")
                }
                Kind::Handle { name, .. } if m.out => {
                    if body.created.is_some() {
                        return Err("creates more than one kind of object".into());
                    }
                    body.before.push(format!(
                        "let {f}_id = t.new_id(a.{f}, ot::{})?;",
                        self.object_type_const(name)
                    ));
                    body.before.push(format!("let mut {f}_raw: u64 = 0;"));
                    body.created = Some((f.clone(), self.object_type_const(name), false));
                    format!("(&mut {f}_raw as *mut u64).cast::<c_void>()")
                }
                other => return Err(format!("parameter {}: pointer to {other:?}", m.name)),
            },
            Kind::Array(e, len) => {
                // The two-call idiom: the driver writes back how many it filled.
                let truncate = c.params.iter().find(|p| {
                    p.name == len.var
                        && p.out
                        && matches!(&p.kind, Kind::Ptr(k) if matches!(**k, Kind::Scalar(_)))
                });
                match &**e {
                    Kind::Scalar(_) => {
                        if m.out {
                            if let Some(count) = truncate {
                                body.after.push(format!(
                                    "truncate(&mut a.{f}, a.{}.unwrap_or(0) as usize);",
                                    snake(&count.name)
                                ));
                            }
                            format!("out_slice(&mut a.{f})")
                        } else {
                            format!("in_slice(&a.{f})")
                        }
                    }
                    Kind::Struct(_) | Kind::Union(_) => {
                        body.before
                            .push(format!("let mut {f} = t.lower_many(a.{f}.take())?;"));
                        if m.out {
                            body.after.push(format!("a.{f} = raise_many({f})?;"));
                            if let Some(count) = truncate {
                                body.after.push(format!(
                                    "truncate(&mut a.{f}, a.{}.unwrap_or(0) as usize);",
                                    snake(&count.name)
                                ));
                            }
                        }
                        format!("lowered_ptr(&mut {f})")
                    }
                    Kind::Handle { name, .. } if m.out => {
                        if body.created.is_some() {
                            return Err("creates more than one kind of object".into());
                        }
                        body.before.push(format!(
                            "let {f}_ids = t.new_ids(a.{f}.as_deref(), ot::{})?;",
                            self.object_type_const(name)
                        ));
                        body.before.push(format!(
                            "let mut {f}_raw: Vec<u64> = vec![0; {f}_ids.len()];"
                        ));
                        body.created = Some((f.clone(), self.object_type_const(name), true));
                        format!("{f}_raw.as_mut_ptr().cast::<c_void>()")
                    }
                    Kind::Handle { name, .. } => {
                        body.before.push(format!(
                            "let {f} = t.handles(ot::{}, a.{f}.as_deref())?;",
                            self.object_type_const(name)
                        ));
                        format!("in_slice(&{f})")
                    }
                    other => return Err(format!("parameter {}: array of {other:?}", m.name)),
                }
            }
            other => return Err(format!("parameter {}: {other:?}", m.name)),
        };
        body.args.push(arg);
        Ok(())
    }

    fn emit_destroy_fn(&self) -> String {
        let mut out = String::from(HEADER);
        out.push_str("//! The destroy command of each handle type, for the object tables to release an object once\n//! nothing refers to it any more.\n\nuse super::fns::DeviceFns;\nuse super::object_types as ot;\n\n");
        let _ = writeln!(out, "/// Releases driver object `raw` of `device`. Returns false for types that are not destroyed\n/// one by one (queues, pool children).\npub(crate) fn destroy(fns: &DeviceFns, device: u64, object_type: i32, raw: u64) -> bool {{\n    match object_type {{");
        for (handle, command) in self.destroyers() {
            let field = fn_name(&command);
            let _ = writeln!(
                out,
                "        ot::{} => {{\n            if let Some(f) = fns.{field} {{\n                // SAFETY: `raw` is a live {handle} of `device` that nothing refers to any more.\n                unsafe {{ f(device, raw, std::ptr::null()) }};\n            }}\n            true\n        }}",
                self.object_type_const(&handle)
            );
        }
        let _ = writeln!(out, "        _ => false,\n    }}\n}}");
        out
    }

    fn emit_mod(&self) -> String {
        format!(
            "{HEADER}//! Generated host dispatch; see `venus-rs-encoder-gen`'s `emit_host`.\n\npub(crate) mod destroy;\npub(crate) mod dispatch;\npub(crate) mod fns;\npub(crate) mod object_types;\n"
        )
    }
}

/// The extensions whose commands this host cannot run: a command it does not support, or
/// one the protocol cannot encode. (Commands left out because the guest replaces them — fd
/// commands, template updates, memory maps — do not count.)
fn unsupported_extensions(model: &Model, reg: &Registry, plan: &HostPlan) -> Vec<String> {
    let unsupported: BTreeSet<&str> = plan
        .routes
        .iter()
        .filter(|(_, r)| matches!(r, Route::Unsupported(_)))
        .map(|(n, _)| n.as_str())
        .chain(
            model
                .left_out
                .iter()
                .filter(|(_, _, why)| why.starts_with("no wire encoding"))
                .map(|(_, n, _)| n.as_str()),
        )
        .collect();
    let names: BTreeMap<u32, &str> = reg
        .extension_numbers
        .iter()
        .map(|(name, number)| (*number, name.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    for (command, origin) in &reg.origins {
        let core = reg.command_alias.get(command).unwrap_or(command);
        if !unsupported.contains(command.as_str()) && !unsupported.contains(core.as_str()) {
            continue;
        }
        for number in &origin.extensions {
            if let Some(name) = names.get(number) {
                out.insert(name.to_string());
            }
        }
    }
    out.into_iter().collect()
}

/// The generated files of `host/src/vulkan/generated/` and notes for the report.
pub fn emit_host(
    model: &Model,
    reg: &Registry,
    data: &Value,
) -> Result<(crate::GeneratedFiles, HostPlan, Vec<String>), String> {
    let plan = plan(model, data)?;
    let e = HostEmitter {
        model,
        reg,
        plan: &plan,
    };
    let (dispatch, notes) = e.emit_dispatch()?;
    let mut files = vec![
        ("mod.rs".to_string(), e.emit_mod()),
        ("fns.rs".to_string(), e.emit_fns()),
        ("object_types.rs".to_string(), e.emit_object_types()),
        ("destroy.rs".to_string(), e.emit_destroy_fn()),
        ("dispatch.rs".to_string(), dispatch),
    ];
    let mut unsupported = String::from(HEADER);
    unsupported.push_str("//! Extensions the host does not offer the guest: one of their commands has no wire encoding\n//! or is not run by this host (`host-dispatch.json`).\n\n/// Extension names.\npub(crate) const UNSUPPORTED_EXTENSIONS: &[&str] = &[\n");
    for ext in unsupported_extensions(model, reg, &plan) {
        let _ = writeln!(unsupported, "    {ext:?},");
    }
    unsupported.push_str("];\n");
    files[0].1.push_str("pub(crate) mod unsupported;\n");
    files.push(("unsupported.rs".to_string(), unsupported));
    Ok((files, plan, notes))
}
