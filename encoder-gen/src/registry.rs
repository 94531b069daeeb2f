//! Flattens vk.xml (through `vk-parse`) and the project data file into plain maps.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use vk_parse::{
    CommandDefinition, EnumSpec, EnumsChild, ExtensionChild, InterfaceItem, RegistryChild,
    TypeMember, TypeMemberMarkup, TypeSpec,
};

/// One struct member or command parameter, as declared in C.
#[derive(Clone, Debug, Default)]
pub struct RawMember {
    pub name: String,
    pub ty: String,
    pub is_const: bool,
    pub ptr_depth: u8,
    pub array_dims: Vec<String>,
    pub bitfield: bool,
    pub len: Option<String>,
    pub altlen: Option<String>,
    pub optional: bool,
    pub noautovalidity: bool,
    pub selector: Option<String>,
    pub selection: Vec<String>,
    pub stype_value: Option<String>,
}

#[derive(Clone, Debug)]
pub enum TypeDef {
    Struct {
        members: Vec<RawMember>,
        extends: Vec<String>,
        is_union: bool,
    },
    Handle {
        dispatchable: bool,
    },
    Enum {
        bits64: bool,
    },
    Bitmask {
        bits64: bool,
    },
    Base(String),
    Other,
}

#[derive(Clone, Debug)]
pub struct RawCommand {
    pub ret: String,
    pub params: Vec<RawMember>,
}

/// Where a type or command comes from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// Lowest core version (VK_MAKE_API_VERSION) that contains it; 0 if none.
    pub core: u32,
    /// Extension numbers that add it.
    pub extensions: BTreeSet<u32>,
    /// Those of `extensions` that add it whatever else the device supports (not only in a
    /// `<require depends="…">` block that needs another extension too).
    pub unconditional: BTreeSet<u32>,
}

pub struct Registry {
    pub types: BTreeMap<String, TypeDef>,
    pub type_alias: BTreeMap<String, String>,
    pub commands: BTreeMap<String, RawCommand>,
    pub command_alias: BTreeMap<String, String>,
    /// Every enumerant and API constant by name (sTypes, selector values, array sizes).
    pub values: BTreeMap<String, i64>,
    pub origins: BTreeMap<String, Origin>,
    pub extension_numbers: BTreeMap<String, u32>,
    /// Header version of vk.xml, e.g. "1.4.309".
    pub version: String,
    /// Handle type -> its `VkObjectType` enumerant (`objtypeenum`).
    pub object_types: BTreeMap<String, String>,
}

fn opt_true(s: &Option<String>) -> bool {
    s.as_deref()
        .map(|v| v.split(',').next() == Some("true"))
        .unwrap_or(false)
}

fn parse_member_code(code: &str, markup: &[TypeMemberMarkup]) -> RawMember {
    let mut m = RawMember::default();
    for mk in markup {
        match mk {
            TypeMemberMarkup::Name(n) => m.name = n.clone(),
            TypeMemberMarkup::Type(t) => m.ty = t.clone(),
            _ => {}
        }
    }
    let name_pos = code.rfind(&m.name).unwrap_or(code.len());
    let (head, tail) = code.split_at(name_pos);
    let head = head.trim();
    m.is_const = head.starts_with("const");
    m.ptr_depth = head.matches('*').count() as u8;
    let tail = &tail[m.name.len().min(tail.len())..];
    m.bitfield = tail.trim_start().starts_with(':');
    let mut rest = tail;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| c + open)
            .unwrap_or(rest.len());
        m.array_dims.push(rest[open + 1..close].trim().to_string());
        rest = &rest[(close + 1).min(rest.len())..];
    }
    m
}

fn is_vulkan_api(api: &Option<String>) -> bool {
    api.as_deref()
        .map(|a| a.split(',').any(|x| x == "vulkan"))
        .unwrap_or(true)
}

fn version_number(feature: &str) -> Option<u32> {
    let v = feature.strip_prefix("VK_VERSION_")?;
    let mut it = v.split('_');
    let major: u32 = it.next()?.parse().ok()?;
    let minor: u32 = it.next()?.parse().ok()?;
    Some((major << 22) | (minor << 12))
}

/// vk.xml's extension enum rule; vk-parse's `dir` is true for a positive value (`dir="-"` makes it false).
fn ext_enum_value(offset: i64, extnumber: i64, positive: bool) -> i64 {
    let v = 1_000_000_000 + (extnumber - 1) * 1000 + offset;
    if positive {
        v
    } else {
        -v
    }
}

