//! Byte-level primitives shared by both sides: [`Writer`] (a bounds-checked sink that also
//! counts) and [`Decoder`] (a bounds-checked reader of untrusted bytes with a temporary-memory
//! budget). Everything is little-endian with 4-byte granularity (notes §3.1, §3.2).

use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;

use crate::protocol::command_name;

/// Why an encode did not produce a complete command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The sink is smaller than the command; `needed` is the full size.
    BufferTooSmall { needed: usize, available: usize },
    /// The host's protocol (capset) does not cover this command type.
    Unsupported(u32),
    /// A pNext chain is longer than [`MAX_CHAIN`] kept structs or loops.
    ChainTooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "command needs {needed} bytes but the buffer has {available}"
                )
            }
            EncodeError::Unsupported(t) => {
                write!(
                    f,
                    "{} (type {t}) is not supported by the host protocol",
                    command_name(*t).unwrap_or("?")
                )
            }
            EncodeError::ChainTooLong => {
                write!(f, "pNext chain longer than {MAX_CHAIN} structs or cyclic")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Longest pNext chain either side accepts.
pub const MAX_CHAIN: usize = 512;

/// A byte sink over a caller-supplied buffer. Writes past the end are counted but dropped, so
/// the same encoder computes sizes ([`Writer::counting`]) and [`Writer::finish`] reports
/// overflow. Never allocates.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
    counting: bool,
    error: Option<EncodeError>,
    /// The value of padding bytes, which the protocol leaves unspecified (notes §3.1). Zero,
    /// except in tests that locate the padding of an encoding by writing it with two fills.
    #[cfg(test)]
    padding: u8,
}

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            buf,
            pos: 0,
            counting: false,
            error: None,
            #[cfg(test)]
            padding: 0,
        }
    }

    /// A writer that only counts bytes; [`Writer::finish`] reports the count.
    pub fn counting() -> Writer<'static> {
        Writer {
            buf: &mut [],
            pos: 0,
            counting: true,
            error: None,
            #[cfg(test)]
            padding: 0,
        }
    }

    /// A writer that fills padding with `padding` instead of zero.
    #[cfg(test)]
    pub(crate) fn with_padding(buf: &'b mut [u8], padding: u8) -> Self {
        Writer {
            padding,
            ..Writer::new(buf)
        }
    }

    #[inline(always)]
    fn padding_byte(&self) -> u8 {
        #[cfg(test)]
        return self.padding;
        #[cfg(not(test))]
        0
    }

    /// Bytes written (or counted) so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes written so far (empty for a counting writer).
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos.min(self.buf.len())]
    }

    pub fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }

    /// Size written since `start`, or why the encode is incomplete.
    pub fn finish(&mut self, start: usize) -> Result<usize, EncodeError> {
        if let Some(e) = self.error {
            self.error = None;
            return Err(e);
        }
        if self.pos > self.buf.len() && !self.counting {
            return Err(EncodeError::BufferTooSmall {
                needed: self.pos,
                available: self.buf.len(),
            });
        }
        Ok(self.pos - start)
    }

    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        if let Some(dst) = self.reserve::<N>() {
            *dst = bytes;
        }
    }

    /// Advances by `N` bytes and returns them to be filled, or `None` when they do not fit
    /// (or the writer only counts). One bounds check for a whole run of fixed-size fields:
    /// the generated encoders write into the array at constant offsets.
    #[inline(always)]
    pub(crate) fn reserve<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        let start = self.pos;
        self.pos = start + N;
        self.buf.get_mut(start..)?.first_chunk_mut::<N>()
    }

    /// [`Writer::reserve`] for a length known only at run time.
    #[inline(always)]
    pub(crate) fn reserve_slice(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.pos;
        self.pos = start + n;
        self.buf.get_mut(start..start + n)
    }

    #[inline(always)]
    pub fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes())
    }
    #[inline(always)]
    pub fn i32(&mut self, v: i32) {
        self.put(v.to_le_bytes())
    }
    #[inline(always)]
    pub fn f32(&mut self, v: f32) {
        self.put(v.to_le_bytes())
    }
    #[inline(always)]
    pub fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes())
    }
    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.put(v.to_le_bytes())
    }
    #[inline(always)]
    pub fn f64(&mut self, v: f64) {
        self.put(v.to_le_bytes())
    }
    /// 8- and 16-bit scalars take a whole 4-byte slot; the bytes above the value are padding.
    #[inline(always)]
    pub fn u8(&mut self, v: u8) {
        let p = self.padding_byte();
        self.put([v, p, p, p])
    }
    #[inline(always)]
    pub fn u16(&mut self, v: u16) {
        let [lo, hi] = v.to_le_bytes();
        let p = self.padding_byte();
        self.put([lo, hi, p, p])
    }

    /// `bytes`, then padding (zero) to a multiple of 4.
    #[inline]
    pub fn bytes_padded(&mut self, bytes: &[u8]) {
        let padded = bytes.len().div_ceil(4) * 4;
        let p = self.padding_byte();
        if let Some(dst) = self.reserve_slice(padded) {
            let (data, pad) = dst.split_at_mut(bytes.len());
            data.copy_from_slice(bytes);
            pad.fill(p);
        }
    }

    /// A fixed-size byte array of exactly `n` bytes (shorter input is zero-filled), then
    /// padding (zero) to a multiple of 4.
    pub fn fixed_bytes(&mut self, bytes: &[u8], n: usize) {
        let padded = n.div_ceil(4) * 4;
        let end = self.pos + padded;
        let p = self.padding_byte();
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            let k = bytes.len().min(n);
            dst[..k].copy_from_slice(&bytes[..k]);
            dst[k..n].fill(0);
            dst[n..].fill(p);
        }
        self.pos = end;
    }

    /// `char*`: size including the NUL, then the bytes; NULL is size 0.
    pub fn string(&mut self, s: Option<&CStr>) {
        match s {
            Some(s) => {
                let b = s.to_bytes_with_nul();
                self.u64(b.len() as u64);
                self.bytes_padded(b);
            }
            None => self.u64(0),
        }
    }

    pub fn strings(&mut self, s: Option<&[&CStr]>) {
        match s {
            Some(list) => {
                self.u64(list.len() as u64);
                for s in list {
                    self.string(Some(s));
                }
            }
            None => self.u64(0),
        }
    }

    /// A sized blob: byte count, then the padded bytes; absent is count 0.
    pub fn blob(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => {
                self.u64(b.len() as u64);
                self.bytes_padded(b);
            }
            None => self.u64(0),
        }
    }
}

