//! Per-context object tables: every Vulkan object a guest creates lives under the id the guest
//! chose. Ids are validated (non-zero, unused, right type); a wrong or unknown id is a context
//! error, never a host crash. Host handles never go back to the guest.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ash::vk;

use crate::executor::ContextFatal;

/// A driver instance created for the guest.
pub(crate) struct InstanceObject {
    pub(crate) instance: ash::Instance,
}

pub(crate) struct PhysicalDeviceObject {
    pub(crate) instance: Arc<InstanceObject>,
    pub(crate) handle: vk::PhysicalDevice,
}

pub(crate) struct DeviceObject {
    pub(crate) device: ash::Device,
    pub(crate) instance: Arc<InstanceObject>,
    pub(crate) physical_device: vk::PhysicalDevice,
    /// VK_EXT_external_memory_host is enabled: host-visible memory can be shared memory.
    pub(crate) external_memory_host: bool,
    pub(crate) completion: super::completion::CompletionTracker,
}

pub(crate) struct QueueObject {
    pub(crate) device: Arc<DeviceObject>,
    pub(crate) handle: vk::Queue,
    /// The fence timeline (virtio-gpu ring_idx) bound with VkDeviceQueueTimelineInfoMESA.
    pub(crate) ring_idx: u32,
    /// Vulkan requires submissions to one queue to be externally synchronised; rings of one
    /// context may submit to the same queue.
    pub(crate) submit_lock: std::sync::Mutex<()>,
}

impl QueueObject {
    pub(crate) fn lock_for_submit(&self) -> std::sync::MutexGuard<'_, ()> {
        self.submit_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Non-dispatchable objects: the kind decides how the host destroys them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandleKind {
    Fence,
    Semaphore,
    CommandPool,
    Buffer,
    DeviceMemory,
    Image,
    ShaderModule,
    DescriptorSetLayout,
    PipelineLayout,
    Pipeline,
    PipelineCache,
    DescriptorPool,
    DescriptorSet,
    Sampler,
}

impl fmt::Display for HandleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

pub(crate) struct HandleObject {
    pub(crate) kind: HandleKind,
    pub(crate) raw: u64,
    pub(crate) device: Arc<DeviceObject>,
    /// For command pools and command buffers: the pool id; for memory: its backing.
    pub(crate) extra: HandleExtra,
}

pub(crate) enum HandleExtra {
    None,
    /// A descriptor set: the guest id of its pool, which frees it on reset or destruction.
    DescriptorPool(u64),
    /// Device memory backed by host shared memory imported into the driver.
    SharedMemory(Arc<crate::shm_file::ShmFile>),
}

pub(crate) struct CommandBufferObject {
    pub(crate) device: Arc<DeviceObject>,
    pub(crate) handle: vk::CommandBuffer,
    pub(crate) pool: u64,
}

pub(crate) enum Object {
    Instance(Arc<InstanceObject>),
    PhysicalDevice(Arc<PhysicalDeviceObject>),
    Device(Arc<DeviceObject>),
    Queue(Arc<QueueObject>),
    CommandBuffer(Arc<CommandBufferObject>),
    Handle(HandleObject),
}

impl Object {
    fn kind_name(&self) -> String {
        match self {
            Self::Instance(_) => "VkInstance".to_owned(),
            Self::PhysicalDevice(_) => "VkPhysicalDevice".to_owned(),
            Self::Device(_) => "VkDevice".to_owned(),
            Self::Queue(_) => "VkQueue".to_owned(),
            Self::CommandBuffer(_) => "VkCommandBuffer".to_owned(),
            Self::Handle(handle) => format!("Vk{}", handle.kind),
        }
    }
}

/// A device taken out of the table with the objects created from it.
pub(crate) type RemovedDevice = (Arc<DeviceObject>, Vec<HandleObject>);

/// Objects left when a context ends: handles, then devices, then instances.
pub(crate) type Teardown = (
    Vec<HandleObject>,
    Vec<Arc<DeviceObject>>,
    Vec<Arc<InstanceObject>>,
);

#[derive(Default)]
pub(crate) struct ObjectTable {
    objects: HashMap<u64, Object>,
}

impl ObjectTable {
    /// Registers a new object under a guest-chosen id.
    pub(crate) fn insert(&mut self, id: u64, object: Object) -> Result<(), ContextFatal> {
        if id == 0 {
            return Err(ContextFatal::new(format!(
                "the guest chose object id 0 for a new {}",
                object.kind_name()
            )));
        }
        if let Some(existing) = self.objects.get(&id) {
            return Err(ContextFatal::new(format!(
                "object id {id} for a new {} is already used by a {}",
                object.kind_name(),
                existing.kind_name()
            )));
        }
        self.objects.insert(id, object);
        Ok(())
    }

