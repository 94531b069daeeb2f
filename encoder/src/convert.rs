//! Typed structs ([`crate::host::types`]) to C memory and back, for a host that calls a
//! Vulkan driver with what the guest sent.
//!
//! [`Lowered`] is the safe entry point: it takes a typed value (or a list of them), builds its
//! C image — nested structs, arrays, strings and `pNext` chains included — in memory it owns,
//! and hands out the pointer the driver takes. Handles go through a caller-supplied
//! translation `(VkObjectType, guest id) -> host handle`, so the guest's object ids never
//! reach the driver. After the driver filled an output struct, [`Lowered::raise`] reads the C
//! image back into the typed value, chains included, ready for the reply encoders.
//!
//! Raising follows the shape of the value that was lowered (which pointers are present,
//! how long every array is, which structs the chain holds), so it only ever reads memory the
//! lowering allocated. What it reads back is every scalar, fixed array, blob and nested
//! struct; handles, strings and string arrays are inputs in every protocol struct and keep
//! their typed value. An array whose length is a count member of the same struct is cut to
//! the count the driver wrote back (the two-call idiom inside structs).
//!
//! The per-struct code is generated (`generated/convert.rs`, one [`CType`] impl per struct and
//! union); the generic helpers it calls live here.

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;

use crate::generated::types::Ext;
use crate::guest::runtime::{rd, wr};
use crate::host::chain::ChainLink;
use crate::wire::MAX_CHAIN;

/// A value with a C image: every generated struct and union, and the scalars they hold.
///
/// Implemented by the generated code; callers use [`Lowered`].
pub trait CType: Default {
    /// `sizeof` and `alignof` of the C type.
    const C_SIZE: usize;
    const C_ALIGN: usize;

    /// Writes the C image of `self` at `p`, allocating what it points to from `l`.
    ///
    /// # Safety
    /// `p .. p + C_SIZE` must be writable memory that holds zeros.
    unsafe fn lower_at<E>(&self, l: &mut Lowerer<'_, E>, p: *mut u8) -> Result<(), E>;

    /// Reads the C image at `p` back into `self`.
    ///
    /// # Safety
    /// `p` must be the image [`CType::lower_at`] wrote for a value of the same shape as
    /// `self`, and the memory it points to must still be alive.
    unsafe fn raise_at(&mut self, p: *const u8) -> Result<(), RaiseError>;
}

macro_rules! scalar_c_type {
    ($($t:ty),*) => {$(
        impl CType for $t {
            const C_SIZE: usize = std::mem::size_of::<$t>();
            const C_ALIGN: usize = std::mem::align_of::<$t>();
            unsafe fn lower_at<E>(&self, _: &mut Lowerer<'_, E>, p: *mut u8) -> Result<(), E> {
                // SAFETY: the caller provides `C_SIZE` writable bytes at `p`.
                unsafe { wr(p, 0, *self) };
                Ok(())
            }
            unsafe fn raise_at(&mut self, p: *const u8) -> Result<(), RaiseError> {
                // SAFETY: the caller provides `C_SIZE` readable bytes at `p`.
                *self = unsafe { rd(p, 0) };
                Ok(())
            }
        }
    )*};
}
// `size_t` travels as u64; the C side is LP64, so both have 8 bytes.
scalar_c_type!(u8, u16, u32, i32, u64, i64, f32, f64);

/// Why a C image could not be read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaiseError(String);

impl fmt::Display for RaiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaiseError {}

/// Zeroed, 8-aligned blocks of C memory that stay at their address until dropped.
#[derive(Default)]
struct CArena {
    blocks: Vec<Vec<u64>>,
}

impl CArena {
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // No Vulkan type is aligned beyond 8 bytes; the generator's layouts say so.
        assert!(align <= 8, "C alignment {align} above 8");
        let mut block = vec![0u64; size.div_ceil(8).max(1)];
        let p = block.as_mut_ptr().cast::<u8>();
        self.blocks.push(block);
        p
    }
}

/// The translation of guest object ids into host handles, given the id's `VkObjectType`.
pub type HandleMap<'h, E> = dyn FnMut(i32, u64) -> Result<u64, E> + 'h;

/// Lowering state: the memory being built and the handle translation.
pub struct Lowerer<'h, E> {
    arena: CArena,
    handles: &'h mut HandleMap<'h, E>,
}

impl<'h, E> Lowerer<'h, E> {
    pub(crate) fn new(handles: &'h mut HandleMap<'h, E>) -> Self {
        Lowerer {
            arena: CArena::default(),
            handles,
        }
    }

