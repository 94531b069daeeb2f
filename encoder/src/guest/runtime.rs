//! Helpers the generated guest code is made of. They read and write application memory at
//! offsets computed from the C layouts in vk.xml (LP64).
//!
//! # Safety
//! Every `unsafe fn` here requires its pointers to be valid for the access it makes, which
//! the generated callers derive from the Vulkan valid-usage rules of the command; a NULL
//! pointer is only dereferenced where the protocol says it cannot be NULL.

use std::ffi::CStr;

use super::GuestContext;
use crate::protocol::Gate;
use crate::wire::{DecodeError, DecodeErrorKind, Decoder, EncodeError, Writer, MAX_CHAIN};

/// Reads a `T` at `p + off` (unaligned: application structs are read as bytes).
///
/// # Safety
/// `p + off .. + size_of::<T>()` must be readable.
#[inline(always)]
pub unsafe fn rd<T: Copy>(p: *const u8, off: usize) -> T {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::read_unaligned(p.add(off) as *const T) }
}

/// Like [`rd`], but a NULL `p` reads as `T::default()`.
///
/// # Safety
/// As [`rd`] when `p` is not NULL.
#[inline(always)]
pub unsafe fn rd_nullable<T: Copy + Default>(p: *const u8, off: usize) -> T {
    if p.is_null() {
        T::default()
    } else {
        // SAFETY: non-NULL, caller guarantees validity.
        unsafe { rd(p, off) }
    }
}

/// Writes a `T` at `p + off`.
///
/// # Safety
/// `p + off .. + size_of::<T>()` must be writable.
#[inline(always)]
pub unsafe fn wr<T>(p: *mut u8, off: usize, v: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::write_unaligned(p.add(off) as *mut T, v) }
}

/// A little-endian wire value the fast path writes at a fixed offset of a reserved chunk.
pub(crate) trait WireLe: Copy {
    fn put_le(self, b: &mut [u8], off: usize);
}

