//! VkPhysicalDevice: enumeration on the host and every physical-device query.
//!
//! What cannot change is asked from the host once and kept, as Mesa's Venus does: properties,
//! features, queue families and memory properties with every chained struct the host's device and
//! protocol have, and format properties per format on first use. A query whose chain holds a struct
//! that is not kept (a memory budget, a modifier list, a struct of no offered extension) goes to the
//! host with the application's own structs (the encoder drops structs the protocol cannot carry).
//! Image format, sparse, external and tool queries are not kept (Mesa keeps none of them either).
//! What describes the driver rather than the host's device is then replaced: the API version (capped by the host, its protocol and this ICD), the driver
//! version, name, id and UUID. The extension list is the host's, filtered to what the protocol carries
//! and this ICD can handle.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::{Arc, Mutex, OnceLock};

use ash::vk;
use ash::vk::Handle;
use venus_rs_encoder::protocol::PROTOCOL_EXTENSIONS;

use crate::driver::chain_cache::{
    extension_number, CachedChain, HostDevice, FEATURE_STRUCTS, FORMAT_STRUCTS, PROPERTY_STRUCTS,
    QUEUE_FAMILY_STRUCTS,
};
use crate::driver::generated::calls;
use crate::driver::generated::table::INCOMPLETE_EXTENSIONS;
use crate::driver::handles::Dispatchable;
use crate::driver::host::Host;
use crate::driver::swapchain::SWAPCHAIN_EXTENSIONS;
use crate::driver::{fill_array, DRIVER_NAME, DRIVER_UUID, DRIVER_VERSION, ICD_API_VERSION};
use crate::log::Level;
use crate::venus_log;

/// Device extensions the host offers that this ICD hides: the host's memory budget counts the host
/// process, not what the guest can allocate.
const HIDDEN_BUDGET: &[&str] = &["VK_EXT_memory_budget"];

/// Device extensions this ICD implements itself, whatever the host has: the tools of a device are the
/// guest's (the validation layer answers for itself), and this driver is none.
/// So is VK_EXT_physical_device_drm: the DRM nodes are the guest's.
const ICD_DEVICE_EXTENSIONS: &[(&CStr, u32)] = &[
    (c"VK_EXT_physical_device_drm", 1),
    (c"VK_EXT_tooling_info", 1),
];

/// Offered when the guest's device is a PCI function, whose address it reports.
const PCI_BUS_INFO: &[(&CStr, u32)] = &[(c"VK_EXT_pci_bus_info", 2)];

/// Device extensions the protocol can carry that a guest cannot use: dma-bufs, DRM modifiers and
/// host allocations are the host's, device memory reports would describe the host's process, and
/// placed mappings need addresses the guest does not choose. (Extensions with a command this ICD
/// has no entry point for are never offered either: `INCOMPLETE_EXTENSIONS`.)
const HIDDEN_DEVICE_EXTENSIONS: &[&str] = &[
    // Host image copy needs the MESA copy commands, which the host half does not run.
    "VK_EXT_host_image_copy",
    "VK_EXT_external_memory_dma_buf",
    "VK_EXT_image_drm_format_modifier",
    "VK_ANDROID_external_memory_android_hardware_buffer",
    "VK_ANDROID_native_buffer",
    "VK_EXT_device_memory_report",
    "VK_EXT_map_memory_placed",
];

/// VkPhysicalDeviceLayeredApiPropertiesListKHR (VK_KHR_maintenance7), newer than ash's headers.
const LAYERED_API_PROPERTIES_LIST: vk::StructureType = vk::StructureType::from_raw(1000562002);

/// The layout of VkPhysicalDeviceLayeredApiPropertiesListKHR.
#[repr(C)]
struct LayeredApiPropertiesList {
    s_type: vk::StructureType,
    p_next: *mut c_void,
    layered_api_count: u32,
    p_layered_apis: *mut c_void,
}

/// Property structs this ICD fills itself: the guest's DRM nodes and PCI address, and the list of APIs
/// the implementation is layered on (VK_KHR_maintenance7), which describes the host's driver, not the
/// device the guest sees, and which virglrenderer 1.3 cannot decode (its ring goes FATAL).
const FILLED_BY_ICD: &[vk::StructureType] = &[
    vk::StructureType::PHYSICAL_DEVICE_DRM_PROPERTIES_EXT,
    vk::StructureType::PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT,
    LAYERED_API_PROPERTIES_LIST,
];

/// A host answer kept for later queries: the output struct's own members and its chain.
struct Cached<T> {
    base: T,
    chain: CachedChain,
}

