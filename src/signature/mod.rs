//! Signatures: finding candidates, checking them with trusted keys, and applying the identity policy.

pub mod blob;
pub mod bundle;
pub mod cert;
pub mod check;
pub mod identity;
pub mod keys;
pub mod payload;
pub mod policy;
pub mod rekor;