macro_rules! wire_le {
    ($($t:ty),*) => {$(
        impl WireLe for $t {
            #[inline(always)]
            fn put_le(self, b: &mut [u8], off: usize) {
                b[off..off + std::mem::size_of::<$t>()].copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
wire_le!(u32, i32, f32, u64, i64, f64);

/// Writes `v` at `off` of a chunk from [`Writer::reserve`]. With the chunk's length and `off`
/// both constant after inlining, the compiler drops the bounds check.
#[inline(always)]
pub(crate) fn put_at<T: WireLe>(b: &mut [u8], off: usize, v: T) {
    v.put_le(b, off)
}

/// Copies the `n` bytes at `p` to `off` of a reserved chunk, zero-padded to a multiple of 4.
///
/// # Safety
/// `p` must point to `n` readable bytes.
#[inline(always)]
pub(crate) unsafe fn put_c_bytes_at(b: &mut [u8], off: usize, p: *const u8, n: usize) {
    // SAFETY: guaranteed by the caller.
    let src = unsafe { std::slice::from_raw_parts(p, n) };
    b[off..off + n].copy_from_slice(src);
    b[off + n..off + n.div_ceil(4) * 4].fill(0);
}

/// A scalar the guest copies from C arrays.
pub trait WireScalar: Copy {
    /// Bytes it takes on the wire (8- and 16-bit scalars take a 4-byte slot).
    const WIRE_SIZE: usize;
    /// Writes it into `slot`, which is [`WireScalar::WIRE_SIZE`] bytes long.
    fn put_slot(self, slot: &mut [u8]);
}

macro_rules! wire_scalar {
    ($($t:ty => $w:ty),*) => {$(
        impl WireScalar for $t {
            const WIRE_SIZE: usize = std::mem::size_of::<$w>();
            #[inline(always)]
            fn put_slot(self, slot: &mut [u8]) {
                slot.copy_from_slice(&(self as $w).to_le_bytes())
            }
        }
    )*};
}
wire_scalar!(u8 => u32, u16 => u32, u32 => u32, i32 => i32, f32 => f32, u64 => u64, i64 => i64, f64 => f64, usize => u64);

impl Writer<'_> {
    /// # Safety
    /// `p` must point to `n` readable `T`s.
    #[inline]
    pub unsafe fn c_scalars<T: WireScalar>(&mut self, p: *const u8, n: usize) {
        let Some(dst) = self.reserve_slice(n * T::WIRE_SIZE) else {
            return;
        };
        for (i, slot) in dst.chunks_exact_mut(T::WIRE_SIZE).enumerate() {
            // SAFETY: in bounds of the caller's array.
            unsafe { rd::<T>(p, i * std::mem::size_of::<T>()) }.put_slot(slot);
        }
    }

    /// # Safety
    /// `p` must point to `n` readable handles.
    #[inline]
    pub unsafe fn c_handles(
        &mut self,
        cx: &GuestContext<'_>,
        p: *const u8,
        n: usize,
        dispatchable: bool,
    ) {
        let Some(dst) = self.reserve_slice(n * 8) else {
            return;
        };
        for (i, slot) in dst.chunks_exact_mut(8).enumerate() {
            // SAFETY: in bounds of the caller's array.
            let id = cx.handle(unsafe { rd::<u64>(p, i * 8) }, dispatchable);
            slot.copy_from_slice(&id.to_le_bytes());
        }
    }

    /// # Safety
    /// `p` must point to `n` readable bytes.
    #[inline]
    pub unsafe fn c_bytes(&mut self, p: *const u8, n: usize) {
        // SAFETY: guaranteed by the caller.
        self.bytes_padded(unsafe { std::slice::from_raw_parts(p, n) });
    }

    /// A `char name[n]` member: always `n` bytes on the wire.
    ///
    /// # Safety
    /// `p` must point to `n` readable bytes.
    pub unsafe fn c_fixed_string(&mut self, p: *const u8, n: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.c_bytes(p, n) }
    }

    /// # Safety
    /// `p` must be NULL or a NUL-terminated string.
    pub unsafe fn c_string(&mut self, p: *const u8) {
        if p.is_null() {
            self.u64(0);
        } else {
            // SAFETY: NUL-terminated per the caller.
            self.string(Some(unsafe { CStr::from_ptr(p.cast()) }));
        }
    }

    /// # Safety
    /// `p` must be NULL or point to `n` NUL-terminated strings.
    pub unsafe fn c_strings(&mut self, p: *const u8, n: u64) {
        if p.is_null() {
            self.u64(0);
            return;
        }
        self.u64(n);
        for i in 0..n as usize {
            // SAFETY: in bounds of the caller's array.
            unsafe { self.c_string(rd::<*const u8>(p, i * 8)) };
        }
    }
}

/// One struct a parent accepts in its `pNext` chain.
pub struct ExtEntry {
    pub stype: i32,
    pub gate: Gate,
    pub enc: EncodeFn,
    /// Present for structs that can come back in a reply.
    pub dec: Option<DecodeFn>,
}

/// Encoder of one struct body: (writer, context, struct address, partial image).
pub type EncodeFn = unsafe fn(&mut Writer<'_>, &GuestContext<'_>, *const u8, bool);
/// Reply decoder of one struct body into application memory.
pub type DecodeFn =
    unsafe fn(&mut Decoder<'_>, &GuestContext<'_>, *mut u8) -> Result<(), DecodeError>;

/// Nodes of an application chain visited before giving up on a loop.
const MAX_WALK: usize = 4 * MAX_CHAIN;

/// Encodes the `pNext` chain starting at `node`, keeping only structs in `table` that the
/// host protocol allows (notes §3.5): markers and sTypes first, then bodies innermost first.
///
/// # Safety
/// `node` must be NULL or a valid Vulkan structure chain.
#[inline]
pub unsafe fn enc_chain(
    w: &mut Writer<'_>,
    cx: &GuestContext<'_>,
    node: *const u8,
    table: &[ExtEntry],
    partial: bool,
) {
    // Most chains are empty: skip the walk's setup.
    if node.is_null() {
        w.u64(0);
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { enc_chain_from(w, cx, node, table, partial, 0) }
}

/// Each kept struct writes its marker and sType, then the rest of the chain, then its body;
/// recursion keeps the kept nodes on the stack without a buffer.
unsafe fn enc_chain_from(
    w: &mut Writer<'_>,
    cx: &GuestContext<'_>,
    mut p: *const u8,
    table: &[ExtEntry],
    partial: bool,
    depth: usize,
) {
    let mut walked = 0;
    while !p.is_null() {
        walked += 1;
        if walked > MAX_WALK {
            w.fail(EncodeError::ChainTooLong);
            break;
        }
        // SAFETY: every Vulkan struct in a chain starts with sType, then pNext at offset 8.
        let stype = unsafe { rd::<i32>(p, 0) };
        if let Some(e) = table
            .iter()
            .find(|e| e.stype == stype && cx.host.allows(&e.gate))
        {
            if depth == MAX_CHAIN {
                w.fail(EncodeError::ChainTooLong);
                break;
            }
            w.u64(1);
            w.i32(stype);
            // SAFETY: as above; `p` is a struct of the type `e` encodes.
            unsafe {
                enc_chain_from(w, cx, rd::<*const u8>(p, 8), table, partial, depth + 1);
                (e.enc)(w, cx, p, partial);
            }
            return;
        }
        // SAFETY: as above.
        p = unsafe { rd::<*const u8>(p, 8) };
    }
    w.u64(0);
}

/// Decodes a reply's `pNext` chain into the application's output chain starting at `node`.
/// Each struct the host returns must appear in the application's chain, in order.
///
/// # Safety
/// `node` must be NULL or a valid, writable Vulkan structure chain.
pub unsafe fn dec_chain(
    r: &mut Decoder<'_>,
    cx: &GuestContext<'_>,
    node: *mut u8,
    table: &[ExtEntry],
    f: &'static str,
) -> Result<(), DecodeError> {
    let mut found: [(*mut u8, Option<DecodeFn>); MAX_CHAIN] =
        [(std::ptr::null_mut(), None); MAX_CHAIN];
    let mut n = 0;
    let mut cursor = node;
    while r.u64(f)? != 0 {
        let stype = r.i32(f)?;
        let entry = table
            .iter()
            .find(|e| e.stype == stype)
            .ok_or_else(|| r.error(f, DecodeErrorKind::UnknownStructureType(stype)))?;
        let mut p = cursor;
        let mut walked = 0;
        // SAFETY: walking the application's chain (sType at 0, pNext at 8).
        while !p.is_null() && unsafe { rd::<i32>(p, 0) } != stype {
            walked += 1;
            if walked > MAX_WALK {
                return Err(r.error(f, DecodeErrorKind::ChainTooLong));
            }
            p = unsafe { rd::<*mut u8>(p, 8) };
        }
        if p.is_null() || n == MAX_CHAIN {
            return Err(r.error(f, DecodeErrorKind::UnknownStructureType(stype)));
        }
        found[n] = (p, entry.dec);
        n += 1;
        // SAFETY: as above.
        cursor = unsafe { rd::<*mut u8>(p, 8) };
    }
    for &(p, dec) in found[..n].iter().rev() {
        match dec {
            // SAFETY: `p` has the sType `dec` decodes.
            Some(dec) => unsafe { dec(r, cx, p)? },
            None => {
                return Err(r.error(
                    f,
                    DecodeErrorKind::UnknownStructureType(unsafe { rd::<i32>(p, 0) }),
                ))
            }
        }
    }
    Ok(())
}

impl Decoder<'_> {
    /// Copies `n` bytes (then skips padding) into application memory.
    ///
    /// # Safety
    /// `p` must be writable for `n` bytes.
    pub unsafe fn c_bytes_into(
        &mut self,
        p: *mut u8,
        n: usize,
        f: &'static str,
    ) -> Result<(), DecodeError> {
        let src = self.bytes(n, f)?;
        // SAFETY: `p` is writable for `n` bytes per the caller; `src` is `n` bytes of input.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, n) };
        Ok(())
    }

    /// Checks that an output `q` exists and can take `n` elements.
    pub fn check_capacity(
        &self,
        q: *mut u8,
        n: u64,
        capacity: u64,
        f: &'static str,
    ) -> Result<(), DecodeError> {
        if q.is_null() || n > capacity {
            return Err(self.error(
                f,
                DecodeErrorKind::OutputTooSmall {
                    needed: n,
                    capacity: if q.is_null() { 0 } else { capacity },
                },
            ));
        }
        Ok(())
    }

    /// Output strings are not written back (no command returns one); they are skipped.
    pub fn skip_strings_reply(&mut self, f: &'static str) -> Result<(), DecodeError> {
        let n = self.u64(f)?;
        let n = usize::try_from(n).map_err(|_| self.error(f, DecodeErrorKind::CountTooLarge(n)))?;
        self.bytes(n, f).map(|_| ())
    }
}
