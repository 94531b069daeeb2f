//! Private data: `objectHandle` is a plain 64-bit value in vk.xml, but it names an object of
//! the type `objectType` gives — a guest id, translated (type- and owner-checked) like any
//! handle before the driver sees it.

use venus_rs_encoder::host::{GetPrivateDataArgs, SetPrivateDataArgs};

use super::generated::object_types as ot;
use super::objects::Owner;
use super::translate::{unavailable, Dispatch, Keep};
use crate::executor::ContextFatal;

pub(crate) fn set_private_data(
    cx: &mut Dispatch<'_, '_>,
    a: &mut SetPrivateDataArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .set_private_data
        .ok_or_else(|| unavailable("vkSetPrivateData"))?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let object = t.handle(a.object_type, a.object_handle, false)?;
    let slot = t.handle(ot::PRIVATE_DATA_SLOT, a.private_data_slot, false)?;
    let kept = t.finish();
    // SAFETY: a live object of the named type and a live slot, both of this device and kept
    // alive across the call.
    a.ret = unsafe { f(device.raw, a.object_type, object, slot, a.data) };
    drop(kept);
    Ok(())
}

pub(crate) fn get_private_data(
    cx: &mut Dispatch<'_, '_>,
    a: &mut GetPrivateDataArgs,
) -> Result<(), ContextFatal> {
    let device = cx.device(a.device)?;
    let f = device
        .fns
        .get_private_data
        .ok_or_else(|| unavailable("vkGetPrivateData"))?;
    let mut t = cx.translator(Owner::Device(&device), Keep::Collect(Vec::new()));
    let object = t.handle(a.object_type, a.object_handle, false)?;
    let slot = t.handle(ot::PRIVATE_DATA_SLOT, a.private_data_slot, false)?;
    let kept = t.finish();
    let mut data = 0u64;
    // SAFETY: as in vkSetPrivateData; `data` outlives the call.
    unsafe {
        f(
            device.raw,
            a.object_type,
            object,
            slot,
            std::ptr::from_mut(&mut data).cast(),
        )
    };
    drop(kept);
    a.p_data = Some(data);
    Ok(())
}
