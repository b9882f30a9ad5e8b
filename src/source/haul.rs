//! The docker-style `manifest.json` a hauler haul carries beside its layout, so that `docker load` works.
//! airlock verifies the layout; `docker load` reads this file instead. So every name it gives must be an
//! image of the layout, with the same config (the config pins the layers), or the name means two images
//! (SPEC §2 "One name, one image").

use super::{Entry, SourceError};
use crate::digest::Digest;
use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, json};
use crate::reference::DockerRef;
use serde::Deserialize;

#[derive(Deserialize)]
struct Item {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
}

/// Checks `bytes` (the haul's `manifest.json`) against the layout's `entries`; `read` gives a manifest's
/// verified bytes. Returns the damage found.
pub fn check(
    bytes: &[u8],
    entries: &[Entry],
    read: impl Fn(&Desc) -> Result<Vec<u8>, SourceError>,
) -> Vec<SourceError> {
    let malformed = |m: String| SourceError::Malformed(format!("manifest.json: {m}"));
    let items: Vec<Item> = match json::parse(bytes, json::fields::DOCKER_ARCHIVE) {
        Ok(items) => items,
        Err(e) => return vec![malformed(format!("not a docker-archive manifest.json `docker load` can read: {e}"))],
    };
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(config) = blob_digest(&item.config) else {
            problems.push(malformed(format!("[{i}].Config {:?} is not a blob of the layout", item.config)));
            continue;
        };
        for tag in item.repo_tags.iter().flatten() {
            if let Some(problem) = check_name(tag, &config, entries, &read) {
                problems.push(malformed(format!("[{i}]: {problem}")));
            }
        }
    }
    problems
}

/// `blobs/sha256/<hex>` → the digest.
fn blob_digest(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

/// Why `docker load` would load `tag` as another image than the layout's, if it would.
fn check_name(
    tag: &str,
    config: &Digest,
    entries: &[Entry],
    read: &impl Fn(&Desc) -> Result<Vec<u8>, SourceError>,
) -> Option<String> {
    let Ok(name) = DockerRef::parse(tag) else {
        return Some(format!("RepoTags {tag:?} is not an image reference"));
    };
    let named: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.identities().iter().any(|n| n.path() == name.path() && n.tag() == name.tag()))
        .collect();
    if named.is_empty() {
        return Some(format!(
            "`docker load` would load {tag} (config {config}), which index.json does not name: an image airlock \
             does not verify"
        ));
    }
    let configs: Vec<Digest> =
        named.iter().filter_map(|e| e.descriptor.as_ref().ok()).flat_map(|d| configs_of(d, read)).collect();
    if configs.contains(config) {
        return None;
    }
    Some(format!(
        "ambiguous: `docker load` would load {tag} with config {config}, but index.json's {tag} has {}",
        if configs.is_empty() {
            "no readable config".to_string()
        } else {
            configs.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
        }
    ))
}

/// The configs of an image: its manifest's, or those of the platform manifests its index lists.
fn configs_of(desc: &Desc, read: &impl Fn(&Desc) -> Result<Vec<u8>, SourceError>) -> Vec<Digest> {
    let Ok(bytes) = read(desc) else { return Vec::new() };
    match manifest::parse(&bytes, &desc.media_type) {
        Ok(Document::Manifest(m)) => vec![m.config.digest],
        Ok(Document::Index(index)) => index
            .manifests
            .iter()
            .filter(|c| crate::oci::is_manifest_type(&c.media_type))
            .filter_map(|c| read(c).ok().and_then(|b| manifest::parse(&b, &c.media_type).ok()))
            .filter_map(|d| match d {
                Document::Manifest(m) => Some(m.config.digest),
                Document::Index(_) => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}
