//! Comparing captured window images (PNG files): how much of one picture matches another, and whether a
//! picture shows anything at all.

use std::collections::HashSet;
use std::path::Path;

/// An 8-bit RGB picture.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// Reads an 8-bit RGB or RGBA PNG (alpha dropped).
pub fn read_png(path: &Path) -> Result<Picture, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("{}: too large", path.display()))?;
    let mut buffer = vec![0; size];
    let info = reader
        .next_frame(&mut buffer)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let channels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgb, png::BitDepth::Eight) => 3,
        (png::ColorType::Rgba, png::BitDepth::Eight) => 4,
        other => {
            return Err(format!(
                "{}: unsupported PNG format {other:?}",
                path.display()
            ))
        }
    };
    let rgb = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|pixel| [pixel[0], pixel[1], pixel[2]])
        .collect();
    Ok(Picture {
        width: info.width,
        height: info.height,
        rgb,
    })
}

impl Picture {
    /// The share (0..=1) of pixels whose three channels each differ from `other`'s by at most
    /// `tolerance`. Pictures of different sizes share nothing.
    pub fn matching_share(&self, other: &Picture, tolerance: u8) -> f64 {
        if (self.width, self.height) != (other.width, other.height) || self.rgb.is_empty() {
            return 0.0;
        }
        let matching = self
            .rgb
            .chunks_exact(3)
            .zip(other.rgb.chunks_exact(3))
            .filter(|(a, b)| {
                a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.abs_diff(*y) <= tolerance)
            })
            .count();
        matching as f64 / (self.rgb.len() / 3) as f64
    }

    /// Like [`Picture::matching_share`], counting only the pixels that show something — differ from
    /// `background` by more than `tolerance` — in either picture: a picture of the background alone
    /// shares nothing with one of an object.
    pub fn foreground_matching_share(
        &self,
        other: &Picture,
        background: [u8; 3],
        tolerance: u8,
    ) -> f64 {
        if (self.width, self.height) != (other.width, other.height) {
            return 0.0;
        }
        let close = |a: &[u8], b: &[u8]| a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= tolerance);
        let (mut shown, mut matching) = (0usize, 0usize);
        for (a, b) in self.rgb.chunks_exact(3).zip(other.rgb.chunks_exact(3)) {
            if close(a, &background) && close(b, &background) {
                continue;
            }
            shown += 1;
            if close(a, b) {
                matching += 1;
            }
        }
        if shown == 0 {
            return 0.0;
        }
        matching as f64 / shown as f64
    }

    /// The colour of the top-left pixel: the background of a centred object.
    pub fn corner_colour(&self) -> [u8; 3] {
        [self.rgb[0], self.rgb[1], self.rgb[2]]
    }

    /// How many different colours the picture holds.
    pub fn distinct_colours(&self) -> usize {
        self.rgb
            .chunks_exact(3)
            .map(|pixel| [pixel[0], pixel[1], pixel[2]])
            .collect::<HashSet<_>>()
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(pixels: &[[u8; 3]]) -> Picture {
        Picture {
            width: pixels.len() as u32,
            height: 1,
            rgb: pixels.iter().flatten().copied().collect(),
        }
    }

    #[test]
    fn matching_counts_pixels_within_the_tolerance() {
        let a = picture(&[[0, 0, 0], [100, 100, 100], [255, 0, 0], [10, 10, 10]]);
        let b = picture(&[[0, 0, 0], [110, 100, 100], [0, 0, 0], [10, 10, 10]]);
        assert_eq!(a.matching_share(&b, 0), 0.5);
        assert_eq!(a.matching_share(&b, 10), 0.75);
        assert_eq!(a.distinct_colours(), 4);
    }

    #[test]
    fn the_background_alone_shares_nothing_with_an_object() {
        let object = picture(&[[9, 9, 9], [9, 9, 9], [200, 0, 0], [0, 200, 0]]);
        let empty = picture(&[[9, 9, 9]; 4]);
        assert_eq!(object.foreground_matching_share(&empty, [9, 9, 9], 4), 0.0);
        let moved = picture(&[[9, 9, 9], [200, 0, 0], [200, 0, 0], [0, 200, 0]]);
        assert_eq!(
            object.foreground_matching_share(&moved, [9, 9, 9], 4),
            2.0 / 3.0
        );
        assert_eq!(object.corner_colour(), [9, 9, 9]);
    }

    #[test]
    fn pictures_of_different_sizes_share_nothing() {
        let a = picture(&[[0, 0, 0]]);
        let b = picture(&[[0, 0, 0], [0, 0, 0]]);
        assert_eq!(a.matching_share(&b, 255), 0.0);
    }
}
