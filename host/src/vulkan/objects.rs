//! The objects a guest context created, by the ids the guest chose.
//!
//! Driver objects are reference counted: the table holds one reference, and so does whatever
//! still needs the object — a command buffer that recorded a command naming it, a submission
//! until its work completes, an object created from it (an image view keeps its image), a
//! buffer bound to memory. The driver object is destroyed when the last reference goes, so a
//! guest that destroys an object the device still uses, or destroys it on one ring while
//! another ring uses it, cannot make the host touch a freed object. Children hold their
//! parents (objects their device, devices their instance), so destruction runs children
//! first.
//!
//! Every lookup checks the id's object type and its owner (the device or instance the command
//! runs on); a wrong, unknown or foreign id is a context error, never a host crash.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::completion::CompletionTracker;
use super::generated::destroy::destroy;
use super::generated::fns::{DeviceFns, InstanceFns};
use super::generated::object_types as ot;
use crate::executor::ContextFatal;
use crate::limits::{Charge, Usage};

/// A driver instance created for the guest.
pub(crate) struct InstanceObject {
    pub(crate) raw: u64,
    pub(crate) fns: InstanceFns,
    /// For the hand-written calls (enumeration, destruction).
    pub(crate) ash: ash::Instance,
    /// The version it was created with (capped) and the extensions enabled on it.
    pub(crate) api_version: u32,
    pub(crate) extensions: Vec<std::ffi::CString>,
    /// The instance's part of the instances cap.
    pub(crate) _charge: Charge,
}

impl Drop for InstanceObject {
    fn drop(&mut self) {
        // SAFETY: the last reference: every physical device and device of the instance is gone.
        unsafe { self.ash.destroy_instance(None) };
    }
}

pub(crate) struct PhysicalDeviceObject {
    pub(crate) instance: Arc<InstanceObject>,
    pub(crate) raw: u64,
}

pub(crate) struct DeviceObject {
    pub(crate) raw: u64,
    pub(crate) fns: DeviceFns,
    pub(crate) physical: Arc<PhysicalDeviceObject>,
    /// VK_EXT_external_memory_host is enabled: host-visible memory can be shared memory.
    pub(crate) external_memory_host: bool,
    /// minImportedHostPointerAlignment, at least the host's page size.
    pub(crate) host_pointer_alignment: u64,
    /// Property flags of each memory type.
    pub(crate) memory_types: Vec<u32>,
    /// (queue family, queue count, create flags) the device was created with.
    pub(crate) queue_families: Vec<(u32, u32, u32)>,
    pub(crate) completion: CompletionTracker,
    /// A wait for the device's work timed out: its queues may never drain, so the driver
    /// device is left alone (leaked) rather than destroyed or waited for without end.
    pub(crate) lost: std::sync::atomic::AtomicBool,
    /// The device's part of the devices cap.
    pub(crate) _charge: Charge,
}

impl Drop for DeviceObject {
    fn drop(&mut self) {
        if self.lost.load(Ordering::Acquire) {
            crate::log!(
                "a device whose queue never went idle is released: its driver device is left                  behind rather than destroyed under work that may still run"
            );
            self.completion.abandon();
            // The device's instance must outlive it, so it is left behind too.
            std::mem::forget(Arc::clone(&self.physical));
            return;
        }
        self.completion.shutdown();
        if let (Some(wait_idle), Some(destroy_device)) =
            (self.fns.device_wait_idle, self.fns.destroy_device)
        {
            // SAFETY: the last reference: every object of the device is gone, so nothing else
            // uses it; waiting first lets work the guest never waited for finish.
            unsafe {
                wait_idle(self.raw);
                destroy_device(self.raw, std::ptr::null());
            }
        }
    }
}

/// A queue bound to a fence timeline of the context.
pub(crate) struct QueueState {
    pub(crate) ring_idx: u32,
    /// Vulkan requires submissions to one queue to be externally synchronised; rings of one
    /// context may submit to the same queue.
    submit: Mutex<()>,
}

impl QueueState {
    pub(crate) fn new(ring_idx: u32) -> Self {
        Self {
            ring_idx,
            submit: Mutex::new(()),
        }
    }

