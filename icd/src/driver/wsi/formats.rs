//! The pixel formats a swapchain can have, and how their bytes reach the window system.
//!
//! Every window system here takes 32-bit pixels in memory order B, G, R, X (X11 TrueColor visuals of
//! depth 24/32, wl_shm XRGB8888). B8G8R8A8 images are handed over as they are; R8G8B8A8 images have
//! red and blue swapped while their rows are copied out, which costs nothing beyond that copy.

use ash::vk;

/// The formats offered, most preferred first (sRGB first: what vkmark and most engines look for).
pub const SURFACE_FORMATS: [vk::Format; 4] = [
    vk::Format::B8G8R8A8_SRGB,
    vk::Format::B8G8R8A8_UNORM,
    vk::Format::R8G8B8A8_SRGB,
    vk::Format::R8G8B8A8_UNORM,
];

/// Every presentable pixel is 4 bytes.
pub const BYTES_PER_PIXEL: usize = 4;

/// How the bytes of an image's pixel are ordered in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelOrder {
    Bgra,
    Rgba,
}

impl PixelOrder {
    /// `None` for a format no window system here can show.
    pub fn of(format: vk::Format) -> Option<PixelOrder> {
        match format {
            vk::Format::B8G8R8A8_SRGB | vk::Format::B8G8R8A8_UNORM => Some(PixelOrder::Bgra),
            vk::Format::R8G8B8A8_SRGB | vk::Format::R8G8B8A8_UNORM => Some(PixelOrder::Rgba),
            _ => None,
        }
    }
}

/// Copies whole rows of pixels in `order` into `destination` as B, G, R, X bytes. Both slices hold the
/// same number of pixels.
pub fn copy_as_bgrx(source: &[u8], destination: &mut [u8], order: PixelOrder) {
    debug_assert_eq!(source.len(), destination.len());
    match order {
        PixelOrder::Bgra => destination.copy_from_slice(source),
        PixelOrder::Rgba => {
            for (out, pixel) in destination
                .chunks_exact_mut(BYTES_PER_PIXEL)
                .zip(source.chunks_exact(BYTES_PER_PIXEL))
            {
                out.copy_from_slice(&[pixel[2], pixel[1], pixel[0], pixel[3]]);
            }
        }
    }
}

/// Sets every pixel's X byte to 0xff: windows with an alpha channel (X11 depth 32) would otherwise
/// show the application's alpha, while the swapchain's composite alpha is OPAQUE.
pub fn make_opaque(bgrx: &mut [u8]) {
    for pixel in bgrx.chunks_exact_mut(BYTES_PER_PIXEL) {
        pixel[3] = 0xff;
    }
}

/// The formats of [`SURFACE_FORMATS`] that the device can render to and copy from, each in the sRGB
/// colour space.
pub fn supported_surface_formats(
    instance: &ash::Instance,
    physical_device: vk::PhysicalDevice,
) -> Vec<vk::SurfaceFormatKHR> {
    let needed = vk::FormatFeatureFlags::COLOR_ATTACHMENT | vk::FormatFeatureFlags::TRANSFER_SRC;
    SURFACE_FORMATS
        .iter()
        .filter(|format| {
            // SAFETY: a physical device of `instance`, per the caller.
            let properties = unsafe {
                instance.get_physical_device_format_properties(physical_device, **format)
            };
            properties.optimal_tiling_features.contains(needed)
        })
        .map(|format| vk::SurfaceFormatKHR {
            format: *format,
            color_space: vk::ColorSpaceKHR::SRGB_NONLINEAR,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgba_rows_become_bgrx_and_bgra_rows_stay() {
        let rgba = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut out = [0u8; 8];
        copy_as_bgrx(&rgba, &mut out, PixelOrder::Rgba);
        assert_eq!(out, [3, 2, 1, 4, 7, 6, 5, 8]);
        copy_as_bgrx(&rgba, &mut out, PixelOrder::Bgra);
        assert_eq!(out, rgba);
    }

    #[test]
    fn opaque_pixels_keep_their_colour() {
        let mut pixels = [1u8, 2, 3, 0, 5, 6, 7, 128];
        make_opaque(&mut pixels);
        assert_eq!(pixels, [1, 2, 3, 255, 5, 6, 7, 255]);
    }

    #[test]
    fn only_four_byte_colour_formats_are_presentable() {
        assert_eq!(
            PixelOrder::of(vk::Format::R8G8B8A8_SRGB),
            Some(PixelOrder::Rgba)
        );
        assert_eq!(PixelOrder::of(vk::Format::R5G6B5_UNORM_PACK16), None);
        assert!(SURFACE_FORMATS
            .iter()
            .all(|format| PixelOrder::of(*format).is_some()));
    }
}
