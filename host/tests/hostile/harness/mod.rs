//! What the hostile tests share: the chroot, our server in it, the bystander and the raw
//! hostile client.

pub mod bystander;
pub mod chroot;
pub mod copy;
pub mod objects;
pub mod ring;
pub mod scenario;
pub mod server;
pub mod usage;
pub mod venus;
pub mod vtest_client;
