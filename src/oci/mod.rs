//! The bottom vocabulary every layer shares (go-containerregistry's `pkg/v1`): descriptors, platforms,
//! media types, the one strict JSON reader (SPEC §8) and typed manifests and indexes.

pub mod json;
pub mod manifest;
pub mod platform;

use crate::digest::Digest;
use std::collections::BTreeMap;
use std::fmt;

/// Manifests, indexes, configs and signature payloads larger than this are refused (SPEC §8).
pub const METADATA_LIMIT: u64 = 4 << 20;
/// A bundle's own table of contents (a layout's top-level `index.json`, hangar's `index.json`, a
/// docker-archive `manifest.json`) may be this large (SPEC §8).
pub const TOC_LIMIT: u64 = 256 << 20;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Every sigstore bundle media type and artifact type starts so (`…bundle+json;version=0.3`, `…bundle.v0.3+json`).
pub const BUNDLE_MEDIA_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// At most this many signature layers in one `.sig` manifest, and referrers per digest (SPEC §8).
pub const MAX_SIGNATURES: usize = 1000;

pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

pub fn is_manifest_type(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// An OS/architecture/variant triple.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor with a validated digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desc {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub platform: Option<Platform>,
    pub annotations: BTreeMap<String, String>,
    pub artifact_type: Option<String>,
    pub urls: Vec<String>,
}

impl Desc {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Desc {
        Desc {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
            urls: Vec::new(),
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}