    /// Whether `id` is free for a new object (non-zero and unused).
    pub(crate) fn check_free(&self, id: u64, kind: &str) -> Result<(), ContextFatal> {
        if id == 0 {
            return Err(ContextFatal::new(format!(
                "the guest chose object id 0 for a new {kind}"
            )));
        }
        match self.objects.get(&id) {
            Some(existing) => Err(ContextFatal::new(format!(
                "object id {id} for a new {kind} is already used by a {}",
                existing.kind_name()
            ))),
            None => Ok(()),
        }
    }

    fn get(&self, id: u64, wanted: &str) -> Result<&Object, ContextFatal> {
        self.objects
            .get(&id)
            .ok_or_else(|| ContextFatal::new(format!("no {wanted} with object id {id}")))
    }

    fn wrong_kind(id: u64, object: &Object, wanted: &str) -> ContextFatal {
        ContextFatal::new(format!(
            "object id {id} is a {}, not a {wanted}",
            object.kind_name()
        ))
    }

    pub(crate) fn instance(&self, id: u64) -> Result<Arc<InstanceObject>, ContextFatal> {
        match self.get(id, "VkInstance")? {
            Object::Instance(instance) => Ok(Arc::clone(instance)),
            other => Err(Self::wrong_kind(id, other, "VkInstance")),
        }
    }

    pub(crate) fn physical_device(
        &self,
        id: u64,
    ) -> Result<Arc<PhysicalDeviceObject>, ContextFatal> {
        match self.get(id, "VkPhysicalDevice")? {
            Object::PhysicalDevice(physical) => Ok(Arc::clone(physical)),
            other => Err(Self::wrong_kind(id, other, "VkPhysicalDevice")),
        }
    }

    /// The guest id already given to a host physical device, if any.
    pub(crate) fn physical_device_id(&self, handle: vk::PhysicalDevice) -> Option<u64> {
        self.objects.iter().find_map(|(&id, object)| match object {
            Object::PhysicalDevice(physical) if physical.handle == handle => Some(id),
            _ => None,
        })
    }

    pub(crate) fn device(&self, id: u64) -> Result<Arc<DeviceObject>, ContextFatal> {
        match self.get(id, "VkDevice")? {
            Object::Device(device) => Ok(Arc::clone(device)),
            other => Err(Self::wrong_kind(id, other, "VkDevice")),
        }
    }

    pub(crate) fn queue(&self, id: u64) -> Result<Arc<QueueObject>, ContextFatal> {
        match self.get(id, "VkQueue")? {
            Object::Queue(queue) => Ok(Arc::clone(queue)),
            other => Err(Self::wrong_kind(id, other, "VkQueue")),
        }
    }

    pub(crate) fn command_buffer(&self, id: u64) -> Result<Arc<CommandBufferObject>, ContextFatal> {
        match self.get(id, "VkCommandBuffer")? {
            Object::CommandBuffer(buffer) => Ok(Arc::clone(buffer)),
            other => Err(Self::wrong_kind(id, other, "VkCommandBuffer")),
        }
    }

    /// Removes command buffers (freed by the guest or with their pool).
    pub(crate) fn remove_command_buffers(&mut self, pool: u64, ids: Option<&[u64]>) {
        self.objects.retain(|id, object| match object {
            Object::CommandBuffer(buffer) => {
                buffer.pool != pool || ids.is_some_and(|ids| !ids.contains(id))
            }
            _ => true,
        });
    }

    /// Removes the descriptor sets of `pool` (all of them, or those in `ids`).
    pub(crate) fn remove_descriptor_sets(&mut self, pool: u64, ids: Option<&[u64]>) {
        self.objects.retain(|id, object| match object {
            Object::Handle(HandleObject {
                kind: HandleKind::DescriptorSet,
                extra: HandleExtra::DescriptorPool(owner),
                ..
            }) => *owner != pool || ids.is_some_and(|ids| !ids.contains(id)),
            _ => true,
        });
    }