impl Registry {
    pub fn load(vk_xml: &Path) -> Result<Registry, String> {
        let (reg, _errors) = vk_parse::parse_file(vk_xml)
            .map_err(|e| format!("cannot parse {}: {e:?}", vk_xml.display()))?;
        let mut r = Registry {
            types: BTreeMap::new(),
            type_alias: BTreeMap::new(),
            commands: BTreeMap::new(),
            command_alias: BTreeMap::new(),
            values: BTreeMap::new(),
            origins: BTreeMap::new(),
            extension_numbers: BTreeMap::new(),
            version: String::new(),
            object_types: BTreeMap::new(),
        };
        let mut stype_alias = Vec::new();
        let mut header_version = (0, 0);
        for child in &reg.0 {
            match child {
                RegistryChild::Types(types) => {
                    for t in types.children.iter() {
                        let vk_parse::TypesChild::Type(t) = t else {
                            continue;
                        };
                        if !is_vulkan_api(&t.api) {
                            continue;
                        }
                        let Some(name) = t.name.clone().or_else(|| match &t.spec {
                            TypeSpec::Code(c) => c.markup.iter().find_map(|m| match m {
                                vk_parse::TypeCodeMarkup::Name(n) => Some(n.clone()),
                                _ => None,
                            }),
                            _ => None,
                        }) else {
                            continue;
                        };
                        if let Some(alias) = &t.alias {
                            r.type_alias.insert(name, alias.clone());
                            continue;
                        }
                        let code = match &t.spec {
                            TypeSpec::Code(c) => c.code.clone(),
                            _ => String::new(),
                        };
                        if name == "VK_HEADER_VERSION" {
                            header_version.0 = code
                                .split_whitespace()
                                .last()
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                        }
                        if name == "VK_HEADER_VERSION_COMPLETE" {
                            if let Some(args) = code.split("VK_MAKE_API_VERSION(").nth(1) {
                                let nums: Vec<u32> = args
                                    .split([',', ')'])
                                    .filter_map(|s| s.trim().parse().ok())
                                    .collect();
                                if nums.len() >= 3 {
                                    header_version.1 = nums[2];
                                }
                            }
                        }
                        let def = match t.category.as_deref() {
                            Some("struct") | Some("union") => {
                                let TypeSpec::Members(ms) = &t.spec else {
                                    continue;
                                };
                                let mut members = Vec::new();
                                for m in ms {
                                    let TypeMember::Definition(d) = m else {
                                        continue;
                                    };
                                    if !is_vulkan_api(&d.api) {
                                        continue;
                                    }
                                    let mut rm = parse_member_code(&d.code, &d.markup);
                                    rm.len = d.len.clone();
                                    rm.altlen = d.altlen.clone();
                                    rm.optional = opt_true(&d.optional);
                                    rm.noautovalidity = d.noautovalidity.as_deref() == Some("true");
                                    rm.selector = d.selector.clone();
                                    rm.selection = d
                                        .selection
                                        .as_deref()
                                        .map(|s| s.split(',').map(str::to_string).collect())
                                        .unwrap_or_default();
                                    rm.stype_value = d.values.clone();
                                    members.push(rm);
                                }
                                TypeDef::Struct {
                                    members,
                                    extends: t
                                        .structextends
                                        .as_deref()
                                        .map(|s| s.split(',').map(str::to_string).collect())
                                        .unwrap_or_default(),
                                    is_union: t.category.as_deref() == Some("union"),
                                }
                            }
                            Some("handle") => {
                                if let Some(object_type) = &t.objtypeenum {
                                    r.object_types.insert(name.clone(), object_type.clone());
                                }
                                TypeDef::Handle {
                                    dispatchable: !code.contains("NON_DISPATCHABLE"),
                                }
                            }
                            Some("enum") => TypeDef::Enum { bits64: false },
                            Some("bitmask") => TypeDef::Bitmask {
                                bits64: code.contains("VkFlags64"),
                            },
                            Some("basetype") => {
                                let base = code
                                    .split_whitespace()
                                    .nth(1)
                                    .unwrap_or("")
                                    .trim_end_matches(';')
                                    .to_string();
                                TypeDef::Base(base)
                            }
                            _ => TypeDef::Other,
                        };
                        r.types.insert(name, def);
                    }
                }
                RegistryChild::Enums(enums) => {
                    if let Some(n) = &enums.name {
                        if enums.bitwidth == Some(64) {
                            r.types.insert(n.clone(), TypeDef::Enum { bits64: true });
                        }
                    }
                    for e in &enums.children {
                        let EnumsChild::Enum(e) = e else { continue };
                        match &e.spec {
                            EnumSpec::Value { value, .. } => {
                                if let Some(v) = parse_int(value) {
                                    r.values.insert(e.name.clone(), v);
                                }
                            }
                            EnumSpec::Bitpos { bitpos, .. } => {
                                r.values.insert(e.name.clone(), 1i64 << bitpos);
                            }
                            EnumSpec::Alias { alias, .. } => {
                                stype_alias.push((e.name.clone(), alias.clone()))
                            }
                            _ => {}
                        }
                    }
                }
                RegistryChild::Commands(cmds) => {
                    for c in &cmds.children {
                        match c {
                            vk_parse::Command::Alias { name, alias } => {
                                r.command_alias.insert(name.clone(), alias.clone());
                            }
                            vk_parse::Command::Definition(d) => {
                                if !is_vulkan_api(&d.api) {
                                    continue;
                                }
                                if let Some(alias) = &d.alias {
                                    r.command_alias.insert(d.proto.name.clone(), alias.clone());
                                    continue;
                                }
                                r.commands.insert(d.proto.name.clone(), raw_command(d));
                            }
                            _ => {}
                        }
                    }
                }
                RegistryChild::Feature(f) => {
                    if !f.api.split(',').any(|a| a == "vulkan") {
                        continue;
                    }
                    let Some(ver) = version_number(&f.name) else {
                        continue;
                    };
                    for c in &f.children {
                        let ExtensionChild::Require { items, .. } = c else {
                            continue;
                        };
                        for it in items {
                            match it {
                                InterfaceItem::Type { name, .. }
                                | InterfaceItem::Command { name, .. } => {
                                    let o = r.origins.entry(name.clone()).or_default();
                                    if o.core == 0 || ver < o.core {
                                        o.core = ver;
                                    }
                                }
                                InterfaceItem::Enum(e) => r.add_ext_enum(e, None, &mut stype_alias),
                                _ => {}
                            }
                        }
                    }
                }
                RegistryChild::Extensions(exts) => {
                    for x in &exts.children {
                        let supported = x
                            .supported
                            .as_deref()
                            .map(|s| s.split(',').any(|a| a == "vulkan"))
                            .unwrap_or(false);
                        let Some(num) = x.number else { continue };
                        if supported {
                            r.extension_numbers.insert(x.name.clone(), num as u32);
                        }
                        for c in &x.children {
                            let ExtensionChild::Require {
                                items,
                                api,
                                depends,
                                extension,
                                ..
                            } = c
                            else {
                                continue;
                            };
                            if !is_vulkan_api(api) {
                                continue;
                            }
                            // A block that needs another extension (not just a core version).
                            let conditional = depends
                                .as_deref()
                                .or(extension.as_deref())
                                .is_some_and(|d| d.contains("VK_") && !d.starts_with("VK_VERSION"));
                            for it in items {
                                match it {
                                    InterfaceItem::Type { name, .. }
                                    | InterfaceItem::Command { name, .. }
                                        if supported =>
                                    {
                                        let origin = r.origins.entry(name.clone()).or_default();
                                        origin.extensions.insert(num as u32);
                                        if !conditional {
                                            origin.unconditional.insert(num as u32);
                                        }
                                    }
                                    InterfaceItem::Enum(e) => {
                                        r.add_ext_enum(e, Some(num), &mut stype_alias)
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for _ in 0..4 {
            for (name, alias) in &stype_alias {
                if let Some(v) = r.values.get(alias).copied() {
                    r.values.insert(name.clone(), v);
                }
            }
        }
        r.version = format!("1.{}.{}", header_version.1, header_version.0);
        Ok(r)
    }

    fn add_ext_enum(
        &mut self,
        e: &vk_parse::Enum,
        ext_number: Option<i64>,
        stype_alias: &mut Vec<(String, String)>,
    ) {
        match &e.spec {
            EnumSpec::Offset {
                offset,
                extnumber,
                dir,
                ..
            } => {
                if let Some(n) = extnumber.or(ext_number) {
                    self.values
                        .insert(e.name.clone(), ext_enum_value(*offset, n, *dir));
                }
            }
            EnumSpec::Value { value, .. } => {
                if let Some(v) = parse_int(value) {
                    self.values.insert(e.name.clone(), v);
                }
            }
            EnumSpec::Bitpos { bitpos, .. } => {
                self.values.insert(e.name.clone(), 1i64 << bitpos);
            }
            EnumSpec::Alias { alias, .. } => {
                stype_alias.push((e.name.clone(), alias.clone()));
            }
            _ => {}
        }
    }

    /// Adds the VK_MESA_venus_protocol types and commands described by the data file.
    pub fn add_mesa(&mut self, mesa: &Value) -> Result<(), String> {
        let ext_number = mesa["extension"]["number"]
            .as_u64()
            .ok_or("mesa.extension.number")? as u32;
        for f in mesa["flags_types"].as_array().ok_or("mesa.flags_types")? {
            let name = f.as_str().ok_or("flags type name")?;
            self.types
                .insert(name.to_string(), TypeDef::Bitmask { bits64: false });
        }
        for (name, v) in mesa["structure_types"]
            .as_object()
            .ok_or("mesa.structure_types")?
        {
            self.values
                .insert(name.clone(), v.as_i64().ok_or("sType value")?);
        }
        for t in mesa["types"].as_array().ok_or("mesa.types")? {
            let name = t["name"].as_str().ok_or("type name")?.to_string();
            let mut members = Vec::new();
            for m in t["members"].as_array().ok_or("members")? {
                let mut rm = json_member(m)?;
                if rm.name == "sType" {
                    rm.stype_value = t["stype"].as_str().map(str::to_string);
                }
                members.push(rm);
            }
            let extends = t["extends"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            self.types.insert(
                name.clone(),
                TypeDef::Struct {
                    members,
                    extends,
                    is_union: false,
                },
            );
            self.origins
                .entry(name)
                .or_default()
                .extensions
                .insert(ext_number);
        }
        for c in mesa["commands"].as_array().ok_or("mesa.commands")? {
            let name = c["name"].as_str().ok_or("command name")?.to_string();
            let params = c["params"]
                .as_array()
                .ok_or("params")?
                .iter()
                .map(json_member)
                .collect::<Result<Vec<_>, _>>()?;
            let ret = c["return"].as_str().unwrap_or("void").to_string();
            self.commands
                .insert(name.clone(), RawCommand { ret, params });
            self.origins
                .entry(name)
                .or_default()
                .extensions
                .insert(ext_number);
        }
        Ok(())
    }

    pub fn resolve_type<'s>(&'s self, name: &'s str) -> &'s str {
        let mut n = name;
        for _ in 0..8 {
            match self.type_alias.get(n) {
                Some(a) => n = a,
                None => break,
            }
        }
        n
    }
}

fn json_member(m: &Value) -> Result<RawMember, String> {
    Ok(RawMember {
        name: m["name"].as_str().ok_or("member name")?.to_string(),
        ty: m["type"].as_str().ok_or("member type")?.to_string(),
        is_const: m["const"].as_bool().unwrap_or(false),
        ptr_depth: m["ptr"].as_u64().unwrap_or(0) as u8,
        len: m["len"].as_str().map(str::to_string),
        optional: m["optional"].as_bool().unwrap_or(false),
        ..Default::default()
    })
}

fn raw_command(d: &CommandDefinition) -> RawCommand {
    let params = d
        .params
        .iter()
        .filter(|p| is_vulkan_api(&p.api))
        .map(|p| {
            let markup: Vec<TypeMemberMarkup> = p
                .definition
                .type_name
                .iter()
                .map(|t| TypeMemberMarkup::Type(t.clone()))
                .chain(std::iter::once(TypeMemberMarkup::Name(
                    p.definition.name.clone(),
                )))
                .collect();
            let mut m = parse_member_code(&p.definition.code, &markup);
            m.len = p.len.clone();
            m.altlen = p.altlen.clone();
            m.optional = opt_true(&p.optional);
            m.noautovalidity = p.noautovalidity.as_deref() == Some("true");
            m
        })
        .collect();
    RawCommand {
        ret: d.proto.type_name.clone().unwrap_or_else(|| "void".into()),
        params,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else {
        s.trim_end_matches(['U', 'L']).parse().ok()
    }
}
