//! What a dispatch function works with: [`Dispatch`], the context a command runs in, and
//! [`Translator`], which turns the guest ids a command names — as parameters, inside structs,
//! inside `pNext` chains — into driver handles after checking each id's type and owner, and
//! keeps the objects alive for as long as the command needs them. The generated dispatch
//! (`generated/dispatch.rs`) and the hand-written handlers are both written against these.

use std::borrow::Cow;
use std::ffi::c_void;
use std::sync::{Arc, MutexGuard};

use venus_rs_encoder::convert::{CType, Lowered, RaiseError};

use super::context_objects::ContextObjects;
use super::generated::object_types as ot;
pub(crate) use super::objects::Owner;
use super::objects::{
    DeviceObject, Entry, InstanceObject, Object, ObjectState, ObjectTable, PhysicalDeviceObject,
};
use crate::context::ExecutionContext;
use crate::executor::ContextFatal;

/// One command's view of its context: the object tables and the transport.
pub(crate) struct Dispatch<'a, 'e> {
    pub(crate) shared: &'a ContextObjects,
    pub(crate) transport: &'a mut ExecutionContext<'e>,
}

impl Dispatch<'_, '_> {
    pub(crate) fn objects(&self) -> MutexGuard<'_, ObjectTable> {
        self.shared.objects()
    }

    pub(crate) fn instance(&self, id: u64) -> Result<Arc<InstanceObject>, ContextFatal> {
        self.objects().instance(id)
    }

    pub(crate) fn physical_device(
        &self,
        id: u64,
    ) -> Result<Arc<PhysicalDeviceObject>, ContextFatal> {
        self.objects().physical_device(id)
    }

    pub(crate) fn device(&self, id: u64) -> Result<Arc<DeviceObject>, ContextFatal> {
        self.objects().device(id)
    }

    pub(crate) fn queue(&self, id: u64) -> Result<Arc<Object>, ContextFatal> {
        self.objects().object(id, ot::QUEUE)
    }

    pub(crate) fn command_buffer(&self, id: u64) -> Result<Arc<Object>, ContextFatal> {
        self.objects().object(id, ot::COMMAND_BUFFER)
    }

    /// A translator for a command running on `owner`; `keep` says who keeps the named
    /// objects alive.
    pub(crate) fn translator<'t>(&'t self, owner: Owner<'t>, keep: Keep<'t>) -> Translator<'t> {
        Translator {
            table: self.objects(),
            owner,
            keep,
            named: Vec::new(),
        }
    }

    /// Registers an object the driver created under the guest's id; it keeps `kept` alive.
    pub(crate) fn register(
        &self,
        id: u64,
        raw: u64,
        object_type: i32,
        device: &Arc<DeviceObject>,
        kept: Vec<Arc<Object>>,
    ) -> Result<(), ContextFatal> {
        let object = Object::new(
            object_type,
            raw,
            Arc::clone(device),
            None,
            ObjectState::Plain,
            kept,
        );
        self.insert_object(id, object)
    }

    /// Inserts an object; if the id was taken meanwhile (another ring), the object is
    /// released and the context fails.
    pub(crate) fn insert_object(&self, id: u64, object: Object) -> Result<(), ContextFatal> {
        self.objects().insert(id, Entry::Object(Arc::new(object)))
    }

    /// Registers every object an array-creating command made (null handles are skipped: that
    /// creation failed); each keeps `kept` alive.
    pub(crate) fn register_all(
        &self,
        ids: Vec<u64>,
        raws: &[u64],
        object_type: i32,
        device: &Arc<DeviceObject>,
        kept: Vec<Arc<Object>>,
    ) -> Result<(), ContextFatal> {
        let mut result = Ok(());
        for (id, &raw) in ids.into_iter().zip(raws) {
            if raw == 0 {
                continue;
            }
            // Every object is registered (or released) even after a failure.
            let registered = self.register(id, raw, object_type, device, kept.clone());
            if result.is_ok() {
                result = registered;
            }
        }
        result
    }

    /// Takes an object out of the table (with its children); the driver object goes when its
    /// last reference does.
    pub(crate) fn release(
        &self,
        object_type: i32,
        id: u64,
        device: &Arc<DeviceObject>,
    ) -> Result<(), ContextFatal> {
        let removed = self.objects().remove_object(id, object_type, device)?;
        // Dropped outside the table lock: releasing may call the driver.
        drop(removed);
        Ok(())
    }
}

