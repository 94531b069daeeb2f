//! query-check's bench: the render target, the pipeline, the rectangles and the query pools every round uses,
//! and the three ways of reading results.

use super::{
    samples_of, Round, COLOR_FORMAT, EXTENT, OCCLUSION_QUERIES, SIZE, SMALL, TIMESTAMPS, WIDE,
};
use ash::vk;
use venus_rs_tests::vk_util::{
    check, memory_barrier, Buffer, Gpu, GraphicsPipelineDesc, ImageDesc, PipelineTarget,
};

const VERTEX_SPIRV: &[u8] = include_bytes!("../../../shaders/flat.vert.spv");
const FRAGMENT_SPIRV: &[u8] = include_bytes!("../../../shaders/flat.frag.spv");
/// The results of one round.
pub(super) struct RoundResults {
    pub(super) occlusion: Vec<u64>,
    pub(super) timestamps: Option<Vec<u64>>,
}

/// The render target, pipeline, geometry and query pools every round uses.
pub(super) struct Bench<'g> {
    gpu: &'g Gpu,
    render_pass: vk::RenderPass,
    framebuffer: vk::Framebuffer,
    pipeline: vk::Pipeline,
    vertices: Buffer,
    occlusion_pool: vk::QueryPool,
    pub(super) timestamp_pool: Option<vk::QueryPool>,
    /// Where vkCmdCopyQueryPoolResults puts (value, availability) pairs: occlusion first, then timestamps.
    copied: Buffer,
    /// Filled by a copy between two timestamps, so that the last one follows real transfer work.
    scratch: Buffer,
}

