//! The wire model: which structs and commands are in the protocol and how each member is sent.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::registry::{RawMember, Registry, TypeDef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U8,
    U16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// C `size_t`: 8 bytes in C (LP64) and on the wire.
    Usize,
}

impl Scalar {
    pub fn c_size(self) -> usize {
        match self {
            Scalar::U8 => 1,
            Scalar::U16 => 2,
            Scalar::U32 | Scalar::I32 | Scalar::F32 => 4,
            _ => 8,
        }
    }
    pub fn wire_size(self) -> usize {
        self.c_size().max(4)
    }
    /// Rust type on the host side (and of guest function arguments).
    pub fn rust(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::I32 => "i32",
            Scalar::U64 | Scalar::Usize => "u64",
            Scalar::I64 => "i64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }
    /// Rust type with the C layout (what the guest reads from application memory).
    pub fn c_rust(self) -> &'static str {
        match self {
            Scalar::Usize => "usize",
            s => s.rust(),
        }
    }
    /// Name of the Writer/Decoder method.
    pub fn op(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::I32 => "i32",
            Scalar::U64 | Scalar::Usize => "u64",
            Scalar::I64 => "i64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }
}

/// An array length: `(var[->field] + add) / div * mul`, or a constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Len {
    pub var: String,
    pub field: Option<String>,
    pub add: u64,
    pub div: u64,
    pub constant: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Scalar(Scalar),
    Handle {
        dispatchable: bool,
        /// The handle type (`VkBuffer`…), aliases resolved.
        name: String,
    },
    Struct(String),
    Union(String),
    FixedArray(Box<Kind>, u32),
    FixedString(u32),
    FixedBytes(u32),
    String,
    StringArray(Len),
    Blob(Len),
    Array(Box<Kind>, Len),
    Ptr(Box<Kind>),
    PNext,
    SType(i64),
    /// A `void*` union member: only NULL can be sent.
    NullPtr,
    /// `pAllocator`: always sent as NULL.
    Allocator,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub kind: Kind,
    /// The pointer may be NULL.
    pub optional: bool,
    /// An absent array must still match its count (non-optional arrays).
    pub checked_when_absent: bool,
    /// Another member's length refers to this one.
    pub is_count: bool,
    /// Command parameter written by the host (non-const pointer).
    pub out: bool,
    /// For union members inside a struct: the member whose value selects the union variant.
    pub selector: Option<String>,
    pub c_offset: usize,
}

#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub tag: i64,
    pub kind: Kind,
}

#[derive(Clone, Debug, Default)]
pub struct Gate {
    pub api: u32,
    pub exts: Vec<u32>,
    pub venus_spec: u32,
}

#[derive(Clone, Debug)]
pub struct StructIr {
    pub name: String,
    pub members: Vec<Member>,
    pub stype: Option<i64>,
    pub extensions: Vec<String>,
    pub size: usize,
    pub align: usize,
    pub gate: Gate,
    pub needs_lt: bool,
    /// Reachable from a command output: needs partial encoders and reply decoders.
    pub output: bool,
}

#[derive(Clone, Debug)]
pub struct UnionIr {
    pub name: String,
    pub variants: Vec<Variant>,
    /// Selected by an enum member of the parent: the tag is sent as that enum (i32).
    pub by_selector: bool,
    pub guest_tag: i64,
    pub size: usize,
    pub align: usize,
    pub needs_lt: bool,
    pub output: bool,
}

#[derive(Clone, Debug)]
pub struct CommandIr {
    pub name: String,
    pub value: u32,
    pub aliases: Vec<String>,
    pub ret: Option<Scalar>,
    pub params: Vec<Member>,
    pub gate: Gate,
    pub needs_lt: bool,
}

pub struct Model {
    pub structs: BTreeMap<String, StructIr>,
    pub unions: BTreeMap<String, UnionIr>,
    pub commands: Vec<CommandIr>,
    pub left_out: Vec<(u32, String, String)>,
    pub table_size: usize,
    pub table_max: u32,
    pub vk_xml_version: String,
    pub protocol_extensions: Vec<(String, u32, u32)>,
}

