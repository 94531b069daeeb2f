//! Captures an application's window from outside, as a screenshot tool does: another X client that
//! reads the window's pixels with GetImage. It waits for the application's top-level window — the
//! one whose name contains `--name`, or the only one shown when no name is given (vkcube names its
//! X window nothing) — reads it again and again while it is shown, and when the window goes away
//! (the application exited) writes the last complete capture as a PNG: the application's final
//! frame, or one just before it. Used by `cargo xtask demo` inside the guest and natively as its
//! oracle.
//!
//! usage: x11-capture --out FILE.png [--name TEXT] [--timeout SECONDS]
//! Prints `x11-capture: OK WxH, N captures, FILE.png` or fails with the reason.

use std::time::{Duration, Instant};

use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

/// How often the window list is read while waiting for the application's window.
const POLL: Duration = Duration::from_millis(20);

struct Options {
    name: Option<String>,
    out: String,
    timeout: Duration,
}

fn parse_options() -> Result<Options, String> {
    let mut name = None;
    let mut out = None;
    let mut timeout = Duration::from_secs(300);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--name" => name = Some(value()?),
            "--out" => out = Some(value()?),
            "--timeout" => {
                let seconds = value()?;
                timeout = Duration::from_secs(
                    seconds
                        .parse()
                        .map_err(|_| format!("--timeout {seconds}: not a number of seconds"))?,
                );
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Options {
        name,
        out: out.ok_or("--out is required")?,
        timeout,
    })
}

/// One capture: the window's size and its pixels as RGB.
struct Capture {
    width: u16,
    height: u16,
    rgb: Vec<u8>,
}

/// The WM_NAME of each mapped top-level window, for the message of a failed search.
fn top_level_names(
    connection: &RustConnection,
    root: xproto::Window,
) -> Result<Vec<String>, String> {
    let tree = connection
        .query_tree(root)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| format!("QueryTree: {e}"))?;
    Ok(tree
        .children
        .into_iter()
        .filter(|&window| is_viewable(connection, window))
        .map(|window| window_name(connection, window).unwrap_or_default())
        .collect())
}

fn is_viewable(connection: &RustConnection, window: xproto::Window) -> bool {
    connection
        .get_window_attributes(window)
        .ok()
        .and_then(|cookie| cookie.reply().ok())
        .is_some_and(|attributes| attributes.map_state == xproto::MapState::VIEWABLE)
}

/// WM_NAME (ICCCM) or _NET_WM_NAME (EWMH), whichever the application set.
fn window_name(connection: &RustConnection, window: xproto::Window) -> Option<String> {
    let net_wm_name = connection
        .intern_atom(true, b"_NET_WM_NAME")
        .ok()?
        .reply()
        .ok()?
        .atom;
    [u32::from(xproto::AtomEnum::WM_NAME), net_wm_name]
        .into_iter()
        .filter(|&atom| atom != u32::from(xproto::AtomEnum::NONE))
        .find_map(|atom| {
            let value = connection
                .get_property(false, window, atom, xproto::AtomEnum::ANY, 0, 1024)
                .ok()?
                .reply()
                .ok()?
                .value;
            (!value.is_empty()).then(|| String::from_utf8_lossy(&value).into_owned())
        })
}

/// The application's window, if it is shown now: the mapped top-level window whose name contains
/// `name`, or without a name the only mapped top-level window (none while there are several).
fn find_window(
    connection: &RustConnection,
    root: xproto::Window,
    name: Option<&str>,
) -> Result<Option<xproto::Window>, String> {
    let tree = connection
        .query_tree(root)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| format!("QueryTree: {e}"))?;
    // A window may vanish between the tree and the later requests: that is "not this one".
    let mut shown = tree
        .children
        .into_iter()
        .filter(|&window| is_viewable(connection, window));
    Ok(match name {
        Some(name) => shown.find(|&window| {
            window_name(connection, window).is_some_and(|title| title.contains(name))
        }),
        None => match (shown.next(), shown.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    })
}

