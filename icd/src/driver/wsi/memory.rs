//! Memory for swapchain images (device-local) and for the buffers their pixels are copied into
//! (host-visible, read by the CPU, so cached memory is preferred: uncached reads are many times slower).

use ash::vk;

/// The first memory type allowed by `allowed_types` that has every flag of one of `preferences`,
/// trying the preferences in order.
pub fn choose_memory_type(
    properties: &vk::PhysicalDeviceMemoryProperties,
    allowed_types: u32,
    preferences: &[vk::MemoryPropertyFlags],
) -> Option<u32> {
    let types = &properties.memory_types[..properties.memory_type_count as usize];
    preferences.iter().find_map(|wanted| {
        types
            .iter()
            .enumerate()
            .find(|(index, memory_type)| {
                allowed_types & (1 << index) != 0 && memory_type.property_flags.contains(*wanted)
            })
            .map(|(index, _)| index as u32)
    })
}

/// Preferences for memory the CPU reads pixels from.
pub const READBACK_MEMORY: [vk::MemoryPropertyFlags; 3] = [
    vk::MemoryPropertyFlags::from_raw(
        vk::MemoryPropertyFlags::HOST_VISIBLE.as_raw()
            | vk::MemoryPropertyFlags::HOST_CACHED.as_raw()
            | vk::MemoryPropertyFlags::HOST_COHERENT.as_raw(),
    ),
    vk::MemoryPropertyFlags::from_raw(
        vk::MemoryPropertyFlags::HOST_VISIBLE.as_raw()
            | vk::MemoryPropertyFlags::HOST_CACHED.as_raw(),
    ),
    vk::MemoryPropertyFlags::HOST_VISIBLE,
];

/// Preferences for swapchain images.
pub const IMAGE_MEMORY: [vk::MemoryPropertyFlags; 2] = [
    vk::MemoryPropertyFlags::DEVICE_LOCAL,
    vk::MemoryPropertyFlags::empty(),
];

/// Allocates memory of a chosen type for `requirements`, dedicated to `image` or `buffer` (a hint
/// that helps drivers that give whole-resource allocations their own backing, as Venus hosts do).
pub fn allocate(
    device: &ash::Device,
    properties: &vk::PhysicalDeviceMemoryProperties,
    requirements: vk::MemoryRequirements,
    preferences: &[vk::MemoryPropertyFlags],
    dedicated: vk::MemoryDedicatedAllocateInfo<'_>,
) -> Result<(vk::DeviceMemory, vk::MemoryPropertyFlags), vk::Result> {
    let type_index = choose_memory_type(properties, requirements.memory_type_bits, preferences)
        .ok_or(vk::Result::ERROR_OUT_OF_DEVICE_MEMORY)?;
    let mut dedicated = dedicated;
    let info = vk::MemoryAllocateInfo::default()
        .allocation_size(requirements.size)
        .memory_type_index(type_index)
        .push_next(&mut dedicated);
    // SAFETY: a valid allocate info for a live device.
    let memory = unsafe { device.allocate_memory(&info, None) }?;
    Ok((
        memory,
        properties.memory_types[type_index as usize].property_flags,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(flags: &[vk::MemoryPropertyFlags]) -> vk::PhysicalDeviceMemoryProperties {
        let mut properties = vk::PhysicalDeviceMemoryProperties {
            memory_type_count: flags.len() as u32,
            ..Default::default()
        };
        for (slot, flags) in properties.memory_types.iter_mut().zip(flags) {
            slot.property_flags = *flags;
        }
        properties
    }

    #[test]
    fn cached_host_memory_wins_over_uncached_for_readback() {
        let visible_coherent =
            vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
        let cached = visible_coherent | vk::MemoryPropertyFlags::HOST_CACHED;
        let properties = properties(&[
            vk::MemoryPropertyFlags::DEVICE_LOCAL,
            visible_coherent,
            cached,
        ]);
        assert_eq!(
            choose_memory_type(&properties, 0b111, &READBACK_MEMORY),
            Some(2)
        );
        // The resource may forbid the cached type; then any host-visible one does.
        assert_eq!(
            choose_memory_type(&properties, 0b011, &READBACK_MEMORY),
            Some(1)
        );
        assert_eq!(
            choose_memory_type(&properties, 0b001, &READBACK_MEMORY),
            None
        );
    }
}
