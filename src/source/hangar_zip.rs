//! hangar `save` archives (hangar ≥ v1.7): a zip holding every blob once under `share/sha256/`, one
//! `<hex>/index.json` + `oci-layout` per saved platform manifest, and hangar's own `index.json`. hangar
//! keeps no manifest list, so each item of its index becomes an entry pointing at a synthesized OCI index.
//!
//! The zip's central directory is parsed here rather than by a zip library, because libraries quietly
//! collapse duplicate names: duplicate, unsafe and linked entries, and local headers that disagree with
//! the central directory, are all reported as damage.

use super::store::{Blobs, Files};
use super::zip;
use super::{Entry, Info, Scan, Source, SourceError};
use crate::digest::{Digest, check_bytes};
use crate::oci::manifest::{self, Document, MAX_TOC_ENTRIES};
use crate::oci::{Desc, METADATA_LIMIT, OCI_INDEX, OCI_MANIFEST, Platform, TOC_LIMIT};
use crate::reference::DockerRef;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The oldest archive index version hangar (v1.7 onwards) writes and still reads.
const MIN_VERSION: (u64, u64, u64) = (1, 2, 0);

const NO_SIGNATURES: &str = "hangar archives carry no signatures (hangar save drops them): verify a bundle \
that carries them (a hauler haul.tar.zst, a `cosign save` layout, a skopeo dir: copy), or name a PATH holding \
the .sig manifests in the same run, e.g. airlock verify-archive saved-images.zip signatures/";

/// hangar's archive index (`pkg/hangar/archive/index.go`); every field is `omitempty` there.
#[derive(Deserialize)]
struct HangarIndex {
    #[serde(default)]
    list: Option<Vec<Item>>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    source: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    images: Option<Vec<Spec>>,
}

/// One saved platform manifest (or attestation manifest) as hangar records it.
#[derive(Deserialize)]
struct Spec {
    #[serde(default)]
    arch: String,
    #[serde(default)]
    os: String,
    #[serde(default, rename = "osVersion")]
    os_version: String,
    #[serde(default, rename = "osFeatures")]
    os_features: Option<Vec<String>>,
    #[serde(default)]
    variant: String,
    #[serde(default, rename = "mediaType")]
    media_type: String,
    #[serde(default)]
    layers: Option<Vec<String>>,
    #[serde(default)]
    config: String,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// What hangar's index says about one manifest, checked against the manifest when it is read.
struct Saved {
    config: String,
    layers: Vec<String>,
    /// Found while opening: its blob or its `<hex>/index.json` missing or disagreeing.
    problem: Option<SourceError>,
}

pub struct HangarZip {
    blobs: Blobs<zip::ZipIndex>,
    entries: Vec<Entry>,
    /// The synthesized OCI index of each entry, by digest.
    synthetic: HashMap<Digest, Vec<u8>>,
    saved: HashMap<Digest, Saved>,
    damage: Vec<(String, SourceError)>,
}

impl HangarZip {
    /// Opens a zip as a hangar archive. `Ok(None)`: a readable zip that is not one (no `index.json`, or
    /// one that is not hangar's). `Err`: a hangar zip too damaged to list (no central directory, an
    /// unusable or too old `index.json`); damage that leaves it readable is reported by [`Source::damage`].
    pub fn open(path: &Path) -> Result<Option<HangarZip>, SourceError> {
        let zip = zip::ZipIndex::open(path)?;
        if !zip.has_name("index.json") {
            return Ok(None);
        }
        let bytes = zip
            .read_small("index.json", TOC_LIMIT)?
            .ok_or_else(|| SourceError::Malformed("index.json: unusable (see the damage reported for it)".into()))?;
        crate::oci::json::check(&bytes, crate::oci::json::fields::HANGAR)
            .map_err(|e| SourceError::Malformed(format!("index.json: {e}")))?;
        // Read straight into the typed index (up to 256 MiB: no second copy as a JSON tree); only a
        // document that is not one is looked at again, to tell "not hangar's" from "a broken index".
        let index: HangarIndex = match serde_json::from_slice(&bytes) {
            Ok(index) => index,
            Err(e) => {
                let value: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| SourceError::Malformed(format!("index.json: not valid JSON: {e}")))?;
                if value.get("version").is_none() && value.get("list").is_none() {
                    return Ok(None);
                }
                return Err(SourceError::Malformed(format!("index.json: not a hangar archive index: {e}")));
            }
        };
        if index.version.is_none() && index.list.is_none() {
            return Ok(None);
        }
        if let Some(list) = index.list.as_ref().filter(|l| l.len() > MAX_TOC_ENTRIES) {
            return Err(SourceError::Malformed(format!(
                "index.json: {} images is over the limit of {MAX_TOC_ENTRIES}",
                list.len()
            )));
        }
        check_version(index.version.as_deref().unwrap_or_default())?;
        let blobs = Blobs::new(zip, hangar_blob, Vec::new());
        let damage = blobs.damage();
        let mut hangar =
            HangarZip { blobs, entries: Vec::new(), synthetic: HashMap::new(), saved: HashMap::new(), damage };
        for item in last_of_each_name(index.list.unwrap_or_default()) {
            let entry = hangar.entry(item);
            hangar.entries.push(entry);
        }
        Ok(Some(hangar))
    }