    pub(crate) fn lock_for_submit(&self) -> MutexGuard<'_, ()> {
        self.submit.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What each written (binding, array element) of a descriptor set points at.
pub(crate) type DescriptorTargets = Mutex<HashMap<(u32, u32), Vec<Arc<Object>>>>;

/// What some object types carry besides their handle.
pub(crate) enum ObjectState {
    Plain,
    Queue(QueueState),
    /// Device memory backed by host shared memory imported into the driver; the mapping must
    /// outlive the driver object, which it does as the object's own field.
    SharedMemory(Arc<crate::shm_file::ShmFile>),
    /// Device memory imported from the mapping of a guest resource; the mapping outlives the
    /// driver object in the same way (it is held only for that).
    ImportedResource {
        _mapping: venus_rs_shmem::SharedMemory,
    },
    DescriptorPool {
        /// Created with FREE_DESCRIPTOR_SET: sets may be freed one by one.
        free_individually: bool,
        /// Bumped by each reset: sets of an older generation were freed by the reset.
        generation: AtomicU64,
    },
    DescriptorSet {
        generation: u64,
        /// What each (binding, array element) points at, kept alive while it does.
        bindings: DescriptorTargets,
    },
}

/// Any object of a device: queues, command buffers and every non-dispatchable object.
pub(crate) struct Object {
    pub(crate) object_type: i32,
    pub(crate) raw: u64,
    device: Arc<DeviceObject>,
    /// The pool of a command buffer or descriptor set.
    pub(crate) parent: Option<Arc<Object>>,
    pub(crate) state: ObjectState,
    /// What this object needs alive: the handles of its create info, its bound memory, the
    /// objects its recorded commands name (command buffers).
    kept: Mutex<Kept>,
    /// The object's part of the context's caps (the objects cap; memory bytes for memory).
    charges: Mutex<Vec<Charge>>,
}

/// Objects kept alive, each once however often a recording names it, so that a command
/// buffer recording the same object a million times holds one reference.
#[derive(Default)]
struct Kept {
    objects: Vec<Arc<Object>>,
    seen: HashSet<usize>,
}

impl Kept {
    fn add(&mut self, object: Arc<Object>) {
        if self.seen.insert(Arc::as_ptr(&object) as usize) {
            self.objects.push(object);
        }
    }
}

impl Object {
    pub(crate) fn new(
        object_type: i32,
        raw: u64,
        device: Arc<DeviceObject>,
        parent: Option<Arc<Object>>,
        state: ObjectState,
        kept: Vec<Arc<Object>>,
    ) -> Self {
        let mut set = Kept::default();
        kept.into_iter().for_each(|object| set.add(object));
        Self {
            object_type,
            raw,
            device,
            parent,
            state,
            kept: Mutex::new(set),
            charges: Mutex::new(Vec::new()),
        }
    }

    /// Holds `charge` for as long as the object lives.
    pub(crate) fn add_charge(&self, charge: Charge) {
        self.charges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(charge);
    }

    pub(crate) fn device(&self) -> &Arc<DeviceObject> {
        &self.device
    }

    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `more` alive as long as this object (or until [`Object::release_kept`]).
    pub(crate) fn keep(&self, more: impl IntoIterator<Item = Arc<Object>>) {
        let mut kept = self.kept();
        more.into_iter().for_each(|object| kept.add(object));
    }

    /// Lets go of what a recording kept alive (the command buffer was reset or re-begun).
    pub(crate) fn release_kept(&self) {
        let released = std::mem::take(&mut *self.kept());
        drop(released);
    }