    /// The backing of a device memory object, if it is host shared memory.
    pub(crate) fn memory_backing(
        &self,
        id: u64,
    ) -> Result<Option<Arc<crate::shm_file::ShmFile>>, ContextFatal> {
        match self.get(id, "VkDeviceMemory")? {
            Object::Handle(HandleObject {
                kind: HandleKind::DeviceMemory,
                extra,
                ..
            }) => Ok(match extra {
                HandleExtra::SharedMemory(memory) => Some(Arc::clone(memory)),
                _ => None,
            }),
            other => Err(Self::wrong_kind(id, other, "VkDeviceMemory")),
        }
    }

    /// The guest id already given to a host queue, if any.
    pub(crate) fn queue_id(&self, handle: vk::Queue) -> Option<u64> {
        self.objects.iter().find_map(|(&id, object)| match object {
            Object::Queue(queue) if queue.handle == handle => Some(id),
            _ => None,
        })
    }

    /// Whether a queue is already bound to the timeline `ring_idx`.
    pub(crate) fn queue_ring_idx_in_use(&self, ring_idx: u32) -> bool {
        self.objects
            .values()
            .any(|object| matches!(object, Object::Queue(queue) if queue.ring_idx == ring_idx))
    }

    /// The host handle of a non-dispatchable object of `kind`.
    pub(crate) fn handle(&self, id: u64, kind: HandleKind) -> Result<u64, ContextFatal> {
        let wanted = format!("Vk{kind}");
        match self.get(id, &wanted)? {
            Object::Handle(handle) if handle.kind == kind => Ok(handle.raw),
            other => Err(Self::wrong_kind(id, other, &wanted)),
        }
    }

    /// Like [`Self::handle`], but id 0 is VK_NULL_HANDLE.
    pub(crate) fn optional_handle(&self, id: u64, kind: HandleKind) -> Result<u64, ContextFatal> {
        if id == 0 {
            Ok(0)
        } else {
            self.handle(id, kind)
        }
    }

    /// Removes an object of the expected kind; destroying it is the caller's job.
    pub(crate) fn remove_handle(
        &mut self,
        id: u64,
        kind: HandleKind,
    ) -> Result<Option<HandleObject>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        self.handle(id, kind)?;
        match self.objects.remove(&id) {
            Some(Object::Handle(handle)) => Ok(Some(handle)),
            _ => unreachable!("checked above"),
        }
    }

    /// Removes a device with its queues and every object created from it; the caller
    /// destroys the returned handles before the device.
    pub(crate) fn remove_device(&mut self, id: u64) -> Result<Option<RemovedDevice>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        let device = self.device(id)?;
        let owned: Vec<u64> = self
            .objects
            .iter()
            .filter(|(_, object)| match object {
                Object::Device(d) | Object::Handle(HandleObject { device: d, .. }) => {
                    Arc::ptr_eq(d, &device)
                }
                Object::Queue(queue) => Arc::ptr_eq(&queue.device, &device),
                Object::CommandBuffer(buffer) => Arc::ptr_eq(&buffer.device, &device),
                _ => false,
            })
            .map(|(&id, _)| id)
            .collect();
        let mut handles = Vec::new();
        for id in owned {
            if let Some(Object::Handle(handle)) = self.objects.remove(&id) {
                handles.push(handle);
            }
        }
        Ok(Some((device, handles)))
    }

    pub(crate) fn remove_instance(
        &mut self,
        id: u64,
    ) -> Result<Option<Arc<InstanceObject>>, ContextFatal> {
        if id == 0 {
            return Ok(None);
        }
        let instance = self.instance(id)?;
        self.objects.retain(|_, object| match object {
            Object::Instance(i) => !Arc::ptr_eq(i, &instance),
            Object::PhysicalDevice(physical) => !Arc::ptr_eq(&physical.instance, &instance),
            _ => true,
        });
        Ok(Some(instance))
    }

    /// Empties the table, handing back what the caller must destroy, children first.
    pub(crate) fn drain_for_teardown(&mut self) -> Teardown {
        let mut handles = Vec::new();
        let mut devices = Vec::new();
        let mut instances = Vec::new();
        for (_, object) in self.objects.drain() {
            match object {
                Object::Handle(handle) => handles.push(handle),
                Object::Device(device) => devices.push(device),
                Object::Instance(instance) => instances.push(instance),
                _ => {}
            }
        }
        (handles, devices, instances)
    }
}