pub struct PhysicalDevice {
    host: Arc<Host>,
    /// The instance the device was enumerated from.
    instance: vk::Instance,
    api_version: u32,
    extensions: Vec<vk::ExtensionProperties>,
    /// The host device's version as its instance sees it, and its extensions (vk.xml numbers), which
    /// say what may be chained in queries to it.
    host_api_version: u32,
    host_extensions: Vec<u32>,
    properties: OnceLock<Cached<vk::PhysicalDeviceProperties>>,
    features: OnceLock<Cached<vk::PhysicalDeviceFeatures>>,
    queue_families: OnceLock<Vec<Cached<vk::QueueFamilyProperties>>>,
    memory_properties: OnceLock<vk::PhysicalDeviceMemoryProperties>,
    formats: Mutex<HashMap<vk::Format, Cached<vk::FormatProperties>>>,
}

pub type PhysicalDeviceHandle = Dispatchable<PhysicalDevice>;

/// # Safety
/// `handle` must be a VkPhysicalDevice of this ICD.
pub unsafe fn physical_device<'a>(handle: vk::PhysicalDevice) -> &'a PhysicalDeviceHandle {
    // SAFETY: per the caller, a live physical device of this ICD.
    unsafe { Dispatchable::from_handle(handle.as_raw()) }.expect("a VkPhysicalDevice of this ICD")
}

fn name_of(property: &vk::ExtensionProperties) -> &CStr {
    // SAFETY: the array is NUL-terminated by the host (the decoder forces the last byte to 0) or by us.
    unsafe { CStr::from_ptr(property.extension_name.as_ptr()) }
}

impl PhysicalDevice {
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    pub fn api_version(&self) -> u32 {
        self.api_version
    }

    pub fn instance(&self) -> vk::Instance {
        self.instance
    }

    /// Whether the host's device has the extension (whatever this ICD offers of it).
    pub fn host_has_extension(&self, name: &CStr) -> bool {
        crate::driver::entry::extension_number(name)
            .is_some_and(|number| self.host_extensions.contains(&number))
    }

    pub fn supports_extension(&self, name: &CStr) -> bool {
        self.extensions.iter().any(|e| name_of(e) == name)
    }

    /// Asks the host for its physical devices under ids chosen here, and reads what the ICD needs of
    /// each (API version, extensions). Boxed: the handles are the boxes' addresses.
    #[allow(clippy::vec_box)]
    pub fn enumerate(
        host: &Arc<Host>,
        instance: u64,
        host_instance_api_version: u32,
    ) -> Result<Vec<Box<PhysicalDeviceHandle>>, vk::Result> {
        let mut count = 0u32;
        // SAFETY: this ICD's physical device, outputs that live across the call.
        let counted = unsafe {
            calls::call_enumerate_physical_devices(
                host,
                vk::Instance::from_raw(instance),
                &mut count,
                std::ptr::null_mut(),
            )
        }?;
        if counted != vk::Result::SUCCESS {
            return Err(counted);
        }
        let mut devices: Vec<Box<PhysicalDeviceHandle>> = (0..count)
            .map(|_| {
                Dispatchable::new(PhysicalDevice {
                    host: Arc::clone(host),
                    instance: vk::Instance::from_raw(instance),
                    api_version: 0,
                    extensions: Vec::new(),
                    host_api_version: 0,
                    host_extensions: Vec::new(),
                    properties: OnceLock::new(),
                    features: OnceLock::new(),
                    queue_families: OnceLock::new(),
                    memory_properties: OnceLock::new(),
                    formats: Mutex::new(HashMap::new()),
                })
            })
            .collect();
        let mut handles: Vec<u64> = devices.iter().map(|d| d.handle()).collect();
        // SAFETY: this ICD's physical device, outputs that live across the call.
        let result = unsafe {
            calls::call_enumerate_physical_devices(
                host,
                vk::Instance::from_raw(instance),
                &mut count,
                handles.as_mut_ptr().cast(),
            )
        }?;
        if result != vk::Result::SUCCESS {
            venus_log!(
                Level::Error,
                "the host's vkEnumeratePhysicalDevices: {result}"
            );
            return Err(result);
        }
        devices.truncate(count as usize);
        for device in &mut devices {
            let handle = device.handle();
            let host_properties = host_properties(host, handle)?;
            device.object.api_version = capped_api_version(host, host_properties.api_version);
            device.object.host_api_version =
                host_properties.api_version.min(host_instance_api_version);
            let host_extensions = host_extensions(host, handle)?;
            device.object.host_extensions = host_extensions
                .iter()
                .filter_map(|property| extension_number(name_of(property).to_str().ok()?))
                .collect();
            device.object.extensions = offered_extensions(host, host_extensions);
            venus_log!(
                Level::Info,
                "physical device {}: {:?}, host API {}.{}.{}, offered API {}.{}, {} extensions",
                device.id(),
                // SAFETY: the decoder forces the name's last byte to NUL.
                unsafe { CStr::from_ptr(host_properties.device_name.as_ptr()) },
                vk::api_version_major(host_properties.api_version),
                vk::api_version_minor(host_properties.api_version),
                vk::api_version_patch(host_properties.api_version),
                vk::api_version_major(device.object.api_version),
                vk::api_version_minor(device.object.api_version),
                device.object.extensions.len()
            );
        }
        Ok(devices)
    }

