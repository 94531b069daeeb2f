//! The test's own Wayland side: a libwayland connection (as a real application has), an xdg toplevel
//! surface configured by the compositor, and a screenshot of the compositor's output
//! (`weston-screenshooter`, which needs weston's `--debug`).

use std::ffi::c_void;
use std::path::Path;
use std::process::Command;
use wayland_client::protocol::{wl_compositor, wl_registry, wl_surface};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle};
use wayland_protocols::xdg::shell::client::{xdg_surface, xdg_toplevel, xdg_wm_base};

#[derive(Default)]
pub struct AppState {
    compositor: Option<wl_compositor::WlCompositor>,
    wm_base: Option<xdg_wm_base::XdgWmBase>,
    configured: bool,
}

pub struct AppSurface {
    pub connection: Connection,
    pub queue: EventQueue<AppState>,
    pub state: AppState,
    pub surface: wl_surface::WlSurface,
    _xdg_surface: xdg_surface::XdgSurface,
    _toplevel: xdg_toplevel::XdgToplevel,
}

impl AppSurface {
    pub fn open() -> Result<AppSurface, String> {
        let connection =
            Connection::connect_to_env().map_err(|e| format!("cannot connect to Wayland: {e}"))?;
        let mut queue = connection.new_event_queue();
        let handle = queue.handle();
        let mut state = AppState::default();
        let _registry = connection.display().get_registry(&handle, ());
        queue.roundtrip(&mut state).map_err(|e| e.to_string())?;
        let compositor = state.compositor.clone().ok_or("no wl_compositor")?;
        let wm_base = state.wm_base.clone().ok_or("no xdg_wm_base")?;
        let surface = compositor.create_surface(&handle, ());
        let xdg_surface = wm_base.get_xdg_surface(&surface, &handle, ());
        let toplevel = xdg_surface.get_toplevel(&handle, ());
        toplevel.set_title("wsi-check".to_string());
        surface.commit();
        while !state.configured {
            queue
                .blocking_dispatch(&mut state)
                .map_err(|e| e.to_string())?;
        }
        Ok(AppSurface {
            connection,
            queue,
            state,
            surface,
            _xdg_surface: xdg_surface,
            _toplevel: toplevel,
        })
    }

    pub fn display_ptr(&self) -> *mut c_void {
        self.connection.backend().display_ptr().cast()
    }

    pub fn surface_ptr(&self) -> *mut c_void {
        self.surface.id().as_ptr().cast()
    }

    /// Answers the compositor's pings and the like, as an application's main loop would.
    pub fn dispatch(&mut self) -> Result<(), String> {
        self.queue
            .dispatch_pending(&mut self.state)
            .map_err(|e| e.to_string())?;
        self.connection.flush().map_err(|e| e.to_string())
    }
}

/// The compositor's output as (width, height, RGB pixels), through weston-screenshooter run in `dir`.
pub fn screenshot(dir: &Path) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("wayland-screenshot")
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let output = Command::new("weston-screenshooter")
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run weston-screenshooter: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "weston-screenshooter failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let file = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .find(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("wayland-screenshot")
        })
        .ok_or("weston-screenshooter wrote no file")?
        .path();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&file).map_err(|e| e.to_string())?,
    ));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader
        .output_buffer_size()
        .ok_or("the screenshot is too large to decode")?;
    let mut buffer = vec![0; size];
    let info = reader.next_frame(&mut buffer).map_err(|e| e.to_string())?;
    let channels = info.color_type.samples();
    if info.bit_depth != png::BitDepth::Eight || channels < 3 {
        return Err(format!(
            "unexpected screenshot format {:?} {:?}",
            info.color_type, info.bit_depth
        ));
    }
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|pixel| [pixel[0], pixel[1], pixel[2]])
        .collect();
    Ok((info.width, info.height, pixels))
}

impl Dispatch<wl_registry::WlRegistry, ()> for AppState {
    fn event(
        state: &mut Self,
        registry: &wl_registry::WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        handle: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name,
            interface,
            version,
        } = event
        {
            if interface == wl_compositor::WlCompositor::interface().name {
                state.compositor = Some(registry.bind(name, version.min(4), handle, ()));
            } else if interface == xdg_wm_base::XdgWmBase::interface().name {
                state.wm_base = Some(registry.bind(name, 1, handle, ()));
            }
        }
    }
}

impl Dispatch<wl_compositor::WlCompositor, ()> for AppState {
    fn event(
        _: &mut Self,
        _: &wl_compositor::WlCompositor,
        _: wl_compositor::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<wl_surface::WlSurface, ()> for AppState {
    fn event(
        _: &mut Self,
        _: &wl_surface::WlSurface,
        _: wl_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<xdg_wm_base::XdgWmBase, ()> for AppState {
    fn event(
        _: &mut Self,
        wm_base: &xdg_wm_base::XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<xdg_surface::XdgSurface, ()> for AppState {
    fn event(
        state: &mut Self,
        xdg_surface: &xdg_surface::XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            state.configured = true;
        }
    }
}

impl Dispatch<xdg_toplevel::XdgToplevel, ()> for AppState {
    fn event(
        _: &mut Self,
        _: &xdg_toplevel::XdgToplevel,
        _: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}
