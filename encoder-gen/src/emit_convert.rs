//! Writes `encoder/src/generated/convert.rs`: for every struct and union of the protocol, the
//! `CType` impl that lowers the typed value to its C image and raises it back (the runtime and
//! its contract are in the encoder crate's `convert` module), the same for `pNext` nodes, and
//! the list the lower-then-raise test walks.

use std::fmt::Write as _;

use crate::emit::{rust_name, snake, variant_name, HEADER};
use crate::model::{Kind, Len, Member, Model, StructIr};
use crate::registry::{Registry, TypeDef};

struct ConvertEmitter<'m> {
    m: &'m Model,
    reg: &'m Registry,
}

/// What raising needs after the members: arrays cut to the count the driver wrote.
struct Truncation {
    array: String,
    count: String,
}

impl ConvertEmitter<'_> {
    fn anon_type(&self, name: &str) -> String {
        let needs_lt = self
            .m
            .structs
            .get(name)
            .map(|s| s.needs_lt)
            .or_else(|| self.m.unions.get(name).map(|u| u.needs_lt))
            .unwrap_or(false);
        if needs_lt {
            format!("{}<'_>", rust_name(name))
        } else {
            rust_name(name)
        }
    }

    /// `VkObjectType` of the handle member `member` of `owner` (0, UNKNOWN, if vk.xml names none).
    fn object_type(&self, owner: &str, member: &str) -> i64 {
        let Some(TypeDef::Struct { members, .. }) = self.reg.types.get(owner) else {
            return 0;
        };
        members
            .iter()
            .find(|m| m.name == member)
            .and_then(|m| self.reg.object_types.get(self.reg.resolve_type(&m.ty)))
            .and_then(|e| self.reg.values.get(e))
            .copied()
            .unwrap_or(0)
    }

    /// Lowers `src` (a place of the member's typed value) into the image at `p + off`.
    fn lower(&self, kind: &Kind, src: &str, off: usize, object_type: i64) -> String {
        let at = if off == 0 {
            "p".to_string()
        } else {
            format!("p.add({off})")
        };
        match kind {
            Kind::SType(v) => format!("put::<i32>(p, {off}, {v});"),
            Kind::PNext => format!("put(p, {off}, lower_chain(&{src}, l)?);"),
            Kind::Allocator | Kind::NullPtr => String::new(),
            Kind::Scalar(_) | Kind::Struct(_) | Kind::Union(_) => {
                format!("{src}.lower_at(l, {at})?;")
            }
            Kind::Handle { .. } => format!("put(p, {off}, l.handle({object_type}, {src})?);"),
            Kind::FixedArray(e, n) if matches!(**e, Kind::Handle { .. }) => {
                format!("lower_handles(&{src}, {n}, {object_type}, l, {at})?;")
            }
            Kind::FixedArray(_, n) | Kind::FixedString(n) | Kind::FixedBytes(n) => {
                format!("lower_fixed(&{src}, {n}, l, {at})?;")
            }
            Kind::String => format!("put(p, {off}, l.c_string({src}));"),
            Kind::StringArray(_) => format!("put(p, {off}, l.c_strings({src}.as_deref()));"),
            Kind::Blob(_) => format!("put(p, {off}, l.bytes({src}.as_deref()));"),
            Kind::Array(e, _) if matches!(**e, Kind::Handle { .. }) => {
                format!("put(p, {off}, lower_handle_array({src}.as_deref(), {object_type}, l)?);")
            }
            Kind::Array(..) => format!("put(p, {off}, lower_array({src}.as_deref(), l)?);"),
            Kind::Ptr(e) => match **e {
                Kind::Handle { .. } => format!(
                    "put(p, {off}, lower_handle_array({src}.as_ref().map(std::slice::from_ref), {object_type}, l)?);"
                ),
                Kind::Struct(_) | Kind::Union(_) => {
                    format!("put(p, {off}, lower_ptr({src}.as_deref(), l)?);")
                }
                _ => format!("put(p, {off}, lower_ptr({src}.as_ref(), l)?);"),
            },
        }
    }

    /// Raises the image at `p + off` into `src`. Handles and strings are inputs: nothing.
    fn raise(&self, kind: &Kind, src: &str, off: usize) -> String {
        let at = if off == 0 {
            "p".to_string()
        } else {
            format!("p.add({off})")
        };
        match kind {
            Kind::SType(_)
            | Kind::Allocator
            | Kind::NullPtr
            | Kind::Handle { .. }
            | Kind::String
            | Kind::StringArray(_) => String::new(),
            Kind::PNext => format!("raise_chain(&mut {src}, get(p, {off}))?;"),
            Kind::Scalar(_) | Kind::Struct(_) | Kind::Union(_) => format!("{src}.raise_at({at})?;"),
            Kind::FixedArray(e, _) if matches!(**e, Kind::Handle { .. }) => String::new(),
            Kind::FixedArray(_, n) | Kind::FixedString(n) | Kind::FixedBytes(n) => {
                format!("raise_fixed(&mut {src}, {n}, {at})?;")
            }
            Kind::Blob(_) => format!("raise_blob(&mut {src}, get(p, {off}));"),
            Kind::Array(e, _) if matches!(**e, Kind::Handle { .. }) => String::new(),
            Kind::Array(..) => format!("raise_array({src}.as_mut(), get(p, {off}))?;"),
            Kind::Ptr(e) => match **e {
                Kind::Handle { .. } => String::new(),
                Kind::Struct(_) | Kind::Union(_) => {
                    format!("raise_ptr({src}.as_deref_mut(), get(p, {off}))?;")
                }
                _ => format!("raise_ptr({src}.as_mut(), get(p, {off}))?;"),
            },
        }
    }

    /// An output array counted by a plain scalar member of the same struct.
    fn truncation(&self, s: &StructIr, m: &Member) -> Option<Truncation> {
        let Kind::Array(_, len) = &m.kind else {
            return None;
        };
        let Len {
            var,
            field: None,
            add: 0,
            div: 1,
            constant: None,
        } = len
        else {
            return None;
        };
        let count = s.members.iter().find(|c| &c.name == var)?;
        matches!(count.kind, Kind::Scalar(_)).then(|| Truncation {
            array: snake(&m.name),
            count: snake(&count.name),
        })
    }

    fn emit_struct(&self, s: &StructIr, out: &mut String) {
        let ty = self.anon_type(&s.name);
        let _ = writeln!(
            out,
            "impl CType for {ty} {{\n    const C_SIZE: usize = {};\n    const C_ALIGN: usize = {};",
            s.size, s.align
        );
        let _ = writeln!(out, "    unsafe fn lower_at<E>(&self, l: &mut Lowerer<'_, E>, p: *mut u8) -> Result<(), E> {{\n        let v = self;");
        for m in &s.members {
            let src = format!("v.{}", snake(&m.name));
            let st = self.lower(
                &m.kind,
                &src,
                m.c_offset,
                self.object_type(&s.name, &m.name),
            );
            if !st.is_empty() {
                let _ = writeln!(out, "        {st}");
            }
        }
        let _ = writeln!(out, "        Ok(())\n    }}");
        let _ = writeln!(out, "    unsafe fn raise_at(&mut self, p: *const u8) -> Result<(), RaiseError> {{\n        let v = self;");
        for m in &s.members {
            let st = self.raise(&m.kind, &format!("v.{}", snake(&m.name)), m.c_offset);
            if !st.is_empty() {
                let _ = writeln!(out, "        {st}");
            }
        }
        if s.output {
            for t in s.members.iter().filter_map(|m| self.truncation(s, m)) {
                let _ = writeln!(
                    out,
                    "        truncate_to(v.{}.as_mut(), v.{} as u64);",
                    t.array, t.count
                );
            }
        }
        let _ = writeln!(out, "        Ok(())\n    }}\n}}");
    }

    fn emit_union(&self, name: &str, out: &mut String) {
        let u = &self.m.unions[name];
        let rn = rust_name(name);
        let _ = writeln!(
            out,
            "impl CType for {} {{\n    const C_SIZE: usize = {};\n    const C_ALIGN: usize = {};",
            self.anon_type(name),
            u.size,
            u.align
        );
        let _ = writeln!(out, "    unsafe fn lower_at<E>(&self, l: &mut Lowerer<'_, E>, p: *mut u8) -> Result<(), E> {{\n        match self {{");
        for v in &u.variants {
            let st = self.lower(&v.kind, "(*x)", 0, self.object_type(name, &v.name));
            let _ = writeln!(
                out,
                "            {rn}::{}(x) => {{ let _ = x; {st} }}",
                variant_name(&v.name)
            );
        }
        let _ = writeln!(out, "        }}\n        Ok(())\n    }}");
        let _ = writeln!(out, "    unsafe fn raise_at(&mut self, p: *const u8) -> Result<(), RaiseError> {{\n        match self {{");
        for v in &u.variants {
            let st = self.raise(&v.kind, "(*x)", 0);
            let _ = writeln!(
                out,
                "            {rn}::{}(x) => {{ let _ = x; {st} }}",
                variant_name(&v.name)
            );
        }
        let _ = writeln!(out, "        }}\n        Ok(())\n    }}\n}}");
    }
}

