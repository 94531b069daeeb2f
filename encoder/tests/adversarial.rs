//! Hostile input for the host decoder: every prefix of valid commands, huge counts, bad
//! markers, bad sTypes, unterminated strings, unknown command types, random corruption and
//! the temporary-memory cap. Each must be an error, never a panic.

use std::ffi::c_void;
use std::ptr;

use ash::vk::{self, Handle};
use venus_rs_encoder::guest::{self, GuestContext};
use venus_rs_encoder::host::decode_command;
use venus_rs_encoder::protocol::HostProtocol;
use venus_rs_encoder::wire::{DecodeErrorKind, Decoder, Limits, Writer};

fn encode(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let mut w = Writer::new(&mut buf);
    f(&mut w);
    let n = w.finish(0).expect("fits");
    buf.truncate(n);
    buf
}

fn decode(bytes: &[u8], limits: Limits) -> Result<(), DecodeErrorKind> {
    let mut d = Decoder::new(bytes, limits);
    while !d.is_empty() {
        decode_command(&mut d).map_err(|e| e.kind)?;
    }
    Ok(())
}

/// Valid commands with arrays, strings, chains and nested structs.
fn corpus() -> Vec<Vec<u8>> {
    let host = HostProtocol::everything();
    let cx = GuestContext {
        host: &host,
        dispatchable_id: |raw| raw,
    };
    let layers = [c"VK_LAYER_one".as_ptr()];
    let app = vk::ApplicationInfo {
        p_application_name: c"app".as_ptr(),
        api_version: vk::API_VERSION_1_3,
        ..Default::default()
    };
    let info = vk::InstanceCreateInfo {
        p_application_info: &app,
        enabled_layer_count: 1,
        pp_enabled_layer_names: layers.as_ptr(),
        ..Default::default()
    };
    let mut instance = 1u64;
    let sems = [vk::Semaphore::from_raw(3)];
    let stages = [vk::PipelineStageFlags::ALL_COMMANDS];
    let cmd_bufs = [vk::CommandBuffer::from_raw(4)];
    let mut timeline = vk::TimelineSemaphoreSubmitInfo::default().wait_semaphore_values(&[7]);
    let submit = vk::SubmitInfo {
        wait_semaphore_count: 1,
        p_wait_semaphores: sems.as_ptr(),
        p_wait_dst_stage_mask: stages.as_ptr(),
        command_buffer_count: 1,
        p_command_buffers: cmd_bufs.as_ptr(),
        ..Default::default()
    }
    .push_next(&mut timeline);
    let mut features = vk::PhysicalDeviceVulkan12Features::default();
    let mut features2 = vk::PhysicalDeviceFeatures2::default().push_next(&mut features);
    let code = [0x0723_0203u32, 0x0001_0000, 0, 1];
    let module = vk::ShaderModuleCreateInfo {
        code_size: 16,
        p_code: code.as_ptr(),
        ..Default::default()
    };
    let mut module_id = 9u64;
    let mut out = Vec::new();
    // SAFETY: every pointer refers to the locals above, with matching counts.
    unsafe {
        out.push(encode(|w| {
            guest::vk_create_instance(
                w,
                &cx,
                1,
                &info as *const _ as *const c_void,
                ptr::null(),
                &mut instance as *mut u64 as *mut c_void,
            )
            .unwrap();
        }));
        out.push(encode(|w| {
            guest::vk_queue_submit(w, &cx, 0, 2, 1, &submit as *const _ as *const c_void, 5)
                .unwrap();
        }));
        out.push(encode(|w| {
            guest::vk_get_physical_device_features2(
                w,
                &cx,
                1,
                2,
                &mut features2 as *mut _ as *mut c_void,
            )
            .unwrap();
        }));
        out.push(encode(|w| {
            guest::vk_create_shader_module(
                w,
                &cx,
                1,
                3,
                &module as *const _ as *const c_void,
                ptr::null(),
                &mut module_id as *mut u64 as *mut c_void,
            )
            .unwrap();
        }));
    }
    out
}

