//! docker-archive (`docker save`, RKE2/k3s `*-images.tar`): `manifest.json` names each image's config
//! and its uncompressed layer tars. No manifest is kept, so one is reconstructed per image (Docker schema 2,
//! layers by diff_id) for the engine to walk; integrity comes from the config's file name and diff_ids.

use super::store::Files;
use super::{Damage, Entry, Info, Scan, Source, SourceError};
use crate::digest::{Digest, Mismatch, check_bytes};
use crate::oci::manifest::MAX_TOC_ENTRIES;
use crate::oci::{DOCKER_MANIFEST, Desc, METADATA_LIMIT, TOC_LIMIT};
use crate::reference::DockerRef;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

pub const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// At most this many layers per image (SPEC §8); `manifest.json` is a table of contents, with its own
/// bounds.
pub const MAX_LAYERS: usize = 10_000;
/// Set on each entry's descriptor: the manifest it points at was made by airlock, not stored.
pub const RECONSTRUCTED: &str = "docker-archive: manifest reconstructed from manifest.json and the config \
     (the format keeps none), so its digest is not the registry's";
pub const NO_SIGNATURES: &str = "docker-archive keeps no manifest digests, so its images cannot carry \
     verifiable signatures; carry images as an OCI layout, hauler haul or cosign save instead";

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// One `manifest.json` element as docker writes it.
#[derive(serde::Deserialize)]
struct Item {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// A config or layer file and what its sha256 must be.
#[derive(Default)]
struct Member {
    /// `None` when a name in `manifest.json` has no file.
    size: Option<u64>,
    /// The digest a config's file name claims.
    config: Option<Digest>,
    /// The diff_ids that name this file as a layer.
    diff_ids: BTreeSet<Digest>,
    /// Named by `manifest.json` (otherwise a file that looks like a layer or config).
    referenced: bool,
    hash: OnceLock<Result<Digest, SourceError>>,
}

impl Member {
    /// Whether the file has anything to be checked against (not so for the files of an image whose
    /// entry is already broken, say by a layer count mismatch).
    fn checked(&self) -> bool {
        !self.referenced || self.config.is_some() || !self.diff_ids.is_empty()
    }
}

pub struct DockerArchive<T> {
    tree: T,
    entries: Vec<Entry>,
    /// Reconstructed manifests by digest.
    manifests: HashMap<Digest, Vec<u8>>,
    members: BTreeMap<String, Member>,
    /// Config digests and diff_ids, to the files that must hash to them.
    by_digest: HashMap<Digest, Vec<String>>,
    damage: Vec<(String, SourceError)>,
}

impl<T: Files> DockerArchive<T> {
    /// `Ok(None)` when the tree is not a docker-archive: no top-level `manifest.json` array of
    /// `Config`/`Layers` objects, or an `oci-layout` file (an OCI layout, read as such). `Err` when it is
    /// one but `manifest.json` cannot be used at all; damage inside an image is reported with the image.
    pub fn open(tree: T) -> Result<Option<DockerArchive<T>>, SourceError> {
        let sizes: HashMap<String, u64> = tree.files().into_iter().collect();
        if sizes.contains_key("oci-layout") {
            return Ok(None);
        }
        let Some(bytes) = tree.read_small("manifest.json", TOC_LIMIT)? else { return Ok(None) };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) if bytes.trim_ascii_start().starts_with(b"[") => {
                return Err(SourceError::Malformed(format!("manifest.json: not valid JSON: {e}")));
            }
            Err(_) => return Ok(None),
        };
        let Some(items) = value.as_array() else { return Ok(None) };
        crate::oci::json::check(&bytes, crate::oci::json::fields::DOCKER_ARCHIVE)
            .map_err(|e| SourceError::Malformed(format!("manifest.json: {e}")))?;
        let docker_like = |v: &serde_json::Value| v.get("Config").is_some() || v.get("Layers").is_some();
        if !items.iter().any(docker_like) {
            return Ok(None);
        }
        if items.len() > MAX_TOC_ENTRIES {
            return Err(SourceError::Malformed(format!(
                "manifest.json: {} images is over the limit of {MAX_TOC_ENTRIES}",
                items.len()
            )));
        }
        let mut archive = DockerArchive {
            damage: tree.damage(),
            tree,
            entries: Vec::new(),
            manifests: HashMap::new(),
            members: BTreeMap::new(),
            by_digest: HashMap::new(),
        };
        for (i, item) in items.iter().enumerate() {
            archive.add_image(i, item, &sizes);
        }
        archive.add_unreferenced(&sizes);
        Ok(Some(archive))
    }

    fn add_image(&mut self, i: usize, value: &serde_json::Value, sizes: &HashMap<String, u64>) {
        let origin = self.tree.location();
        let mut label = format!("manifest.json[{i}]");
        let item: Item = match serde_json::from_value(value.clone()) {
            Ok(item) => item,
            Err(e) => {
                let err = SourceError::Malformed(format!("{label}: not a Config/RepoTags/Layers object: {e}"));
                self.entries.push(Entry::new(origin, Err(err)));
                return;
            }
        };
        let tags = item.repo_tags.clone().unwrap_or_default();
        if let Some(first) = tags.first() {
            label = format!("{label} ({first})");
        }
        let mut full_names = Vec::new();
        for tag in &tags {
            match DockerRef::parse(tag) {
                Ok(r) => full_names.push(r),
                Err(e) => self.damage.push((
                    "manifest.json".into(),
                    SourceError::Malformed(format!("{label}: RepoTags entry {tag:?}: {e}")),
                )),
            }
        }
        let stored_name = tags.first().cloned();
        match self.reconstruct(&label, &item, sizes) {
            Ok(descriptor) => {
                let mut entry = Entry::new(origin, Ok(descriptor));
                entry.notes.push(RECONSTRUCTED.to_string());
                entry.synthetic = true;
                self.entries.push(Entry { stored_name, full_names, ..entry });
            }
            Err(e) => self.entries.push(Entry { stored_name, full_names, ..Entry::new(origin, Err(e)) }),
        }
    }

    /// Builds the image's schema 2 manifest from its config, registers its files, and returns the
    /// manifest's descriptor.
    fn reconstruct(&mut self, label: &str, item: &Item, sizes: &HashMap<String, u64>) -> Result<Desc, SourceError> {
        let malformed = |msg: String| SourceError::Malformed(format!("{label}: {msg}"));
        for name in std::iter::once(&item.config).chain(&item.layers) {
            check_name(name).map_err(malformed)?;
        }
        if item.layers.len() > MAX_LAYERS {
            return Err(malformed(format!("{} layers is over the limit of {MAX_LAYERS}", item.layers.len())));
        }
        // Named files are the image's, even when it turns out broken: not strays to report again.
        for name in std::iter::once(&item.config).chain(&item.layers) {
            self.member(name, sizes);
        }
        let config_digest = name_digest(&item.config)
            .ok_or_else(|| malformed(format!("Config {:?} does not name a sha256 digest", item.config)))?;
        let config_size =
            *sizes.get(&item.config).ok_or_else(|| SourceError::Missing(format!("config {}", item.config)))?;
        let config = self
            .tree
            .read_small(&item.config, METADATA_LIMIT)?
            .ok_or_else(|| SourceError::Missing(format!("config {}", item.config)))?;
        let diff_ids = match diff_ids(&config) {
            Ok(ids) => ids,
            Err(msg) => {
                let err = match check_bytes(&config, &config_digest, config_size) {
                    Err(m) => SourceError::Corrupt(item.config.clone(), m),
                    Ok(()) => malformed(format!("config {}: {msg}", item.config)),
                };
                return Err(err);
            }
        };
        if diff_ids.len() != item.layers.len() {
            return Err(malformed(format!(
                "{} Layers but the config {} lists {} rootfs.diff_ids",
                item.layers.len(),
                item.config,
                diff_ids.len()
            )));
        }
        self.member(&item.config, sizes).config = Some(config_digest.clone());
        self.register(&config_digest, &item.config);
        let mut layers = Vec::with_capacity(diff_ids.len());
        for (name, diff_id) in item.layers.iter().zip(&diff_ids) {
            let member = self.member(name, sizes);
            member.diff_ids.insert(diff_id.clone());
            let size = member.size.unwrap_or(0);
            self.register(diff_id, name);
            layers.push(serde_json::json!({"mediaType": LAYER_TYPE, "size": size, "digest": diff_id.to_string()}));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": CONFIG_TYPE, "size": config_size, "digest": config_digest.to_string()},
            "layers": layers,
        });
        let bytes = serde_json::to_vec(&manifest).map_err(|e| malformed(e.to_string()))?;
        let desc = Desc::new(DOCKER_MANIFEST, Digest::sha256_of(&bytes), bytes.len() as u64);
        self.manifests.insert(desc.digest.clone(), bytes);
        Ok(desc)
    }

    fn member(&mut self, name: &str, sizes: &HashMap<String, u64>) -> &mut Member {
        let m = self.members.entry(name.to_string()).or_default();
        m.size = sizes.get(name).copied();
        m.referenced = true;
        m
    }

    fn register(&mut self, digest: &Digest, name: &str) {
        let names = self.by_digest.entry(digest.clone()).or_default();
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }

    /// Files no image names that look like layers (`<id>/layer.tar`) or blobs named by digest: hashed
    /// too, so damage hidden in them still fails the run.
    fn add_unreferenced(&mut self, sizes: &HashMap<String, u64>) {
        for (name, size) in sizes {
            let looks = name.ends_with("/layer.tar") || name_digest(name).is_some();
            if looks && !self.members.contains_key(name) {
                self.members.insert(name.clone(), Member { size: Some(*size), ..Member::default() });
            }
        }
    }

    /// sha256 of a member file, computed once.
    fn hash(&self, name: &str, member: &Member) -> Result<Digest, SourceError> {
        member.hash.get_or_init(|| self.tree.sha256(name)).clone()
    }

    /// Why `name`, which hashes to `actual`, is not the layer `diff_id`.
    fn layer_mismatch(&self, name: &str, member: &Member, diff_id: &Digest, actual: Digest) -> SourceError {
        let compressed = if name_digest(name).as_ref() == Some(&actual) {
            Some("a blob named by its own digest")
        } else if member.size.is_some_and(|s| s <= METADATA_LIMIT) {
            match self.tree.read_small(name, METADATA_LIMIT) {
                Ok(Some(b)) if b.starts_with(GZIP_MAGIC) => Some("gzip-compressed"),
                Ok(Some(b)) if b.starts_with(ZSTD_MAGIC) => Some("zstd-compressed"),
                _ => None,
            }
        } else {
            None
        };
        match compressed {
            Some(what) => SourceError::Malformed(format!(
                "{name}: the layer is {what}, not the uncompressed tar; its diff_id {diff_id} cannot be checked \
                 without decompressing it, and airlock never decompresses layers"
            )),
            None => SourceError::Corrupt(name.to_string(), Mismatch::Digest { expected: diff_id.clone(), actual }),
        }
    }

    /// Every problem with one member file, each with the digest it is about (an image that already
    /// reported that digest hides the same problem here).
    fn member_problems(
        &self,
        name: &str,
        member: &Member,
        all_diff_ids: &BTreeSet<Digest>,
    ) -> Vec<(String, Option<Digest>, SourceError)> {
        if !member.checked() {
            return Vec::new();
        }
        let at = |d: &Digest, e: SourceError| (name.to_string(), Some(d.clone()), e);
        if member.size.is_none() {
            let missing = || SourceError::Missing(name.to_string());
            return member.config.iter().chain(&member.diff_ids).map(|d| at(d, missing())).collect();
        }
        let actual = match self.hash(name, member) {
            Ok(a) => a,
            Err(e) => {
                let about = member.config.iter().chain(&member.diff_ids).next().cloned();
                return vec![(name.to_string(), about, e)];
            }
        };
        let mut out = Vec::new();
        if let Some(c) = member.config.as_ref().filter(|c| **c != actual) {
            let m = Mismatch::Digest { expected: c.clone(), actual: actual.clone() };
            out.push(at(c, SourceError::Corrupt(name.to_string(), m)));
        }
        for d in member.diff_ids.iter().filter(|d| **d != actual) {
            out.push(at(d, self.layer_mismatch(name, member, d, actual.clone())));
        }
        if !member.referenced {
            match name_digest(name) {
                Some(d) if d != actual => {
                    let m = Mismatch::Digest { expected: d.clone(), actual };
                    out.push((name.to_string(), None, SourceError::Corrupt(name.to_string(), m)))
                }
                Some(_) => {}
                None if !all_diff_ids.contains(&actual) => out.push((
                    name.to_string(),
                    None,
                    SourceError::Malformed(format!(
                        "{name}: no image names this layer, and it hashes to {actual}, which no config lists as a diff_id"
                    )),
                )),
                None => {}
            }
        }
        out
    }
}