    pub(crate) fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.arena.alloc(size, align)
    }

    /// VK_NULL_HANDLE stays null without asking the map: whether a member may be null is the
    /// command's valid usage, which the driver (or its validation layer) checks.
    pub(crate) fn handle(&mut self, object_type: i32, id: u64) -> Result<u64, E> {
        if id == 0 {
            Ok(0)
        } else {
            (self.handles)(object_type, id)
        }
    }

    pub(crate) fn bytes(&mut self, b: Option<&[u8]>) -> *const u8 {
        let Some(b) = b else {
            return std::ptr::null();
        };
        let p = self.alloc(b.len(), 1);
        // SAFETY: `p` is a fresh block of at least `b.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len()) };
        p
    }

    pub(crate) fn c_string(&mut self, s: Option<&CStr>) -> *const u8 {
        self.bytes(s.map(CStr::to_bytes_with_nul))
    }

    pub(crate) fn c_strings(&mut self, list: Option<&[&CStr]>) -> *const u8 {
        let Some(list) = list else {
            return std::ptr::null();
        };
        let p = self.alloc(list.len() * 8, 8);
        for (i, s) in list.iter().enumerate() {
            let q = self.c_string(Some(s));
            // SAFETY: `p` has room for `list.len()` pointers.
            unsafe { wr(p, i * 8, q) };
        }
        p
    }
}

/// Typed values together with the C image built from them.
pub struct Lowered<T> {
    values: Vec<T>,
    // Owns the memory `image` points into.
    _arena: CArena,
    image: *mut u8,
}

impl<T: CType> Lowered<T> {
    /// Lowers one value; the image is a single C struct.
    pub fn one<E>(value: T, handles: &mut HandleMap<'_, E>) -> Result<Self, E> {
        Self::many(vec![value], handles)
    }

    /// Lowers a list of values into one C array.
    pub fn many<E>(values: Vec<T>, handles: &mut HandleMap<'_, E>) -> Result<Self, E> {
        let mut l = Lowerer::new(handles);
        let image = l.alloc(values.len() * T::C_SIZE, T::C_ALIGN);
        for (i, v) in values.iter().enumerate() {
            // SAFETY: `image` holds `values.len()` zeroed elements of `C_SIZE` bytes.
            unsafe { v.lower_at(&mut l, image.add(i * T::C_SIZE))? };
        }
        Ok(Lowered {
            values,
            _arena: l.arena,
            image,
        })
    }

    /// The C struct (or first array element) for the driver, valid while `self` lives. The
    /// driver may write the members of output structs; it must not change pointers.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.image
    }

    /// The typed values as lowered.
    pub fn values(&self) -> &[T] {
        &self.values
    }

    /// Reads the first value back (after the driver filled it).
    pub fn raise(self) -> Result<T, RaiseError> {
        self.raise_all()?
            .into_iter()
            .next()
            .ok_or_else(|| RaiseError("nothing was lowered".into()))
    }

    /// Reads every value back.
    pub fn raise_all(mut self) -> Result<Vec<T>, RaiseError> {
        for (i, v) in self.values.iter_mut().enumerate() {
            // SAFETY: element `i` of the image was lowered from `v`, whose shape has not
            // changed (`values` is never handed out mutably), and the arena still lives.
            unsafe { v.raise_at(self.image.add(i * T::C_SIZE))? };
        }
        Ok(self.values)
    }
}

/// A `pNext` chain together with its C image (the structs linked in order).
pub struct LoweredChain<'a> {
    chain: Vec<Ext<'a>>,
    // Owns the memory `head` points into.
    _arena: CArena,
    head: *mut u8,
}

impl<'a> LoweredChain<'a> {
    pub fn new<E>(chain: Vec<Ext<'a>>, handles: &mut HandleMap<'_, E>) -> Result<Self, E> {
        let mut l = Lowerer::new(handles);
        // SAFETY: only writes memory it allocates from `l`.
        let head = unsafe { lower_chain(&chain, &mut l)? }.cast_mut();
        Ok(LoweredChain {
            chain,
            _arena: l.arena,
            head,
        })
    }

    /// The first struct, for the parent's pNext (null for an empty chain), valid while
    /// `self` lives. The driver may write the members of output structs, not their pointers.
    pub fn head(&self) -> *mut std::ffi::c_void {
        self.head.cast()
    }

