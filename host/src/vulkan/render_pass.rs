//! Render passes: drivers index their attachment arrays with the references of each subpass
//! and dependency without checking them, so every reference is checked here first. The
//! creation itself is the generated dispatch.

use venus_rs_encoder::host::types::{Ext, SubpassDescription, SubpassDescription2};
use venus_rs_encoder::host::{CreateRenderPass2Args, CreateRenderPassArgs};

use crate::executor::ContextFatal;

const ATTACHMENT_UNUSED: u32 = u32::MAX;
const SUBPASS_EXTERNAL: u32 = u32::MAX;

fn check_attachment(index: u32, attachments: usize, what: &str) -> Result<(), ContextFatal> {
    if index != ATTACHMENT_UNUSED && index as usize >= attachments {
        return Err(ContextFatal::new(format!(
            "{what} names attachment {index}, but the render pass has {attachments}"
        )));
    }
    Ok(())
}

fn check_dependency(src: u32, dst: u32, subpasses: usize) -> Result<(), ContextFatal> {
    for subpass in [src, dst] {
        if subpass != SUBPASS_EXTERNAL && subpass as usize >= subpasses {
            return Err(ContextFatal::new(format!(
                "a subpass dependency names subpass {subpass}, but the render pass has {subpasses}"
            )));
        }
    }
    Ok(())
}

/// Every attachment a subpass names, with what names it.
fn subpass_references(subpass: &SubpassDescription) -> Vec<(u32, &'static str)> {
    let mut refs = Vec::new();
    let lists = [
        (&subpass.p_input_attachments, "an input attachment"),
        (&subpass.p_color_attachments, "a color attachment"),
        (&subpass.p_resolve_attachments, "a resolve attachment"),
    ];
    for (list, what) in lists {
        refs.extend(list.iter().flatten().map(|r| (r.attachment, what)));
    }
    refs.extend(
        subpass
            .p_depth_stencil_attachment
            .iter()
            .map(|r| (r.attachment, "the depth/stencil attachment")),
    );
    refs.extend(
        subpass
            .p_preserve_attachments
            .iter()
            .flatten()
            .map(|&a| (a, "a preserve attachment")),
    );
    refs
}

fn subpass2_references(subpass: &SubpassDescription2<'_>) -> Vec<(u32, &'static str)> {
    let mut refs = Vec::new();
    let lists = [
        (&subpass.p_input_attachments, "an input attachment"),
        (&subpass.p_color_attachments, "a color attachment"),
        (&subpass.p_resolve_attachments, "a resolve attachment"),
    ];
    for (list, what) in lists {
        refs.extend(list.iter().flatten().map(|r| (r.attachment, what)));
    }
    refs.extend(
        subpass
            .p_depth_stencil_attachment
            .iter()
            .map(|r| (r.attachment, "the depth/stencil attachment")),
    );
    refs.extend(
        subpass
            .p_preserve_attachments
            .iter()
            .flatten()
            .map(|&a| (a, "a preserve attachment")),
    );
    for ext in &subpass.p_next {
        match ext {
            Ext::SubpassDescriptionDepthStencilResolve(resolve) => refs.extend(
                resolve
                    .p_depth_stencil_resolve_attachment
                    .iter()
                    .map(|r| (r.attachment, "the depth/stencil resolve attachment")),
            ),
            Ext::FragmentShadingRateAttachmentInfoKHR(rate) => refs.extend(
                rate.p_fragment_shading_rate_attachment
                    .iter()
                    .map(|r| (r.attachment, "the fragment shading rate attachment")),
            ),
            _ => {}
        }
    }
    refs
}

pub(crate) fn check_create_render_pass(a: &CreateRenderPassArgs<'_>) -> Result<(), ContextFatal> {
    let Some(info) = a.p_create_info.as_ref() else {
        return Ok(());
    };
    let attachments = info.p_attachments.as_ref().map_or(0, Vec::len);
    let subpasses = info.p_subpasses.as_deref().unwrap_or_default();
    for subpass in subpasses {
        for (index, what) in subpass_references(subpass) {
            check_attachment(index, attachments, what)?;
        }
        let colors = subpass.p_color_attachments.as_ref().map_or(0, Vec::len);
        if subpass
            .p_resolve_attachments
            .as_ref()
            .is_some_and(|r| r.len() != colors)
        {
            return Err(ContextFatal::new(
                "pResolveAttachments does not have colorAttachmentCount elements",
            ));
        }
    }
    for dependency in info.p_dependencies.iter().flatten() {
        check_dependency(
            dependency.src_subpass,
            dependency.dst_subpass,
            subpasses.len(),
        )?;
    }
    for ext in &info.p_next {
        if let Ext::RenderPassInputAttachmentAspectCreateInfo(aspects) = ext {
            for aspect in aspects.p_aspect_references.iter().flatten() {
                let inputs = subpasses
                    .get(aspect.subpass as usize)
                    .and_then(|s| s.p_input_attachments.as_ref())
                    .map_or(0, Vec::len);
                if aspect.input_attachment_index as usize >= inputs {
                    return Err(ContextFatal::new(format!(
                        "an input attachment aspect names input {} of subpass {}, which does not exist",
                        aspect.input_attachment_index, aspect.subpass
                    )));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn check_create_render_pass2(a: &CreateRenderPass2Args<'_>) -> Result<(), ContextFatal> {
    let Some(info) = a.p_create_info.as_ref() else {
        return Ok(());
    };
    let attachments = info.p_attachments.as_ref().map_or(0, Vec::len);
    let subpasses = info.p_subpasses.as_deref().unwrap_or_default();
    for subpass in subpasses {
        for (index, what) in subpass2_references(subpass) {
            check_attachment(index, attachments, what)?;
        }
        let colors = subpass.p_color_attachments.as_ref().map_or(0, Vec::len);
        if subpass
            .p_resolve_attachments
            .as_ref()
            .is_some_and(|r| r.len() != colors)
        {
            return Err(ContextFatal::new(
                "pResolveAttachments does not have colorAttachmentCount elements",
            ));
        }
    }
    for dependency in info.p_dependencies.iter().flatten() {
        check_dependency(
            dependency.src_subpass,
            dependency.dst_subpass,
            subpasses.len(),
        )?;
    }
    Ok(())
}