/// Decoder limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of temporary memory (decoded arrays, boxes, chains) a context may hold before
    /// [`Decoder::reset_temp`]. virglrenderer allows its pool to grow to 1 GiB.
    pub temp_memory: usize,
    /// Elements of one array (input or output; byte blobs are bounded by the input and by
    /// `temp_memory` instead).
    pub max_array_len: usize,
    /// Structs in one `pNext` chain (never more than [`MAX_CHAIN`]).
    pub max_chain: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            temp_memory: 256 << 20,
            max_array_len: usize::MAX,
            max_chain: MAX_CHAIN,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The input ends inside the field.
    Truncated,
    UnknownCommand(u32),
    /// An array size that does not match the count it must equal.
    ArraySizeMismatch {
        expected: u64,
        found: u64,
    },
    /// A pointer that may not be NULL was sent as NULL.
    NullPointer,
    /// A pointer that must be NULL (pAllocator, host addresses) was not.
    NotNull,
    BadStructureType {
        expected: i32,
        found: i32,
    },
    /// An sType that is not a valid extension of the parent, or not known at all.
    UnknownStructureType(i32),
    BadUnionTag(i64),
    /// A string without a NUL inside its declared size, or of size 0.
    BadString,
    /// A count larger than the remaining input can hold.
    CountTooLarge(u64),
    /// The decoder's temporary-memory budget is exhausted.
    TempMemoryExceeded,
    ChainTooLong,
    /// A reply answers a different command.
    WrongReply {
        expected: u32,
        found: u32,
    },
    /// A size that must be a whole number of elements (VkShaderModuleCreateInfo.codeSize: of
    /// 4-byte words) is not.
    SizeNotMultiple {
        size: u64,
        unit: u64,
    },
    /// A reply carries more data than the guest's output parameter can hold.
    OutputTooSmall {
        needed: u64,
        capacity: u64,
    },
}