    /// One list item as an entry: its name, and a synthesized index over its saved manifests (or the
    /// manifest itself, for a platform-less artifact or a digest-pinned item).
    fn entry(&mut self, item: Item) -> Entry {
        let key = if item.tag.is_empty() { item.source.clone() } else { format!("{}:{}", item.source, item.tag) };
        let origin = Files::location(&self.blobs.files);
        let mut entry = Entry::new(origin, Err(SourceError::Malformed(format!("index.json: {key}: no images"))));
        entry.synthetic = true;
        entry.stored_name = Some(key.clone());
        match DockerRef::parse(&key) {
            Ok(name) => entry.full_names.push(name),
            Err(e) => {
                entry.descriptor =
                    Err(SourceError::Malformed(format!("index.json: {key}: not an image reference: {e}")));
                return entry;
            }
        }
        let specs = item.images.unwrap_or_default();
        let mut children = Vec::new();
        let mut child_json = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let digest = match Digest::parse(&spec.digest) {
                Ok(d) => d,
                Err(e) => {
                    entry.descriptor =
                        Err(SourceError::Malformed(format!("index.json: {key}: images[{i}].digest: {e}")));
                    return entry;
                }
            };
            let desc = self.saved_manifest(&digest, spec);
            child_json.push(descriptor_json(&desc, spec));
            children.push(desc);
        }
        let pinned = entry.full_names[0].digest().cloned();
        if let [only] = children.as_slice()
            && (only.platform.is_none() || pinned.as_ref() == Some(&only.digest))
        {
            entry.descriptor = Ok(only.clone());
            entry.synthetic = false;
            return entry;
        }
        let doc = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": child_json});
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        let digest = Digest::sha256_of(&bytes);
        entry.descriptor = Ok(Desc::new(OCI_INDEX, digest.clone(), bytes.len() as u64));
        self.synthetic.insert(digest, bytes);
        entry
    }

    /// The descriptor of one saved manifest, from its `<hex>/index.json` and hangar's fields; records
    /// what is missing or disagrees, to be reported when an image reads the manifest.
    fn saved_manifest(&mut self, digest: &Digest, spec: &Spec) -> Desc {
        let hex = digest.hex();
        let store = &self.blobs.files;
        let blob_size = self.blobs.entry(digest).map(|b| b.size);
        let pinned = pinned_descriptor(store, digest);
        let layout = match store.read_small(&format!("{hex}/oci-layout"), METADATA_LIMIT) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(SourceError::Missing(format!("{hex}/oci-layout"))),
            Err(e) => Err(e),
        };
        let mut disagreement = None;
        let media_type = match (pinned.as_ref().ok(), spec.media_type.as_str()) {
            (Some(p), from_hangar) if !from_hangar.is_empty() => {
                if p.media_type != from_hangar {
                    disagreement = Some(SourceError::Malformed(format!(
                        "{hex}/index.json says mediaType {}, but hangar's index.json says {from_hangar}",
                        p.media_type
                    )));
                }
                from_hangar.to_string()
            }
            (None, from_hangar) if !from_hangar.is_empty() => from_hangar.to_string(),
            (Some(p), _) => p.media_type.clone(),
            (None, _) => blob_size
                .and_then(|size| self.blobs.read(digest, size).ok())
                .and_then(|b| manifest::sniff_media_type(&b))
                .unwrap_or_else(|| OCI_MANIFEST.to_string()),
        };
        let size = pinned.as_ref().ok().map(|p| p.size).or(blob_size).unwrap_or(0);
        let problem = self
            .blob_problem(digest)
            .or_else(|| blob_size.is_none().then(|| SourceError::Missing(blob_name(digest))))
            .or(pinned.err())
            .or(layout.err())
            .or(disagreement);
        self.saved.entry(digest.clone()).or_insert_with(|| Saved {
            config: spec.config.clone(),
            layers: spec.layers.clone().unwrap_or_default(),
            problem,
        });
        let mut desc = Desc::new(&media_type, digest.clone(), size);
        if !spec.arch.is_empty() || !spec.os.is_empty() {
            desc.platform = Some(Platform {
                os: spec.os.clone(),
                architecture: spec.arch.clone(),
                variant: Some(spec.variant.clone()).filter(|v| !v.is_empty()),
            });
        }
        desc.annotations = spec.annotations.clone().unwrap_or_default();
        desc
    }

    /// Why the blob of `digest` cannot be used, when the zip refused its entry (duplicate, link, …).
    fn blob_problem(&self, digest: &Digest) -> Option<SourceError> {
        self.blobs.files.refusal(&blob_name(digest)).cloned()
    }

    /// The verified bytes of a blob, naming its zip entry when it is absent or refused.
    fn blob_bytes(&self, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if let Some(e) = self.blob_problem(&desc.digest) {
            return Err(e);
        }
        if self.blobs.entry(&desc.digest).is_none() {
            return Err(SourceError::Missing(blob_name(&desc.digest)));
        }
        self.blobs.read(&desc.digest, desc.size)
    }
}