    /// The chain's values as they are now in C memory.
    pub fn raise(&self) -> Result<Vec<Ext<'a>>, RaiseError> {
        let mut out = self.chain.clone();
        // SAFETY: `head` was lowered from `chain`, which `out` copies, and the arena lives.
        unsafe { raise_chain(&mut out, self.head)? };
        Ok(out)
    }
}

// ---------- helpers for the generated code ----------

/// Writes a C value (sType, pointers) at `p + off`.
///
/// # Safety
/// As [`wr`].
#[inline(always)]
pub(crate) unsafe fn put<T>(p: *mut u8, off: usize, v: T) {
    // SAFETY: guaranteed by the caller.
    unsafe { wr(p, off, v) }
}

/// Reads a C value (a pointer) at `p + off`.
///
/// # Safety
/// As [`rd`].
#[inline(always)]
pub(crate) unsafe fn get<T: Copy>(p: *const u8, off: usize) -> T {
    // SAFETY: guaranteed by the caller.
    unsafe { rd(p, off) }
}

/// A fixed-size C array of `n` elements at `p`; a shorter typed list leaves zeros.
///
/// # Safety
/// `p` has room for `n` zeroed elements.
pub(crate) unsafe fn lower_fixed<T: CType, E>(
    v: &[T],
    n: usize,
    l: &mut Lowerer<'_, E>,
    p: *mut u8,
) -> Result<(), E> {
    for (i, e) in v.iter().take(n).enumerate() {
        // SAFETY: `i < n`.
        unsafe { e.lower_at(l, p.add(i * T::C_SIZE))? };
    }
    Ok(())
}

/// # Safety
/// `p` holds `n` lowered elements.
pub(crate) unsafe fn raise_fixed<T: CType>(
    v: &mut Vec<T>,
    n: usize,
    p: *const u8,
) -> Result<(), RaiseError> {
    v.resize_with(n, T::default);
    for (i, e) in v.iter_mut().enumerate() {
        // SAFETY: `i < n`.
        unsafe { e.raise_at(p.add(i * T::C_SIZE))? };
    }
    Ok(())
}

/// A pointed-to C array (NULL when absent).
///
/// # Safety
/// Only writes memory it allocates.
pub(crate) unsafe fn lower_array<T: CType, E>(
    v: Option<&[T]>,
    l: &mut Lowerer<'_, E>,
) -> Result<*const u8, E> {
    let Some(v) = v else {
        return Ok(std::ptr::null());
    };
    let q = l.alloc(v.len() * T::C_SIZE, T::C_ALIGN);
    // SAFETY: `q` holds `v.len()` zeroed elements.
    unsafe { lower_fixed(v, v.len(), l, q)? };
    Ok(q)
}

/// # Safety
/// `q` is what [`lower_array`] returned for a list of the same length.
pub(crate) unsafe fn raise_array<T: CType>(
    v: Option<&mut Vec<T>>,
    q: *const u8,
) -> Result<(), RaiseError> {
    match v {
        Some(v) if !q.is_null() => {
            let n = v.len();
            // SAFETY: guaranteed by the caller.
            unsafe { raise_fixed(v, n, q) }
        }
        _ => Ok(()),
    }
}

/// A pointer to one value (NULL when absent).
///
/// # Safety
/// Only writes memory it allocates.
pub(crate) unsafe fn lower_ptr<T: CType, E>(
    v: Option<&T>,
    l: &mut Lowerer<'_, E>,
) -> Result<*const u8, E> {
    // SAFETY: guaranteed by the caller.
    unsafe { lower_array(v.map(std::slice::from_ref), l) }
}

/// # Safety
/// `q` is what [`lower_ptr`] returned.
pub(crate) unsafe fn raise_ptr<T: CType>(
    v: Option<&mut T>,
    q: *const u8,
) -> Result<(), RaiseError> {
    match v {
        // SAFETY: guaranteed by the caller.
        Some(v) if !q.is_null() => unsafe { v.raise_at(q) },
        _ => Ok(()),
    }
}

/// Cuts an array to the count the driver wrote back into the struct.
pub(crate) fn truncate_to<T>(v: Option<&mut Vec<T>>, count: u64) {
    if let Some(v) = v {
        v.truncate(usize::try_from(count).unwrap_or(usize::MAX));
    }
}

/// Handles in place (fixed arrays, or the elements of a pointed-to array).
///
/// # Safety
/// `p` has room for `min(v.len(), n)` handles.
pub(crate) unsafe fn lower_handles<E>(
    v: &[u64],
    n: usize,
    object_type: i32,
    l: &mut Lowerer<'_, E>,
    p: *mut u8,
) -> Result<(), E> {
    for (i, &id) in v.iter().take(n).enumerate() {
        let h = l.handle(object_type, id)?;
        // SAFETY: `i < n`.
        unsafe { wr(p, i * 8, h) };
    }
    Ok(())
}