struct Builder<'r> {
    reg: &'r Registry,
    excluded_types: BTreeMap<String, String>,
    usable: BTreeMap<String, Result<(), String>>,
    protocol_ext_numbers: BTreeSet<u32>,
    mesa_spec: BTreeMap<String, u32>,
    union_tags: BTreeMap<String, i64>,
}

fn aliases_of(map: &BTreeMap<String, String>, target: &str) -> Vec<String> {
    map.iter()
        .filter(|(_, t)| t.as_str() == target)
        .map(|(a, _)| a.clone())
        .collect()
}

impl Builder<'_> {
    fn classify_scalar(&self, ty: &str) -> Option<Scalar> {
        Some(match ty {
            "uint8_t" | "char" => Scalar::U8,
            "uint16_t" => Scalar::U16,
            "uint32_t" | "VkBool32" | "VkSampleMask" | "VkFlags" => Scalar::U32,
            "int32_t" => Scalar::I32,
            "uint64_t" | "VkDeviceSize" | "VkDeviceAddress" | "VkFlags64" => Scalar::U64,
            "int64_t" => Scalar::I64,
            "float" => Scalar::F32,
            "double" => Scalar::F64,
            "size_t" => Scalar::Usize,
            _ => match self.reg.types.get(self.reg.resolve_type(ty))? {
                TypeDef::Enum { bits64: false } => Scalar::I32,
                TypeDef::Enum { bits64: true } => Scalar::U64,
                TypeDef::Bitmask { bits64 } => {
                    if *bits64 {
                        Scalar::U64
                    } else {
                        Scalar::U32
                    }
                }
                TypeDef::Base(b) => return self.classify_scalar(&b.clone()),
                _ => return None,
            },
        })
    }

    fn value_kind(&mut self, ty: &str) -> Result<Kind, String> {
        if let Some(s) = self.classify_scalar(ty) {
            return Ok(Kind::Scalar(s));
        }
        let name = self.reg.resolve_type(ty).to_string();
        match self.reg.types.get(&name) {
            Some(TypeDef::Handle { dispatchable }) => Ok(Kind::Handle {
                dispatchable: *dispatchable,
                name: name.clone(),
            }),
            Some(TypeDef::Struct { is_union, .. }) => {
                let is_union = *is_union;
                self.check_usable(&name)?;
                Ok(if is_union {
                    Kind::Union(name)
                } else {
                    Kind::Struct(name)
                })
            }
            _ => Err(format!("type {ty} has no wire encoding")),
        }
    }

    fn parse_len(&self, text: &str) -> Result<Len, String> {
        let t = text.trim();
        if let Some(c) = self.const_value(t) {
            return Ok(Len {
                var: String::new(),
                field: None,
                add: 0,
                div: 1,
                constant: Some(c),
            });
        }
        if let Some((a, b)) = t.split_once('*') {
            if let (Some(x), Some(y)) = (self.const_value(a.trim()), self.const_value(b.trim())) {
                return Ok(Len {
                    var: String::new(),
                    field: None,
                    add: 0,
                    div: 1,
                    constant: Some(x * y),
                });
            }
        }
        let (num, div) = match t.rsplit_once('/') {
            Some((n, d)) => (
                n.trim(),
                d.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("length {text}"))?,
            ),
            None => (t, 1),
        };
        let num = num.trim_start_matches('(').trim_end_matches(')').trim();
        let (var, add) = match num.split_once('+') {
            Some((v, a)) => (
                v.trim(),
                a.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("length {text}"))?,
            ),
            None => (num, 0),
        };
        if !var
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '>')
        {
            return Err(format!("length expression {text}"));
        }
        let (var, field) = match var.split_once("->") {
            Some((v, f)) => (v.to_string(), Some(f.to_string())),
            None => (var.to_string(), None),
        };
        Ok(Len {
            var,
            field,
            add,
            div,
            constant: None,
        })
    }

    fn const_value(&self, t: &str) -> Option<u64> {
        t.parse::<u64>()
            .ok()
            .or_else(|| self.reg.values.get(t).map(|v| *v as u64))
    }

    fn member_kind(&mut self, m: &RawMember, in_union: bool) -> Result<Kind, String> {
        if m.name == "sType" && m.ty == "VkStructureType" && m.ptr_depth == 0 {
            if let Some(v) = &m.stype_value {
                let v = self.reg.values.get(v).ok_or(format!("unknown sType {v}"))?;
                return Ok(Kind::SType(*v));
            }
        }
        if m.name == "pNext" && m.ptr_depth == 1 && m.ty == "void" {
            return Ok(Kind::PNext);
        }
        if m.bitfield {
            return Err(format!("{} is a bit-field", m.name));
        }
        if m.ty == "VkAllocationCallbacks" && m.ptr_depth == 1 {
            return Ok(Kind::Allocator);
        }
        if let Some(ex) = self.excluded_types.get(self.reg.resolve_type(&m.ty)) {
            return Err(format!("{}: {ex}", m.ty));
        }
        let len_text = m.altlen.clone().or_else(|| m.len.clone());
        if !m.array_dims.is_empty() {
            if m.array_dims.len() > 1 || m.ptr_depth > 0 {
                return Err(format!("{} is a multi-dimensional array", m.name));
            }
            let n = self
                .const_value(&m.array_dims[0])
                .ok_or(format!("array size {}", m.array_dims[0]))? as u32;
            return Ok(match m.ty.as_str() {
                "char" => Kind::FixedString(n),
                "uint8_t" => Kind::FixedBytes(n),
                _ => Kind::FixedArray(Box::new(self.value_kind(&m.ty)?), n),
            });
        }
        match m.ptr_depth {
            0 => {
                if m.ty == "void" {
                    return Err("void value".into());
                }
                self.value_kind(&m.ty)
            }
            1 => {
                if m.ty == "char" {
                    return match len_text.as_deref() {
                        Some(l) if l.contains("null-terminated") => Ok(Kind::String),
                        _ => Err(format!(
                            "{}: char pointer without a NUL-terminated length",
                            m.name
                        )),
                    };
                }
                if m.ty == "void" {
                    if in_union {
                        return Ok(Kind::NullPtr);
                    }
                    return match len_text {
                        Some(l) => Ok(Kind::Blob(self.parse_len(&l)?)),
                        None => Err(format!("{}: void pointer of unknown size", m.name)),
                    };
                }
                let elem = self.value_kind(&m.ty)?;
                match len_text {
                    Some(l) => {
                        let len = self.parse_len(l.split(',').next().unwrap_or(&l))?;
                        if matches!(elem, Kind::Scalar(Scalar::U8)) {
                            Ok(Kind::Blob(len))
                        } else if matches!(elem, Kind::Scalar(Scalar::U16)) {
                            Err(format!(
                                "{}: uint16_t arrays are not in the protocol",
                                m.name
                            ))
                        } else {
                            Ok(Kind::Array(Box::new(elem), len))
                        }
                    }
                    None => Ok(Kind::Ptr(Box::new(elem))),
                }
            }
            2 if m.ty == "char" => match len_text.as_deref() {
                Some(l) if l.ends_with("null-terminated") => Ok(Kind::StringArray(
                    self.parse_len(l.split(',').next().unwrap_or(""))?,
                )),
                _ => Err(format!("{}: string array without length", m.name)),
            },
            _ => Err(format!("{}: pointer to pointer", m.name)),
        }
    }

    fn check_usable(&mut self, name: &str) -> Result<(), String> {
        if let Some(r) = self.usable.get(name) {
            return r.clone();
        }
        if let Some(ex) = self.excluded_types.get(name) {
            return Err(format!("{name}: {ex}"));
        }
        self.usable.insert(name.to_string(), Ok(()));
        let Some(TypeDef::Struct {
            members, is_union, ..
        }) = self.reg.types.get(name)
        else {
            return Err(format!("{name} is not a struct"));
        };
        let (members, is_union) = (members.clone(), *is_union);
        let mut result = Ok(());
        for m in &members {
            if let Err(e) = self.member_kind(m, is_union) {
                result = Err(format!("{name}.{}: {e}", m.name));
                break;
            }
        }
        self.usable.insert(name.to_string(), result.clone());
        result
    }

    fn origin_gate(&self, name: &str, alias_map: &BTreeMap<String, String>) -> Gate {
        let mut gate = Gate::default();
        let mut names = aliases_of(alias_map, name);
        names.push(name.to_string());
        let mut exts = BTreeSet::new();
        for n in &names {
            if let Some(o) = self.reg.origins.get(n) {
                if o.core != 0 && (gate.api == 0 || o.core < gate.api) {
                    gate.api = o.core;
                }
                for e in &o.extensions {
                    if self.protocol_ext_numbers.contains(e) {
                        exts.insert(*e);
                    }
                }
            }
            if let Some(spec) = self.mesa_spec.get(n) {
                gate.venus_spec = *spec;
            }
        }
        gate.exts = exts.into_iter().collect();
        gate
    }
}