    pub(crate) fn queue(&self) -> Option<&QueueState> {
        match &self.state {
            ObjectState::Queue(queue) => Some(queue),
            _ => None,
        }
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // What this object kept goes after it (the fields drop after this body).
        let device = &self.device;
        match self.object_type {
            ot::COMMAND_BUFFER => {
                if let (Some(pool), Some(free)) = (&self.parent, device.fns.free_command_buffers) {
                    // SAFETY: the last reference to a command buffer of `pool` (which the
                    // command buffer keeps alive): no recording or submission uses it.
                    unsafe {
                        free(
                            device.raw,
                            pool.raw,
                            1,
                            std::ptr::from_ref(&self.raw).cast(),
                        )
                    };
                }
            }
            ot::DESCRIPTOR_SET => {
                let (Some(pool), ObjectState::DescriptorSet { generation, .. }) =
                    (&self.parent, &self.state)
                else {
                    return;
                };
                let ObjectState::DescriptorPool {
                    free_individually: true,
                    generation: pool_generation,
                } = &pool.state
                else {
                    // Sets of other pools are freed by the pool's reset or destruction.
                    return;
                };
                if pool_generation.load(Ordering::Acquire) != *generation {
                    return;
                }
                if let Some(free) = device.fns.free_descriptor_sets {
                    // SAFETY: the last reference to a live set of `pool` (same generation, so no
                    // reset freed it), which allows freeing sets one by one.
                    unsafe {
                        free(
                            device.raw,
                            pool.raw,
                            1,
                            std::ptr::from_ref(&self.raw).cast(),
                        )
                    };
                }
            }
            object_type => {
                destroy(&device.fns, device.raw, object_type, self.raw);
            }
        }
    }
}

/// What a guest id names.
#[derive(Clone)]
pub(crate) enum Entry {
    Instance(Arc<InstanceObject>),
    PhysicalDevice(Arc<PhysicalDeviceObject>),
    Device(Arc<DeviceObject>),
    Object(Arc<Object>),
}

impl Entry {
    fn object_type(&self) -> i32 {
        match self {
            Self::Instance(_) => ot::INSTANCE,
            Self::PhysicalDevice(_) => ot::PHYSICAL_DEVICE,
            Self::Device(_) => ot::DEVICE,
            Self::Object(object) => object.object_type,
        }
    }