pub fn emit_convert(m: &Model, reg: &Registry) -> String {
    let e = ConvertEmitter { m, reg };
    let mut out = String::from(HEADER);
    out.push_str(
        "//! C images of the typed structs: see `crate::convert` for the contract of `CType`.\n\
         //!\n\
         //! SAFETY (every function here): `p` is the C image `CType` promises, so each member is\n\
         //! read or written at its vk.xml offset inside `C_SIZE` bytes (the layouts are checked\n\
         //! against ash by `layout.rs`), and pointers are read only where this code wrote them.\n\
         #![allow(clippy::all, unused_variables, unused_imports, unused_braces)]\n\
         #![allow(unsafe_op_in_unsafe_fn)]\n\n\
         use super::types::*;\n\
         use crate::convert::*;\n\
         #[cfg(test)]\n\
         use crate::testing::lower_then_raise;\n\n",
    );
    for s in m.structs.values() {
        e.emit_struct(s, &mut out);
    }
    for name in m.unions.keys() {
        e.emit_union(name, &mut out);
    }
    let mut ext_structs: Vec<&StructIr> = Vec::new();
    for s in m.structs.values() {
        for x in &s.extensions {
            let xs = &m.structs[x];
            if !ext_structs.iter().any(|e| e.name == xs.name) {
                ext_structs.push(xs);
            }
        }
    }
    ext_structs.sort_by_key(|s| (s.stype.unwrap_or(0), s.name.clone()));
    let _ = writeln!(out, "impl<'a> Ext<'a> {{\n    pub(crate) unsafe fn lower_node<E>(&self, l: &mut Lowerer<'_, E>) -> Result<*mut u8, E> {{\n        match self {{");
    for s in &ext_structs {
        let _ = writeln!(
            out,
            "            Ext::{}(v) => lower_node(&**v, l),",
            rust_name(&s.name)
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n    pub(crate) unsafe fn raise_node(&mut self, p: *const u8) -> Result<(), RaiseError> {{\n        match self {{");
    for s in &ext_structs {
        let _ = writeln!(
            out,
            "            Ext::{}(v) => v.raise_at(p),",
            rust_name(&s.name)
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n    /// The node's own chain (empty when decoded: the wire's chains are flat).\n    pub(crate) fn own_chain_mut(&mut self) -> &mut Vec<Self> {{\n        match self {{");
    for s in &ext_structs {
        let _ = writeln!(
            out,
            "            Ext::{}(v) => &mut v.p_next,",
            rust_name(&s.name)
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n}}\n");
    let _ = writeln!(out, "/// Every struct and union, for the lower-then-raise test.\n#[cfg(test)]\npub(crate) const EVERY_C_TYPE: &[(&str, fn(u64) -> Result<(), String>)] = &[");
    for s in m.structs.values() {
        let _ = writeln!(
            out,
            "    (\"{}\", |seed| lower_then_raise(seed, {}::arb)),",
            s.name,
            rust_name(&s.name)
        );
    }
    for name in m.unions.keys() {
        let _ = writeln!(
            out,
            "    (\"{name}\", |seed| lower_then_raise(seed, |g| {}::arb(g, None))),",
            rust_name(name)
        );
    }
    let _ = writeln!(out, "];");
    out
}