fn layout_of(kind: &Kind, structs: &BTreeMap<String, (usize, usize)>) -> (usize, usize) {
    match kind {
        Kind::Scalar(s) => (s.c_size(), s.c_size()),
        Kind::SType(_) => (4, 4),
        Kind::Struct(n) | Kind::Union(n) => structs[n],
        Kind::FixedArray(e, n) => {
            let (s, a) = layout_of(e, structs);
            (s * *n as usize, a)
        }
        Kind::FixedString(n) | Kind::FixedBytes(n) => (*n as usize, 1),
        _ => (8, 8),
    }
}

fn referenced_types(kind: &Kind, out: &mut Vec<String>) {
    match kind {
        Kind::Struct(n) | Kind::Union(n) => out.push(n.clone()),
        Kind::FixedArray(e, _) | Kind::Array(e, _) | Kind::Ptr(e) => referenced_types(e, out),
        _ => {}
    }
}

pub fn build(reg: &Registry, data: &Value) -> Result<Model, String> {
    let obj = |k: &str| {
        data[k]
            .as_object()
            .ok_or(format!("data file: missing object {k}"))
    };
    let excluded_commands: BTreeMap<String, String> = obj("excluded_commands")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let excluded_types: BTreeMap<String, String> = obj("excluded_types")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect();
    let union_tags: BTreeMap<String, i64> = obj("union_guest_tags")?
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
        .collect();
    let mut protocol_extensions = Vec::new();
    let mut protocol_ext_numbers = BTreeSet::new();
    for e in data["protocol_extensions"]
        .as_array()
        .ok_or("data file: protocol_extensions")?
    {
        let name = e[0].as_str().ok_or("extension name")?.to_string();
        let number = e[1].as_u64().ok_or("extension number")? as u32;
        let spec = e[2].as_u64().ok_or("extension spec")? as u32;
        protocol_ext_numbers.insert(number);
        protocol_extensions.push((name, number, spec));
    }
    // This project's additions to virglrenderer's list; each says why it is there.
    for e in data["venus_rs_protocol_extensions"]["extensions"]
        .as_array()
        .ok_or("data file: venus_rs_protocol_extensions.extensions")?
    {
        let name = e[0].as_str().ok_or("extension name")?.to_string();
        let number = e[1].as_u64().ok_or("extension number")? as u32;
        let spec = e[2].as_u64().ok_or("extension spec")? as u32;
        e[3].as_str()
            .filter(|why| !why.is_empty())
            .ok_or(format!("data file: {name} needs the reason it is added"))?;
        if !protocol_ext_numbers.insert(number) {
            return Err(format!("data file: {name} is already a protocol extension"));
        }
        protocol_extensions.push((name, number, spec));
    }
    protocol_extensions.sort();
    let mut mesa_spec = BTreeMap::new();
    for t in data["mesa"]["types"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(data["mesa"]["commands"].as_array().into_iter().flatten())
    {
        if let Some(n) = t["name"].as_str() {
            mesa_spec.insert(n.to_string(), t["since_spec"].as_u64().unwrap_or(1) as u32);
        }
    }
    let mut b = Builder {
        reg,
        excluded_types,
        usable: BTreeMap::new(),
        protocol_ext_numbers,
        mesa_spec,
        union_tags,
    };

    // Commands of the VkCommandTypeEXT table.
    let mut commands = Vec::new();
    let mut left_out = Vec::new();
    let table = data["command_types"]
        .as_array()
        .ok_or("data file: command_types")?;
    let mut table_max = 0;
    for entry in table {
        let value = entry["value"].as_u64().ok_or("command value")? as u32;
        table_max = table_max.max(value);
        let name = entry["name"].as_str().ok_or("command name")?.to_string();
        let aliases: Vec<String> = entry["aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        if let Some(reason) = excluded_commands.get(&name) {
            left_out.push((value, name, reason.clone()));
            continue;
        }
        let def_name = std::iter::once(&name).chain(aliases.iter()).find_map(|n| {
            if reg.commands.contains_key(n) {
                Some(n.clone())
            } else {
                reg.command_alias
                    .get(n)
                    .filter(|a| reg.commands.contains_key(*a))
                    .cloned()
            }
        });
        let Some(def_name) = def_name else {
            left_out.push((value, name, format!("not in vk.xml {}", reg.version)));
            continue;
        };
        let raw = &reg.commands[&def_name];
        let mut params = Vec::new();
        let mut err = None;
        for p in &raw.params {
            match b.member_kind(p, false) {
                Ok(kind) => params.push(make_member(p, kind, !p.is_const && p.ptr_depth > 0)),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = err {
            left_out.push((value, name, format!("no wire encoding: {e}")));
            continue;
        }
        mark_counts(&mut params);
        let ret = match raw.ret.as_str() {
            "void" => None,
            "VkResult" => Some(Scalar::I32),
            t => match b.classify_scalar(t) {
                Some(s) => Some(s),
                None => {
                    left_out.push((value, name, format!("return type {t}")));
                    continue;
                }
            },
        };
        let mut gate = b.origin_gate(&def_name, &reg.command_alias);
        for a in &aliases {
            let g = b.origin_gate(a, &reg.command_alias);
            gate.exts.extend(g.exts);
            if g.api != 0 && (gate.api == 0 || g.api < gate.api) {
                gate.api = g.api;
            }
        }
        gate.exts.sort_unstable();
        gate.exts.dedup();
        commands.push(CommandIr {
            name,
            value,
            aliases,
            ret,
            params,
            gate,
            needs_lt: false,
        });
    }

    // Struct closure: command parameters, their members, and pNext extensions.
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    for c in &commands {
        for p in &c.params {
            referenced_types(&p.kind, &mut queue);
        }
    }
    let extenders: BTreeMap<String, Vec<String>> = {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, def) in &reg.types {
            if let TypeDef::Struct { extends, .. } = def {
                for parent in extends {
                    m.entry(reg.resolve_type(parent).to_string())
                        .or_default()
                        .push(name.clone());
                }
            }
        }
        m
    };
    let mut struct_defs: BTreeMap<String, (Vec<Member>, bool)> = BTreeMap::new();
    let mut extensions_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    while let Some(name) = queue.pop() {
        if !wanted.insert(name.clone()) {
            continue;
        }
        let Some(TypeDef::Struct {
            members, is_union, ..
        }) = reg.types.get(&name)
        else {
            continue;
        };
        let mut ms = Vec::new();
        for m in members {
            let kind = b.member_kind(m, *is_union)?;
            referenced_types(&kind, &mut queue);
            let mut mm = make_member(m, kind, false);
            mm.selector = m.selector.clone();
            ms.push(mm);
        }
        mark_counts(&mut ms);
        let has_pnext = ms.iter().any(|m| matches!(m.kind, Kind::PNext));
        if has_pnext {
            let mut exts = Vec::new();
            for e in extenders.get(&name).into_iter().flatten() {
                let gate = b.origin_gate(e, &reg.type_alias);
                let available = gate.api != 0 || !gate.exts.is_empty() || gate.venus_spec != 0;
                if available && b.check_usable(e).is_ok() {
                    exts.push(e.clone());
                    queue.push(e.clone());
                }
            }
            extensions_of.insert(name.clone(), exts);
        }
        struct_defs.insert(name, (ms, *is_union));
    }

    // Counts that size a command's array through a struct (`pAllocateInfo->commandBufferCount`).
    for c in &commands {
        for p in &c.params {
            let (Kind::Array(_, l) | Kind::Blob(l) | Kind::StringArray(l)) = &p.kind else {
                continue;
            };
            let Some(field) = &l.field else { continue };
            let Some(Kind::Ptr(inner)) = c.params.iter().find(|q| q.name == l.var).map(|q| &q.kind)
            else {
                continue;
            };
            let Kind::Struct(sn) = &**inner else { continue };
            if let Some((ms, _)) = struct_defs.get_mut(sn) {
                for m in ms.iter_mut().filter(|m| &m.name == field) {
                    m.is_count = true;
                }
            }
        }
    }

    // C layouts, in dependency order.
    let mut layouts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut offsets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    while layouts.len() < struct_defs.len() {
        let before = layouts.len();
        for (name, (ms, is_union)) in &struct_defs {
            if layouts.contains_key(name) {
                continue;
            }
            let mut deps = Vec::new();
            for m in ms {
                if let Kind::Struct(_) | Kind::Union(_) | Kind::FixedArray(..) = m.kind {
                    referenced_types(&m.kind, &mut deps);
                }
            }
            if deps.iter().any(|d| !layouts.contains_key(d)) {
                continue;
            }
            let (mut off, mut align, mut size) = (0usize, 1usize, 0usize);
            let mut offs = Vec::new();
            for m in ms {
                let (s, a) = layout_of(&m.kind, &layouts);
                align = align.max(a);
                if *is_union {
                    offs.push(0);
                    size = size.max(s);
                } else {
                    off = off.div_ceil(a) * a;
                    offs.push(off);
                    off += s;
                    size = off;
                }
            }
            size = size.div_ceil(align) * align;
            layouts.insert(name.clone(), (size, align));
            offsets.insert(name.clone(), offs);
        }
        if layouts.len() == before {
            return Err("cyclic struct layout".into());
        }
    }

    let mut structs = BTreeMap::new();
    let mut unions = BTreeMap::new();
    for (name, (mut ms, is_union)) in struct_defs {
        for (m, off) in ms.iter_mut().zip(&offsets[&name]) {
            m.c_offset = *off;
        }
        let (size, align) = layouts[&name];
        if is_union {
            let raw = match reg.types.get(&name) {
                Some(TypeDef::Struct { members, .. }) => members.clone(),
                _ => Vec::new(),
            };
            let by_selector = raw.iter().any(|m| !m.selection.is_empty());
            let mut variants = Vec::new();
            for (i, (m, r)) in ms.iter().zip(&raw).enumerate() {
                let tag = if by_selector {
                    let sel = r
                        .selection
                        .first()
                        .ok_or(format!("{name}.{} has no selection", m.name))?;
                    *reg.values
                        .get(sel)
                        .ok_or(format!("unknown selection {sel}"))?
                } else {
                    i as i64
                };
                variants.push(Variant {
                    name: m.name.clone(),
                    tag,
                    kind: m.kind.clone(),
                });
            }
            let guest_tag = b.union_tags.get(&name).copied().unwrap_or(variants[0].tag);
            unions.insert(
                name.clone(),
                UnionIr {
                    name,
                    variants,
                    by_selector,
                    guest_tag,
                    size,
                    align,
                    needs_lt: false,
                    output: false,
                },
            );
        } else {
            let stype = ms.iter().find_map(|m| {
                if let Kind::SType(v) = m.kind {
                    Some(v)
                } else {
                    None
                }
            });
            let gate = b.origin_gate(&name, &reg.type_alias);
            let extensions = extensions_of.remove(&name).unwrap_or_default();
            structs.insert(
                name.clone(),
                StructIr {
                    name,
                    members: ms,
                    stype,
                    extensions,
                    size,
                    align,
                    gate,
                    needs_lt: false,
                    output: false,
                },
            );
        }
    }

    // Lifetimes: anything that can borrow from the input or carries a pNext chain.
    loop {
        let mut changed = false;
        let lt_of = |k: &Kind, s: &BTreeMap<String, StructIr>, u: &BTreeMap<String, UnionIr>| {
            kind_needs_lt(k, s, u)
        };
        let names: Vec<String> = structs.keys().cloned().collect();
        for n in &names {
            let need = structs[n]
                .members
                .iter()
                .any(|m| lt_of(&m.kind, &structs, &unions));
            if need && !structs[n].needs_lt {
                structs.get_mut(n).unwrap().needs_lt = true;
                changed = true;
            }
        }
        let unames: Vec<String> = unions.keys().cloned().collect();
        for n in &unames {
            let need = unions[n]
                .variants
                .iter()
                .any(|v| lt_of(&v.kind, &structs, &unions));
            if need && !unions[n].needs_lt {
                unions.get_mut(n).unwrap().needs_lt = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for c in &mut commands {
        c.needs_lt = c
            .params
            .iter()
            .any(|m| kind_needs_lt(&m.kind, &structs, &unions));
    }

    // Output reachability.
    let mut out_queue = Vec::new();
    for c in &commands {
        for p in c.params.iter().filter(|p| p.out) {
            referenced_types(&p.kind, &mut out_queue);
        }
    }
    while let Some(n) = out_queue.pop() {
        if let Some(s) = structs.get_mut(&n) {
            if s.output {
                continue;
            }
            s.output = true;
            let mut refs = s.extensions.clone();
            for m in &s.members {
                referenced_types(&m.kind, &mut refs);
            }
            out_queue.extend(refs);
        } else if let Some(u) = unions.get_mut(&n) {
            if u.output {
                continue;
            }
            u.output = true;
            let mut refs = Vec::new();
            for v in &u.variants {
                referenced_types(&v.kind, &mut refs);
            }
            out_queue.extend(refs);
        }
    }

    commands.sort_by_key(|c| c.value);
    left_out.sort();
    Ok(Model {
        structs,
        unions,
        commands,
        left_out,
        table_size: table.len(),
        table_max,
        vk_xml_version: reg.version.clone(),
        protocol_extensions,
    })
}

pub fn kind_needs_lt(
    k: &Kind,
    s: &BTreeMap<String, StructIr>,
    u: &BTreeMap<String, UnionIr>,
) -> bool {
    match k {
        Kind::String | Kind::StringArray(_) | Kind::Blob(_) | Kind::PNext => true,
        Kind::Struct(n) => s.get(n).map(|x| x.needs_lt).unwrap_or(false),
        Kind::Union(n) => u.get(n).map(|x| x.needs_lt).unwrap_or(false),
        Kind::FixedArray(e, _) | Kind::Array(e, _) | Kind::Ptr(e) => kind_needs_lt(e, s, u),
        _ => false,
    }
}

fn make_member(m: &RawMember, kind: Kind, out: bool) -> Member {
    let unchecked = m.optional || m.noautovalidity;
    Member {
        name: m.name.clone(),
        checked_when_absent: !unchecked && matches!(kind, Kind::Array(..) | Kind::Blob(_)),
        kind,
        optional: m.optional,
        is_count: false,
        out,
        selector: None,
        c_offset: 0,
    }
}

fn mark_counts(ms: &mut [Member]) {
    let vars: BTreeSet<String> = ms
        .iter()
        .filter_map(|m| match &m.kind {
            Kind::Array(_, l) | Kind::Blob(l) | Kind::StringArray(l)
                if l.field.is_none() && l.constant.is_none() =>
            {
                Some(l.var.clone())
            }
            _ => None,
        })
        .collect();
    for m in ms.iter_mut() {
        m.is_count = vars.contains(&m.name);
    }
}
