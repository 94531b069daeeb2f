//! Venus commands over the raw vtest client, encoded with the generated encoders: the hostile
//! guest builds exactly the streams a test wants, valid or not. Every command runs on the
//! context path; replies land in a shared-memory blob.

use std::time::Duration;

use venus_rs_encoder::host::types::{
    ApplicationInfo, CommandStreamDescriptionMESA, DeviceCreateInfo, DeviceQueueCreateInfo,
    DeviceQueueInfo2, DeviceQueueTimelineInfoMESA, Ext, InstanceCreateInfo,
};
use venus_rs_encoder::host::{
    Command, CreateDeviceArgs, CreateInstanceArgs, EnumeratePhysicalDevicesArgs,
    GetDeviceQueue2Args, SetReplyCommandStreamMESAArgs,
};
use venus_rs_encoder::protocol::GENERATE_REPLY;
use venus_rs_encoder::wire::Writer;

use super::server::Server;
use super::vtest_client::{Blob, VtestClient};

/// Bytes of the reply window.
const REPLY_BYTES: u64 = 1 << 20;
/// Bytes of a reply the tests read back (every reply they look at is smaller).
const REPLY_READ: usize = 4096;

pub const VK_SUCCESS: i32 = 0;
pub const VK_TIMEOUT: i32 = 2;
pub const VK_ERROR_OUT_OF_HOST_MEMORY: i32 = -1;
pub const VK_ERROR_OUT_OF_DEVICE_MEMORY: i32 = -2;
pub const VK_ERROR_DEVICE_LOST: i32 = -4;
pub const VK_ERROR_LAYER_NOT_PRESENT: i32 = -6;
pub const VK_ERROR_EXTENSION_NOT_PRESENT: i32 = -7;
pub const VK_ERROR_TOO_MANY_OBJECTS: i32 = -10;

/// The encoding of `command` with `flags`.
pub fn encode(command: &Command<'_>, flags: u32) -> Vec<u8> {
    let mut counter = Writer::counting();
    command.encode(&mut counter, flags);
    let mut bytes = vec![0u8; counter.position()];
    let mut writer = Writer::new(&mut bytes);
    command.encode(&mut writer, flags);
    writer.finish(0).expect("the command fits its own size");
    bytes
}

/// The ids of a device made by [`Venus::create_device`].
#[derive(Clone, Copy, Debug)]
pub struct DeviceIds {
    pub physical: u64,
    pub device: u64,
    /// Queue 0 of family 0, bound to timeline 1.
    pub queue: u64,
}

pub struct Venus {
    pub client: VtestClient,
    reply: Blob,
    next_id: u64,
}

impl Venus {
    /// Connects as `name`, up to a context with a reply window.
    pub fn connect(server: &Server, name: &str) -> Venus {
        let mut client = server.connect(name);
        client.handshake();
        let reply = client.shm_blob(REPLY_BYTES).expect("a reply blob");
        Venus {
            client,
            reply,
            next_id: 0x1000,
        }
    }