impl Saved {
    /// The manifest's config and (non-foreign) layers must be the ones hangar recorded.
    fn check(&self, digest: &Digest, media_type: &str, bytes: &[u8]) -> Result<(), SourceError> {
        // A manifest that does not parse is reported by the engine when it parses it.
        let Ok(Document::Manifest(m)) = manifest::parse(bytes, media_type) else { return Ok(()) };
        let name = blob_name(digest);
        let config = m.config.digest.to_string();
        if !self.config.is_empty() && config != self.config {
            return Err(SourceError::Malformed(format!(
                "{name} has config {config}, but hangar's index.json says {}",
                self.config
            )));
        }
        let layers: Vec<String> = m.layers.iter().filter(|l| l.urls.is_empty()).map(|l| l.digest.to_string()).collect();
        if layers.len() != self.layers.len() {
            return Err(SourceError::Malformed(format!(
                "{name} has {} layers, but hangar's index.json lists {}",
                layers.len(),
                self.layers.len()
            )));
        }
        if let Some(i) = (0..layers.len()).find(|&i| layers[i] != self.layers[i]) {
            return Err(SourceError::Malformed(format!(
                "{name} has layer {} = {}, but hangar's index.json says {}",
                i + 1,
                layers[i],
                self.layers[i]
            )));
        }
        Ok(())
    }
}

