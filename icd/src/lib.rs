//! The guest half of venus-rs: the Vulkan ICD loaded by applications in the guest. Not implemented yet.