    /// A fresh object id.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Sends raw stream bytes on the context path; true if the context still lives after
    /// they ran.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.client.submit(bytes, None, &[]) && self.client.roundtrip()
    }

    /// Runs `command` without a reply; true if the context still lives afterwards.
    pub fn send(&mut self, command: Command<'_>) -> bool {
        self.send_bytes(&encode(&command, 0))
    }

    /// Runs `command` with a reply; the reply's first bytes, or None if the context died.
    pub fn call(&mut self, command: Command<'_>) -> Option<Vec<u8>> {
        self.call_bytes(&encode(&command, GENERATE_REPLY))
    }

    /// Runs raw command bytes that ask for a reply.
    pub fn call_bytes(&mut self, command: &[u8]) -> Option<Vec<u8>> {
        let set_reply = Command::SetReplyCommandStreamMESA(SetReplyCommandStreamMESAArgs {
            p_stream: Some(Box::new(CommandStreamDescriptionMESA {
                resource_id: self.reply.res_id,
                offset: 0,
                size: REPLY_BYTES,
            })),
        });
        let mut stream = encode(&set_reply, 0);
        stream.extend_from_slice(command);
        if !self.send_bytes(&stream) {
            return None;
        }
        let mut reply = vec![0u8; REPLY_READ];
        self.reply
            .memory
            .read_bytes(0, &mut reply)
            .expect("read the reply window");
        Some(reply)
    }

    /// The VkResult of a reply (right after the command type).
    pub fn result(reply: &[u8]) -> i32 {
        i32::from_le_bytes(reply[4..8].try_into().unwrap())
    }

    /// A reply's VkResult, the context having survived.
    pub fn call_result(&mut self, command: Command<'_>) -> i32 {
        let reply = self.call(command).expect("the context lives");
        Self::result(&reply)
    }

    pub fn create_instance(
        &mut self,
        layers: &[&'static std::ffi::CStr],
        extensions: &[&'static std::ffi::CStr],
    ) -> (u64, i32) {
        let id = self.id();
        let info = InstanceCreateInfo {
            p_application_info: Some(Box::new(ApplicationInfo {
                api_version: 1 << 22 | 1 << 12,
                ..ApplicationInfo::default()
            })),
            enabled_layer_count: layers.len() as u32,
            pp_enabled_layer_names: (!layers.is_empty()).then(|| layers.to_vec()),
            enabled_extension_count: extensions.len() as u32,
            pp_enabled_extension_names: (!extensions.is_empty()).then(|| extensions.to_vec()),
            ..InstanceCreateInfo::default()
        };
        let result = self.call_result(Command::CreateInstance(CreateInstanceArgs {
            p_create_info: Some(Box::new(info)),
            p_instance: Some(id),
            ret: 0,
        }));
        (id, result)
    }

    /// The first physical device of `instance`.
    pub fn physical_device(&mut self, instance: u64) -> u64 {
        let id = self.id();
        let result = self.call_result(Command::EnumeratePhysicalDevices(
            EnumeratePhysicalDevicesArgs {
                instance,
                p_physical_device_count: Some(1),
                p_physical_devices: Some(vec![id]),
                ret: 0,
            },
        ));
        assert!(
            result == VK_SUCCESS || result == 5,
            "vkEnumeratePhysicalDevices: {result}"
        );
        id
    }

    /// vkCreateDevice with one queue of family 0 and `extensions`.
    pub fn try_create_device(
        &mut self,
        physical: u64,
        extensions: &[&'static std::ffi::CStr],
    ) -> (u64, i32) {
        self.try_create_device_with(physical, extensions, Vec::new())
    }

    /// vkCreateDevice with one queue of family 0, `extensions` and `p_next`.
    pub fn try_create_device_with(
        &mut self,
        physical: u64,
        extensions: &[&'static std::ffi::CStr],
        p_next: Vec<Ext<'static>>,
    ) -> (u64, i32) {
        let id = self.id();
        let info = DeviceCreateInfo {
            p_next,
            queue_create_info_count: 1,
            p_queue_create_infos: Some(vec![DeviceQueueCreateInfo {
                queue_family_index: 0,
                queue_count: 1,
                p_queue_priorities: Some(vec![1.0]),
                ..DeviceQueueCreateInfo::default()
            }]),
            enabled_extension_count: extensions.len() as u32,
            pp_enabled_extension_names: (!extensions.is_empty()).then(|| extensions.to_vec()),
            ..DeviceCreateInfo::default()
        };
        let result = self.call_result(Command::CreateDevice(CreateDeviceArgs {
            physical_device: physical,
            p_create_info: Some(Box::new(info)),
            p_device: Some(id),
            ret: 0,
        }));
        (id, result)
    }

    /// `vkGetDeviceQueue2` of queue `index` of family 0, bound to `ring_idx`; true if the
    /// context lives afterwards.
    pub fn get_queue(&mut self, device: u64, queue: u64, index: u32, ring_idx: u32) -> bool {
        self.send(Command::GetDeviceQueue2(GetDeviceQueue2Args {
            device,
            p_queue_info: Some(Box::new(DeviceQueueInfo2 {
                p_next: vec![Ext::DeviceQueueTimelineInfoMESA(Box::new(
                    DeviceQueueTimelineInfoMESA {
                        p_next: Vec::new(),
                        ring_idx,
                    },
                ))],
                flags: 0,
                queue_family_index: 0,
                queue_index: index,
            })),
            p_queue: Some(queue),
        }))
    }

    /// An instance, its physical device, a device with one queue and that queue.
    pub fn create_device(&mut self) -> DeviceIds {
        self.create_device_with(&[], Vec::new())
    }

    /// [`Venus::create_device`] with device extensions and a `pNext` chain.
    pub fn create_device_with(
        &mut self,
        extensions: &[&'static std::ffi::CStr],
        p_next: Vec<Ext<'static>>,
    ) -> DeviceIds {
        let (instance, result) = self.create_instance(&[], &[]);
        assert_eq!(result, VK_SUCCESS, "vkCreateInstance");
        let physical = self.physical_device(instance);
        let (device, result) = self.try_create_device_with(physical, extensions, p_next);
        assert_eq!(result, VK_SUCCESS, "vkCreateDevice");
        let queue = self.id();
        assert!(self.get_queue(device, queue, 0, 1), "vkGetDeviceQueue2");
        DeviceIds {
            physical,
            device,
            queue,
        }
    }
}

/// How long a blocking call of the tests may take before it counts as blocking forever.
pub const BLOCKING: Duration = Duration::from_secs(5);
