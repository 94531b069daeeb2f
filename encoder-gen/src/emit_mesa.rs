//! Writes `encoder/src/generated/mesa.rs`: the VK_MESA_venus_protocol structs in their C layout
//! (`#[repr(C)]`), for the guest that builds them (ash has none of them), with their sTypes and a
//! test of each size against the layout the wire model computed.

use std::fmt::Write as _;

use crate::emit::{rust_name, snake, HEADER};
use crate::model::Model;
use crate::registry::{RawMember, Registry, TypeDef};

/// Whether `name` is a MESA struct this file defines: no arrays, no embedded Vulkan structs
/// (the host image copy ones would need ash's types; the guest builds none of them).
fn emitted(name: &str, reg: &Registry) -> bool {
    let Some(TypeDef::Struct {
        members,
        is_union: false,
        ..
    }) = reg.types.get(name)
    else {
        return false;
    };
    name.ends_with("MESA")
        && members.iter().all(|m| {
            m.array_dims.is_empty()
                && (m.ptr_depth > 0
                    || m.ty.ends_with("MESA")
                    || !matches!(
                        reg.types.get(reg.resolve_type(&m.ty)),
                        Some(TypeDef::Struct { .. })
                    ))
        })
}

fn field_type(member: &RawMember, reg: &Registry) -> String {
    if member.ptr_depth > 0 {
        let pointee = if emitted(&member.ty, reg) {
            rust_name(&member.ty)
        } else {
            "c_void".into()
        };
        return if member.is_const {
            format!("*const {pointee}")
        } else {
            format!("*mut {pointee}")
        };
    }
    match member.ty.as_str() {
        "uint32_t" | "VkBool32" => "u32".into(),
        "int32_t" => "i32".into(),
        "uint64_t" | "VkDeviceSize" | "VkDeviceAddress" => "u64".into(),
        "size_t" => "usize".into(),
        "VkStructureType" => "i32".into(),
        other
            if other.ends_with("MESA")
                && matches!(reg.types.get(other), Some(TypeDef::Struct { .. })) =>
        {
            rust_name(other)
        }
        other => match reg.types.get(reg.resolve_type(other)) {
            Some(TypeDef::Handle { .. }) => "u64".into(),
            Some(TypeDef::Enum { bits64: false }) => "i32".into(),
            Some(TypeDef::Bitmask { bits64: true } | TypeDef::Enum { bits64: true }) => {
                "u64".into()
            }
            _ => "u32".into(),
        },
    }
}

pub fn emit_mesa_structs(model: &Model, reg: &Registry) -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "//! The VK_MESA_venus_protocol structs in their C layout, for the guest to build (ash has\n\
         //! none of them). Each struct with an sType has `STYPE`; `Default` fills sType in.\n\
         #![allow(dead_code)]\n\n\
         use std::ffi::c_void;\n\n",
    );
    let mut tested = Vec::new();
    for (name, def) in &reg.types {
        if !emitted(name, reg) {
            continue;
        }
        let TypeDef::Struct { members, .. } = def else {
            continue;
        };
        let rn = rust_name(name);
        let stype = members
            .iter()
            .find(|m| m.name == "sType")
            .and_then(|m| m.stype_value.as_ref())
            .and_then(|value| reg.values.get(value));
        // Plain structs derive Default; those with an sType or pointers spell it out.
        let derives = if stype.is_none() && members.iter().all(|m| m.ptr_depth == 0) {
            "Clone, Copy, Debug, Default"
        } else {
            "Clone, Copy, Debug"
        };
        let _ = writeln!(
            out,
            "/// `{name}`.\n#[repr(C)]\n#[derive({derives})]\npub struct {rn} {{"
        );
        for m in members {
            let _ = writeln!(out, "    pub {}: {},", snake(&m.name), field_type(m, reg));
        }
        let _ = writeln!(out, "}}\n");
        let mut fields = Vec::new();
        for m in members {
            let field = snake(&m.name);
            let value = match (m.name.as_str(), stype) {
                ("sType", Some(_)) => "Self::STYPE".to_string(),
                _ if m.ptr_depth > 0 => "std::ptr::null_mut()".into(),
                _ => "Default::default()".into(),
            };
            fields.push(format!("{field}: {value}"));
        }
        if !derives.ends_with("Default") {
            let _ = writeln!(out, "impl Default for {rn} {{\n    fn default() -> Self {{\n        Self {{ {} }}\n    }}\n}}\n", fields.join(", "));
        }
        if let Some(value) = stype {
            let _ = writeln!(
                out,
                "impl {rn} {{\n    pub const STYPE: i32 = {value};\n}}\n"
            );
        }
        if let Some(s) = model.structs.get(name) {
            tested.push((rn, s.size));
        }
    }
    let _ = writeln!(out, "#[cfg(test)]\nmod tests {{\n    use super::*;\n\n    /// The sizes the wire model computed from the protocol's C declarations.\n    #[test]\n    fn sizes_match_the_c_layouts() {{");
    for (rn, size) in tested {
        let _ = writeln!(
            out,
            "        assert_eq!(std::mem::size_of::<{rn}>(), {size}, \"{rn}\");"
        );
    }
    let _ = writeln!(out, "    }}\n}}");
    out
}
