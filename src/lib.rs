//! airlock: verify container image bundles (OCI layouts, archives, registries) and their sigstore
//! signatures, offline first. The binary in `main.rs` is glue; everything lives in this library.

pub mod digest;
pub mod imagelist;
pub mod reference;
pub mod signature;