/// Who keeps the objects a command names alive.
pub(crate) enum Keep<'a> {
    /// A command recorded into this command buffer: until it is reset or freed.
    Recording(&'a Arc<Object>),
    /// The command itself (for as long as the call runs), or the object it creates.
    Collect(Vec<Arc<Object>>),
}

/// Translates one command's guest ids; holds the object table while it does.
pub(crate) struct Translator<'a> {
    table: MutexGuard<'a, ObjectTable>,
    owner: Owner<'a>,
    keep: Keep<'a>,
    /// The objects named so far.
    named: Vec<Arc<Object>>,
}

impl Translator<'_> {
    /// The driver handle of guest id `id`, which must name an object of `object_type`
    /// belonging to the command's device or instance. Id 0 is VK_NULL_HANDLE, allowed where
    /// the parameter is optional.
    pub(crate) fn handle(
        &mut self,
        object_type: i32,
        id: u64,
        optional: bool,
    ) -> Result<u64, ContextFatal> {
        if id == 0 {
            if optional {
                return Ok(0);
            }
            return Err(ContextFatal::new(format!(
                "VK_NULL_HANDLE where a {} is required",
                ot::name(object_type)
            )));
        }
        self.named_handle(object_type, id)
    }

    fn named_handle(&mut self, object_type: i32, id: u64) -> Result<u64, ContextFatal> {
        let entry = self.table.owned_entry(id, object_type, self.owner)?;
        let raw = entry.raw();
        if let Entry::Object(object) = entry {
            self.named.push(Arc::clone(object));
        }
        Ok(raw)
    }

    /// Handles of an array (elements may be VK_NULL_HANDLE).
    pub(crate) fn handles(
        &mut self,
        object_type: i32,
        ids: Option<&[u64]>,
    ) -> Result<Option<Vec<u64>>, ContextFatal> {
        ids.map(|ids| {
            ids.iter()
                .map(|&id| self.handle(object_type, id, true))
                .collect()
        })
        .transpose()
    }

    /// The C image of one struct, its handles translated.
    pub(crate) fn lower_one<T: CType>(
        &mut self,
        value: Option<Box<T>>,
    ) -> Result<Option<Lowered<T>>, ContextFatal> {
        value
            .map(|value| Lowered::one(*value, &mut |ty, id| self.named_handle(ty, id)))
            .transpose()
    }

    /// The C image of an array of structs, its handles translated.
    pub(crate) fn lower_many<T: CType>(
        &mut self,
        values: Option<Vec<T>>,
    ) -> Result<Option<Lowered<T>>, ContextFatal> {
        values
            .map(|values| Lowered::many(values, &mut |ty, id| self.named_handle(ty, id)))
            .transpose()
    }

    /// A new object's guest id: present, non-zero and unused.
    pub(crate) fn new_id(&self, id: Option<u64>, object_type: i32) -> Result<u64, ContextFatal> {
        let id = id.ok_or_else(|| {
            ContextFatal::new(format!(
                "the output {} pointer is NULL",
                ot::name(object_type)
            ))
        })?;
        self.table.check_free(id, object_type)?;
        Ok(id)
    }

    /// New objects' guest ids: each non-zero, unused and distinct.
    pub(crate) fn new_ids(
        &self,
        ids: Option<&[u64]>,
        object_type: i32,
    ) -> Result<Vec<u64>, ContextFatal> {
        let ids = ids.unwrap_or_default();
        for (index, &id) in ids.iter().enumerate() {
            self.table.check_free(id, object_type)?;
            if ids[..index].contains(&id) {
                return Err(ContextFatal::new(format!(
                    "object id {id} is given to two new {}s",
                    ot::name(object_type)
                )));
            }
        }
        Ok(ids.to_vec())
    }

    /// Ends translation (releasing the table): a recording keeps the named objects in its
    /// command buffer; otherwise they are handed back to keep for the call (or to give to a
    /// created object).
    pub(crate) fn finish(self) -> Vec<Arc<Object>> {
        let Translator {
            table, keep, named, ..
        } = self;
        drop(table);
        match keep {
            Keep::Recording(command_buffer) => {
                if !named.is_empty() {
                    command_buffer.keep(named);
                }
                Vec::new()
            }
            Keep::Collect(mut collected) => {
                collected.extend(named);
                collected
            }
        }
    }
}