    /// Replaces what describes the driver in the host's properties.
    fn patch_properties(&self, properties: &mut vk::PhysicalDeviceProperties) {
        hide_sparse_properties(properties);
        properties.api_version = self.api_version;
        properties.driver_version = DRIVER_VERSION;
        // SAFETY: the decoder forces the name's last byte to NUL.
        let host_name = unsafe { CStr::from_ptr(properties.device_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        write_c_string(
            &mut properties.device_name,
            &format!("Virtio-GPU Venus ({host_name})"),
        );
    }

    /// Patches the driver-describing structs of a properties2 `pNext` chain.
    ///
    /// # Safety
    /// `node` must be NULL or a valid, writable Vulkan output chain.
    unsafe fn patch_property_chain(&self, mut node: *mut vk::BaseOutStructure<'_>) {
        while !node.is_null() {
            // SAFETY: every struct of a chain starts with sType and pNext.
            let s_type = unsafe { (*node).s_type };
            match s_type {
                vk::StructureType::PHYSICAL_DEVICE_DRIVER_PROPERTIES => {
                    // SAFETY: the sType says what the struct is.
                    let driver =
                        unsafe { &mut *node.cast::<vk::PhysicalDeviceDriverProperties<'_>>() };
                    driver.driver_id = vk::DriverId::MESA_VENUS;
                    write_c_string(&mut driver.driver_name, DRIVER_NAME);
                    write_c_string(&mut driver.driver_info, &driver_info());
                    driver.conformance_version = vk::ConformanceVersion::default();
                }
                vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES => {
                    // SAFETY: the sType says what the struct is.
                    let v12 =
                        unsafe { &mut *node.cast::<vk::PhysicalDeviceVulkan12Properties<'_>>() };
                    v12.driver_id = vk::DriverId::MESA_VENUS;
                    write_c_string(&mut v12.driver_name, DRIVER_NAME);
                    write_c_string(&mut v12.driver_info, &driver_info());
                    v12.conformance_version = vk::ConformanceVersion::default();
                }
                vk::StructureType::PHYSICAL_DEVICE_DRM_PROPERTIES_EXT => {
                    // SAFETY: the sType says what the struct is.
                    let drm =
                        unsafe { &mut *node.cast::<vk::PhysicalDeviceDrmPropertiesEXT<'_>>() };
                    let nodes = self.host.drm_nodes();
                    let (render_major, render_minor) = nodes.render.unwrap_or_default();
                    let (primary_major, primary_minor) = nodes.primary.unwrap_or_default();
                    drm.has_render = vk::Bool32::from(nodes.render.is_some());
                    drm.has_primary = vk::Bool32::from(nodes.primary.is_some());
                    drm.render_major = render_major as i64;
                    drm.render_minor = render_minor as i64;
                    drm.primary_major = primary_major as i64;
                    drm.primary_minor = primary_minor as i64;
                }
                vk::StructureType::PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT => {
                    // SAFETY: the sType says what the struct is.
                    let pci = unsafe {
                        &mut *node.cast::<vk::PhysicalDevicePCIBusInfoPropertiesEXT<'_>>()
                    };
                    if let Some(address) = self.host.drm_nodes().pci {
                        pci.pci_domain = address.domain;
                        pci.pci_bus = address.bus;
                        pci.pci_device = address.device;
                        pci.pci_function = address.function;
                    }
                }
                vk::StructureType::PHYSICAL_DEVICE_ID_PROPERTIES => {
                    // SAFETY: the sType says what the struct is.
                    let id = unsafe { &mut *node.cast::<vk::PhysicalDeviceIDProperties<'_>>() };
                    id.driver_uuid = DRIVER_UUID;
                }
                vk::StructureType::PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES => {
                    // SAFETY: the sType says what the struct is.
                    let v11 =
                        unsafe { &mut *node.cast::<vk::PhysicalDeviceVulkan11Properties<'_>>() };
                    v11.driver_uuid = DRIVER_UUID;
                }
                LAYERED_API_PROPERTIES_LIST => {
                    // SAFETY: the sType says what the struct is.
                    let layered = unsafe { &mut *node.cast::<LayeredApiPropertiesList>() };
                    // No layering is reported: the guest's device is the Vulkan device itself.
                    layered.layered_api_count = 0;
                }
                _ => {}
            }
            // SAFETY: as above.
            node = unsafe { (*node).p_next };
        }
    }
}

impl PhysicalDeviceHandle {
    fn host_device(&self) -> HostDevice<'_> {
        HostDevice {
            protocol: self.object.host.protocol(),
            api_version: self.object.host_api_version,
            extensions: &self.object.host_extensions,
        }
    }

    /// vkGetPhysicalDeviceProperties2 with every property struct the host's device has, asked once.
    fn cached_properties(&self) -> Result<&Cached<vk::PhysicalDeviceProperties>, vk::Result> {
        if let Some(cached) = self.object.properties.get() {
            return Ok(cached);
        }
        let mut chain = CachedChain::new(&self.host_device().supported(PROPERTY_STRUCTS));
        let mut properties = vk::PhysicalDeviceProperties2 {
            p_next: chain.head(),
            ..Default::default()
        };
        // SAFETY: this ICD's physical device, outputs that live across the call.
        unsafe {
            calls::call_get_physical_device_properties2(
                &self.object.host,
                vk::PhysicalDevice::from_raw(self.handle()),
                &mut properties,
            )
        }?;
        venus_log!(
            Level::Debug,
            "physical device {}: properties kept ({} chained structs)",
            self.id(),
            chain.len()
        );
        let cached = Cached {
            base: properties.properties,
            chain,
        };
        Ok(self.object.properties.get_or_init(|| cached))
    }

    /// vkGetPhysicalDeviceFeatures2 with every feature struct the host's device has, asked once.
    fn cached_features(&self) -> Result<&Cached<vk::PhysicalDeviceFeatures>, vk::Result> {
        if let Some(cached) = self.object.features.get() {
            return Ok(cached);
        }
        let mut chain = CachedChain::new(&self.host_device().supported(FEATURE_STRUCTS));
        let mut features = vk::PhysicalDeviceFeatures2 {
            p_next: chain.head(),
            ..Default::default()
        };
        // SAFETY: this ICD's physical device, outputs that live across the call.
        unsafe {
            calls::call_get_physical_device_features2(
                &self.object.host,
                vk::PhysicalDevice::from_raw(self.handle()),
                &mut features,
            )
        }?;
        venus_log!(
            Level::Debug,
            "physical device {}: features kept ({} chained structs)",
            self.id(),
            chain.len()
        );
        let cached = Cached {
            base: features.features,
            chain,
        };
        Ok(self.object.features.get_or_init(|| cached))
    }

    /// vkGetPhysicalDeviceQueueFamilyProperties2 with the queue family structs the host's device
    /// has, asked once.
    fn cached_queue_families(&self) -> Result<&[Cached<vk::QueueFamilyProperties>], vk::Result> {
        if let Some(cached) = self.object.queue_families.get() {
            return Ok(cached);
        }
        let mut count = 0u32;
        // SAFETY: this ICD's physical device, outputs that live across the call.
        unsafe {
            calls::call_get_physical_device_queue_family_properties2(
                &self.object.host,
                vk::PhysicalDevice::from_raw(self.handle()),
                &mut count,
                std::ptr::null_mut(),
            )
        }?;
        let chained = self.host_device().supported(QUEUE_FAMILY_STRUCTS);
        let mut chains: Vec<CachedChain> = (0..count).map(|_| CachedChain::new(&chained)).collect();
        let mut families: Vec<vk::QueueFamilyProperties2<'_>> = chains
            .iter_mut()
            .map(|chain| vk::QueueFamilyProperties2 {
                p_next: chain.head(),
                ..Default::default()
            })
            .collect();
        // SAFETY: this ICD's physical device, outputs that live across the call.
        unsafe {
            calls::call_get_physical_device_queue_family_properties2(
                &self.object.host,
                vk::PhysicalDevice::from_raw(self.handle()),
                &mut count,
                families.as_mut_ptr(),
            )
        }?;
        let cached: Vec<Cached<vk::QueueFamilyProperties>> = families
            .iter()
            .zip(chains)
            .take(count as usize)
            .map(|(family, chain)| Cached {
                base: family.queue_family_properties,
                chain,
            })
            .collect();
        Ok(self.object.queue_families.get_or_init(|| cached))
    }

    /// The memory types and heaps, asked once. The memory budget is not among them: it changes.
    fn cached_memory_properties(&self) -> Result<&vk::PhysicalDeviceMemoryProperties, vk::Result> {
        if let Some(cached) = self.object.memory_properties.get() {
            return Ok(cached);
        }
        let mut properties = vk::PhysicalDeviceMemoryProperties::default();
        // SAFETY: this ICD's physical device, outputs that live across the call.
        unsafe {
            calls::call_get_physical_device_memory_properties(
                &self.object.host,
                vk::PhysicalDevice::from_raw(self.handle()),
                &mut properties,
            )
        }?;
        Ok(self.object.memory_properties.get_or_init(|| properties))
    }

    /// Fills `properties` (and what of its chain is kept) for `format`, asking the host the first time
    /// this format is asked about. Returns whether the whole chain was filled.
    ///
    /// # Safety
    /// `chain` must be NULL or a valid, writable VkFormatProperties2 output chain.
    unsafe fn fill_format_properties(
        &self,
        format: vk::Format,
        properties: &mut vk::FormatProperties,
        chain: *mut vk::BaseOutStructure<'_>,
    ) -> Result<bool, vk::Result> {
        let mut formats = self
            .object
            .formats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let std::collections::hash_map::Entry::Vacant(slot) = formats.entry(format) {
            let mut cached_chain = CachedChain::new(&self.host_device().supported(FORMAT_STRUCTS));
            let mut host_properties = vk::FormatProperties2 {
                p_next: cached_chain.head(),
                ..Default::default()
            };
            // SAFETY: this ICD's physical device, outputs that live across the call.
            unsafe {
                calls::call_get_physical_device_format_properties2(
                    &self.object.host,
                    vk::PhysicalDevice::from_raw(self.handle()),
                    format,
                    &mut host_properties,
                )
            }?;
            slot.insert(Cached {
                base: host_properties.format_properties,
                chain: cached_chain,
            });
        }
        let cached = &formats[&format];
        *properties = cached.base;
        // SAFETY: a valid chain per the caller.
        Ok(unsafe { cached.chain.fill(chain, &[]) })
    }
}

fn driver_info() -> String {
    format!("venus-rs {}", env!("CARGO_PKG_VERSION"))
}

fn write_c_string(slot: &mut [c_char], text: &str) {
    let bytes = text.as_bytes();
    let len = bytes.len().min(slot.len() - 1);
    for (dst, src) in slot.iter_mut().zip(&bytes[..len]) {
        *dst = *src as c_char;
    }
    for dst in &mut slot[len..] {
        *dst = 0;
    }
}

fn host_properties(host: &Host, handle: u64) -> Result<vk::PhysicalDeviceProperties, vk::Result> {
    let mut properties = vk::PhysicalDeviceProperties::default();
    // SAFETY: this ICD's physical device, outputs that live across the call.
    unsafe {
        calls::call_get_physical_device_properties(
            host,
            vk::PhysicalDevice::from_raw(handle),
            &mut properties,
        )
    }?;
    Ok(properties)
}

/// The lowest of the host device's version, the host's instance version, the protocol's version and
/// this ICD's.
fn capped_api_version(host: &Host, device_version: u32) -> u32 {
    let protocol = host.capset().vk_xml_version.0;
    let capped = device_version.min(host.instance_version()).min(protocol);
    if capped >= ICD_API_VERSION {
        // The patch level is the lower of the driver's and the protocol's (vk.xml's), as Mesa's Venus
        // reports it: the guest can use no more of the API than the protocol carries.
        vk::make_api_version(
            0,
            vk::api_version_major(ICD_API_VERSION),
            vk::api_version_minor(ICD_API_VERSION),
            vk::api_version_patch(capped),
        )
    } else {
        capped
    }
}

/// The host device's extensions, as it lists them.
fn host_extensions(host: &Host, handle: u64) -> Result<Vec<vk::ExtensionProperties>, vk::Result> {
    let mut count = 0u32;
    // SAFETY: this ICD's physical device, outputs that live across the call.
    let counted = unsafe {
        calls::call_enumerate_device_extension_properties(
            host,
            vk::PhysicalDevice::from_raw(handle),
            std::ptr::null(),
            &mut count,
            std::ptr::null_mut(),
        )
    }?;
    if counted != vk::Result::SUCCESS {
        return Err(counted);
    }
    let mut properties = vec![vk::ExtensionProperties::default(); count as usize];
    // SAFETY: this ICD's physical device, outputs that live across the call.
    let listed = unsafe {
        calls::call_enumerate_device_extension_properties(
            host,
            vk::PhysicalDevice::from_raw(handle),
            std::ptr::null(),
            &mut count,
            properties.as_mut_ptr(),
        )
    }?;
    if listed != vk::Result::SUCCESS {
        return Err(listed);
    }
    properties.truncate(count as usize);
    Ok(properties)
}

/// The host's device extensions that its protocol carries and that this ICD does not hide, each at the
/// lower of the host's and the protocol's spec version, and those this ICD implements itself.
fn offered_extensions(
    host: &Host,
    properties: Vec<vk::ExtensionProperties>,
) -> Vec<vk::ExtensionProperties> {
    properties
        .into_iter()
        .filter_map(|mut property| {
            let name = name_of(&property).to_str().ok()?;
            let (_, number, protocol_spec) = PROTOCOL_EXTENSIONS
                .iter()
                .find(|(known, _, _)| *known == name)?;
            let icd_implemented = ICD_DEVICE_EXTENSIONS
                .iter()
                .chain(SWAPCHAIN_EXTENSIONS)
                .chain(PCI_BUS_INFO)
                .any(|(own, _)| own.to_bytes() == name.as_bytes());
            if !host.capset().has_extension(*number)
                || HIDDEN_DEVICE_EXTENSIONS.contains(&name)
                || HIDDEN_BUDGET.contains(&name)
                || INCOMPLETE_EXTENSIONS.contains(&name)
                || icd_implemented
            {
                return None;
            }
            property.spec_version = property.spec_version.min(*protocol_spec);
            Some(property)
        })
        .chain(
            ICD_DEVICE_EXTENSIONS
                .iter()
                .chain(SWAPCHAIN_EXTENSIONS)
                .chain(
                    PCI_BUS_INFO
                        .iter()
                        .filter(|_| host.drm_nodes().pci.is_some()),
                )
                .map(|(name, version)| crate::driver::extension_property(name, *version)),
        )
        .collect()
}

pub unsafe extern "system" fn get_physical_device_properties(
    handle: vk::PhysicalDevice,
    p_properties: *mut vk::PhysicalDeviceProperties,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    if let Ok(cached) = device.cached_properties() {
        // SAFETY: a valid output struct per valid usage.
        let properties = unsafe { &mut *p_properties };
        *properties = cached.base;
        device.object.patch_properties(properties);
    }
}

pub unsafe extern "system" fn get_physical_device_properties2(
    handle: vk::PhysicalDevice,
    p_properties: *mut vk::PhysicalDeviceProperties2<'_>,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: a valid output struct and chain per valid usage.
    let properties = unsafe { &mut *p_properties };
    let filled = device.cached_properties().is_ok_and(|cached| {
        properties.properties = cached.base;
        // SAFETY: as above.
        unsafe { cached.chain.fill(properties.p_next.cast(), FILLED_BY_ICD) }
    });
    if !filled {
        // The structs this ICD fills are taken out of the chain the host sees, then put back.
        // SAFETY: a valid output chain per valid usage.
        let unlinked = unsafe { unlink_structs(p_properties.cast(), FILLED_BY_ICD) };
        // SAFETY: this ICD's physical device, outputs that live across the call.
        let sent = unsafe {
            calls::call_get_physical_device_properties2(device.object.host(), handle, p_properties)
        };
        // SAFETY: the links were taken from this chain, which the host call left alone.
        unsafe { relink_structs(unlinked) };
        if sent.is_err() {
            return;
        }
    }
    device.object.patch_properties(&mut properties.properties);
    // SAFETY: as above.
    unsafe { device.object.patch_property_chain(properties.p_next.cast()) };
}

/// A struct taken out of an output chain: it followed `previous`.
struct Unlinked {
    previous: *mut vk::BaseOutStructure<'static>,
    node: *mut vk::BaseOutStructure<'static>,
}

/// Takes the structs of `s_types` out of the chain after `head`, returning them in chain order.
///
/// # Safety
/// `head` must be a valid, writable Vulkan output struct with a valid chain.
unsafe fn unlink_structs(
    head: *mut vk::BaseOutStructure<'static>,
    s_types: &[vk::StructureType],
) -> Vec<Unlinked> {
    let mut unlinked = Vec::new();
    let mut previous = head;
    // SAFETY: every struct of a valid chain starts with sType and pNext.
    while let Some(node) = unsafe { (*previous).p_next.as_mut() } {
        if s_types.contains(&node.s_type) {
            // SAFETY: as above; the node is skipped by its predecessor.
            unsafe { (*previous).p_next = node.p_next };
            unlinked.push(Unlinked { previous, node });
        } else {
            previous = node;
        }
    }
    unlinked
}

/// Puts back what [`unlink_structs`] took out, last first, so that each goes back after its old
/// predecessor.
///
/// # Safety
/// `unlinked` must come from `unlink_structs` on a chain that was not changed since.
unsafe fn relink_structs(unlinked: Vec<Unlinked>) {
    for Unlinked { previous, node } in unlinked.into_iter().rev() {
        // SAFETY: both structs are still the application's, per the caller.
        unsafe {
            (*node).p_next = (*previous).p_next;
            (*previous).p_next = node;
        }
    }
}

pub unsafe extern "system" fn enumerate_device_extension_properties(
    handle: vk::PhysicalDevice,
    p_layer_name: *const c_char,
    p_count: *mut u32,
    p_properties: *mut vk::ExtensionProperties,
) -> vk::Result {
    if !p_layer_name.is_null() {
        return vk::Result::ERROR_LAYER_NOT_PRESENT;
    }
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: count and array pointers per valid usage.
    unsafe { fill_array(&device.object.extensions, p_count, p_properties) }
}

pub unsafe extern "system" fn enumerate_device_layer_properties(
    _handle: vk::PhysicalDevice,
    p_count: *mut u32,
    _p_properties: *mut vk::LayerProperties,
) -> vk::Result {
    // SAFETY: a valid count pointer per valid usage.
    unsafe { *p_count = 0 };
    vk::Result::SUCCESS
}

/// Sparse resources need vkQueueBindSparse, which this ICD does not carry yet: every sparse feature and
/// property of the host is hidden, as Mesa's Venus does on this host (which, like it, leaves the queue
/// flags alone).
fn hide_sparse_features(features: &mut vk::PhysicalDeviceFeatures) {
    features.sparse_binding = vk::FALSE;
    features.sparse_residency_buffer = vk::FALSE;
    features.sparse_residency_image2_d = vk::FALSE;
    features.sparse_residency_image3_d = vk::FALSE;
    features.sparse_residency2_samples = vk::FALSE;
    features.sparse_residency4_samples = vk::FALSE;
    features.sparse_residency8_samples = vk::FALSE;
    features.sparse_residency16_samples = vk::FALSE;
    features.sparse_residency_aliased = vk::FALSE;
}

fn hide_sparse_properties(properties: &mut vk::PhysicalDeviceProperties) {
    properties.limits.sparse_address_space_size = 0;
    properties.sparse_properties = vk::PhysicalDeviceSparseProperties::default();
}

pub unsafe extern "system" fn get_physical_device_features(
    handle: vk::PhysicalDevice,
    p_features: *mut vk::PhysicalDeviceFeatures,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    if let Ok(cached) = device.cached_features() {
        // SAFETY: a valid output struct per valid usage.
        let features = unsafe { &mut *p_features };
        *features = cached.base;
        hide_sparse_features(features);
    }
}

pub unsafe extern "system" fn get_physical_device_features2(
    handle: vk::PhysicalDevice,
    p_features: *mut vk::PhysicalDeviceFeatures2<'_>,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: a valid output struct and chain per valid usage.
    let features = unsafe { &mut *p_features };
    let filled = device.cached_features().is_ok_and(|cached| {
        features.features = cached.base;
        // SAFETY: as above.
        unsafe {
            cached
                .chain
                .fill(features.p_next.cast(), FEATURES_FILLED_BY_ICD)
        }
    });
    if !filled {
        // SAFETY: a valid output chain per valid usage.
        let unlinked = unsafe { unlink_structs(p_features.cast(), FEATURES_FILLED_BY_ICD) };
        // SAFETY: this ICD's physical device, outputs that live across the call.
        let sent = unsafe {
            calls::call_get_physical_device_features2(device.object.host(), handle, p_features)
        };
        // SAFETY: the links were taken from this chain, which the host call left alone.
        unsafe { relink_structs(unlinked) };
        if sent.is_err() {
            return;
        }
    }
    hide_sparse_features(&mut features.features);
    // SAFETY: as above.
    unsafe { patch_feature_chain(features.p_next.cast()) };
}

/// Feature structs of extensions this ICD implements itself: the swapchain is the guest's.
const FEATURES_FILLED_BY_ICD: &[vk::StructureType] =
    &[vk::StructureType::PHYSICAL_DEVICE_SWAPCHAIN_MAINTENANCE_1_FEATURES_EXT];

/// `VkPhysicalDeviceVulkan14Features` (ash 0.38 predates it): `hostImageCopy` is its 20th
/// VkBool32 after sType and pNext.
const VULKAN_1_4_FEATURES: vk::StructureType = vk::StructureType::from_raw(55);
const VULKAN_1_4_HOST_IMAGE_COPY_OFFSET: usize = 16 + 19 * 4;

/// Host image copy is not offered (the MESA copy commands are not run by the host half); the
/// swapchain's VK_EXT_swapchain_maintenance1 is this ICD's own and always there.
///
/// # Safety
/// `node` must be NULL or a valid, writable VkPhysicalDeviceFeatures2 output chain.
unsafe fn patch_feature_chain(mut node: *mut vk::BaseOutStructure<'_>) {
    while !node.is_null() {
        // SAFETY: every struct of a chain starts with sType and pNext.
        let s_type = unsafe { (*node).s_type };
        if s_type == VULKAN_1_4_FEATURES {
            // SAFETY: the sType says the struct is VkPhysicalDeviceVulkan14Features, whose
            // hostImageCopy member lies at this offset.
            unsafe {
                node.cast::<u8>()
                    .add(VULKAN_1_4_HOST_IMAGE_COPY_OFFSET)
                    .cast::<vk::Bool32>()
                    .write_unaligned(vk::FALSE)
            };
        } else if s_type == vk::StructureType::PHYSICAL_DEVICE_HOST_IMAGE_COPY_FEATURES_EXT {
            // SAFETY: the sType says what the struct is.
            unsafe {
                (*node.cast::<vk::PhysicalDeviceHostImageCopyFeaturesEXT<'_>>()).host_image_copy =
                    vk::FALSE
            };
        } else if s_type == vk::StructureType::PHYSICAL_DEVICE_SWAPCHAIN_MAINTENANCE_1_FEATURES_EXT
        {
            // SAFETY: the sType says what the struct is.
            unsafe {
                (*node.cast::<vk::PhysicalDeviceSwapchainMaintenance1FeaturesEXT<'_>>())
                    .swapchain_maintenance1 = vk::TRUE
            };
        }
        // SAFETY: as above.
        node = unsafe { (*node).p_next };
    }
}

pub unsafe extern "system" fn get_physical_device_queue_family_properties(
    handle: vk::PhysicalDevice,
    p_count: *mut u32,
    p_properties: *mut vk::QueueFamilyProperties,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    let families: Vec<vk::QueueFamilyProperties> = match device.cached_queue_families() {
        Ok(cached) => cached.iter().map(|family| family.base).collect(),
        Err(_) => Vec::new(),
    };
    // SAFETY: count and array pointers per valid usage.
    let _ = unsafe { fill_array(&families, p_count, p_properties) };
}

pub unsafe extern "system" fn get_physical_device_queue_family_properties2(
    handle: vk::PhysicalDevice,
    p_count: *mut u32,
    p_properties: *mut vk::QueueFamilyProperties2<'_>,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    let cached = device.cached_queue_families().unwrap_or_default();
    // SAFETY: a valid count pointer per valid usage.
    let capacity = unsafe { *p_count } as usize;
    if p_properties.is_null() {
        // SAFETY: as above.
        unsafe { *p_count = cached.len() as u32 };
        return;
    }
    let written = cached.len().min(capacity);
    let mut filled = true;
    for (index, family) in cached.iter().take(written).enumerate() {
        // SAFETY: `p_properties` holds `capacity` application structs with valid chains.
        unsafe {
            let out = &mut *p_properties.add(index);
            out.queue_family_properties = family.base;
            filled &= family.chain.fill(out.p_next.cast(), &[]);
        }
    }
    // SAFETY: as above.
    unsafe { *p_count = written as u32 };
    if !filled {
        // SAFETY: as above; the count is the application's capacity again.
        unsafe { *p_count = capacity as u32 };
        // SAFETY: this ICD's physical device, outputs that live across the call.
        let _ = unsafe {
            calls::call_get_physical_device_queue_family_properties2(
                device.object.host(),
                handle,
                p_count,
                p_properties,
            )
        };
    }
}

pub unsafe extern "system" fn get_physical_device_memory_properties(
    handle: vk::PhysicalDevice,
    p_properties: *mut vk::PhysicalDeviceMemoryProperties,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    if let Ok(cached) = device.cached_memory_properties() {
        // SAFETY: a valid output struct per valid usage.
        unsafe { *p_properties = *cached };
    }
}

pub unsafe extern "system" fn get_physical_device_memory_properties2(
    handle: vk::PhysicalDevice,
    p_properties: *mut vk::PhysicalDeviceMemoryProperties2<'_>,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: a valid output struct per valid usage.
    let properties = unsafe { &mut *p_properties };
    if properties.p_next.is_null() {
        if let Ok(cached) = device.cached_memory_properties() {
            properties.memory_properties = *cached;
            return;
        }
    }
    // Chained structs (the memory budget) change over time: always the host's.
    // SAFETY: this ICD's physical device, outputs that live across the call.
    let _ = unsafe {
        calls::call_get_physical_device_memory_properties2(
            device.object.host(),
            handle,
            p_properties,
        )
    };
}

pub unsafe extern "system" fn get_physical_device_format_properties(
    handle: vk::PhysicalDevice,
    format: vk::Format,
    p_properties: *mut vk::FormatProperties,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: a valid output struct per valid usage; no chain.
    let _ =
        unsafe { device.fill_format_properties(format, &mut *p_properties, std::ptr::null_mut()) };
}

pub unsafe extern "system" fn get_physical_device_format_properties2(
    handle: vk::PhysicalDevice,
    format: vk::Format,
    p_properties: *mut vk::FormatProperties2<'_>,
) {
    // SAFETY: a VkPhysicalDevice of this ICD per valid usage.
    let device = unsafe { physical_device(handle) };
    // SAFETY: a valid output struct and chain per valid usage.
    let filled = unsafe {
        let properties = &mut *p_properties;
        device.fill_format_properties(
            format,
            &mut properties.format_properties,
            properties.p_next.cast(),
        )
    };
    if filled != Ok(false) {
        return;
    }
    // SAFETY: this ICD's physical device, outputs that live across the call.
    let _ = unsafe {
        calls::call_get_physical_device_format_properties2(
            device.object.host(),
            handle,
            format,
            p_properties,
        )
    };
}

pub unsafe extern "system" fn get_physical_device_sparse_image_format_properties(
    _handle: vk::PhysicalDevice,
    _format: vk::Format,
    _ty: vk::ImageType,
    _samples: vk::SampleCountFlags,
    _usage: vk::ImageUsageFlags,
    _tiling: vk::ImageTiling,
    p_count: *mut u32,
    _p_properties: *mut vk::SparseImageFormatProperties,
) {
    // SAFETY: a valid count pointer per valid usage.
    unsafe { *p_count = 0 };
}

pub unsafe extern "system" fn get_physical_device_sparse_image_format_properties2(
    _handle: vk::PhysicalDevice,
    _p_info: *const vk::PhysicalDeviceSparseImageFormatInfo2<'_>,
    p_count: *mut u32,
    _p_properties: *mut vk::SparseImageFormatProperties2<'_>,
) {
    // SAFETY: a valid count pointer per valid usage.
    unsafe { *p_count = 0 };
}

pub unsafe extern "system" fn get_physical_device_tool_properties(
    _handle: vk::PhysicalDevice,
    p_count: *mut u32,
    _p_properties: *mut vk::PhysicalDeviceToolProperties<'_>,
) -> vk::Result {
    // SAFETY: a valid count pointer per valid usage.
    unsafe { *p_count = 0 };
    vk::Result::SUCCESS
}
