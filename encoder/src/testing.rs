//! Test support for the generated code: deterministic arbitrary values, lowering of typed
//! values to C memory (through `crate::convert`), and the round trip over every command type.
//! Built outside tests for the fuzz targets (feature `arbitrary`), which use only [`Gen`].
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

use std::convert::Infallible;
use std::ffi::{CStr, CString};

use crate::convert::{CType, Lowerer};
use crate::generated::testing::{arb_command, guest_run};
use crate::generated::types::Ext;
use crate::wire::Writer;

/// Two xorshift streams: `shape` decides counts, presence, chains, handles and union tags;
/// `value` decides every other scalar. Two generators with the same shape seed produce
/// values of identical layout, which the reply test needs.
pub(crate) struct Gen {
    shape: u64,
    value: u64,
    /// Fuzzer bytes: when present, every shape and value decision reads the next 8 of them
    /// (0 once they run out: counts 0, optional parts absent), so the input decides all.
    input: Option<(Vec<u8>, usize)>,
    /// Handles are drawn from 1..=handles.
    handles: u64,
}

/// Strings of fuzzer-built commands: names the host reacts to, and no allocation per input.
const FUZZ_STRINGS: [&CStr; 6] = [
    c"",
    c"main",
    c"VK_KHR_surface",
    c"VK_LAYER_KHRONOS_validation",
    c"VK_EXT_external_memory_host",
    c"VK_KHR_timeline_semaphore",
];

fn step(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl Gen {
    pub(crate) fn new(shape_seed: u64, value_seed: u64) -> Self {
        Gen {
            shape: shape_seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            value: value_seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1,
            input: None,
            handles: 1000,
        }
    }

    /// Decisions read from `bytes`; handles in 1..=`handles`.
    #[cfg_attr(not(feature = "arbitrary"), allow(dead_code))]
    pub(crate) fn from_bytes(bytes: &[u8], handles: u64) -> Self {
        Gen {
            shape: 1,
            value: 1,
            input: Some((bytes.to_vec(), 0)),
            handles: handles.max(1),
        }
    }

    /// Whether the fuzzer's bytes are used up.
    #[cfg_attr(not(feature = "arbitrary"), allow(dead_code))]
    pub(crate) fn exhausted(&self) -> bool {
        self.input
            .as_ref()
            .is_some_and(|(bytes, at)| *at >= bytes.len())
    }

    fn next_input(&mut self) -> Option<u64> {
        let (bytes, at) = self.input.as_mut()?;
        let mut word = [0u8; 8];
        let rest = bytes.get(*at..).unwrap_or_default();
        let n = rest.len().min(8);
        word[..n].copy_from_slice(&rest[..n]);
        *at += 8;
        Some(u64::from_le_bytes(word))
    }
    fn s(&mut self) -> u64 {
        match self.next_input() {
            Some(word) => word,
            None => step(&mut self.shape),
        }
    }
    fn v(&mut self) -> u64 {
        match self.next_input() {
            Some(word) => word,
            None => step(&mut self.value),
        }
    }
    #[cfg_attr(not(feature = "arbitrary"), allow(dead_code))]
    pub(crate) fn choose(&mut self, n: u64) -> u64 {
        self.s() % n.max(1)
    }
    pub(crate) fn count(&mut self) -> u64 {
        self.s() % 4
    }
    pub(crate) fn present(&mut self, required: bool) -> bool {
        required || !self.s().is_multiple_of(3)
    }
    pub(crate) fn handle(&mut self) -> u64 {
        self.s() % self.handles + 1
    }
    pub(crate) fn u8(&mut self) -> u8 {
        self.v() as u8
    }
    pub(crate) fn u16(&mut self) -> u16 {
        self.v() as u16
    }
    pub(crate) fn u32(&mut self) -> u32 {
        self.v() as u32
    }
    pub(crate) fn i32(&mut self) -> i32 {
        self.v() as i32
    }
    pub(crate) fn u64(&mut self) -> u64 {
        self.v()
    }
    pub(crate) fn f32(&mut self) -> f32 {
        (self.v() % 4096) as f32 / 4.0 - 512.0
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.v() as u8).collect()
    }
    pub(crate) fn fixed_string(&mut self, n: usize) -> Vec<u8> {
        let len = (self.v() as usize) % n;
        let mut b: Vec<u8> = (0..len).map(|_| b'a' + (self.v() % 26) as u8).collect();
        b.resize(n, 0);
        b
    }
    pub(crate) fn string(&mut self, required: bool) -> Option<&'static CStr> {
        if !self.present(required) {
            return None;
        }
        if self.input.is_some() {
            return Some(FUZZ_STRINGS[(self.s() % FUZZ_STRINGS.len() as u64) as usize]);
        }
        // Strings come from the shape stream: they are inputs only, so a value raised from C
        // memory keeps its own, which must then match.
        let len = (self.s() % 9) as usize;
        let s: Vec<u8> = (0..len).map(|_| b'a' + (self.s() % 26) as u8).collect();
        Some(Box::leak(
            CString::new(s).expect("no NUL").into_boxed_c_str(),
        ))
    }
    pub(crate) fn strings(&mut self, n: usize) -> Option<Vec<&'static CStr>> {
        (n > 0).then(|| {
            (0..n)
                .map(|_| self.string(true).expect("required"))
                .collect()
        })
    }
    /// Arrays of length 0 travel as "absent", so they are generated as `None`.
    pub(crate) fn vec<T>(
        &mut self,
        required: bool,
        n: usize,
        mut f: impl FnMut(&mut Self) -> T,
    ) -> Option<Vec<T>> {
        (n > 0 && self.present(required)).then(|| (0..n).map(|_| f(self)).collect())
    }
    pub(crate) fn blob(
        &mut self,
        required: bool,
        n: usize,
    ) -> Option<std::borrow::Cow<'static, [u8]>> {
        (n > 0 && self.present(required)).then(|| std::borrow::Cow::Owned(self.bytes(n)))
    }
}