/// # Safety
/// Only writes memory it allocates.
pub(crate) unsafe fn lower_handle_array<E>(
    v: Option<&[u64]>,
    object_type: i32,
    l: &mut Lowerer<'_, E>,
) -> Result<*const u8, E> {
    let Some(v) = v else {
        return Ok(std::ptr::null());
    };
    let q = l.alloc(v.len() * 8, 8);
    // SAFETY: `q` holds `v.len()` handles.
    unsafe { lower_handles(v, v.len(), object_type, l, q)? };
    Ok(q)
}

/// A blob read back keeps its length (the capacity the guest gave).
///
/// # Safety
/// `q` is what [`Lowerer::bytes`] returned for this blob.
pub(crate) unsafe fn raise_blob(v: &mut Option<Cow<'_, [u8]>>, q: *const u8) {
    if let Some(b) = v {
        if !q.is_null() {
            // SAFETY: `q` holds `b.len()` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(q, b.len()) };
            *b = Cow::Owned(bytes.to_vec());
        }
    }
}

/// Links the structs of a chain in order. A node that carries its own chain (never so when
/// decoded from the wire) is followed by it, depth first.
///
/// # Safety
/// Only writes memory it allocates.
pub(crate) unsafe fn lower_chain<E>(
    chain: &[Ext<'_>],
    l: &mut Lowerer<'_, E>,
) -> Result<*const u8, E> {
    let mut next: *const u8 = std::ptr::null();
    for x in chain.iter().take(MAX_CHAIN).rev() {
        // SAFETY: `lower_node` returns a fresh struct whose pNext (at offset 8) is its own
        // chain, all allocated here; the walk ends at that chain's last node.
        unsafe {
            let node = x.lower_node(l)?;
            let mut tail = node;
            loop {
                let after: *mut u8 = rd(tail, 8);
                if after.is_null() {
                    break;
                }
                tail = after;
            }
            wr(tail, 8, next);
            next = node;
        }
    }
    Ok(next)
}

/// # Safety
/// `head` is what [`lower_chain`] returned for a chain of the same structs.
pub(crate) unsafe fn raise_chain(chain: &mut [Ext<'_>], head: *const u8) -> Result<(), RaiseError> {
    // SAFETY: guaranteed by the caller.
    unsafe { raise_chain_from(chain, head).map(|_| ()) }
}

/// Raises `chain` from `node` on; returns the node after it.
///
/// # Safety
/// As [`raise_chain`].
unsafe fn raise_chain_from(
    chain: &mut [Ext<'_>],
    mut node: *const u8,
) -> Result<*const u8, RaiseError> {
    for x in chain.iter_mut().take(MAX_CHAIN) {
        if node.is_null() {
            return Err(RaiseError(format!(
                "the pNext chain ended before sType {}",
                x.stype()
            )));
        }
        // SAFETY: `node` is a struct of the lowered chain, sType at 0 and pNext at 8.
        let stype: i32 = unsafe { rd(node, 0) };
        if stype != x.stype() {
            return Err(RaiseError(format!(
                "the pNext chain holds sType {stype} where {} was lowered",
                x.stype()
            )));
        }
        let mut own = std::mem::take(x.own_chain_mut());
        // SAFETY: the node was lowered from `x`; its own chain follows it.
        let raised = unsafe {
            x.raise_node(node)
                .and_then(|()| raise_chain_from(&mut own, rd(node, 8)))
        };
        *x.own_chain_mut() = own;
        node = raised?;
    }
    Ok(node)
}

/// Lowers one struct alone (a chain node).
///
/// # Safety
/// Only writes memory it allocates.
pub(crate) unsafe fn lower_node<T: CType, E>(v: &T, l: &mut Lowerer<'_, E>) -> Result<*mut u8, E> {
    let p = l.alloc(T::C_SIZE, T::C_ALIGN);
    // SAFETY: `p` is a fresh zeroed block of `C_SIZE` bytes.
    unsafe { v.lower_at(l, p)? };
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::convert::EVERY_C_TYPE;
    use crate::generated::types::{
        BufferCopy, MappedMemoryRange, PhysicalDeviceProperties2, PhysicalDeviceVulkan11Properties,
        SubmitInfo,
    };

    const SEEDS: u64 = 16;

    #[test]
    fn every_struct_and_union_lowers_and_raises_back() {
        let mut failures = Vec::new();
        for (name, check) in EVERY_C_TYPE {
            for seed in 1..=SEEDS {
                if let Err(e) = check(seed) {
                    failures.push(format!("{name} seed {seed}: {e}"));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
        // 483 structs and 4 unions for vk.xml 1.4.309 (`cargo xtask codegen` reports them).
        assert!(EVERY_C_TYPE.len() >= 487);
    }

    #[test]
    fn handles_are_translated_with_their_object_type() {
        let range = MappedMemoryRange {
            memory: 7,
            offset: 64,
            size: 128,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let mut map = |object_type: i32, id: u64| {
            seen.push((object_type, id));
            Ok::<u64, ()>(0x1000 + id)
        };
        let mut lowered = Lowered::one(range, &mut map).unwrap();
        let p = lowered.as_mut_ptr();
        // SAFETY: a VkMappedMemoryRange image: sType, pNext, memory at 16, offset, size.
        let (stype, memory, offset, size) = unsafe {
            (
                get::<i32>(p, 0),
                get::<u64>(p, 16),
                get::<u64>(p, 24),
                get::<u64>(p, 32),
            )
        };
        assert_eq!((stype, memory, offset, size), (6, 0x1007, 64, 128));
        // VK_OBJECT_TYPE_DEVICE_MEMORY
        assert_eq!(seen, vec![(8, 7)]);
    }

    #[test]
    fn null_handles_stay_null_and_map_errors_stop_lowering() {
        let submit = SubmitInfo {
            p_command_buffers: Some(vec![0, 5]),
            command_buffer_count: 2,
            ..Default::default()
        };
        let mut asked = Vec::new();
        let mut refuse = |object_type: i32, id: u64| {
            asked.push((object_type, id));
            Err(format!("unknown id {id}"))
        };
        let e = Lowered::one(submit, &mut refuse).err();
        assert_eq!(e.as_deref(), Some("unknown id 5"));
        // VK_OBJECT_TYPE_COMMAND_BUFFER; the null handle never reached the map.
        assert_eq!(asked, vec![(6, 5)]);
    }

    #[test]
    fn raise_reads_what_the_driver_wrote_into_chained_outputs() {
        let props = PhysicalDeviceProperties2 {
            p_next: vec![Ext::PhysicalDeviceVulkan11Properties(Box::default())],
            ..Default::default()
        };
        let mut map = |_: i32, id: u64| Ok::<u64, ()>(id);
        let mut lowered = Lowered::one(props, &mut map).unwrap();
        let p = lowered.as_mut_ptr();
        // SAFETY: as a driver would: apiVersion at 16, and in the chained
        // VkPhysicalDeviceVulkan11Properties, subgroupSize at 64.
        unsafe {
            put::<u32>(p, 16, 0x0040_3000);
            let node: *mut u8 = get(p, 8);
            put::<u32>(node, 64, 32);
        }
        let raised = lowered.raise().unwrap();
        assert_eq!(raised.properties.api_version, 0x0040_3000);
        assert_eq!(
            raised.properties.limits.max_compute_work_group_count.len(),
            3
        );
        let [Ext::PhysicalDeviceVulkan11Properties(v11)] = raised.p_next.as_slice() else {
            panic!("chain shape changed: {:?}", raised.p_next);
        };
        let expected = PhysicalDeviceVulkan11Properties {
            subgroup_size: 32,
            device_uuid: vec![0; 16],
            driver_uuid: vec![0; 16],
            device_luid: vec![0; 8],
            ..Default::default()
        };
        assert_eq!(**v11, expected);
    }

    #[test]
    fn arrays_of_structs_lower_contiguously() {
        let copies = vec![
            BufferCopy {
                src_offset: 1,
                dst_offset: 2,
                size: 3,
            },
            BufferCopy {
                src_offset: 4,
                dst_offset: 5,
                size: 6,
            },
        ];
        let mut map = |_: i32, id: u64| Ok::<u64, ()>(id);
        let mut lowered = Lowered::many(copies.clone(), &mut map).unwrap();
        let p = lowered.as_mut_ptr();
        // SAFETY: two VkBufferCopy of 24 bytes.
        let words: Vec<u64> = (0..6).map(|i| unsafe { get::<u64>(p, i * 8) }).collect();
        assert_eq!(words, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(lowered.raise_all().unwrap(), copies);
    }
}
