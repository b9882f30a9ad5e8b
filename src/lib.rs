//! airlock: verify container image bundles (OCI layouts, archives, registries) and their sigstore
//! signatures, offline first. The binary in `main.rs` is glue; everything lives in this library.

pub mod admission;
pub mod deadline;
pub mod digest;
pub mod digests;
pub mod finding;
pub mod hints;
pub mod imagelist;
pub mod import;
pub mod interrupt;
pub mod listing;
pub mod merge;
pub mod oci;
pub mod packages;
pub mod reference;
pub mod report;
pub mod session;
pub mod signature;
pub mod source;
pub mod trust;
pub mod verify;
pub mod yaml;

/// The version and the git commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("AIRLOCK_GIT_COMMIT"), ")");
