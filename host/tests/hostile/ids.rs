//! Guest ids that name nothing the command may use: an id of the wrong object type inside a
//! pNext chain, an id the guest destroyed, an image view id that never existed inside a
//! descriptor write, and a render pass whose subpass indexes past its attachments. The driver
//! would dereference a wrong or freed handle, or index past an array; the host must end the
//! context before the call.

use venus_rs_encoder::host::types::{
    AttachmentDescription, AttachmentReference, DescriptorImageInfo, Ext, RenderPassCreateInfo,
    SamplerCreateInfo, SamplerYcbcrConversionInfo, SubpassDescription, WriteDescriptorSet,
};
use venus_rs_encoder::host::{
    Command, CreateRenderPassArgs, CreateSamplerArgs, DestroyBufferArgs,
    GetBufferMemoryRequirementsArgs, UpdateDescriptorSetsArgs,
};

use crate::harness::objects::{buffer, descriptor_pool_of, descriptor_set, single_binding_layout};
use crate::harness::scenario::Scenario;
use crate::harness::venus::Venus;

const SAMPLED_IMAGE: i32 = 2;
const SHADER_READ_ONLY_OPTIMAL: i32 = 5;
const COLOR_ATTACHMENT_OPTIMAL: i32 = 2;
const B8G8R8A8_UNORM: i32 = 44;
const SAMPLE_COUNT_1: i32 = 1;
const GRAPHICS: i32 = 0;
/// An id the hostile client never gave to any object.
const NEVER_CREATED: u64 = 0xdead_beef;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_buffer_id_where_a_pnext_chain_names_a_ycbcr_conversion_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let wrong = buffer(&mut venus, ids.device, 256);

    let sampler = venus.id();
    let alive = venus.send(Command::CreateSampler(CreateSamplerArgs {
        device: ids.device,
        p_create_info: Some(Box::new(SamplerCreateInfo {
            p_next: vec![Ext::SamplerYcbcrConversionInfo(Box::new(
                SamplerYcbcrConversionInfo {
                    conversion: wrong,
                    ..SamplerYcbcrConversionInfo::default()
                },
            ))],
            ..SamplerCreateInfo::default()
        })),
        p_sampler: Some(sampler),
        ret: 0,
    }));
    assert!(
        !alive,
        "the sampler was created with a buffer as its conversion"
    );

    scenario.assert_hostile_ended_for(&format!(
        "object id {wrong} is a VkBuffer, not a VkSamplerYcbcrConversion"
    ));
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_destroyed_buffer_id_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let destroyed = buffer(&mut venus, ids.device, 256);
    assert!(
        venus.send(Command::DestroyBuffer(DestroyBufferArgs {
            device: ids.device,
            buffer: destroyed,
        })),
        "destroying the buffer ended the context"
    );

    let reply = venus.call(Command::GetBufferMemoryRequirements(
        GetBufferMemoryRequirementsArgs {
            device: ids.device,
            buffer: destroyed,
            p_memory_requirements: Some(Box::default()),
        },
    ));
    assert!(reply.is_none(), "the destroyed buffer answered: {reply:?}");

    scenario.assert_hostile_ended_for(&format!(
        "no VkBuffer with object id {destroyed} (never created, or destroyed)"
    ));
}

/// A set with one sampled image at binding 0.
fn sampled_image_set(venus: &mut Venus, device: u64) -> u64 {
    let layout = single_binding_layout(venus, device, SAMPLED_IMAGE);
    let pool = descriptor_pool_of(venus, device, SAMPLED_IMAGE);
    descriptor_set(venus, device, pool, layout)
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_descriptor_write_naming_an_image_view_that_does_not_exist_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let set = sampled_image_set(&mut venus, ids.device);

    let alive = venus.send(Command::UpdateDescriptorSets(UpdateDescriptorSetsArgs {
        device: ids.device,
        descriptor_write_count: 1,
        p_descriptor_writes: Some(vec![WriteDescriptorSet {
            dst_set: set,
            dst_binding: 0,
            dst_array_element: 0,
            descriptor_count: 1,
            descriptor_type: SAMPLED_IMAGE,
            p_image_info: Some(vec![DescriptorImageInfo {
                sampler: 0,
                image_view: NEVER_CREATED,
                image_layout: SHADER_READ_ONLY_OPTIMAL,
            }]),
            ..WriteDescriptorSet::default()
        }]),
        descriptor_copy_count: 0,
        p_descriptor_copies: None,
    }));
    assert!(!alive, "the write of a nonexistent image view went through");

    scenario.assert_hostile_ended_for(&format!(
        "no VkImageView with object id {NEVER_CREATED} (never created, or destroyed)"
    ));
}

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_render_pass_whose_subpass_names_a_missing_attachment_is_fatal() {
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();

    let render_pass = venus.id();
    let alive = venus.send(Command::CreateRenderPass(CreateRenderPassArgs {
        device: ids.device,
        p_create_info: Some(Box::new(RenderPassCreateInfo {
            attachment_count: 1,
            p_attachments: Some(vec![AttachmentDescription {
                format: B8G8R8A8_UNORM,
                samples: SAMPLE_COUNT_1,
                final_layout: COLOR_ATTACHMENT_OPTIMAL,
                ..AttachmentDescription::default()
            }]),
            subpass_count: 1,
            p_subpasses: Some(vec![SubpassDescription {
                pipeline_bind_point: GRAPHICS,
                color_attachment_count: 1,
                p_color_attachments: Some(vec![AttachmentReference {
                    attachment: 3,
                    layout: COLOR_ATTACHMENT_OPTIMAL,
                }]),
                ..SubpassDescription::default()
            }]),
            ..RenderPassCreateInfo::default()
        })),
        p_render_pass: Some(render_pass),
        ret: 0,
    }));
    assert!(!alive, "the render pass was created");

    scenario.assert_hostile_ended_for(
        "a color attachment names attachment 3, but the render pass has 1",
    );
}