/// The one descriptor of `<hex>/index.json`, which must name the manifest `digest`.
fn pinned_descriptor(store: &zip::ZipIndex, digest: &Digest) -> Result<Desc, SourceError> {
    let name = format!("{}/index.json", digest.hex());
    let bytes = store.read_small(&name, METADATA_LIMIT)?.ok_or_else(|| SourceError::Missing(name.clone()))?;
    match manifest::parse(&bytes, OCI_INDEX) {
        Ok(Document::Index(doc)) => match <[Desc; 1]>::try_from(doc.manifests) {
            Ok([only]) if only.digest == *digest => Ok(only),
            Ok([other]) => Err(SourceError::Malformed(format!(
                "{name} names {}, but hangar's index.json says {digest}",
                other.digest
            ))),
            Err(all) => Err(SourceError::Malformed(format!(
                "{name} lists {} manifests, but a hangar image layout holds exactly one ({digest})",
                all.len()
            ))),
        },
        Ok(Document::Manifest(_)) => Err(SourceError::Malformed(format!("{name}: not an image index"))),
        Err(e) => Err(SourceError::Malformed(format!("{name}: {e}"))),
    }
}

/// Items named more than once (`sync`, `archive merge`): the last one wins, as `hangar load` does.
fn last_of_each_name(items: Vec<Item>) -> Vec<Item> {
    let mut last: HashMap<(String, String), usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        last.insert((item.source.clone(), item.tag.clone()), i);
    }
    items
        .into_iter()
        .enumerate()
        .filter(|(i, item)| last[&(item.source.clone(), item.tag.clone())] == *i)
        .map(|(_, item)| item)
        .collect()
}

/// The synthesized index's descriptor for one saved manifest, with hangar's platform fields.
fn descriptor_json(desc: &Desc, spec: &Spec) -> Value {
    let mut d = json!({"mediaType": desc.media_type, "digest": desc.digest.to_string(), "size": desc.size});
    if desc.platform.is_some() {
        let mut p = json!({"architecture": spec.arch, "os": spec.os});
        if !spec.os_version.is_empty() {
            p["os.version"] = json!(spec.os_version);
        }
        if let Some(f) = spec.os_features.as_ref().filter(|f| !f.is_empty()) {
            p["os.features"] = json!(f);
        }
        if !spec.variant.is_empty() {
            p["variant"] = json!(spec.variant);
        }
        d["platform"] = p;
    }
    if !desc.annotations.is_empty() {
        d["annotations"] = json!(desc.annotations);
    }
    d
}

fn blob_name(digest: &Digest) -> String {
    format!("share/{}/{}", digest.algorithm().name(), digest.hex())
}

/// hangar's gate (`archive.CompareIndexVersion`): semver, `v` optional, at least v1.2.0.
fn check_version(version: &str) -> Result<(), SourceError> {
    let unsupported = || {
        SourceError::Malformed(format!(
            "index.json: hangar archive index version {version:?} is not supported (airlock reads v1.2.0 and \
             later, written by hangar v1.7 onwards; older archives are tar.gz and need hangar v1.6)"
        ))
    };
    let v = version.strip_prefix('v').unwrap_or(version);
    let core_end = v.find(['-', '+']).unwrap_or(v.len());
    let prerelease = v[core_end..].starts_with('-');
    let mut numbers = [0u64; 3];
    let parts: Vec<&str> = v[..core_end].split('.').collect();
    if parts.len() > 3 {
        return Err(unsupported());
    }
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unsupported());
        }
        *slot = part.parse().map_err(|_| unsupported())?;
    }
    let triple = (numbers[0], numbers[1], numbers[2]);
    if triple < MIN_VERSION || (triple == MIN_VERSION && prerelease) {
        return Err(unsupported());
    }
    Ok(())
}

impl Source for HangarZip {
    fn info(&self) -> Info {
        Info { no_signatures: Some(NO_SIGNATURES.to_string()), ..self.blobs.info() }
    }

    fn entries(&self) -> Vec<Entry> {
        self.entries.clone()
    }

