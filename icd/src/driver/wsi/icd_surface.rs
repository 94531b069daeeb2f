//! The surfaces the Vulkan loader makes for an ICD that does not create its own: a `VkSurfaceKHR` is
//! the address of one of these structs (layouts from the loader's `vk_icd.h`), whose first member
//! names the window system.

use ash::vk;
use std::ffi::{c_ulong, c_void};

/// `VkIcdWsiPlatform`, in the loader's order (the C enum counts from 0).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcdWsiPlatform(pub i32);

impl IcdWsiPlatform {
    pub const WAYLAND: IcdWsiPlatform = IcdWsiPlatform(1);
    pub const XCB: IcdWsiPlatform = IcdWsiPlatform(3);
    pub const XLIB: IcdWsiPlatform = IcdWsiPlatform(4);
    pub const HEADLESS: IcdWsiPlatform = IcdWsiPlatform(9);
}

/// `VkIcdSurfaceBase`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcdSurfaceBase {
    pub platform: IcdWsiPlatform,
}

/// `VkIcdSurfaceXcb`: the application's `xcb_connection_t*` and its window.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcdSurfaceXcb {
    pub base: IcdSurfaceBase,
    pub connection: *mut c_void,
    pub window: u32,
}

/// `VkIcdSurfaceXlib`: the application's `Display*` and its `Window`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcdSurfaceXlib {
    pub base: IcdSurfaceBase,
    pub dpy: *mut c_void,
    pub window: c_ulong,
}

/// `VkIcdSurfaceWayland`: the application's `wl_display*` and `wl_surface*`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcdSurfaceWayland {
    pub base: IcdSurfaceBase,
    pub display: *mut c_void,
    pub surface: *mut c_void,
}

/// `VkIcdSurfaceHeadless`: nothing but the platform.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IcdSurfaceHeadless {
    pub base: IcdSurfaceBase,
}

/// What a surface handle points at, copied out of the loader's struct.
#[derive(Clone, Copy, Debug)]
pub enum Surface {
    Xcb {
        connection: *mut c_void,
        window: u32,
    },
    Xlib {
        display: *mut c_void,
        window: c_ulong,
    },
    Wayland {
        display: *mut c_void,
        surface: *mut c_void,
    },
    Headless,
}

impl Surface {
    /// Reads the loader's surface struct behind `handle`. `None` for NULL and for window systems this
    /// WSI cannot present to (Win32, Metal, Android, display planes...).
    ///
    /// # Safety
    /// `handle` must be NULL or a `VkSurfaceKHR` made by the Vulkan loader (the address of a live
    /// `VkIcdSurface*` struct), as it is for every surface an application hands this ICD.
    pub unsafe fn from_handle(handle: vk::SurfaceKHR) -> Option<Surface> {
        use ash::vk::Handle;
        let address = handle.as_raw() as usize;
        if address == 0 {
            return None;
        }
        // SAFETY: per the caller, a live loader surface; every variant starts with VkIcdSurfaceBase.
        let platform = unsafe { (*(address as *const IcdSurfaceBase)).platform };
        match platform {
            IcdWsiPlatform::XCB => {
                // SAFETY: the platform field says the loader allocated a IcdSurfaceXcb there.
                let xcb = unsafe { *(address as *const IcdSurfaceXcb) };
                Some(Surface::Xcb {
                    connection: xcb.connection,
                    window: xcb.window,
                })
            }
            IcdWsiPlatform::XLIB => {
                // SAFETY: the platform field says the loader allocated a IcdSurfaceXlib there.
                let xlib = unsafe { *(address as *const IcdSurfaceXlib) };
                Some(Surface::Xlib {
                    display: xlib.dpy,
                    window: xlib.window,
                })
            }
            IcdWsiPlatform::WAYLAND => {
                // SAFETY: the platform field says the loader allocated a IcdSurfaceWayland there.
                let wayland = unsafe { *(address as *const IcdSurfaceWayland) };
                Some(Surface::Wayland {
                    display: wayland.display,
                    surface: wayland.surface,
                })
            }
            IcdWsiPlatform::HEADLESS => Some(Surface::Headless),
            _ => None,
        }
    }

    /// The name used in logs and in the present-path report.
    pub fn platform_name(&self) -> &'static str {
        match self {
            Surface::Xcb { .. } => "xcb",
            Surface::Xlib { .. } => "xlib",
            Surface::Wayland { .. } => "wayland",
            Surface::Headless => "headless",
        }
    }
}

/// A loader-style surface handle for a struct the caller owns (tests and harnesses build surfaces the
/// way the loader does).
pub fn handle_of<T>(surface: &T) -> vk::SurfaceKHR {
    use ash::vk::Handle;
    vk::SurfaceKHR::from_raw(surface as *const T as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_loader_header() {
        // vk_icd.h on LP64: the platform enum is 4 bytes, pointers are 8-aligned.
        assert_eq!(std::mem::offset_of!(IcdSurfaceXcb, connection), 8);
        assert_eq!(std::mem::offset_of!(IcdSurfaceXcb, window), 16);
        assert_eq!(std::mem::offset_of!(IcdSurfaceWayland, surface), 16);
        assert_eq!(std::mem::offset_of!(IcdSurfaceXlib, window), 16);
        assert_eq!(std::mem::size_of::<IcdSurfaceHeadless>(), 4);
    }

    #[test]
    fn a_handle_decodes_to_its_platform() {
        let xcb = IcdSurfaceXcb {
            base: IcdSurfaceBase {
                platform: IcdWsiPlatform::XCB,
            },
            connection: 0x1234 as *mut c_void,
            window: 77,
        };
        // SAFETY: the handle is the address of a live struct laid out as the loader's.
        match unsafe { Surface::from_handle(handle_of(&xcb)) } {
            Some(Surface::Xcb { connection, window }) => {
                assert_eq!((connection as usize, window), (0x1234, 77))
            }
            other => panic!("{other:?}"),
        }
        let win32_like = IcdSurfaceHeadless {
            base: IcdSurfaceBase {
                platform: IcdWsiPlatform(2),
            },
        };
        // SAFETY: as above.
        assert!(unsafe { Surface::from_handle(handle_of(&win32_like)) }.is_none());
        // SAFETY: NULL is accepted.
        assert!(unsafe { Surface::from_handle(vk::SurfaceKHR::null()) }.is_none());
    }
}
