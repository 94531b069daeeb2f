//! `pNext` chains on the host: a parent's chain is decoded into a flat list, after checking
//! every sType against the extensions that parent accepts.

use crate::wire::{DecodeError, DecodeErrorKind, Decoder, Writer, MAX_CHAIN};

/// A struct that can appear in a chain (implemented by the generated `Ext`).
pub trait ChainLink<'a>: Sized {
    fn stype(&self) -> i32;
    fn decode_body(d: &mut Decoder<'a>, stype: i32, partial: bool) -> Result<Self, DecodeError>;
    fn encode_body(&self, w: &mut Writer<'_>, partial: bool);
}

/// Decodes a chain whose parent accepts the sTypes in `allowed`. The wire holds every
/// (marker, sType) pair first and the bodies afterwards, innermost first.
pub fn decode_chain<'a, T: ChainLink<'a>>(
    d: &mut Decoder<'a>,
    allowed: &[i32],
    partial: bool,
    f: &'static str,
) -> Result<Vec<T>, DecodeError> {
    let mut stypes: Vec<i32> = Vec::new();
    while d.u64(f)? != 0 {
        let stype = d.i32(f)?;
        if !allowed.contains(&stype) {
            return Err(d.error(f, DecodeErrorKind::UnknownStructureType(stype)));
        }
        if stypes.len() >= d.limits().max_chain.min(MAX_CHAIN) {
            return Err(d.error(f, DecodeErrorKind::ChainTooLong));
        }
        d.charge(std::mem::size_of::<T>() + 4, f)?;
        stypes.push(stype);
    }
    let mut chain = Vec::with_capacity(stypes.len());
    for &stype in stypes.iter().rev() {
        chain.push(T::decode_body(d, stype, partial)?);
    }
    chain.reverse();
    Ok(chain)
}

pub fn encode_chain<'a, T: ChainLink<'a>>(w: &mut Writer<'_>, chain: &[T], partial: bool) {
    for e in chain {
        w.u64(1);
        w.i32(e.stype());
    }
    w.u64(0);
    for e in chain.iter().rev() {
        e.encode_body(w, partial);
    }
}
