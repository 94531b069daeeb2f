//! The crashes the executor fuzzer found (`host/fuzz`), each replayed against the real
//! server with a bystander. The crashing inputs are also seeds of the fuzz targets, so every
//! smoke run replays them too.

use venus_rs_encoder::host::types::MultisamplePropertiesEXT;
use venus_rs_encoder::host::{Command, GetPhysicalDeviceMultisamplePropertiesEXTArgs};

use crate::harness::scenario::Scenario;

#[test]
#[ignore = "needs the reference chroot; run by `cargo xtask test`"]
fn a_command_of_an_extension_the_driver_lacks_is_not_called() {
    // Lavapipe has no VK_EXT_sample_locations; the loader still hands out a trampoline for
    // its physical-device command, which jumped to nothing.
    let scenario = Scenario::start(&[]);
    let mut venus = scenario.hostile();
    let ids = venus.create_device();
    let query = Command::GetPhysicalDeviceMultisamplePropertiesEXT(
        GetPhysicalDeviceMultisamplePropertiesEXTArgs {
            physical_device: ids.physical,
            samples: 4,
            p_multisample_properties: Some(Box::new(MultisamplePropertiesEXT::default())),
        },
    );
    assert!(venus.call(query).is_none(), "the command ran");
    scenario.assert_hostile_ended_for(
        "vkGetPhysicalDeviceMultisamplePropertiesEXT is not available on this device or instance",
    );
}
