//! `cargo xtask demo`: the driver doing what its users first ask of it. It builds both of our halves, boots an
//! aarch64 (or x86_64) guest under QEMU with our render server as virglrenderer's render server, runs vkcube
//! in the guest on an X server of the guest's own through our ICD's copy-based swapchain, captures the
//! window from another X client in the guest while vkcube runs, and writes that capture as a PNG on the host.

use crate::env::Home;
use crate::guest::{GuestArch, GUEST_OUT_DIR};
use crate::pair::{self, GuestDriver, HostRenderer, Pairing, Transport};
use crate::qemu::Accel;
use crate::reference::Reference;
use std::path::PathBuf;
use std::time::Duration;

pub const USAGE: &str = "usage: cargo xtask demo [--out FILE.png] [--frames N] [--arch aarch64|x86_64] \
[--timeout SECONDS]
  runs vkcube for N frames (default 300) in a guest (default aarch64) through our ICD and our host under QEMU,
  and writes the guest's capture of its window to FILE.png (default demo.png)";

/// The capture's name in the guest's output folder.
const CAPTURE: &str = "vkcube.png";

struct Demo {
    out: PathBuf,
    frames: u32,
    arch: GuestArch,
    timeout: Duration,
}

fn parse(args: &[String]) -> Result<Demo, String> {
    let mut demo = Demo {
        out: PathBuf::from("demo.png"),
        frames: 300,
        arch: GuestArch::Aarch64,
        timeout: Duration::from_secs(900),
    };
    let mut rest = args.iter();
    while let Some(option) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{option} needs a value\n{USAGE}"))
        };
        match option.as_str() {
            "--out" => demo.out = PathBuf::from(value()?),
            "--frames" => {
                let text = value()?;
                demo.frames = text
                    .parse()
                    .ok()
                    .filter(|&frames| frames > 0)
                    .ok_or_else(|| format!("--frames takes a positive number, not {text:?}"))?;
            }
            "--arch" => {
                demo.arch = match value()?.as_str() {
                    "aarch64" => GuestArch::Aarch64,
                    "x86_64" => GuestArch::X86_64,
                    other => return Err(format!("unknown --arch {other:?}: aarch64 or x86_64")),
                }
            }
            "--timeout" => {
                let text = value()?;
                let seconds: u64 = text
                    .parse()
                    .map_err(|_| format!("--timeout takes whole seconds, not {text:?}"))?;
                demo.timeout = Duration::from_secs(seconds.max(1));
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(demo)
}

/// What the guest runs: Xvfb on a display it picks, the capture client waiting for vkcube's window, vkcube
/// itself with our ICD's frame counter on; the status is vkcube's, or the capture's when vkcube passed.
fn guest_script(frames: u32, capture_limit: Duration) -> String {
    format!(
        r#"dir=$(mktemp -d)
Xvfb -displayfd 9 -noreset -nolisten tcp -screen 0 1280x800x24 9>"$dir/display" 2>"$dir/xvfb.log" &
server=$!
tenths=0
while [ ! -s "$dir/display" ]; do
    tenths=$((tenths + 1))
    if [ "$tenths" -gt 600 ]; then echo "demo: Xvfb did not start within 60 s:"; cat "$dir/xvfb.log"; exit 1; fi
    sleep 0.1
done
export DISPLAY=":$(cat "$dir/display")"
x11-capture --out {GUEST_OUT_DIR}/{CAPTURE} --timeout {seconds} &
capture=$!
VENUS_RS_LOG=info vkcube --wsi xcb --c {frames}
status=$?
wait $capture
captured=$?
kill $server
[ $status -eq 0 ] && status=$captured
exit $status
"#,
        seconds = capture_limit.as_secs()
    )
}

pub fn run(home: &Home, args: &[String]) -> Result<i32, String> {
    let demo = parse(args)?;
    let pairing = Pairing {
        guest: GuestDriver::Ours,
        host: HostRenderer::Ours,
        transport: Transport::Qemu(demo.arch),
        accel: Accel::Tcg,
        timeout: demo.timeout,
        reference: Reference::from_env()?,
        qemu_default_settings: false,
        program: vec![
            "sh".to_string(),
            "-c".to_string(),
            guest_script(demo.frames, demo.timeout),
        ],
    };
    let run_dir = pair::new_run_dir(home, &pairing)?;
    let code = pair::run_in_dir(home, &pairing, &run_dir)?;
    if code != 0 {
        return Err(format!(
            "vkcube or its capture failed in the {} guest (exit status {code}); logs in {}",
            demo.arch.name(),
            run_dir.display()
        ));
    }
    let captured = run_dir.join("out").join(CAPTURE);
    std::fs::copy(&captured, &demo.out).map_err(|e| {
        format!(
            "the guest's capture {} could not be copied to {}: {e}",
            captured.display(),
            demo.out.display()
        )
    })?;
    println!(
        "[demo] wrote {}: vkcube's frame {} in an {} guest, rendered on the host's lavapipe through our host \
         (QEMU render server) and presented through our ICD's swapchain on the guest's X server (logs in {})",
        demo.out.display(),
        demo.frames,
        demo.arch.name(),
        run_dir.display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn defaults_are_an_aarch64_guest_300_frames_and_demo_png() {
        let demo = parse(&[]).unwrap();
        assert_eq!(
            (demo.out, demo.frames, demo.arch),
            (PathBuf::from("demo.png"), 300, GuestArch::Aarch64)
        );
    }

    #[test]
    fn options_are_read_and_nonsense_refused() {
        let demo = parse(&args("--out /tmp/cube.png --frames 60 --arch x86_64")).unwrap();
        assert_eq!(
            (demo.out, demo.frames, demo.arch),
            (PathBuf::from("/tmp/cube.png"), 60, GuestArch::X86_64)
        );
        assert!(parse(&args("--frames 0")).is_err());
        assert!(parse(&args("--arch riscv64")).is_err());
        assert!(parse(&args("--color blue")).is_err());
    }

    #[test]
    fn the_guest_script_captures_into_the_output_folder() {
        let script = guest_script(42, Duration::from_secs(100));
        assert!(script.contains("vkcube --wsi xcb --c 42"));
        assert!(script.contains("x11-capture --out /venus-rs/out/vkcube.png --timeout 100"));
    }
}