    fn read(&self, _repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if let Some(bytes) = self.synthetic.get(&desc.digest) {
            check_bytes(bytes, &desc.digest, desc.size)
                .map_err(|m| SourceError::Corrupt(format!("synthesized index {}", desc.digest), m))?;
            return Ok(bytes.clone());
        }
        let Some(saved) = self.saved.get(&desc.digest) else { return self.blob_bytes(desc) };
        if let Some(problem) = &saved.problem {
            return Err(problem.clone());
        }
        let bytes = self.blob_bytes(desc)?;
        saved.check(&desc.digest, &desc.media_type, &bytes)?;
        Ok(bytes)
    }

    fn check_blob(&self, _repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        if let Some(e) = self.blob_problem(&desc.digest) {
            return Err(e);
        }
        if self.blobs.entry(&desc.digest).is_none() {
            return Err(SourceError::Missing(blob_name(&desc.digest)));
        }
        self.blobs.check(&desc.digest, desc.size, hash)
    }

    fn open_blob(
        &self,
        _repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        if let Some(e) = self.blob_problem(&desc.digest) {
            return Err(e);
        }
        self.blobs.stream(&desc.digest, desc.size)
    }

    fn scan(&self, hash: bool) -> Scan {
        self.blobs.scan(&self.damage, hash)
    }
}

/// hangar's blobs: `share/<algorithm>/<hex>`.
fn hangar_blob(name: &str) -> Option<Result<Digest, String>> {
    let rest = name.strip_prefix("share/")?;
    let digest = rest.split_once('/').and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok());
    Some(digest.ok_or_else(|| "not a blob name (share/<algorithm>/<hex>)".to_string()))
}

/// The zip's entries as files (entries the zip reader refused are damage, and never open).
impl Files for zip::ZipIndex {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn files(&self) -> Vec<(String, u64)> {
        self.members().iter().map(|m| (m.name.clone(), m.size)).collect()
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + Send + '_>>, SourceError> {
        if !self.has_name(name) {
            return Ok(None);
        }
        self.open_member(name).map(|r| Some(r as Box<dyn Read + Send>))
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.damage.clone()
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.path().to_path_buf()]
    }

    fn file_sha256(&self) -> Option<(String, String)> {
        self.sha256().map(|hex| (Files::location(self), hex))
    }

    /// Checked against the entry's size and CRC-32 too.
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        zip::ZipIndex::read_small(self, name, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hangar_blobs_live_under_share() {
        let hex = "c".repeat(64);
        assert_eq!(hangar_blob(&format!("share/sha256/{hex}")).unwrap().unwrap().hex(), hex);
        assert!(hangar_blob("share/sha256/short").unwrap().unwrap_err().contains("share/<algorithm>/<hex>"));
        assert!(hangar_blob("share/loose").unwrap().is_err());
        assert!(hangar_blob(&format!("{hex}/index.json")).is_none());
    }

    #[test]
    fn version_gate_is_hangars() {
        for ok in ["v1.2.0", "1.2.0", "v1.2.1", "v1.10.0", "v2.0.0", "v99", "v1.3", "v1.2.0+build"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for old in ["v1.1.0", "1.0.0", "v1.2.0-rc1", "v0.9.9", "", "latest", "v1.x.0", "1.2.0.0"] {
            let e = check_version(old).unwrap_err();
            assert!(e.to_string().contains(&format!("{old:?}")), "{e}");
        }
    }

    #[test]
    fn last_item_of_a_name_wins() {
        let item = |source: &str, tag: &str, digest: &str| Item {
            source: source.into(),
            tag: tag.into(),
            images: Some(vec![Spec {
                arch: String::new(),
                os: String::new(),
                os_version: String::new(),
                os_features: None,
                variant: String::new(),
                media_type: String::new(),
                layers: None,
                config: String::new(),
                digest: digest.into(),
                annotations: None,
            }]),
        };
        let kept = last_of_each_name(vec![item("a", "v1", "x"), item("b", "v1", "y"), item("a", "v1", "z")]);
        let shown: Vec<(String, String)> =
            kept.iter().map(|i| (i.source.clone(), i.images.as_ref().unwrap()[0].digest.clone())).collect();
        assert_eq!(shown, [("b".to_string(), "y".to_string()), ("a".to_string(), "z".to_string())]);
    }
}