/// A name inside the archive: relative, no `..`, not empty.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.starts_with('/') || name.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("{name:?} is not a relative path inside the archive"));
    }
    Ok(())
}

/// The digest a file name claims: `<hex>.json`, `<hex>.tar`, `<hex>`, `blobs/sha256/<hex>`.
fn name_digest(name: &str) -> Option<Digest> {
    let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
    let hex = base.strip_suffix(".json").or_else(|| base.strip_suffix(".tar")).unwrap_or(base);
    if hex.len() != 64 || !(dir.is_empty() || dir == "blobs/sha256" || dir.ends_with("/blobs/sha256")) {
        return None;
    }
    Digest::parse(&format!("sha256:{hex}")).ok()
}

/// The config's `rootfs.diff_ids`, validated.
fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    crate::oci::json::check(config, crate::oci::json::fields::CONFIG).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_slice(config).map_err(|e| format!("not valid JSON: {e}"))?;
    let ids = value
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(|d| d.as_array())
        .ok_or("no rootfs.diff_ids array")?;
    if ids.len() > MAX_LAYERS {
        return Err(format!("{} diff_ids is over the limit of {MAX_LAYERS}", ids.len()));
    }
    ids.iter()
        .map(|v| {
            let s = v.as_str().ok_or("a diff_id is not a string")?;
            Digest::parse(s).map_err(|e| format!("diff_id: {e}"))
        })
        .collect()
}

