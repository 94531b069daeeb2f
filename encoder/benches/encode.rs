//! Encode/decode cost per command for a command-buffer mix and for vkQueueSubmit /
//! vkUpdateDescriptorSets, next to a plain memcpy of the same bytes.
//! Run: `cargo bench -p venus-rs-encoder`.

use std::ffi::c_void;
use std::hint::black_box;
use std::time::Instant;

use ash::vk::{self, Handle};
use criterion::{criterion_group, Criterion, Throughput};
use venus_rs_encoder::guest::{self, GuestContext};
use venus_rs_encoder::host::decode_command;
use venus_rs_encoder::protocol::HostProtocol;
use venus_rs_encoder::wire::{Decoder, Limits, Writer};

struct Fixtures {
    sets: [u64; 2],
    offsets: [u32; 1],
    push: [u8; 64],
    image_barrier: vk::ImageMemoryBarrier<'static>,
    submit: vk::SubmitInfo<'static>,
    write: vk::WriteDescriptorSet<'static>,
}

fn fixtures() -> &'static Fixtures {
    let buffers = Box::leak(Box::new([vk::DescriptorBufferInfo {
        buffer: vk::Buffer::from_raw(7),
        offset: 0,
        range: 256,
    }]));
    let cmd_bufs = Box::leak(Box::new([vk::CommandBuffer::from_raw(0x40)]));
    let sems = Box::leak(Box::new([vk::Semaphore::from_raw(9)]));
    let stages = Box::leak(Box::new([vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT]));
    Box::leak(Box::new(Fixtures {
        sets: [11, 12],
        offsets: [256],
        push: [7; 64],
        image_barrier: vk::ImageMemoryBarrier {
            src_access_mask: vk::AccessFlags::COLOR_ATTACHMENT_WRITE,
            dst_access_mask: vk::AccessFlags::SHADER_READ,
            old_layout: vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL,
            new_layout: vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
            image: vk::Image::from_raw(5),
            subresource_range: vk::ImageSubresourceRange {
                aspect_mask: vk::ImageAspectFlags::COLOR,
                level_count: 1,
                layer_count: 1,
                ..Default::default()
            },
            ..Default::default()
        },
        submit: vk::SubmitInfo {
            wait_semaphore_count: 1,
            p_wait_semaphores: sems.as_ptr(),
            p_wait_dst_stage_mask: stages.as_ptr(),
            command_buffer_count: 1,
            p_command_buffers: cmd_bufs.as_ptr(),
            signal_semaphore_count: 1,
            p_signal_semaphores: sems.as_ptr(),
            ..Default::default()
        },
        write: vk::WriteDescriptorSet {
            dst_set: vk::DescriptorSet::from_raw(11),
            dst_binding: 0,
            descriptor_count: 1,
            descriptor_type: vk::DescriptorType::UNIFORM_BUFFER,
            p_buffer_info: buffers.as_ptr(),
            ..Default::default()
        },
    }))
}

type EncodeFn = fn(&mut Writer<'_>, &GuestContext<'_>, &Fixtures);

fn draw(w: &mut Writer<'_>, cx: &GuestContext<'_>, _: &Fixtures) {
    // SAFETY: scalar arguments only.
    unsafe { guest::vk_cmd_draw(w, cx, 0, 0x40, 3, 1, 0, 0) }.unwrap();
}

fn mix(w: &mut Writer<'_>, cx: &GuestContext<'_>, f: &Fixtures) {
    // SAFETY: every pointer refers to the fixtures, with the counts given.
    unsafe {
        guest::vk_cmd_bind_pipeline(w, cx, 0, 0x40, 0, 3).unwrap();
        guest::vk_cmd_bind_descriptor_sets(
            w,
            cx,
            0,
            0x40,
            0,
            4,
            0,
            2,
            f.sets.as_ptr() as *const c_void,
            1,
            f.offsets.as_ptr() as *const c_void,
        )
        .unwrap();
        guest::vk_cmd_push_constants(
            w,
            cx,
            0,
            0x40,
            4,
            0x10,
            0,
            64,
            f.push.as_ptr() as *const c_void,
        )
        .unwrap();
        guest::vk_cmd_draw(w, cx, 0, 0x40, 3, 1, 0, 0).unwrap();
        guest::vk_cmd_pipeline_barrier(
            w,
            cx,
            0,
            0x40,
            0x400,
            0x80,
            0,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            1,
            &f.image_barrier as *const _ as *const c_void,
        )
        .unwrap();
    }
}

