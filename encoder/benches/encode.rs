//! Encode/decode cost per command for a command-buffer mix and for vkQueueSubmit /
//! vkUpdateDescriptorSets, next to a plain memcpy of the same bytes.
//! Run: `cargo bench -p venus-rs-encoder` (criterion groups, then the summary table);
//! `VENUS_RS_BENCH_TABLE_ONLY=1` prints only the table.

use std::ffi::c_void;
use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// One benchmark case: `repeats` calls of `encode` (each `commands_per_call` commands) make
/// one batch, written back to back into one buffer as an ICD fills its command stream.
struct Case {
    name: &'static str,
    encode: EncodeFn,
    commands_per_call: usize,
    repeats: usize,
}

/// Batches of a few thousand commands and tens of KB: large enough that call overhead and
/// timer resolution vanish, small enough to stay in L2 like a real command stream chunk.
const CASES: [Case; 4] = [
    Case {
        name: "vkCmdDraw",
        encode: draw,
        commands_per_call: 1,
        repeats: 2000,
    },
    Case {
        name: "cmd-buffer mix",
        encode: mix,
        commands_per_call: 5,
        repeats: 400,
    },
    Case {
        name: "vkQueueSubmit",
        encode: queue_submit,
        commands_per_call: 1,
        repeats: 500,
    },
    Case {
        name: "vkUpdateDescriptorSets",
        encode: update_descriptor_sets,
        commands_per_call: 1,
        repeats: 500,
    },
];

impl Case {
    fn commands(&self) -> usize {
        self.commands_per_call * self.repeats
    }

    /// Encodes the whole batch into `buf` and returns its length.
    fn encode_batch(&self, buf: &mut [u8], cx: &GuestContext<'_>, fx: &Fixtures) -> usize {
        let mut w = Writer::new(buf);
        for _ in 0..self.repeats {
            (self.encode)(&mut w, cx, black_box(fx));
        }
        w.finish(0).expect("batch buffer large enough")
    }

    fn batch(&self, cx: &GuestContext<'_>, fx: &Fixtures) -> Vec<u8> {
        let mut counter = Writer::counting();
        for _ in 0..self.repeats {
            (self.encode)(&mut counter, cx, fx);
        }
        let mut buf = vec![0u8; counter.position()];
        let n = self.encode_batch(&mut buf, cx, fx);
        assert_eq!(n, buf.len());
        buf
    }
}

/// Byte range of every command of a batch.
fn command_ranges(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut d = Decoder::new(bytes, Limits::default());
    let mut ranges = Vec::new();
    while !d.is_empty() {
        let start = d.position();
        decode_command(&mut d).expect("valid");
        ranges.push(start..d.position());
    }
    ranges
}

/// The batch copied one command at a time: the floor for anything that writes commands one
/// call each, as the encoders do.
fn memcpy_per_command(dst: &mut [u8], src: &[u8], ranges: &[std::ops::Range<usize>]) {
    for r in ranges {
        dst[r.clone()].copy_from_slice(&src[r.clone()]);
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

fn host_protocol() -> HostProtocol {
    HostProtocol::everything()
}

fn context(host: &HostProtocol) -> GuestContext<'_> {
    GuestContext {
        host,
        dispatchable_id: |raw| raw,
    }
}

fn bench(c: &mut Criterion) {
    let host = host_protocol();
    let cx = context(&host);
    let fx = fixtures();
    for case in &CASES {
        let bytes = case.batch(&cx, fx);
        assert_eq!(decode_all(&bytes), case.commands());
        let mut buf = vec![0u8; bytes.len()];
        let mut g = c.benchmark_group(format!("{} x{}", case.name, case.commands()));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("encode", |b| {
            b.iter(|| black_box(case.encode_batch(&mut buf, &cx, fx)))
        });
        g.bench_function("decode", |b| b.iter(|| decode_all(black_box(&bytes))));
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                buf.copy_from_slice(black_box(&bytes));
                black_box(&buf);
            })
        });
        let ranges = command_ranges(&bytes);
        g.bench_function("memcpy per command", |b| {
            b.iter(|| {
                memcpy_per_command(&mut buf, black_box(&bytes), black_box(&ranges));
                black_box(&buf);
            })
        });
        g.finish();
    }
}

/// Median over `samples` runs of the ns one call of `f` takes, each run `iters` calls long.
fn median_ns(samples: usize, iters: u32, mut f: impl FnMut()) -> f64 {
    let mut runs: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[samples / 2]
}

/// The summary table over the batches: ns per command and MB/s for encode, decode, one
/// memcpy of the whole batch and a memcpy per command, and encode/decode bandwidth as a share
/// of the whole-batch memcpy's (the anchor) and of the per-command one's.
fn table() {
    let host = host_protocol();
    let cx = context(&host);
    let fx = fixtures();
    println!(
        "\n{:<24} {:>5} {:>6} {:>7} {:>8} {:>7} {:>8} {:>7} {:>8} {:>7} {:>8} {:>7} {:>7} {:>9}",
        "batch",
        "cmds",
        "B/cmd",
        "enc ns",
        "enc MB/s",
        "dec ns",
        "dec MB/s",
        "cpy ns",
        "cpy MB/s",
        "cpc ns",
        "cpc MB/s",
        "enc/cpy",
        "dec/cpy",
        "enc/cpc"
    );
    for case in &CASES {
        let bytes = case.batch(&cx, fx);
        let mut buf = vec![0u8; bytes.len()];
        let (samples, iters) = (31, 200);
        let enc = median_ns(samples, iters, || {
            black_box(case.encode_batch(&mut buf, &cx, fx));
        });
        let dec = median_ns(samples, iters / 4, || {
            black_box(decode_all(black_box(&bytes)));
        });
        let cpy = median_ns(samples, iters, || {
            buf.copy_from_slice(black_box(&bytes));
            black_box(&buf);
        });
        let ranges = command_ranges(&bytes);
        let cpc = median_ns(samples, iters, || {
            memcpy_per_command(&mut buf, black_box(&bytes), black_box(&ranges));
            black_box(&buf);
        });
        let cmds = case.commands() as f64;
        let mbs = |ns: f64| bytes.len() as f64 / ns * 1e3;
        println!(
            "{:<24} {:>5} {:>6.1} {:>7.2} {:>8.0} {:>7.2} {:>8.0} {:>7.2} {:>8.0} {:>7.2} {:>8.0} {:>6.1}% {:>6.1}% {:>8.1}%",
            case.name,
            case.commands(),
            bytes.len() as f64 / cmds,
            enc / cmds,
            mbs(enc),
            dec / cmds,
            mbs(dec),
            cpy / cmds,
            mbs(cpy),
            cpc / cmds,
            mbs(cpc),
            100.0 * cpy / enc,
            100.0 * cpy / dec,
            100.0 * cpc / enc
        );
    }
    println!(
        "(ns: per command. Each batch is encoded back to back into one buffer; cpy copies the \
         encoded batch with one memcpy, cpc one memcpy per command. enc/cpy is the issue's \
         ratio: encode MB/s as a share of memcpy MB/s.)"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

fn main() {
    if std::env::var_os("VENUS_RS_BENCH_TABLE_ONLY").is_none() {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    table();
}
