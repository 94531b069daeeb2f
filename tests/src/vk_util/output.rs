//! The programs' conventions: one `NAME: OK ...` line on stdout and exit 0, or `NAME: FAILED: <reason>` on
//! stderr and exit 1 (2 for a bad command line); option parsing; image digests and PNG files.

use sha2::{Digest, Sha256};
use std::path::Path;

/// Prints the outcome of a program run and exits with its status.
pub fn finish(name: &str, outcome: Result<String, String>) -> ! {
    match outcome {
        Ok(report) => {
            println!("{name}: OK {report}");
            std::process::exit(0)
        }
        Err(message) => {
            eprintln!("{name}: FAILED: {message}");
            std::process::exit(1)
        }
    }
}

/// Reports a bad command line and exits 2.
pub fn usage_error(name: &str, usage: &str, message: &str) -> ! {
    eprintln!("{name}: {message}\nusage: {usage}");
    std::process::exit(2)
}

/// The command line after the program name, read one option at a time.
pub struct Args {
    rest: std::vec::IntoIter<String>,
}

impl Args {
    pub fn from_env() -> Args {
        Args {
            rest: std::env::args().skip(1).collect::<Vec<_>>().into_iter(),
        }
    }

    /// The next option (`--name`), if any.
    pub fn next_option(&mut self) -> Option<String> {
        self.rest.next()
    }

    /// The value following `option`.
    pub fn value(&mut self, option: &str) -> Result<String, String> {
        self.rest
            .next()
            .ok_or_else(|| format!("{option} needs a value"))
    }

    /// The positive whole number following `option`.
    pub fn positive(&mut self, option: &str) -> Result<u32, String> {
        let text = self.value(option)?;
        match text.parse::<u32>() {
            Ok(0) => Err(format!("{option} must be > 0")),
            Ok(number) => Ok(number),
            Err(_) => Err(format!(
                "{option} takes a positive whole number, not {text:?}"
            )),
        }
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Writes tightly packed RGBA8 pixels as a PNG file.
pub fn write_png(path: &Path, width: u32, height: u32, rgba: &[u8]) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(path).map_err(|e| failed(&e))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| failed(&e))?;
    writer.write_image_data(rgba).map_err(|e| failed(&e))?;
    writer.finish().map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn digest_matches_the_published_sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