    /// The driver handle.
    pub(crate) fn raw(&self) -> u64 {
        match self {
            Self::Instance(instance) => instance.raw,
            Self::PhysicalDevice(physical) => physical.raw,
            Self::Device(device) => device.raw,
            Self::Object(object) => object.raw,
        }
    }
}

/// Who a command runs on, for the owner check of the ids it names.
#[derive(Clone, Copy)]
pub(crate) enum Owner<'a> {
    Instance(&'a Arc<InstanceObject>),
    Device(&'a Arc<DeviceObject>),
}

pub(crate) struct ObjectTable {
    entries: HashMap<u64, Entry>,
    /// Live device objects of the context (in the table or kept alive elsewhere).
    usage: Arc<Usage>,
}

fn fatal(message: String) -> ContextFatal {
    ContextFatal::new(message)
}

impl ObjectTable {
    pub(crate) fn new(usage: Arc<Usage>) -> Self {
        Self {
            entries: HashMap::new(),
            usage,
        }
    }

    /// Whether `id` is free for a new object of `object_type` (non-zero and unused), and the
    /// context may hold one more object.
    pub(crate) fn check_free(&self, id: u64, object_type: i32) -> Result<(), ContextFatal> {
        // Charged when the object is inserted; refused here before the driver makes it.
        self.usage.check_room(1).map_err(|e| fatal(e.to_string()))?;
        if id == 0 {
            return Err(fatal(format!(
                "the guest chose object id 0 for a new {}",
                ot::name(object_type)
            )));
        }
        match self.entries.get(&id) {
            Some(existing) => Err(fatal(format!(
                "object id {id} for a new {} is already used by a {}",
                ot::name(object_type),
                ot::name(existing.object_type())
            ))),
            None => Ok(()),
        }
    }

    /// Registers a new object under a guest-chosen id.
    pub(crate) fn insert(&mut self, id: u64, entry: Entry) -> Result<(), ContextFatal> {
        self.check_free(id, entry.object_type())?;
        if let Entry::Object(object) = &entry {
            let charge = self.usage.charge(1).map_err(|e| fatal(e.to_string()))?;
            object.add_charge(charge);
        }
        self.entries.insert(id, entry);
        Ok(())
    }

    /// The entry `id` names, which must be of `object_type`.
    pub(crate) fn get(&self, id: u64, object_type: i32) -> Result<&Entry, ContextFatal> {
        let entry = self.entries.get(&id).ok_or_else(|| {
            fatal(format!(
                "no {} with object id {id} (never created, or destroyed)",
                ot::name(object_type)
            ))
        })?;
        if entry.object_type() != object_type {
            return Err(fatal(format!(
                "object id {id} is a {}, not a {}",
                ot::name(entry.object_type()),
                ot::name(object_type)
            )));
        }
        Ok(entry)
    }

    pub(crate) fn instance(&self, id: u64) -> Result<Arc<InstanceObject>, ContextFatal> {
        match self.get(id, ot::INSTANCE)? {
            Entry::Instance(instance) => Ok(Arc::clone(instance)),
            _ => unreachable!("the type was checked"),
        }
    }

    pub(crate) fn physical_device(
        &self,
        id: u64,
    ) -> Result<Arc<PhysicalDeviceObject>, ContextFatal> {
        match self.get(id, ot::PHYSICAL_DEVICE)? {
            Entry::PhysicalDevice(physical) => Ok(Arc::clone(physical)),
            _ => unreachable!("the type was checked"),
        }
    }

    pub(crate) fn device(&self, id: u64) -> Result<Arc<DeviceObject>, ContextFatal> {
        match self.get(id, ot::DEVICE)? {
            Entry::Device(device) => Ok(Arc::clone(device)),
            _ => unreachable!("the type was checked"),
        }
    }

    /// A device object of `object_type` (queue, command buffer or non-dispatchable).
    pub(crate) fn object(&self, id: u64, object_type: i32) -> Result<Arc<Object>, ContextFatal> {
        match self.get(id, object_type)? {
            Entry::Object(object) => Ok(Arc::clone(object)),
            _ => Err(fatal(format!("object id {id} is not a device object"))),
        }
    }

    /// A device object of `object_type` that belongs to `device`.
    pub(crate) fn owned_object(
        &self,
        id: u64,
        object_type: i32,
        device: &Arc<DeviceObject>,
    ) -> Result<Arc<Object>, ContextFatal> {
        let object = self.object(id, object_type)?;
        if !Arc::ptr_eq(object.device(), device) {
            return Err(fatal(format!(
                "{} {id} belongs to another device",
                ot::name(object_type)
            )));
        }
        Ok(object)
    }

    /// The entry of a guest id named inside a command running on `owner`: type and owner
    /// checked. Physical devices belong to their instance; everything else to its device.
    pub(crate) fn owned_entry(
        &self,
        id: u64,
        object_type: i32,
        owner: Owner<'_>,
    ) -> Result<&Entry, ContextFatal> {
        let entry = self.get(id, object_type)?;
        let owned = match (entry, owner) {
            (Entry::Instance(instance), Owner::Instance(owner)) => Arc::ptr_eq(instance, owner),
            (Entry::PhysicalDevice(physical), Owner::Instance(owner)) => {
                Arc::ptr_eq(&physical.instance, owner)
            }
            (Entry::PhysicalDevice(physical), Owner::Device(owner)) => {
                Arc::ptr_eq(&physical.instance, &owner.physical.instance)
            }
            (Entry::Device(device), Owner::Device(owner)) => Arc::ptr_eq(device, owner),
            (Entry::Object(object), Owner::Device(owner)) => Arc::ptr_eq(object.device(), owner),
            _ => false,
        };
        if !owned {
            return Err(fatal(format!(
                "{} {id} belongs to another {}",
                ot::name(object_type),
                match owner {
                    Owner::Instance(_) => "instance",
                    Owner::Device(_) => "device",
                }
            )));
        }
        Ok(entry)
    }

    /// The guest id already given to a driver handle of `object_type`, if any.
    pub(crate) fn id_of(&self, object_type: i32, raw: u64) -> Option<u64> {
        self.entries.iter().find_map(|(&id, entry)| {
            (entry.object_type() == object_type && entry.raw() == raw).then_some(id)
        })
    }

    /// Whether a queue of the context is already bound to the timeline `ring_idx`.
    pub(crate) fn ring_idx_in_use(&self, ring_idx: u32) -> bool {
        self.entries.values().any(|entry| {
            matches!(entry, Entry::Object(object)
                if object.queue().is_some_and(|queue| queue.ring_idx == ring_idx))
        })
    }

    /// Takes a device object out of the table, with the objects allocated from it (a pool's
    /// command buffers or sets). The driver objects go when their last reference does.
    pub(crate) fn remove_object(
        &mut self,
        id: u64,
        object_type: i32,
        device: &Arc<DeviceObject>,
    ) -> Result<Option<Arc<Object>>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        let object = self.owned_object(id, object_type, device)?;
        self.entries.remove(&id);
        self.remove_children(&object);
        Ok(Some(object))
    }

    /// Takes the children of `parent` (command buffers of a pool, sets of a pool) out.
    pub(crate) fn remove_children(&mut self, parent: &Arc<Object>) {
        self.entries.retain(|_, entry| match entry {
            Entry::Object(object) => !object
                .parent
                .as_ref()
                .is_some_and(|p| Arc::ptr_eq(p, parent)),
            _ => true,
        });
    }

    /// Takes a device and every object of it out of the table.
    pub(crate) fn remove_device(
        &mut self,
        id: u64,
    ) -> Result<Option<Arc<DeviceObject>>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        let device = self.device(id)?;
        self.entries.retain(|_, entry| match entry {
            Entry::Device(d) => !Arc::ptr_eq(d, &device),
            Entry::Object(object) => !Arc::ptr_eq(object.device(), &device),
            _ => true,
        });
        Ok(Some(device))
    }