fn size_mismatch(name: &str, actual: u64, expected: u64) -> SourceError {
    SourceError::Corrupt(name.to_string(), Mismatch::size(expected, actual))
}

impl<T: Files> Source for DockerArchive<T> {
    fn info(&self) -> Info {
        let location = self.tree.location();
        Info {
            files: self.tree.file_sha256().into_iter().collect(),
            paths: self.tree.paths(),
            no_signatures: Some(NO_SIGNATURES.to_string()),
            location,
        }
    }

    fn entries(&self) -> Vec<Entry> {
        self.entries.clone()
    }

    fn read(&self, _repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if let Some(bytes) = self.manifests.get(&desc.digest) {
            check_bytes(bytes, &desc.digest, desc.size)
                .map_err(|m| SourceError::Corrupt(format!("reconstructed manifest {}", desc.digest), m))?;
            return Ok(bytes.clone());
        }
        let name = self
            .by_digest
            .get(&desc.digest)
            .and_then(|n| n.first())
            .ok_or_else(|| SourceError::Missing(format!("blob {}", desc.digest)))?;
        if desc.size > METADATA_LIMIT {
            return Err(SourceError::Malformed(format!(
                "{name}: {} bytes is over the {METADATA_LIMIT}-byte limit for metadata",
                desc.size
            )));
        }
        let bytes = self.tree.read_small(name, METADATA_LIMIT)?.ok_or_else(|| SourceError::Missing(name.clone()))?;
        check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(name.clone(), m))?;
        Ok(bytes)
    }

    fn open_blob(
        &self,
        _repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let missing = || SourceError::Missing(format!("blob {}", desc.digest));
        let name = self.by_digest.get(&desc.digest).and_then(|n| n.first()).ok_or_else(missing)?;
        let reader = self.tree.open(name)?.ok_or_else(|| SourceError::Missing(name.clone()))?;
        Ok(Box::new(std::io::Read::take(reader, desc.size)))
    }

    fn check_blob(&self, _repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        let names =
            self.by_digest.get(&desc.digest).ok_or_else(|| SourceError::Missing(format!("blob {}", desc.digest)))?;
        for name in names {
            let Some(member) = self.members.get(name) else { continue };
            let size = member.size.ok_or_else(|| SourceError::Missing(name.clone()))?;
            if size != desc.size {
                return Err(size_mismatch(name, size, desc.size));
            }
            if !hash {
                continue;
            }
            let actual = self.hash(name, member)?;
            if actual != desc.digest {
                return Err(if member.diff_ids.contains(&desc.digest) {
                    self.layer_mismatch(name, member, &desc.digest, actual)
                } else {
                    SourceError::Corrupt(name.clone(), Mismatch::Digest { expected: desc.digest.clone(), actual })
                });
            }
        }
        Ok(())
    }

    fn scan(&self, hash: bool) -> Scan {
        let origin = self.tree.location();
        let mut scan = Scan::opened(&origin, &self.damage);
        if !hash {
            return scan;
        }
        let all_diff_ids: BTreeSet<Digest> = self.members.values().flat_map(|m| m.diff_ids.iter().cloned()).collect();
        let mut order: Vec<(&String, &Member)> = self.members.iter().collect();
        order.sort_by_key(|(_, m)| std::cmp::Reverse(m.size));
        let mut problems: Vec<Damage> = order
            .par_iter()
            .with_max_len(1)
            .flat_map_iter(|(name, m)| self.member_problems(name, m, &all_diff_ids))
            .map(|(entry, digest, error)| Damage { origin: origin.clone(), entry, digest, error })
            .collect();
        problems.sort_by(|a, b| a.entry.cmp(&b.entry));
        scan.damage.extend(problems);
        let sizes: Vec<u64> = self.members.values().filter(|m| m.checked()).filter_map(|m| m.size).collect();
        (scan.blobs, scan.bytes) = (sizes.len() as u64, sizes.iter().sum());
        scan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let hex = "a".repeat(64);
        assert!(name_digest(&format!("{hex}.json")).is_some());
        assert!(name_digest(&format!("blobs/sha256/{hex}")).is_some());
        assert!(name_digest(&format!("{hex}/layer.tar")).is_none());
        assert!(name_digest(&format!("x/{hex}.json")).is_none());
        assert!(check_name("a/layer.tar").is_ok());
        assert!(check_name("/etc/passwd").is_err() && check_name("a/../b").is_err() && check_name("").is_err());
    }
}