impl<'g> Bench<'g> {
    pub(super) fn new(gpu: &'g Gpu) -> Result<Bench<'g>, String> {
        let color = gpu.image(
            &ImageDesc {
                format: COLOR_FORMAT,
                extent: EXTENT,
                samples: vk::SampleCountFlags::TYPE_1,
                usage: vk::ImageUsageFlags::COLOR_ATTACHMENT,
                aspect: vk::ImageAspectFlags::COLOR,
            },
            "query target",
        )?;
        let render_pass = create_render_pass(gpu)?;
        let views = [color.view];
        let framebuffer_info = vk::FramebufferCreateInfo::default()
            .render_pass(render_pass)
            .attachments(&views)
            .width(SIZE)
            .height(SIZE)
            .layers(1);
        // SAFETY: valid device; the view matches the render pass's attachment.
        let framebuffer = gpu.own(check("vkCreateFramebuffer", unsafe {
            gpu.device.create_framebuffer(&framebuffer_info, None)
        })?);
        let layout = gpu.pipeline_layout(&[], &[])?;
        let bindings = [vk::VertexInputBindingDescription::default()
            .binding(0)
            .stride(5 * 4)
            .input_rate(vk::VertexInputRate::VERTEX)];
        let attributes = [
            vk::VertexInputAttributeDescription::default()
                .location(0)
                .format(vk::Format::R32G32_SFLOAT)
                .offset(0),
            vk::VertexInputAttributeDescription::default()
                .location(1)
                .format(vk::Format::R32G32B32_SFLOAT)
                .offset(2 * 4),
        ];
        let pipeline = gpu.graphics_pipeline(
            &GraphicsPipelineDesc {
                vertex_spirv: VERTEX_SPIRV,
                fragment_spirv: FRAGMENT_SPIRV,
                bindings: &bindings,
                attributes: &attributes,
                layout,
                extent: EXTENT,
                samples: vk::SampleCountFlags::TYPE_1,
                depth_test: false,
                target: PipelineTarget::RenderPass(render_pass),
            },
            "occlusion pipeline",
        )?;
        let mut vertex_data: Vec<f32> = Vec::new();
        for rect in [WIDE, SMALL] {
            vertex_data.extend(rectangle_vertices(rect));
        }
        let vertices = gpu.host_buffer(
            (vertex_data.len() * 4) as u64,
            vk::BufferUsageFlags::VERTEX_BUFFER,
            "rectangles",
        )?;
        vertices.write(gpu, 0, &vertex_data)?;

        let occlusion_pool = create_pool(gpu, vk::QueryType::OCCLUSION, OCCLUSION_QUERIES)?;
        let timestamp_pool = if gpu.queue_family_properties.timestamp_valid_bits > 0 {
            Some(create_pool(gpu, vk::QueryType::TIMESTAMP, TIMESTAMPS)?)
        } else {
            None
        };
        let copied = gpu.host_buffer(
            u64::from(OCCLUSION_QUERIES + TIMESTAMPS) * 16,
            vk::BufferUsageFlags::TRANSFER_DST,
            "copied query results",
        )?;
        let scratch = gpu.host_buffer(
            1 << 20,
            vk::BufferUsageFlags::TRANSFER_DST,
            "timestamp scratch",
        )?;
        Ok(Bench {
            gpu,
            render_pass,
            framebuffer,
            pipeline,
            vertices,
            occlusion_pool,
            timestamp_pool,
            copied,
            scratch,
        })
    }

    pub(super) fn pools(&self) -> Vec<(vk::QueryPool, u32)> {
        let mut pools = vec![(self.occlusion_pool, OCCLUSION_QUERIES)];
        pools.extend(self.timestamp_pool.map(|pool| (pool, TIMESTAMPS)));
        pools
    }

    /// vkResetQueryPool: only called when the device enabled hostQueryReset.
    pub(super) fn host_reset(&self) {
        for (pool, count) in self.pools() {
            // SAFETY: a pool of this device whose queries no pending work uses; hostQueryReset is enabled.
            unsafe { self.gpu.device.reset_query_pool(pool, 0, count) };
        }
    }

    pub(super) fn device_reset(&self) -> Result<(), String> {
        self.gpu
            .run_commands("vkCmdResetQueryPool", |command_buffer| {
                for (pool, count) in self.pools() {
                    // SAFETY: recording outside a render pass; the queries are not active.
                    unsafe {
                        self.gpu
                            .device
                            .cmd_reset_query_pool(command_buffer, pool, 0, count)
                    };
                }
                Ok(())
            })
    }

    /// Without WAIT, reset queries read as NOT_READY with availability 0.
    pub(super) fn expect_unavailable(&self, when: &str) -> Result<(), String> {
        for (pool, count) in self.pools() {
            let mut pairs = vec![[u64::MAX; 2]; count as usize];
            // SAFETY: a pool of this device; `pairs` holds `count` (value, availability) pairs.
            let result = unsafe {
                self.gpu.device.get_query_pool_results(
                    pool,
                    0,
                    &mut pairs,
                    vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WITH_AVAILABILITY,
                )
            };
            if result != Err(vk::Result::NOT_READY) {
                return Err(format!(
                    "{when}: vkGetQueryPoolResults without WAIT returned {result:?}, expected NOT_READY"
                ));
            }
            if let Some(query) = pairs.iter().position(|pair| pair[1] != 0) {
                return Err(format!(
                    "{when}: query {query} reports availability {} (expected 0)",
                    pairs[query][1]
                ));
            }
        }
        Ok(())
    }

    pub(super) fn run_round(&self, round: &Round) -> Result<RoundResults, String> {
        let gpu = self.gpu;
        let precise = if gpu.enabled.occlusion_query_precise {
            vk::QueryControlFlags::PRECISE
        } else {
            vk::QueryControlFlags::empty()
        };
        gpu.run_commands(round.name, |command_buffer| {
            let device = &gpu.device;
            let clear = [vk::ClearValue {
                color: vk::ClearColorValue { float32: [0.0; 4] },
            }];
            let begin = vk::RenderPassBeginInfo::default()
                .render_pass(self.render_pass)
                .framebuffer(self.framebuffer)
                .render_area(vk::Rect2D::default().extent(EXTENT))
                .clear_values(&clear);
            // SAFETY: recording a primary command buffer; every query was reset before this submission, every
            // object belongs to this device, and the begin/end pairs match.
            unsafe {
                if let Some(pool) = self.timestamp_pool {
                    device.cmd_write_timestamp(
                        command_buffer,
                        vk::PipelineStageFlags::TOP_OF_PIPE,
                        pool,
                        0,
                    );
                }
                device.cmd_begin_render_pass(command_buffer, &begin, vk::SubpassContents::INLINE);
                device.cmd_bind_pipeline(
                    command_buffer,
                    vk::PipelineBindPoint::GRAPHICS,
                    self.pipeline,
                );
                device.cmd_bind_vertex_buffers(command_buffer, 0, &[self.vertices.handle], &[0]);
                for (query, draws) in round.queries.iter().enumerate() {
                    device.cmd_begin_query(
                        command_buffer,
                        self.occlusion_pool,
                        query as u32,
                        precise,
                    );
                    for rect in draws.iter() {
                        let first_vertex = if *rect == WIDE { 0 } else { 6 };
                        device.cmd_draw(command_buffer, 6, 1, first_vertex, 0);
                    }
                    device.cmd_end_query(command_buffer, self.occlusion_pool, query as u32);
                }
                device.cmd_end_render_pass(command_buffer);
                if let Some(pool) = self.timestamp_pool {
                    device.cmd_write_timestamp(
                        command_buffer,
                        vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                        pool,
                        1,
                    );
                    device.cmd_fill_buffer(
                        command_buffer,
                        self.scratch.handle,
                        0,
                        vk::WHOLE_SIZE,
                        0x5eed,
                    );
                    device.cmd_write_timestamp(
                        command_buffer,
                        vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                        pool,
                        2,
                    );
                }
                let copy_flags = vk::QueryResultFlags::TYPE_64
                    | vk::QueryResultFlags::WITH_AVAILABILITY
                    | vk::QueryResultFlags::WAIT;
                for (index, (pool, count)) in self.pools().into_iter().enumerate() {
                    let offset = if index == 0 {
                        0
                    } else {
                        u64::from(OCCLUSION_QUERIES) * 16
                    };
                    device.cmd_copy_query_pool_results(
                        command_buffer,
                        pool,
                        0,
                        count,
                        self.copied.handle,
                        offset,
                        16,
                        copy_flags,
                    );
                }
            }
            memory_barrier(
                gpu,
                command_buffer,
                (
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
                (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ),
            );
            Ok(())
        })?;
        let occlusion = self.read_results(self.occlusion_pool, OCCLUSION_QUERIES, 0, round.name)?;
        let timestamps = match self.timestamp_pool {
            Some(pool) => {
                Some(self.read_results(pool, TIMESTAMPS, OCCLUSION_QUERIES as usize, round.name)?)
            }
            None => None,
        };
        Ok(RoundResults {
            occlusion,
            timestamps,
        })
    }

    /// Reads `count` results three ways — WAIT, no WAIT with availability, the copy the command buffer made at
    /// pair index `copied_from` — and insists that they agree.
    pub(super) fn read_results(
        &self,
        pool: vk::QueryPool,
        count: u32,
        copied_from: usize,
        round: &str,
    ) -> Result<Vec<u64>, String> {
        let device = &self.gpu.device;
        // WAIT has no timeout of its own: it is only used once the round's fence has signalled, when every
        // result must already be available.
        let mut waited = vec![u64::MAX; count as usize];
        // SAFETY: a pool of this device; `waited` holds `count` 64-bit values.
        let result = unsafe {
            device.get_query_pool_results(
                pool,
                0,
                &mut waited,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WAIT,
            )
        };
        check(
            &format!("vkGetQueryPoolResults with WAIT ({round})"),
            result,
        )?;
        let mut pairs = vec![[u64::MAX; 2]; count as usize];
        // SAFETY: as above, with room for (value, availability) pairs.
        let result = unsafe {
            device.get_query_pool_results(
                pool,
                0,
                &mut pairs,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WITH_AVAILABILITY,
            )
        };
        check(
            &format!("vkGetQueryPoolResults without WAIT after the fence ({round})"),
            result,
        )?;
        let copied: Vec<u64> = self
            .copied
            .read(self.gpu, copied_from * 16, count as usize * 2)?;
        for query in 0..count as usize {
            let (value, available) = (pairs[query][0], pairs[query][1]);
            let (copied_value, copied_available) = (copied[query * 2], copied[query * 2 + 1]);
            if available != 1 || copied_available != 1 {
                return Err(format!(
                    "{round}: query {query} availability is {available} (vkGetQueryPoolResults) and \
                     {copied_available} (vkCmdCopyQueryPoolResults) after the fence; expected 1"
                ));
            }
            if value != waited[query] || copied_value != waited[query] {
                return Err(format!(
                    "{round}: query {query} reads {} with WAIT, {value} without, {copied_value} copied by \
                     vkCmdCopyQueryPoolResults",
                    waited[query]
                ));
            }
        }
        Ok(waited)
    }

    pub(super) fn check_occlusion(
        &self,
        round: &Round,
        counts: &RoundResults,
    ) -> Result<(), String> {
        for (query, draws) in round.queries.iter().enumerate() {
            let expected: u64 = draws.iter().map(|&rect| samples_of(rect)).sum();
            let got = counts.occlusion[query];
            let fine = if expected == 0 {
                got == 0
            } else if self.gpu.enabled.occlusion_query_precise {
                got == expected
            } else {
                got != 0
            };
            if !fine {
                return Err(format!(
                    "{}: occlusion query {query} counted {got} samples, expected {expected}{}",
                    round.name,
                    if self.gpu.enabled.occlusion_query_precise {
                        ""
                    } else {
                        " (or any non-zero count: not precise)"
                    }
                ));
            }
        }
        Ok(())
    }
}

/// Six vertices (two triangles) covering a pixel rectangle, in clip space, white.
fn rectangle_vertices(rect: [u32; 4]) -> Vec<f32> {
    let ndc = |pixel: u32| pixel as f32 / SIZE as f32 * 2.0 - 1.0;
    let (x0, x1, y0, y1) = (ndc(rect[0]), ndc(rect[1]), ndc(rect[2]), ndc(rect[3]));
    [(x0, y0), (x1, y0), (x0, y1), (x0, y1), (x1, y0), (x1, y1)]
        .iter()
        .flat_map(|&(x, y)| [x, y, 1.0, 1.0, 1.0])
        .collect()
}

fn create_pool(gpu: &Gpu, kind: vk::QueryType, count: u32) -> Result<vk::QueryPool, String> {
    let info = vk::QueryPoolCreateInfo::default()
        .query_type(kind)
        .query_count(count);
    // SAFETY: valid device and create info.
    Ok(
        gpu.own(check(&format!("vkCreateQueryPool ({kind:?})"), unsafe {
            gpu.device.create_query_pool(&info, None)
        })?),
    )
}

fn create_render_pass(gpu: &Gpu) -> Result<vk::RenderPass, String> {
    let attachments = [vk::AttachmentDescription::default()
        .format(COLOR_FORMAT)
        .samples(vk::SampleCountFlags::TYPE_1)
        .load_op(vk::AttachmentLoadOp::CLEAR)
        .store_op(vk::AttachmentStoreOp::STORE)
        .stencil_load_op(vk::AttachmentLoadOp::DONT_CARE)
        .stencil_store_op(vk::AttachmentStoreOp::DONT_CARE)
        .initial_layout(vk::ImageLayout::UNDEFINED)
        .final_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
    let color_refs = [vk::AttachmentReference::default()
        .attachment(0)
        .layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)];
    let subpasses = [vk::SubpassDescription::default()
        .pipeline_bind_point(vk::PipelineBindPoint::GRAPHICS)
        .color_attachments(&color_refs)];
    // Each round clears the attachment again: its writes follow the previous round's.
    let dependencies = [vk::SubpassDependency::default()
        .src_subpass(vk::SUBPASS_EXTERNAL)
        .dst_subpass(0)
        .src_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
        .src_access_mask(vk::AccessFlags::COLOR_ATTACHMENT_WRITE)
        .dst_stage_mask(vk::PipelineStageFlags::COLOR_ATTACHMENT_OUTPUT)
        .dst_access_mask(vk::AccessFlags::COLOR_ATTACHMENT_WRITE)];
    let info = vk::RenderPassCreateInfo::default()
        .attachments(&attachments)
        .subpasses(&subpasses)
        .dependencies(&dependencies);
    // SAFETY: valid device; the create info and what it points to live across the call.
    Ok(gpu.own(check("vkCreateRenderPass", unsafe {
        gpu.device.create_render_pass(&info, None)
    })?))
}
