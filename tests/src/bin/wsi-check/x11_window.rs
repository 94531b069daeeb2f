//! The test's own X11 side: a window on the application's xcb connection (libxcb, as a real
//! application has), and a second, independent client that reads the window back with GetImage.

use ash::vk;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::xcb_ffi::XCBConnection;

pub struct AppWindow {
    pub connection: XCBConnection,
    pub window: xproto::Window,
}

impl AppWindow {
    /// A mapped top-level window of `extent` at the screen's origin.
    pub fn open(extent: vk::Extent2D) -> Result<AppWindow, String> {
        let (connection, screen) =
            XCBConnection::connect(None).map_err(|e| format!("cannot connect to X: {e}"))?;
        let window = create_mapped_window(&connection, screen, extent)?;
        Ok(AppWindow { connection, window })
    }

    /// A mapped window with a 32-bit (alpha) TrueColor visual, as compositing-aware applications make.
    pub fn open_with_alpha(extent: vk::Extent2D) -> Result<AppWindow, String> {
        let (connection, screen) =
            XCBConnection::connect(None).map_err(|e| format!("cannot connect to X: {e}"))?;
        let root = &connection.setup().roots[screen];
        let visual = root
            .allowed_depths
            .iter()
            .filter(|depth| depth.depth == 32)
            .flat_map(|depth| &depth.visuals)
            .find(|visual| visual.class == xproto::VisualClass::TRUE_COLOR)
            .ok_or("the X server has no depth-32 TrueColor visual")?
            .visual_id;
        let colormap = connection.generate_id().map_err(|e| e.to_string())?;
        connection
            .create_colormap(xproto::ColormapAlloc::NONE, colormap, root.root, visual)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("CreateColormap: {e}"))?;
        let window = connection.generate_id().map_err(|e| e.to_string())?;
        let attributes = xproto::CreateWindowAux::new()
            .background_pixel(0)
            .border_pixel(0)
            .colormap(colormap)
            .override_redirect(1);
        connection
            .create_window(
                32,
                window,
                root.root,
                0,
                0,
                extent.width as u16,
                extent.height as u16,
                0,
                xproto::WindowClass::INPUT_OUTPUT,
                visual,
                &attributes,
            )
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("CreateWindow depth 32: {e}"))?;
        map_and_wait(&connection, window)?;
        Ok(AppWindow { connection, window })
    }

    pub fn raw_connection(&self) -> *mut std::ffi::c_void {
        self.connection.get_raw_xcb_connection()
    }

    /// Resizes the window and waits until the server has done it.
    pub fn resize(&self, extent: vk::Extent2D) -> Result<(), String> {
        let size = xproto::ConfigureWindowAux::new()
            .width(extent.width)
            .height(extent.height);
        self.connection
            .configure_window(self.window, &size)
            .map_err(|e| e.to_string())?
            .check()
            .map_err(|e| format!("ConfigureWindow: {e}"))
    }
}

/// Creates and maps a window on `connection`'s screen `screen`, waiting until it is viewable.
pub fn create_mapped_window(
    connection: &impl Connection,
    screen: usize,
    extent: vk::Extent2D,
) -> Result<xproto::Window, String> {
    let root = &connection.setup().roots[screen];
    let window = connection.generate_id().map_err(|e| e.to_string())?;
    let attributes = xproto::CreateWindowAux::new()
        .background_pixel(root.black_pixel)
        .override_redirect(1);
    connection
        .create_window(
            x11rb::COPY_DEPTH_FROM_PARENT,
            window,
            root.root,
            0,
            0,
            extent.width as u16,
            extent.height as u16,
            0,
            xproto::WindowClass::INPUT_OUTPUT,
            root.root_visual,
            &attributes,
        )
        .map_err(|e| e.to_string())?
        .check()
        .map_err(|e| format!("CreateWindow: {e}"))?;
    map_and_wait(connection, window)?;
    Ok(window)
}

fn map_and_wait(connection: &impl Connection, window: xproto::Window) -> Result<(), String> {
    connection
        .map_window(window)
        .map_err(|e| e.to_string())?
        .check()
        .map_err(|e| format!("MapWindow: {e}"))?;
    for _ in 0..100 {
        let state = connection
            .get_window_attributes(window)
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| e.to_string())?
            .map_state;
        if state == xproto::MapState::VIEWABLE {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err("the window never became viewable".to_string())
}

/// A separate X client that reads windows back, as a screenshot tool would.
pub struct Reader {
    connection: XCBConnection,
}

impl Reader {
    pub fn connect() -> Result<Reader, String> {
        let (connection, _) =
            XCBConnection::connect(None).map_err(|e| format!("cannot connect to X: {e}"))?;
        Ok(Reader { connection })
    }

    /// The window's pixels as (r, g, b) rows.
    pub fn read(
        &self,
        window: xproto::Window,
        extent: vk::Extent2D,
    ) -> Result<Vec<[u8; 3]>, String> {
        Ok(self
            .read_bgrx(window, extent)?
            .into_iter()
            .map(|pixel| [pixel[2], pixel[1], pixel[0]])
            .collect())
    }

    /// The window's pixels as the server stores them: B, G, R and the depth-32 alpha (or padding).
    pub fn read_bgrx(
        &self,
        window: xproto::Window,
        extent: vk::Extent2D,
    ) -> Result<Vec<[u8; 4]>, String> {
        let reply = self
            .connection
            .get_image(
                xproto::ImageFormat::Z_PIXMAP,
                window,
                0,
                0,
                extent.width as u16,
                extent.height as u16,
                !0,
            )
            .map_err(|e| e.to_string())?
            .reply()
            .map_err(|e| format!("GetImage: {e}"))?;
        let expected = (extent.width * extent.height * 4) as usize;
        if reply.data.len() != expected {
            return Err(format!(
                "GetImage gave {} bytes, not {expected} (depth {})",
                reply.data.len(),
                reply.depth
            ));
        }
        Ok(reply
            .data
            .chunks_exact(4)
            .map(|pixel| [pixel[0], pixel[1], pixel[2], pixel[3]])
            .collect())
    }
}