/// A command of an extension the device does not have (or the guest did not enable).
pub(crate) fn unavailable(name: &str) -> ContextFatal {
    ContextFatal::new(format!(
        "{name} is not available on this device or instance (its extension or version is not enabled)"
    ))
}

/// The pointer to a lowered C image, or NULL.
pub(crate) fn lowered_ptr<T: CType>(lowered: &mut Option<Lowered<T>>) -> *mut c_void {
    lowered
        .as_mut()
        .map_or(std::ptr::null_mut(), |l| l.as_mut_ptr().cast())
}

fn raise_failed(error: RaiseError) -> ContextFatal {
    ContextFatal::new(format!("reading back the driver's output: {error}"))
}

/// Reads an output struct back after the driver filled it.
pub(crate) fn raise_one<T: CType>(
    lowered: Option<Lowered<T>>,
) -> Result<Option<Box<T>>, ContextFatal> {
    lowered
        .map(|l| l.raise().map(Box::new).map_err(raise_failed))
        .transpose()
}

/// Reads an output array back after the driver filled it.
pub(crate) fn raise_many<T: CType>(
    lowered: Option<Lowered<T>>,
) -> Result<Option<Vec<T>>, ContextFatal> {
    lowered
        .map(|l| l.raise_all().map_err(raise_failed))
        .transpose()
}

/// Cuts an output array to the count the driver wrote back (the two-call idiom).
pub(crate) fn truncate<T>(values: &mut Option<Vec<T>>, count: usize) {
    if let Some(values) = values {
        values.truncate(count);
    }
}

pub(crate) fn in_bytes(bytes: &Option<Cow<'_, [u8]>>) -> *const c_void {
    bytes
        .as_deref()
        .map_or(std::ptr::null(), |b| b.as_ptr().cast())
}

pub(crate) fn out_bytes(bytes: &mut Option<Cow<'_, [u8]>>) -> *mut c_void {
    bytes
        .as_mut()
        .map_or(std::ptr::null_mut(), |b| b.to_mut().as_mut_ptr().cast())
}

pub(crate) fn in_slice<T>(values: &Option<Vec<T>>) -> *const c_void {
    values
        .as_deref()
        .map_or(std::ptr::null(), |v| v.as_ptr().cast())
}

pub(crate) fn out_slice<T>(values: &mut Option<Vec<T>>) -> *mut c_void {
    values
        .as_mut()
        .map_or(std::ptr::null_mut(), |v| v.as_mut_ptr().cast())
}

pub(crate) fn scalar_in<T>(value: &Option<T>) -> *const c_void {
    value
        .as_ref()
        .map_or(std::ptr::null(), |v| std::ptr::from_ref(v).cast())
}

pub(crate) fn scalar_out<T>(value: &mut Option<T>) -> *mut c_void {
    value
        .as_mut()
        .map_or(std::ptr::null_mut(), |v| std::ptr::from_mut(v).cast())
}

/// A required pointer parameter or member.
pub(crate) fn required<'r, T>(value: &'r Option<T>, name: &str) -> Result<&'r T, ContextFatal> {
    value
        .as_ref()
        .ok_or_else(|| ContextFatal::new(format!("{name} is NULL")))
}