/// Reads the whole window; `None` once it is gone (or unmapped, which GetImage refuses).
fn capture(
    connection: &RustConnection,
    window: xproto::Window,
    depth_of_window: u8,
) -> Result<Option<Capture>, String> {
    let Ok(geometry) = connection
        .get_geometry(window)
        .map_err(|e| e.to_string())?
        .reply()
    else {
        return Ok(None);
    };
    let Ok(image) = connection
        .get_image(
            xproto::ImageFormat::Z_PIXMAP,
            window,
            0,
            0,
            geometry.width,
            geometry.height,
            !0,
        )
        .map_err(|e| e.to_string())?
        .reply()
    else {
        return Ok(None);
    };
    if image.depth != depth_of_window || !matches!(image.depth, 24 | 32) {
        return Err(format!(
            "the window has depth {}; this tool reads 24- and 32-bit TrueColor windows",
            image.depth
        ));
    }
    let pixels = usize::from(geometry.width) * usize::from(geometry.height);
    if image.data.len() < pixels * 4 {
        return Err(format!(
            "GetImage returned {} bytes for {}x{} pixels",
            image.data.len(),
            geometry.width,
            geometry.height
        ));
    }
    // Z-pixmap of depth 24/32 on a little-endian server: 4 bytes per pixel, B, G, R, unused.
    let rgb = image.data[..pixels * 4]
        .chunks_exact(4)
        .flat_map(|bgrx| [bgrx[2], bgrx[1], bgrx[0]])
        .collect();
    Ok(Some(Capture {
        width: geometry.width,
        height: geometry.height,
        rgb,
    }))
}

fn write_png(path: &str, capture: &Capture) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("cannot create {path}: {e}"))?;
    let mut encoder = png::Encoder::new(
        std::io::BufWriter::new(file),
        u32::from(capture.width),
        u32::from(capture.height),
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("{path}: {e}"))?;
    writer
        .write_image_data(&capture.rgb)
        .map_err(|e| format!("{path}: {e}"))?;
    writer.finish().map_err(|e| format!("{path}: {e}"))
}

fn run(options: &Options) -> Result<String, String> {
    let deadline = Instant::now() + options.timeout;
    let (connection, screen) =
        x11rb::connect(None).map_err(|e| format!("cannot connect to the X server: {e}"))?;
    let root = connection.setup().roots[screen].root;
    let window = loop {
        if let Some(window) = find_window(&connection, root, options.name.as_deref())? {
            break window;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no window {} appeared within {} s; the top-level windows shown are named {:?}",
                options
                    .name
                    .as_ref()
                    .map_or("alone on the screen".to_string(), |name| format!(
                        "named like {name:?}"
                    )),
                options.timeout.as_secs(),
                top_level_names(&connection, root)?
            ));
        }
        std::thread::sleep(POLL);
    };
    let depth = connection
        .get_geometry(window)
        .map_err(|e| e.to_string())?
        .reply()
        .map_err(|e| format!("GetGeometry of the window: {e}"))?
        .depth;
    let mut last = None;
    let mut captures = 0u32;
    while let Some(current) = capture(&connection, window, depth)? {
        last = Some(current);
        captures += 1;
        if Instant::now() > deadline {
            return Err(format!(
                "the window was still open after {} s ({captures} captures)",
                options.timeout.as_secs()
            ));
        }
    }
    let last = last.ok_or("the window went away before it could be read once")?;
    write_png(&options.out, &last)?;
    Ok(format!(
        "{}x{}, {captures} captures, {}",
        last.width, last.height, options.out
    ))
}

fn main() {
    let outcome = parse_options().and_then(|options| run(&options));
    match outcome {
        Ok(summary) => println!("x11-capture: OK {summary}"),
        Err(reason) => {
            println!("x11-capture: FAILED: {reason}");
            std::process::exit(1);
        }
    }
}