#[test]
fn corpus_is_valid() {
    for c in corpus() {
        decode(&c, Limits::default()).expect("valid command decodes");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for c in corpus() {
        for n in 1..c.len() {
            assert!(
                decode(&c[..n], Limits::default()).is_err(),
                "prefix {n} of {} decoded",
                c.len()
            );
        }
    }
}

#[test]
fn huge_counts_and_bad_array_sizes() {
    let corpus = corpus();
    for c in &corpus {
        // Overwrite every 8-byte-aligned-in-stream u64 with huge values: errors or (if the
        // position was a plain u64 scalar) a successful decode, but never a panic or an OOM.
        for off in (8..c.len().saturating_sub(8)).step_by(4) {
            for huge in [u64::MAX, 1 << 40, 0x7fff_ffff, 1 << 20] {
                let mut m = c.clone();
                m[off..off + 8].copy_from_slice(&huge.to_le_bytes());
                let _ = decode(
                    &m,
                    Limits {
                        temp_memory: 1 << 20,
                        ..Limits::default()
                    },
                );
            }
        }
    }
    // vkQueueSubmit: submitCount 1 but pSubmits array size 2.
    let mut m = corpus[1].clone();
    m[20..28].copy_from_slice(&2u64.to_le_bytes());
    assert!(matches!(
        decode(&m, Limits::default()),
        Err(DecodeErrorKind::ArraySizeMismatch {
            expected: 1,
            found: 2
        })
    ));
}

#[test]
fn bad_markers_and_stypes() {
    let create_instance = &corpus()[0];
    // pNext marker of VkInstanceCreateInfo (no extensions accepted) set to 1, then an sType.
    let mut m = create_instance.clone();
    m[20..28].copy_from_slice(&1u64.to_le_bytes());
    assert!(decode(&m, Limits::default()).is_err());
    // Wrong top-level sType.
    let mut m = create_instance.clone();
    m[16..20].copy_from_slice(&12i32.to_le_bytes());
    assert_eq!(
        decode(&m, Limits::default()),
        Err(DecodeErrorKind::BadStructureType {
            expected: 1,
            found: 12
        })
    );
    // pAllocator marker must be 0: find it after the create info (last 24 bytes are
    // pAllocator marker, pInstance marker, id).
    let mut m = create_instance.clone();
    let n = m.len();
    m[n - 24..n - 16].copy_from_slice(&1u64.to_le_bytes());
    assert_eq!(decode(&m, Limits::default()), Err(DecodeErrorKind::NotNull));
    // A chain sType that VkPhysicalDeviceFeatures2 does not accept (VkSubmitInfo = 4).
    let features = &corpus()[2];
    let mut m = features.clone();
    m[36..40].copy_from_slice(&4i32.to_le_bytes());
    assert_eq!(
        decode(&m, Limits::default()),
        Err(DecodeErrorKind::UnknownStructureType(4))
    );
    // A required pointer sent as NULL (pFeatures).
    let mut m = features[..24].to_vec();
    m[16..24].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(
        decode(&m, Limits::default()),
        Err(DecodeErrorKind::NullPointer)
    );
}

#[test]
fn unterminated_string() {
    let create_instance = &corpus()[0];
    // pApplicationName "app\0" sits after the VkApplicationInfo sType and pNext marker.
    let pos = create_instance
        .windows(4)
        .position(|w| w == b"app\0")
        .expect("name in stream");
    let mut m = create_instance.clone();
    m[pos + 3] = b'!';
    assert_eq!(
        decode(&m, Limits::default()),
        Err(DecodeErrorKind::BadString)
    );
}

#[test]
fn unknown_and_left_out_command_types() {
    for ty in [195u32, 9, 23, 346, 0xffff_ffff] {
        let mut m = ty.to_le_bytes().to_vec();
        m.extend_from_slice(&[0; 12]);
        assert_eq!(
            decode(&m, Limits::default()),
            Err(DecodeErrorKind::UnknownCommand(ty))
        );
    }
}

#[test]
fn temporary_memory_cap() {
    let submit = &corpus()[1];
    assert_eq!(
        decode(
            submit,
            Limits {
                temp_memory: 64,
                ..Limits::default()
            }
        ),
        Err(DecodeErrorKind::TempMemoryExceeded)
    );
}

#[test]
fn random_corruption_never_panics() {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for c in corpus() {
        for _ in 0..5000 {
            let mut m = c.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
            }
            let _ = decode(
                &m,
                Limits {
                    temp_memory: 1 << 20,
                    ..Limits::default()
                },
            );
        }
    }
}