fn queue_submit(w: &mut Writer<'_>, cx: &GuestContext<'_>, f: &Fixtures) {
    // SAFETY: one VkSubmitInfo from the fixtures.
    unsafe { guest::vk_queue_submit(w, cx, 0, 0x30, 1, &f.submit as *const _ as *const c_void, 0) }
        .unwrap();
}

fn update_descriptor_sets(w: &mut Writer<'_>, cx: &GuestContext<'_>, f: &Fixtures) {
    // SAFETY: one VkWriteDescriptorSet from the fixtures.
    unsafe {
        guest::vk_update_descriptor_sets(
            w,
            cx,
            0,
            0x20,
            1,
            &f.write as *const _ as *const c_void,
            0,
            std::ptr::null(),
        )
    }
    .unwrap();
}

const CASES: [(&str, EncodeFn, u64); 4] = [
    ("vkCmdDraw", draw, 1),
    ("cmd-buffer mix (5 cmds)", mix, 5),
    ("vkQueueSubmit", queue_submit, 1),
    ("vkUpdateDescriptorSets", update_descriptor_sets, 1),
];

fn encoded(f: EncodeFn, cx: &GuestContext<'_>, fx: &Fixtures) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut w = Writer::new(&mut buf);
    f(&mut w, cx, fx);
    let n = w.position();
    buf.truncate(n);
    buf
}

fn bench(c: &mut Criterion) {
    let host = HostProtocol::everything();
    let cx = GuestContext {
        host: &host,
        dispatchable_id: |raw| raw,
    };
    let fx = fixtures();
    for (name, f, _) in CASES {
        let bytes = encoded(f, &cx, fx);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        let mut buf = vec![0u8; 4096];
        g.bench_function("encode", |b| {
            b.iter(|| {
                let mut w = Writer::new(&mut buf);
                f(&mut w, &cx, black_box(fx));
                black_box(w.position())
            })
        });
        g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&bytes))));
        g.bench_function("memcpy", |b| {
            b.iter(|| buf[..bytes.len()].copy_from_slice(black_box(&bytes)))
        });
        g.finish();
    }
}

fn decode_all(bytes: &[u8]) -> usize {
    let mut d = Decoder::new(bytes, Limits::default());
    let mut n = 0;
    while !d.is_empty() {
        black_box(decode_command(&mut d).expect("valid"));
        n += 1;
    }
    n
}

fn time_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// The summary table: ns per command and MB/s for encode, decode and memcpy.
fn table() {
    let host = HostProtocol::everything();
    let cx = GuestContext {
        host: &host,
        dispatchable_id: |raw| raw,
    };
    let fx = fixtures();
    println!(
        "\n{:<26} {:>6} {:>12} {:>10} {:>12} {:>10} {:>12} {:>10} {:>9}",
        "case",
        "bytes",
        "encode ns/c",
        "MB/s",
        "decode ns/c",
        "MB/s",
        "memcpy ns/c",
        "MB/s",
        "enc/memcpy"
    );
    for (name, f, cmds) in CASES {
        let bytes = encoded(f, &cx, fx);
        let mut buf = vec![0u8; 4096];
        let iters = 2_000_000;
        let enc = time_ns(iters, || {
            let mut w = Writer::new(&mut buf);
            f(&mut w, &cx, black_box(fx));
            black_box(w.position());
        });
        let dec = time_ns(iters / 4, || {
            black_box(decode_all(black_box(&bytes)));
        });
        let cpy = time_ns(iters, || {
            buf[..bytes.len()].copy_from_slice(black_box(&bytes));
            black_box(&buf);
        });
        let mbs = |ns: f64| bytes.len() as f64 / ns * 1e3;
        println!(
            "{:<26} {:>6} {:>12.1} {:>10.0} {:>12.1} {:>10.0} {:>12.1} {:>10.0} {:>8.0}%",
            name,
            bytes.len(),
            enc / cmds as f64,
            mbs(enc),
            dec / cmds as f64,
            mbs(dec),
            cpy / cmds as f64,
            mbs(cpy),
            100.0 * cpy / enc
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    table();
}
