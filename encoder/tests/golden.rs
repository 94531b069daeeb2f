//! The worked byte examples of shared/notes/venus-protocol.md Appendix B, byte for byte, in
//! both directions: guest encoder → bytes, bytes → host decoder → host reply encoder → bytes,
//! and reply bytes → guest reply decoder.

use std::ffi::{c_void, CStr};
use std::ptr;

use ash::vk;
use venus_rs_encoder::guest::{self, GuestContext};
use venus_rs_encoder::host::{decode_command, Command};
use venus_rs_encoder::protocol::HostProtocol;
use venus_rs_encoder::wire::{Decoder, Limits, Writer};

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

fn ctx(host: &HostProtocol) -> GuestContext<'_> {
    GuestContext {
        host,
        dispatchable_id: |raw| raw,
    }
}

fn encode(f: impl FnOnce(&mut Writer<'_>) -> usize) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut w = Writer::new(&mut buf);
    let n = f(&mut w);
    buf.truncate(n);
    buf
}

fn host_decode(bytes: &[u8]) -> (u32, Command<'_>) {
    let mut d = Decoder::new(bytes, Limits::default());
    let (header, cmd) = decode_command(&mut d).expect("golden bytes decode");
    assert_eq!(d.remaining(), 0, "decoder consumed every byte");
    (header.flags, cmd)
}

fn host_reply(cmd: &Command<'_>) -> Vec<u8> {
    encode(|w| {
        cmd.encode_reply(w);
        w.finish(0).expect("reply fits")
    })
}

const ENUMERATE_INSTANCE_VERSION: &str = "89 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00";
const ENUMERATE_INSTANCE_VERSION_REPLY: &str =
    "89 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 57 41 40 00";

#[test]
fn enumerate_instance_version() {
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    let mut version = 0u32;
    let p = &mut version as *mut u32 as *mut c_void;
    // SAFETY: `p` points to a u32.
    let bytes = encode(|w| unsafe { guest::vk_enumerate_instance_version(w, &cx, 1, p) }.unwrap());
    assert_eq!(bytes, hex(ENUMERATE_INSTANCE_VERSION));
    // SAFETY: as above.
    assert_eq!(
        unsafe { guest::vk_enumerate_instance_version_reply_size(&cx, p) },
        20
    );

    let (flags, mut cmd) = host_decode(&bytes);
    assert_eq!(flags, 1);
    let Command::EnumerateInstanceVersion(args) = &mut cmd else {
        panic!("wrong command")
    };
    args.p_api_version = Some(0x0040_4157);
    args.ret = 0;
    let reply = host_reply(&cmd);
    assert_eq!(reply, hex(ENUMERATE_INSTANCE_VERSION_REPLY));

    let mut r = Decoder::new(&reply, Limits::default());
    // SAFETY: as above.
    let ret = unsafe { guest::vk_enumerate_instance_version_decode_reply(&mut r, &cx, p) }.unwrap();
    assert_eq!((ret, version), (0, 0x0040_4157));
}

const CREATE_INSTANCE: &str =
    "00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 10 40 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00";
const CREATE_INSTANCE_REPLY: &str =
    "00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00";

#[test]
fn create_instance() {
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    let app = vk::ApplicationInfo {
        api_version: vk::make_api_version(0, 1, 1, 0),
        ..Default::default()
    };
    let info = vk::InstanceCreateInfo {
        p_application_info: &app,
        ..Default::default()
    };
    let mut instance: u64 = 1;
    let (pi, pa, po) = (
        &info as *const _ as *const c_void,
        ptr::null(),
        &mut instance as *mut u64 as *mut c_void,
    );
    // SAFETY: valid ash structs and a handle slot.
    let bytes = encode(|w| unsafe { guest::vk_create_instance(w, &cx, 1, pi, pa, po) }.unwrap());
    assert_eq!(bytes.len(), 128);
    assert_eq!(bytes, hex(CREATE_INSTANCE));

    let (_, cmd) = host_decode(&bytes);
    let Command::CreateInstance(args) = &cmd else {
        panic!("wrong command")
    };
    let app = args
        .p_create_info
        .as_ref()
        .unwrap()
        .p_application_info
        .as_ref()
        .unwrap();
    assert_eq!(
        (app.api_version, app.p_application_name),
        (0x0040_1000, None)
    );
    assert_eq!(args.p_instance, Some(1));
    let reply = host_reply(&cmd);
    assert_eq!(reply, hex(CREATE_INSTANCE_REPLY));
    let mut r = Decoder::new(&reply, Limits::default());
    // SAFETY: as above.
    assert_eq!(
        unsafe { guest::vk_create_instance_decode_reply(&mut r, &cx, pi, pa, po) },
        Ok(0)
    );
}

#[test]
fn application_name_string() {
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    let name = c"vkcube";
    let app = vk::ApplicationInfo {
        p_application_name: name.as_ptr(),
        ..Default::default()
    };
    let info = vk::InstanceCreateInfo {
        p_application_info: &app,
        ..Default::default()
    };
    let mut instance: u64 = 1;
    let (pi, po) = (
        &info as *const _ as *const c_void,
        &mut instance as *mut u64 as *mut c_void,
    );
    // SAFETY: valid ash structs.
    let bytes =
        encode(|w| unsafe { guest::vk_create_instance(w, &cx, 1, pi, ptr::null(), po) }.unwrap());
    assert_eq!(
        bytes[52..68],
        hex("07 00 00 00 00 00 00 00 76 6b 63 75 62 65 00 00")[..]
    );
    let (_, cmd) = host_decode(&bytes);
    let Command::CreateInstance(args) = &cmd else {
        panic!("wrong command")
    };
    let app = args
        .p_create_info
        .as_ref()
        .unwrap()
        .p_application_info
        .as_ref()
        .unwrap();
    assert_eq!(app.p_application_name, Some(c"vkcube" as &CStr));
}

const ENUM_PD_QUERY: &str =
    "02 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00";
const ENUM_PD_QUERY_REPLY: &str =
    "02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00";
const ENUM_PD_FILL: &str =
    "02 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00
    01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00";
const ENUM_PD_FILL_REPLY: &str =
    "02 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00
    02 00 00 00 00 00 00 00";

#[test]
fn enumerate_physical_devices() {
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    // Count query.
    let mut count = 0u32;
    let pc = &mut count as *mut u32 as *mut c_void;
    // SAFETY: count slot, NULL array.
    let bytes = encode(|w| {
        unsafe { guest::vk_enumerate_physical_devices(w, &cx, 1, 1, pc, ptr::null_mut()) }.unwrap()
    });
    assert_eq!(bytes, hex(ENUM_PD_QUERY));
    let (_, mut cmd) = host_decode(&bytes);
    let Command::EnumeratePhysicalDevices(args) = &mut cmd else {
        panic!("wrong command")
    };
    assert_eq!(
        (
            args.instance,
            args.p_physical_device_count,
            &args.p_physical_devices
        ),
        (1, Some(0), &None)
    );
    args.p_physical_device_count = Some(1);
    let reply = host_reply(&cmd);
    assert_eq!(reply, hex(ENUM_PD_QUERY_REPLY));
    let mut r = Decoder::new(&reply, Limits::default());
    // SAFETY: as above.
    unsafe {
        guest::vk_enumerate_physical_devices_decode_reply(&mut r, &cx, 1, pc, ptr::null_mut())
    }
    .unwrap();
    assert_eq!(count, 1);

    // Fill call: the guest chose id 2 for the physical device.
    let mut devices = [2u64];
    let pd = devices.as_mut_ptr() as *mut c_void;
    // SAFETY: count 1 and an array of one handle.
    let bytes =
        encode(|w| unsafe { guest::vk_enumerate_physical_devices(w, &cx, 1, 1, pc, pd) }.unwrap());
    assert_eq!(bytes, hex(ENUM_PD_FILL));
    // SAFETY: as above.
    assert_eq!(
        unsafe { guest::vk_enumerate_physical_devices_reply_size(&cx, 1, pc, pd) },
        36
    );
    let (_, cmd) = host_decode(&bytes);
    let Command::EnumeratePhysicalDevices(args) = &cmd else {
        panic!("wrong command")
    };
    assert_eq!(args.p_physical_devices.as_deref(), Some(&[2u64][..]));
    let reply = host_reply(&cmd);
    assert_eq!(reply, hex(ENUM_PD_FILL_REPLY));
    let mut r = Decoder::new(&reply, Limits::default());
    // SAFETY: as above.
    unsafe { guest::vk_enumerate_physical_devices_decode_reply(&mut r, &cx, 1, pc, pd) }.unwrap();
    assert_eq!((count, devices), (1, [2]));
}

#[repr(C)]
struct RingCreateInfoMesa {
    s_type: i32,
    p_next: *const c_void,
    flags: u32,
    resource_id: u32,
    offset: usize,
    size: usize,
    idle_timeout: u64,
    head_offset: usize,
    tail_offset: usize,
    status_offset: usize,
    buffer_offset: usize,
    buffer_size: usize,
    extra_offset: usize,
    extra_size: usize,
}

#[repr(C)]
struct RingMonitorInfoMesa {
    s_type: i32,
    p_next: *const c_void,
    max_reporting_period_microseconds: u32,
}

const CREATE_RING: &str =
    "bc 00 00 00 00 00 00 00 e0 be ad de 55 55 00 00 01 00 00 00 00 00 00 00 00 a6 a0 3b
    01 00 00 00 00 00 00 00 06 a6 a0 3b 00 00 00 00 00 00 00 00 c0 c6 2d 00 00 00 00 00 01 00 00 00
    00 00 00 00 00 00 00 00 c4 00 02 00 00 00 00 00 40 42 0f 00 00 00 00 00 00 00 00 00 00 00 00 00
    40 00 00 00 00 00 00 00 80 00 00 00 00 00 00 00 c0 00 00 00 00 00 00 00 00 00 02 00 00 00 00 00
    c0 00 02 00 00 00 00 00 04 00 00 00 00 00 00 00";

#[test]
fn create_ring_mesa() {
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    let monitor = RingMonitorInfoMesa {
        s_type: 1_000_384_006,
        p_next: ptr::null(),
        max_reporting_period_microseconds: 3_000_000,
    };
    let info = RingCreateInfoMesa {
        s_type: 1_000_384_000,
        p_next: &monitor as *const _ as *const c_void,
        flags: 0,
        resource_id: 1,
        offset: 0,
        size: 131_268,
        idle_timeout: 1_000_000,
        head_offset: 0,
        tail_offset: 64,
        status_offset: 128,
        buffer_offset: 192,
        buffer_size: 131_072,
        extra_offset: 131_264,
        extra_size: 4,
    };
    let pi = &info as *const _ as *const c_void;
    // SAFETY: a C-layout VkRingCreateInfoMESA chain.
    let bytes =
        encode(|w| unsafe { guest::vk_create_ring_mesa(w, &cx, 0, 0x5555_dead_bee0, pi) }.unwrap());
    assert_eq!(bytes.len(), 140);
    assert_eq!(bytes, hex(CREATE_RING));
    let (flags, cmd) = host_decode(&bytes);
    assert_eq!(flags, 0);
    let Command::CreateRingMESA(args) = &cmd else {
        panic!("wrong command")
    };
    let ci = args.p_create_info.as_ref().unwrap();
    assert_eq!(
        (ci.buffer_size, ci.extra_offset, ci.p_next.len()),
        (131_072, 131_264, 1)
    );

    // An older host (venus_protocol spec 1) gets no VkRingPriorityInfoMESA.
    let old = HostProtocol {
        venus_spec_version: 1,
        ..HostProtocol::everything()
    };
    let priority = RingMonitorInfoMesa {
        s_type: 1_000_384_007,
        p_next: ptr::null(),
        max_reporting_period_microseconds: 0,
    };
    let monitor = RingMonitorInfoMesa {
        p_next: &priority as *const _ as *const c_void,
        ..monitor
    };
    let info = RingCreateInfoMesa {
        p_next: &monitor as *const _ as *const c_void,
        ..info
    };
    let pi = &info as *const _ as *const c_void;
    let cx_old = ctx(&old);
    // SAFETY: as above.
    let filtered = encode(|w| {
        unsafe { guest::vk_create_ring_mesa(w, &cx_old, 0, 0x5555_dead_bee0, pi) }.unwrap()
    });
    assert_eq!(filtered, hex(CREATE_RING));
}

#[test]
fn set_reply_command_stream_and_notify_ring() {
    #[repr(C)]
    struct StreamDescription {
        resource_id: u32,
        offset: usize,
        size: usize,
    }
    let host = HostProtocol::everything();
    let cx = ctx(&host);
    let stream = StreamDescription {
        resource_id: 2,
        offset: 0,
        size: 20,
    };
    let ps = &stream as *const _ as *const c_void;
    // SAFETY: a C-layout VkCommandStreamDescriptionMESA.
    let bytes =
        encode(|w| unsafe { guest::vk_set_reply_command_stream_mesa(w, &cx, 0, ps) }.unwrap());
    assert_eq!(
        bytes,
        hex("b2 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00 00 00 00 14 00 00 00 00 00 00 00")
    );
    let (_, cmd) = host_decode(&bytes);
    let Command::SetReplyCommandStreamMESA(args) = &cmd else {
        panic!("wrong command")
    };
    assert_eq!(
        args.p_stream.as_ref().map(|s| (s.resource_id, s.size)),
        Some((2, 20))
    );

    let bytes = encode(|w| {
        unsafe { guest::vk_notify_ring_mesa(w, &cx, 0, 0x5555_dead_bee0, 0x30, 0) }.unwrap()
    });
    assert_eq!(
        bytes,
        hex("be 00 00 00 00 00 00 00 e0 be ad de 55 55 00 00 30 00 00 00 00 00 00 00")
    );
    let (_, cmd) = host_decode(&bytes);
    assert_eq!(cmd.command_type(), 190);
}

/// An sType that vk.xml gives as an extension offset (VK_KHR_get_physical_device_properties2, number 60,
/// offset 1 → 1000059001): the generator must add, not negate.
#[test]
fn extension_offset_stypes_are_positive() {
    let host = HostProtocol::everything();
    let mut properties = vk::PhysicalDeviceProperties2::default();
    let bytes = encode(|w| {
        // SAFETY: `properties` is a valid VkPhysicalDeviceProperties2 with an empty chain.
        unsafe {
            guest::vk_get_physical_device_properties2(
                w,
                &ctx(&host),
                1,
                2,
                (&mut properties as *mut vk::PhysicalDeviceProperties2).cast::<c_void>(),
            )
        }
        .expect("encode")
    });
    assert_eq!(bytes[..4], 148u32.to_le_bytes(), "command type");
    assert_eq!(
        bytes[24..28],
        1_000_059_001i32.to_le_bytes(),
        "sType of VkPhysicalDeviceProperties2"
    );
    let (_, command) = host_decode(&bytes);
    assert!(matches!(command, Command::GetPhysicalDeviceProperties2(_)));
}
