//! The crashes the executor fuzzer found (`host/fuzz`), each replayed against the real
//! server with a bystander. The crashing inputs are also seeds of the fuzz targets, so every
//! smoke run replays them too.

use venus_rs_encoder::host::{Command, GetPhysicalDeviceFragmentShadingRatesKHRArgs};

use crate::harness::scenario::Scenario;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_command_of_an_extension_the_driver_lacks_is_not_called() {
    // The fuzzer found vkGetPhysicalDeviceMultisamplePropertiesEXT on a lavapipe without
    // VK_EXT_sample_locations (Mesa 25.0): the loader still hands out a trampoline for a
    // physical-device command of an extension the driver lacks, which jumped to nothing. Mesa
    // 26.1's lavapipe has that extension; it still lacks VK_KHR_fragment_shading_rate.
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let query = Command::GetPhysicalDeviceFragmentShadingRatesKHR(
        GetPhysicalDeviceFragmentShadingRatesKHRArgs {
            physical_device: ids.physical,
            p_fragment_shading_rate_count: Some(0),
            p_fragment_shading_rates: None,
            ret: 0,
        },
    );
    assert!(venus.call(query).is_none(), "the command ran");
    scenario.assert_hostile_ended_for(
        "vkGetPhysicalDeviceFragmentShadingRatesKHR is not available on this device or instance",
    );
}