/// Picks up to two distinct structs a parent accepts.
pub(crate) fn arb_chain(g: &mut Gen, table: &[fn(&mut Gen) -> Ext<'static>]) -> Vec<Ext<'static>> {
    if table.is_empty() {
        return Vec::new();
    }
    let n = (g.s() % 3) as usize;
    let mut picked: Vec<usize> = Vec::new();
    for _ in 0..n {
        let i = (g.s() % table.len() as u64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    picked.into_iter().map(|i| table[i](g)).collect()
}

/// The round trip lowers the guest's arguments the way the host does (`crate::convert`); its
/// guest ids stand for themselves as handles.
pub(crate) fn keep_guest_ids(_object_type: i32, id: u64) -> Result<u64, Infallible> {
    Ok(id)
}

/// Writes the C image of a struct or union argument at `p`.
///
/// # Safety
/// As [`CType::lower_at`].
pub(crate) unsafe fn lower_struct<T: CType>(v: &T, l: &mut Lowerer<'_, Infallible>, p: *mut u8) {
    // SAFETY: guaranteed by the caller.
    let Ok(()) = unsafe { v.lower_at(l, p) };
}

/// Lowers an arbitrary value to C (`crate::convert`), raises the image into a value of the
/// same shape but other scalars, and expects the first value back.
pub(crate) fn lower_then_raise<T: CType + PartialEq + std::fmt::Debug>(
    seed: u64,
    arb: fn(&mut Gen) -> T,
) -> Result<(), String> {
    let a = arb(&mut Gen::new(seed, 1));
    let mut b = arb(&mut Gen::new(seed, 2));
    let mut map = |_: i32, id: u64| Ok::<u64, ()>(id);
    let mut l = Lowerer::new(&mut map);
    let p = l.alloc(T::C_SIZE, T::C_ALIGN);
    // SAFETY: `p` is a fresh block of `C_SIZE` bytes and `b` has the shape of `a`.
    unsafe {
        a.lower_at(&mut l, p).map_err(|()| "lower".to_string())?;
        b.raise_at(p).map_err(|e| e.to_string())?;
    }
    if a == b {
        Ok(())
    } else {
        Err(format!("raised {b:?}\nlowered {a:?}"))
    }
}

/// What the guest functions produced for one command.
pub(crate) struct GuestRun {
    pub(crate) command: Vec<u8>,
    pub(crate) command_size: usize,
    pub(crate) reply_size: usize,
    pub(crate) consumed: usize,
    pub(crate) reply_again: Vec<u8>,
}

/// Runs `f` on a counting writer, then on a buffer of the counted size.
pub(crate) fn encode_to_vec(
    mut f: impl FnMut(&mut Writer<'_>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let mut counter = Writer::counting();
    f(&mut counter)?;
    let mut buf = vec![0u8; counter.position()];
    let mut w = Writer::new(&mut buf);
    f(&mut w)?;
    w.finish(0).map_err(|e| e.to_string())?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GuestContext;
    use crate::host::decode_command;
    use crate::protocol::{HostProtocol, COMMANDS};
    use crate::wire::{Decoder, Limits};

    const SEEDS: u64 = 24;

    /// Encode arbitrary arguments on both sides, decode, and compare, for every command type.
    #[test]
    fn round_trip_every_command() {
        let host = HostProtocol::everything();
        let cx = GuestContext {
            host: &host,
            dispatchable_id: |raw| raw,
        };
        let mut failures = Vec::new();
        let mut compared = 0;
        for info in COMMANDS {
            for seed in 1..=SEEDS {
                let ty = info.command_type;
                let a =
                    arb_command(ty, &mut Gen::new(seed, 1)).expect("generator covers the table");
                let b =
                    arb_command(ty, &mut Gen::new(seed, 2)).expect("generator covers the table");
                let host_cmd = encode_to_vec(|w| {
                    a.encode(w, 1);
                    Ok(())
                })
                .unwrap();
                let mut d = Decoder::new(&host_cmd, Limits::default());
                let (header, decoded) = match decode_command(&mut d) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!("{} seed {seed}: decode: {e}", info.name));
                        continue;
                    }
                };
                let again = encode_to_vec(|w| {
                    decoded.encode(w, header.flags);
                    Ok(())
                })
                .unwrap();
                if d.remaining() != 0 || again != host_cmd || header.command_type != ty {
                    failures.push(format!(
                        "{} seed {seed}: host decode/encode differ",
                        info.name
                    ));
                    continue;
                }
                let mut a_without_ret = a.clone();
                crate::generated::testing::clear_ret(&mut a_without_ret);
                if !crate::generated::testing::has_output(ty) && decoded != a_without_ret {
                    failures.push(format!("{} seed {seed}: decoded value differs", info.name));
                }
                let host_reply = encode_to_vec(|w| {
                    b.encode_reply(w);
                    Ok(())
                })
                .unwrap();
                // SAFETY: the guest functions only touch the C image `guest_run` lowers from `a`.
                let run = match unsafe { guest_run(&a, &host_reply, &cx) } {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!(
                            "{} seed {seed}: guest reply decode: {e}",
                            info.name
                        ));
                        continue;
                    }
                };
                if run.command != host_cmd {
                    failures.push(format!(
                        "{} seed {seed}: guest command bytes differ from host encoding",
                        info.name
                    ));
                }
                if run.command_size != host_cmd.len() {
                    failures.push(format!(
                        "{} seed {seed}: command size {} != {}",
                        info.name,
                        run.command_size,
                        host_cmd.len()
                    ));
                }
                if run.reply_size != host_reply.len() || run.consumed != host_reply.len() {
                    failures.push(format!(
                        "{} seed {seed}: reply size {} consumed {} actual {}",
                        info.name,
                        run.reply_size,
                        run.consumed,
                        host_reply.len()
                    ));
                }
                if run.reply_again != host_reply {
                    failures.push(format!(
                        "{} seed {seed}: reply outputs not written back",
                        info.name
                    ));
                }
                compared += 1;
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        assert_eq!(compared, COMMANDS.len() * SEEDS as usize);
    }
}