    /// Takes an instance and its physical devices out of the table. Its devices stay until the
    /// guest destroys them (destroying an instance first is the guest's invalid usage, and
    /// the driver instance lives as long as they do).
    pub(crate) fn remove_instance(
        &mut self,
        id: u64,
    ) -> Result<Option<Arc<InstanceObject>>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        let instance = self.instance(id)?;
        self.entries.retain(|_, entry| match entry {
            Entry::Instance(i) => !Arc::ptr_eq(i, &instance),
            Entry::PhysicalDevice(physical) => !Arc::ptr_eq(&physical.instance, &instance),
            _ => true,
        });
        Ok(Some(instance))
    }

    /// The queues of `device`.
    pub(crate) fn queues_of(&self, device: &Arc<DeviceObject>) -> Vec<Arc<Object>> {
        self.entries
            .values()
            .filter_map(|entry| match entry {
                Entry::Object(object)
                    if object.object_type == ot::QUEUE && Arc::ptr_eq(object.device(), device) =>
                {
                    Some(Arc::clone(object))
                }
                _ => None,
            })
            .collect()
    }

    /// Device objects whose parent is `parent`.
    pub(crate) fn children(&self, parent: &Arc<Object>) -> Vec<Arc<Object>> {
        self.entries
            .values()
            .filter_map(|entry| match entry {
                Entry::Object(object)
                    if object
                        .parent
                        .as_ref()
                        .is_some_and(|p| Arc::ptr_eq(p, parent)) =>
                {
                    Some(Arc::clone(object))
                }
                _ => None,
            })
            .collect()
    }

    /// Takes every entry but those `keep` names out of the table; hands them back to be
    /// dropped outside the table's lock.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn retain_ids(&mut self, keep: &[u64]) -> Vec<Entry> {
        let ids: Vec<u64> = self
            .entries
            .keys()
            .copied()
            .filter(|id| !keep.contains(id))
            .collect();
        ids.iter()
            .filter_map(|id| self.entries.remove(id))
            .collect()
    }

    /// The address of the object `id` names (0 when none does).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn identity(&self, id: u64) -> usize {
        match self.entries.get(&id) {
            Some(Entry::Instance(o)) => Arc::as_ptr(o) as usize,
            Some(Entry::PhysicalDevice(o)) => Arc::as_ptr(o) as usize,
            Some(Entry::Device(o)) => Arc::as_ptr(o) as usize,
            Some(Entry::Object(o)) => Arc::as_ptr(o) as usize,
            None => 0,
        }
    }

    /// Empties the table (the context ends); objects go as their last references do.
    pub(crate) fn clear(&mut self) -> usize {
        let count = self.entries.len();
        self.entries.clear();
        count
    }
}