/// A decode failure: which command, which field, where, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub command: Option<u32>,
    pub field: &'static str,
    pub offset: usize,
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.command {
            Some(t) => write!(
                f,
                "{} (type {t})",
                command_name(t).unwrap_or("unknown command")
            )?,
            None => write!(f, "command stream")?,
        }
        write!(
            f,
            ": {} at byte {}: {:?}",
            self.field, self.offset, self.kind
        )
    }
}

impl std::error::Error for DecodeError {}

/// A bounds-checked reader of untrusted wire bytes. Values that can borrow (strings, blobs)
/// borrow from the input; everything allocated is charged to the temporary-memory budget.
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    temp_used: usize,
    limits: Limits,
    command: Option<u32>,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8], limits: Limits) -> Self {
        Decoder {
            buf,
            pos: 0,
            temp_used: 0,
            limits,
            command: None,
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Forgets the temporary memory charged so far (call when the decoded commands are gone).
    pub fn reset_temp(&mut self) {
        self.temp_used = 0;
    }

    pub fn temp_used(&self) -> usize {
        self.temp_used
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Command that errors are attributed to.
    pub fn set_command(&mut self, command: Option<u32>) {
        self.command = command;
    }

    pub fn error(&self, field: &'static str, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            command: self.command,
            field,
            offset: self.pos,
            kind,
        }
    }

    #[inline(always)]
    fn take<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        match self.buf.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                let mut out = [0u8; N];
                out.copy_from_slice(s);
                Ok(out)
            }
            None => Err(self.error(field, DecodeErrorKind::Truncated)),
        }
    }

    /// `n` bytes of input, skipping the padding after them.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let padded = n
            .checked_add(3)
            .ok_or_else(|| self.error(field, DecodeErrorKind::Truncated))?
            & !3;
        if padded > self.remaining() {
            return Err(self.error(field, DecodeErrorKind::Truncated));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += padded;
        Ok(s)
    }

    #[inline(always)]
    pub fn u32(&mut self, f: &'static str) -> Result<u32, DecodeError> {
        self.take::<4>(f).map(u32::from_le_bytes)
    }
    #[inline(always)]
    pub fn i32(&mut self, f: &'static str) -> Result<i32, DecodeError> {
        self.take::<4>(f).map(i32::from_le_bytes)
    }
    #[inline(always)]
    pub fn f32(&mut self, f: &'static str) -> Result<f32, DecodeError> {
        self.take::<4>(f).map(f32::from_le_bytes)
    }
    #[inline(always)]
    pub fn u64(&mut self, f: &'static str) -> Result<u64, DecodeError> {
        self.take::<8>(f).map(u64::from_le_bytes)
    }
    #[inline(always)]
    pub fn i64(&mut self, f: &'static str) -> Result<i64, DecodeError> {
        self.take::<8>(f).map(i64::from_le_bytes)
    }
    #[inline(always)]
    pub fn f64(&mut self, f: &'static str) -> Result<f64, DecodeError> {
        self.take::<8>(f).map(f64::from_le_bytes)
    }
    /// The low byte of a 4-byte slot (the padding is ignored, as the protocol allows).
    pub fn u8(&mut self, f: &'static str) -> Result<u8, DecodeError> {
        self.u32(f).map(|v| v as u8)
    }
    pub fn u16(&mut self, f: &'static str) -> Result<u16, DecodeError> {
        self.u32(f).map(|v| v as u16)
    }

    /// Charges `bytes` of temporary memory.
    pub fn charge(&mut self, bytes: usize, f: &'static str) -> Result<(), DecodeError> {
        match self.temp_used.checked_add(bytes) {
            Some(t) if t <= self.limits.temp_memory => {
                self.temp_used = t;
                Ok(())
            }
            _ => Err(self.error(f, DecodeErrorKind::TempMemoryExceeded)),
        }
    }

    /// Validates an element count: it must fit the remaining input (at `min_wire` bytes per
    /// element) and its memory must fit the budget.
    fn count(
        &mut self,
        n: u64,
        min_wire: usize,
        elem_mem: usize,
        f: &'static str,
    ) -> Result<usize, DecodeError> {
        let too_large = || self.error(f, DecodeErrorKind::CountTooLarge(n));
        let n_us = usize::try_from(n).map_err(|_| too_large())?;
        if n_us > self.limits.max_array_len {
            return Err(too_large());
        }
        if n_us
            .checked_mul(min_wire)
            .map(|b| b > self.remaining())
            .unwrap_or(true)
        {
            return Err(too_large());
        }
        let mem = n_us.checked_mul(elem_mem.max(1)).ok_or_else(too_large)?;
        self.charge(mem, f)?;
        Ok(n_us)
    }

    pub fn stype(&mut self, expected: i64, f: &'static str) -> Result<(), DecodeError> {
        let found = self.i32(f)?;
        if found as i64 != expected {
            return Err(self.error(
                f,
                DecodeErrorKind::BadStructureType {
                    expected: expected as i32,
                    found,
                },
            ));
        }
        Ok(())
    }

    /// A pointer that must be NULL.
    pub fn null_pointer(&mut self, f: &'static str) -> Result<(), DecodeError> {
        if self.u64(f)? != 0 {
            return Err(self.error(f, DecodeErrorKind::NotNull));
        }
        Ok(())
    }

    /// The array-size marker of a fixed-size array, which must be exactly `n`.
    pub fn expect_size(&mut self, n: u64, f: &'static str) -> Result<(), DecodeError> {
        let found = self.u64(f)?;
        if found != n {
            return Err(self.error(f, DecodeErrorKind::ArraySizeMismatch { expected: n, found }));
        }
        Ok(())
    }

    /// Reads an array-size marker: `None` if 0 (absent, checked against `expected` when
    /// `checked`), else the size, which must equal `expected`.
    fn array_marker(
        &mut self,
        expected: u64,
        checked: bool,
        f: &'static str,
    ) -> Result<Option<u64>, DecodeError> {
        let found = self.u64(f)?;
        if found == 0 {
            if checked && expected != 0 {
                return Err(self.error(f, DecodeErrorKind::ArraySizeMismatch { expected, found }));
            }
            return Ok(None);
        }
        if found != expected {
            return Err(self.error(f, DecodeErrorKind::ArraySizeMismatch { expected, found }));
        }
        Ok(Some(found))
    }

    /// The element count of an array whose length is a size in bytes (`size / unit`): a size that
    /// is not a whole number of elements would have the driver read past the array's end.
    pub fn exact_quotient(
        &self,
        size: u64,
        unit: u64,
        f: &'static str,
    ) -> Result<u64, DecodeError> {
        if !size.is_multiple_of(unit) {
            return Err(self.error(f, DecodeErrorKind::SizeNotMultiple { size, unit }));
        }
        Ok(size / unit)
    }

    pub fn fixed_vec<T>(
        &mut self,
        n: u64,
        min_wire: usize,
        f: &'static str,
        mut elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        self.expect_size(n, f)?;
        let n = self.count(n, min_wire, std::mem::size_of::<T>(), f)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(elem(self)?);
        }
        Ok(v)
    }

    pub fn fixed_bytes(&mut self, n: u64, f: &'static str) -> Result<Vec<u8>, DecodeError> {
        self.expect_size(n, f)?;
        let n = self.count(n, 1, 1, f)?;
        Ok(self.bytes(n, f)?.to_vec())
    }

    /// A `char name[N]` member: must hold a NUL.
    pub fn fixed_string(&mut self, n: u64, f: &'static str) -> Result<Vec<u8>, DecodeError> {
        let b = self.fixed_bytes(n, f)?;
        if !b.contains(&0) {
            return Err(self.error(f, DecodeErrorKind::BadString));
        }
        Ok(b)
    }

    pub fn string(&mut self, f: &'static str) -> Result<Option<&'a CStr>, DecodeError> {
        let size = self.u64(f)?;
        if size == 0 {
            return Ok(None);
        }
        self.string_body(size, f).map(Some)
    }

    fn string_body(&mut self, size: u64, f: &'static str) -> Result<&'a CStr, DecodeError> {
        let n = usize::try_from(size)
            .map_err(|_| self.error(f, DecodeErrorKind::CountTooLarge(size)))?;
        let bytes = self.bytes(n, f)?;
        if bytes.last() != Some(&0) {
            return Err(self.error(f, DecodeErrorKind::BadString));
        }
        CStr::from_bytes_until_nul(bytes).map_err(|_| self.error(f, DecodeErrorKind::BadString))
    }

    pub fn strings(
        &mut self,
        expected: u64,
        checked: bool,
        f: &'static str,
    ) -> Result<Option<Vec<&'a CStr>>, DecodeError> {
        let Some(n) = self.array_marker(expected, checked, f)? else {
            return Ok(None);
        };
        let n = self.count(n, 12, std::mem::size_of::<&CStr>(), f)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let size = self.u64(f)?;
            if size == 0 {
                return Err(self.error(f, DecodeErrorKind::BadString));
            }
            v.push(self.string_body(size, f)?);
        }
        Ok(Some(v))
    }

    pub fn blob(
        &mut self,
        expected: u64,
        checked: bool,
        f: &'static str,
    ) -> Result<Option<Cow<'a, [u8]>>, DecodeError> {
        let Some(n) = self.array_marker(expected, checked, f)? else {
            return Ok(None);
        };
        let n = usize::try_from(n).map_err(|_| self.error(f, DecodeErrorKind::CountTooLarge(n)))?;
        Ok(Some(Cow::Borrowed(self.bytes(n, f)?)))
    }

    /// An output blob: only its size is sent; the host gets a zeroed buffer to fill.
    pub fn blob_out(
        &mut self,
        expected: u64,
        checked: bool,
        f: &'static str,
    ) -> Result<Option<Cow<'a, [u8]>>, DecodeError> {
        let Some(n) = self.array_marker(expected, checked, f)? else {
            return Ok(None);
        };
        let n = usize::try_from(n).map_err(|_| self.error(f, DecodeErrorKind::CountTooLarge(n)))?;
        self.charge(n, f)?;
        Ok(Some(Cow::Owned(vec![0; n])))
    }

    pub fn array<T>(
        &mut self,
        expected: u64,
        checked: bool,
        min_wire: usize,
        f: &'static str,
        mut elem: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let Some(n) = self.array_marker(expected, checked, f)? else {
            return Ok(None);
        };
        let n = self.count(n, min_wire, std::mem::size_of::<T>(), f)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(elem(self)?);
        }
        Ok(Some(v))
    }

    /// An output array whose elements are not sent.
    pub fn array_out<T: Default>(
        &mut self,
        expected: u64,
        checked: bool,
        f: &'static str,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        let Some(n) = self.array_marker(expected, checked, f)? else {
            return Ok(None);
        };
        let n = self.count(n, 0, std::mem::size_of::<T>(), f)?;
        Ok(Some((0..n).map(|_| T::default()).collect()))
    }

    pub fn pointer<T>(
        &mut self,
        optional: bool,
        f: &'static str,
        elem: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.u64(f)? == 0 {
            if !optional {
                return Err(self.error(f, DecodeErrorKind::NullPointer));
            }
            return Ok(None);
        }
        elem(self).map(Some)
    }

    pub fn boxed<T>(
        &mut self,
        optional: bool,
        f: &'static str,
        elem: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<Box<T>>, DecodeError> {
        if self.u64(f)? == 0 {
            if !optional {
                return Err(self.error(f, DecodeErrorKind::NullPointer));
            }
            return Ok(None);
        }
        self.charge(std::mem::size_of::<T>(), f)?;
        elem(self).map(|v| Some(Box::new(v)))
    }

    /// An output pointer whose value is not sent.
    pub fn pointer_out<T: Default>(
        &mut self,
        optional: bool,
        f: &'static str,
    ) -> Result<Option<T>, DecodeError> {
        self.pointer(optional, f, |_| Ok(T::default()))
    }

    /// Checks the reply header (the command type echoed by the host).
    pub fn command_type(&mut self, expected: u32) -> Result<(), DecodeError> {
        self.command = Some(expected);
        let found = self.u32("reply command type")?;
        if found != expected {
            return Err(self.error(
                "reply command type",
                DecodeErrorKind::WrongReply { expected, found },
            ));
        }
        Ok(())
    }
}
