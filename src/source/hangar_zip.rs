//! hangar `save` archives (hangar ≥ v1.7): a zip holding every blob once under `share/sha256/`, one
//! `<hex>/index.json` + `oci-layout` per saved platform manifest, and hangar's own `index.json`. hangar
//! keeps no manifest list, so each item of its index becomes an entry pointing at a synthesized OCI index.
//!
//! The zip's central directory is parsed here rather than by a zip library, because libraries quietly
//! collapse duplicate names: duplicate, unsafe and linked entries, and local headers that disagree with
//! the central directory, are all reported as damage.

use super::store::{BlobEntry, BlobSet, BlobStore, Blobs};
use super::{Damage, Entry, Source, SourceError};
use crate::digest::{Digest, check_bytes};
use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, METADATA_LIMIT, OCI_INDEX, OCI_MANIFEST, Platform};
use crate::reference::DockerRef;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// hangar's `index.json` larger than this is refused (SPEC §8).
pub const HANGAR_INDEX_LIMIT: u64 = 64 << 20;
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
    blobs: Blobs<ZipStore>,
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
            .read_small("index.json", HANGAR_INDEX_LIMIT)?
            .ok_or_else(|| SourceError::Malformed("index.json: unusable (see the damage reported for it)".into()))?;
        crate::oci::json::check(&bytes, crate::oci::json::fields::HANGAR)
            .map_err(|e| SourceError::Malformed(format!("index.json: {e}")))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::Malformed(format!("index.json: not valid JSON: {e}")))?;
        if value.get("version").is_none() && value.get("list").is_none() {
            return Ok(None);
        }
        let index: HangarIndex = serde_json::from_value(value)
            .map_err(|e| SourceError::Malformed(format!("index.json: not a hangar archive index: {e}")))?;
        check_version(index.version.as_deref().unwrap_or_default())?;
        let store = ZipStore::new(zip);
        let damage = store.damage.clone();
        let mut hangar = HangarZip {
            blobs: Blobs::new(store),
            entries: Vec::new(),
            synthetic: HashMap::new(),
            saved: HashMap::new(),
            damage,
        };
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
        let origin = self.blobs.store.location();
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
        let store = &self.blobs.store;
        let blob_size = self.blobs.entry(digest).map(|b| b.size);
        let pinned = pinned_descriptor(store, digest);
        let layout = match store.read_file(&format!("{hex}/oci-layout"), METADATA_LIMIT) {
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
        self.blobs.store.zip.refusal(&blob_name(digest)).cloned()
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
fn pinned_descriptor(store: &ZipStore, digest: &Digest) -> Result<Desc, SourceError> {
    let name = format!("{}/index.json", digest.hex());
    let bytes = store.read_file(&name, METADATA_LIMIT)?.ok_or_else(|| SourceError::Missing(name.clone()))?;
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
    fn location(&self) -> String {
        self.blobs.store.location()
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

    fn blob_set(&self) -> Option<&dyn BlobSet> {
        Some(&self.blobs)
    }

    fn damage(&self) -> Vec<Damage> {
        Damage::list(&self.location(), &self.damage)
    }

    fn no_signature_hint(&self) -> Option<String> {
        Some(NO_SIGNATURES.to_string())
    }

    fn file_sha256(&self) -> Vec<(String, String)> {
        self.blobs.store.zip.sha256().map(|hex| (self.location(), hex)).into_iter().collect()
    }

    fn contains_path(&self, path: &Path) -> bool {
        self.blobs.store.contains_path(path)
    }
}

/// The zip's entries as a blob store: `share/<alg>/<hex>` are the blobs.
struct ZipStore {
    zip: zip::ZipIndex,
    blobs: Vec<BlobEntry>,
    damage: Vec<(String, SourceError)>,
}

impl ZipStore {
    fn new(zip: zip::ZipIndex) -> ZipStore {
        let mut damage = zip.damage.clone();
        let mut blobs = Vec::new();
        for member in zip.members() {
            let Some(rest) = member.name.strip_prefix("share/") else { continue };
            let digest = rest.split_once('/').and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok());
            match digest {
                Some(digest) => blobs.push(BlobEntry { digest, size: member.size, name: member.name.clone() }),
                None => damage.push((
                    member.name.clone(),
                    SourceError::Malformed(format!("{}: not a blob name (share/<algorithm>/<hex>)", member.name)),
                )),
            }
        }
        ZipStore { zip, blobs, damage }
    }
}

impl BlobStore for ZipStore {
    fn location(&self) -> String {
        self.zip.path().display().to_string()
    }

    fn read_file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        self.zip.read_small(name, limit)
    }

    fn blobs(&self) -> &[BlobEntry] {
        &self.blobs
    }

    fn open(&self, blob: &BlobEntry) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        self.zip.open_member(&blob.name)
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.damage.clone()
    }

    fn contains_path(&self, path: &Path) -> bool {
        match (path.canonicalize(), self.zip.path().canonicalize()) {
            (Ok(p), Ok(z)) => p == z,
            _ => false,
        }
    }
}

/// A strict reader of a zip's central directory (APPNOTE 4.3): end records (classic and ZIP64),
/// central directory headers, and each entry's local header, with every count and offset bounded.
mod zip {
    use crate::digest::{Algorithm, Hasher};
    use crate::source::SourceError;
    use std::collections::HashMap;
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom};
    use std::path::{Path, PathBuf};

    /// At most this many entries, and this many central directory bytes.
    const MAX_ENTRIES: u64 = 1_000_000;
    const MAX_DIRECTORY: u64 = 256 << 20;

    const LOCAL: &[u8; 4] = b"PK\x03\x04";
    const CENTRAL: &[u8; 4] = b"PK\x01\x02";
    const END: &[u8; 4] = b"PK\x05\x06";
    const END64: &[u8; 4] = b"PK\x06\x06";
    const LOCATOR64: &[u8; 4] = b"PK\x06\x07";
    const END_LEN: usize = 22;
    const CENTRAL_LEN: usize = 46;
    const LOCAL_LEN: usize = 30;
    const STORED: u16 = 0;
    const DEFLATED: u16 = 8;
    const SATURATED16: u64 = 0xffff;
    const SATURATED32: u64 = 0xffff_ffff;

    /// One usable file entry.
    #[derive(Clone, Debug)]
    pub struct Member {
        pub name: String,
        pub method: u16,
        pub crc32: u32,
        pub compressed: u64,
        pub size: u64,
        pub data_offset: u64,
    }

    /// A central directory header as stored.
    struct Header {
        name: Vec<u8>,
        flags: u16,
        method: u16,
        crc32: u32,
        compressed: u64,
        size: u64,
        external: u32,
        offset: u64,
    }

    pub struct ZipIndex {
        path: PathBuf,
        members: Vec<Member>,
        by_name: HashMap<String, usize>,
        /// Entries present but unusable, with why (duplicates, links, bad headers).
        refused: HashMap<String, SourceError>,
        pub damage: Vec<(String, SourceError)>,
    }

    fn io_error(what: &str, e: std::io::Error) -> SourceError {
        SourceError::Io(format!("{what}: {e}"))
    }

    fn read_at(file: &mut File, offset: u64, len: usize, what: &str) -> Result<Vec<u8>, SourceError> {
        file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(what, e))?;
        let mut buf = vec![0u8; len];
        file.read_exact(&mut buf).map_err(|e| io_error(what, e))?;
        Ok(buf)
    }

    fn u16_at(b: &[u8], at: usize) -> u64 {
        u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
    }

    fn u32_at(b: &[u8], at: usize) -> u64 {
        u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(x)
    }

    /// Where the central directory is, from the end records.
    struct End {
        entries: u64,
        size: u64,
        offset: u64,
        /// Where the central directory must end: the ZIP64 end record, or the classic one.
        ends_at: u64,
    }

    fn damaged(msg: impl Into<String>) -> SourceError {
        SourceError::Malformed(msg.into())
    }

    fn find_end(file: &mut File, len: u64, damage: &mut Vec<(String, SourceError)>) -> Result<End, SourceError> {
        let tail_len = len.min((END_LEN + 0xffff) as u64);
        let tail = read_at(file, len - tail_len, tail_len as usize, "end of central directory")?;
        let last = tail.len().checked_sub(END_LEN);
        let found = last.and_then(|last| {
            (0..=last)
                .rev()
                .find(|&i| &tail[i..i + 4] == END && i + END_LEN + u16_at(&tail, i + 20) as usize <= tail.len())
        });
        let Some(at) = found else {
            return Err(damaged(
                "zip central directory: no end-of-central-directory record (a truncated file, or a hangar save \
                 that was interrupted before it finished)",
            ));
        };
        let e = &tail[at..at + END_LEN];
        let end_at = len - tail_len + at as u64;
        let (disk, cd_disk) = (u16_at(e, 4), u16_at(e, 6));
        let mut end = End { entries: u16_at(e, 10), size: u32_at(e, 12), offset: u32_at(e, 16), ends_at: end_at };
        if disk != 0 || cd_disk != 0 || u16_at(e, 8) != end.entries {
            return Err(damaged("zip end record: split (multi-disk) zip archives are not supported"));
        }
        let locator = if end_at >= 20 { Some(read_at(file, end_at - 20, 20, "ZIP64 end locator")?) } else { None };
        if let Some(loc) = locator.filter(|l| &l[..4] == LOCATOR64) {
            let record_at = u64_at(&loc, 8);
            if u32_at(&loc, 4) != 0 || u32_at(&loc, 16) > 1 {
                return Err(damaged("ZIP64 end locator: split (multi-disk) zip archives are not supported"));
            }
            if record_at.checked_add(56).is_none_or(|e| e > end_at - 20) {
                return Err(damaged("ZIP64 end locator: points past the end records (a damaged zip)"));
            }
            let r = read_at(file, record_at, 56, "ZIP64 end record")?;
            if &r[..4] != END64 {
                return Err(damaged("ZIP64 end record: not found where the locator points (a damaged zip)"));
            }
            if u32_at(&r, 16) != 0 || u32_at(&r, 20) != 0 || u64_at(&r, 24) != u64_at(&r, 32) {
                return Err(damaged("ZIP64 end record: split (multi-disk) zip archives are not supported"));
            }
            let zip64 =
                End { entries: u64_at(&r, 32), size: u64_at(&r, 40), offset: u64_at(&r, 48), ends_at: record_at };
            let disagree = [
                (end.entries, zip64.entries, SATURATED16),
                (end.size, zip64.size, SATURATED32),
                (end.offset, zip64.offset, SATURATED32),
            ]
            .iter()
            .any(|&(classic, wide, saturated)| classic != saturated && classic != wide);
            if disagree {
                damage.push((
                    "zip end records".into(),
                    damaged("zip end records: the classic and ZIP64 end records disagree about the central directory"),
                ));
            }
            end = zip64;
        }
        match end.offset.checked_add(end.size) {
            Some(cd_end) if cd_end <= end.ends_at => {
                if cd_end < end.ends_at {
                    damage.push((
                        "zip central directory".into(),
                        damaged(format!(
                            "zip central directory: {} unexplained bytes between it and the end record",
                            end.ends_at - cd_end
                        )),
                    ));
                }
            }
            _ => {
                return Err(damaged("zip central directory: runs past the end record (a truncated or damaged zip)"));
            }
        }
        if end.entries > MAX_ENTRIES || end.size > MAX_DIRECTORY {
            return Err(damaged(format!(
                "zip central directory: {} entries in {} bytes is over the limit ({MAX_ENTRIES} entries, {MAX_DIRECTORY} bytes)",
                end.entries, end.size
            )));
        }
        if end.entries.saturating_mul(CENTRAL_LEN as u64) > end.size {
            return Err(damaged(format!(
                "zip central directory: {} bytes cannot hold the {} entries the end record announces",
                end.size, end.entries
            )));
        }
        Ok(end)
    }

    /// Resolves the ZIP64 extended information extra field (id 1): the saturated fields, in order.
    fn zip64_extra(extra: &[u8], fields: &mut [(&mut u64, u64)]) -> Result<(), String> {
        let mut i = 0;
        while i + 4 <= extra.len() {
            let (id, len) = (u16_at(extra, i), u16_at(extra, i + 2) as usize);
            let data = extra.get(i + 4..i + 4 + len).ok_or("an extra field runs past the header")?;
            if id == 1 {
                let mut at = 0;
                for (value, saturated) in fields.iter_mut() {
                    if **value == *saturated {
                        let bytes = data.get(at..at + 8).ok_or("a short ZIP64 extra field")?;
                        **value = u64_at(bytes, 0);
                        at += 8;
                    }
                }
                return Ok(());
            }
            i += 4 + len;
        }
        // Saturated without a ZIP64 field: the values are taken as they are, as Go's reader does.
        Ok(())
    }

    fn read_headers(
        cd: &[u8],
        count: u64,
        damage: &mut Vec<(String, SourceError)>,
    ) -> Result<Vec<Header>, SourceError> {
        let mut headers = Vec::with_capacity(count as usize);
        let mut p = 0usize;
        for i in 0..count {
            let truncated = || damaged(format!("zip central directory: entry {i} is cut short"));
            let h = cd.get(p..p + CENTRAL_LEN).ok_or_else(truncated)?;
            if &h[..4] != CENTRAL {
                return Err(damaged(format!("zip central directory: entry {i} has no header signature")));
            }
            let (name_len, extra_len, comment_len) =
                (u16_at(h, 28) as usize, u16_at(h, 30) as usize, u16_at(h, 32) as usize);
            let name = cd.get(p + CENTRAL_LEN..p + CENTRAL_LEN + name_len).ok_or_else(truncated)?.to_vec();
            let extra_at = p + CENTRAL_LEN + name_len;
            let extra = cd.get(extra_at..extra_at + extra_len).ok_or_else(truncated)?;
            cd.get(extra_at + extra_len..extra_at + extra_len + comment_len).ok_or_else(truncated)?;
            let mut header = Header {
                name,
                flags: u16_at(h, 8) as u16,
                method: u16_at(h, 10) as u16,
                crc32: u32_at(h, 16) as u32,
                compressed: u32_at(h, 20),
                size: u32_at(h, 24),
                external: u32_at(h, 38) as u32,
                offset: u32_at(h, 42),
            };
            let mut disk = u16_at(h, 34);
            let resolved = zip64_extra(
                extra,
                &mut [
                    (&mut header.size, SATURATED32),
                    (&mut header.compressed, SATURATED32),
                    (&mut header.offset, SATURATED32),
                    (&mut disk, SATURATED16),
                ],
            );
            let shown = String::from_utf8_lossy(&header.name).into_owned();
            match resolved {
                Err(e) => damage.push((shown.clone(), damaged(format!("{shown}: central directory header: {e}")))),
                Ok(()) if disk != 0 => {
                    damage.push((shown.clone(), damaged(format!("{shown}: on another disk of a split zip"))))
                }
                Ok(()) => headers.push(header),
            }
            p = extra_at + extra_len + comment_len;
        }
        if p != cd.len() {
            damage.push((
                "zip central directory".into(),
                damaged(format!("zip central directory: {} bytes after its last entry", cd.len() - p)),
            ));
        }
        Ok(headers)
    }

    /// Why an entry name cannot be trusted: absolute, `..`, `.`, empty components, backslashes.
    pub fn unsafe_name(name: &str) -> Option<&'static str> {
        if name.is_empty() {
            return Some("empty name");
        }
        if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
            return Some("an absolute path");
        }
        if name.contains('\\') || name.contains('\0') {
            return Some("a backslash or NUL in the name");
        }
        let path = name.strip_suffix('/').unwrap_or(name);
        for component in path.split('/') {
            match component {
                ".." => return Some("a .. component"),
                "." | "" => return Some("an empty or . component"),
                _ => {}
            }
        }
        None
    }

    /// The file type bits of the unix mode in the external attributes (0 when none is recorded).
    fn unix_type(external: u32) -> u32 {
        (external >> 16) & 0o170000
    }

    impl ZipIndex {
        /// Reads the central directory. `Err` when there is none to read (a truncated file) or it
        /// cannot be walked; damage to single entries is collected in `damage` instead.
        pub fn open(path: &Path) -> Result<ZipIndex, SourceError> {
            let shown = path.display().to_string();
            let mut file = File::open(path).map_err(|e| io_error(&shown, e))?;
            let len = file.metadata().map_err(|e| io_error(&shown, e))?.len();
            let mut damage = Vec::new();
            let end = find_end(&mut file, len, &mut damage)?;
            let cd = read_at(&mut file, end.offset, end.size as usize, "zip central directory")?;
            let headers = read_headers(&cd, end.entries, &mut damage)?;
            let mut index = ZipIndex {
                path: path.to_path_buf(),
                members: Vec::new(),
                by_name: HashMap::new(),
                refused: HashMap::new(),
                damage,
            };
            let mut counts: HashMap<&[u8], usize> = HashMap::new();
            for h in &headers {
                *counts.entry(h.name.as_slice()).or_default() += 1;
            }
            for h in &headers {
                let Ok(name) = std::str::from_utf8(&h.name) else {
                    let shown = String::from_utf8_lossy(&h.name).into_owned();
                    index.damage.push((shown.clone(), damaged(format!("{shown}: entry name is not valid UTF-8"))));
                    continue;
                };
                if let Some(why) = unsafe_name(name) {
                    index.damage.push((name.to_string(), damaged(format!("{name:?}: unsafe entry name ({why})"))));
                    continue;
                }
                let refusal = match counts[h.name.as_slice()] {
                    n if n > 1 && !name.ends_with('/') => Some(format!(
                        "{name}: stored {n} times (duplicate entry names: zip readers disagree on which copy counts)"
                    )),
                    _ => index.check_member(&mut file, len, end.offset, h, name).err(),
                };
                if let Some(msg) = refusal {
                    index.refuse(name, msg);
                }
            }
            Ok(index)
        }

        fn refuse(&mut self, name: &str, msg: String) {
            if self.refused.contains_key(name) {
                return;
            }
            let error = damaged(msg);
            self.damage.push((name.to_string(), error.clone()));
            self.refused.insert(name.to_string(), error);
        }

        /// Checks one entry against its local header and the file, and records it when usable.
        fn check_member(
            &mut self,
            file: &mut File,
            len: u64,
            cd_offset: u64,
            h: &Header,
            name: &str,
        ) -> Result<(), String> {
            let kind = unix_type(h.external);
            if kind == 0o120000 {
                return Err(format!("{name}: a symbolic link (links are refused)"));
            }
            let is_dir = name.ends_with('/');
            if kind != 0 && kind != 0o100000 && !(is_dir && kind == 0o040000) {
                return Err(format!("{name}: not a regular file (unix mode {:o})", h.external >> 16));
            }
            if is_dir {
                return if h.size == 0 { Ok(()) } else { Err(format!("{name}: a directory entry with data")) };
            }
            if h.flags & 1 != 0 {
                return Err(format!("{name}: encrypted"));
            }
            if h.method != STORED && h.method != DEFLATED {
                return Err(format!(
                    "{name}: compression method {} is not supported (hangar stores entries uncompressed)",
                    h.method
                ));
            }
            if h.method == STORED && h.compressed != h.size {
                return Err(format!(
                    "{name}: stored, but its compressed size {} differs from its size {}",
                    h.compressed, h.size
                ));
            }
            let data_offset = self.check_local(file, len, h, name).map_err(|e| format!("{name}: {e}"))?;
            match data_offset.checked_add(h.compressed) {
                Some(end) if end <= len && end <= cd_offset => {}
                Some(end) if end <= len => return Err(format!("{name}: its data runs into the central directory")),
                _ => {
                    return Err(format!(
                        "{name}: its {} bytes of data would run past the end of the file (truncated?)",
                        h.compressed
                    ));
                }
            }
            self.by_name.insert(name.to_string(), self.members.len());
            self.members.push(Member {
                name: name.to_string(),
                method: h.method,
                crc32: h.crc32,
                compressed: h.compressed,
                size: h.size,
                data_offset,
            });
            Ok(())
        }

        /// The local header must agree with the central directory: name, method, and (without a
        /// data descriptor) sizes and CRC. Returns where the entry's data starts.
        fn check_local(&self, file: &mut File, len: u64, h: &Header, name: &str) -> Result<u64, String> {
            if h.offset.checked_add(LOCAL_LEN as u64).is_none_or(|e| e > len) {
                return Err("its local header would be past the end of the file".into());
            }
            let l = read_at(file, h.offset, LOCAL_LEN, name).map_err(|e| e.to_string())?;
            if &l[..4] != LOCAL {
                return Err(format!("no local header at offset {}", h.offset));
            }
            let (name_len, extra_len) = (u16_at(&l, 26), u16_at(&l, 28));
            let rest_at = h.offset + LOCAL_LEN as u64;
            if rest_at + name_len + extra_len > len {
                return Err("its local header runs past the end of the file".into());
            }
            let rest = read_at(file, rest_at, (name_len + extra_len) as usize, name).map_err(|e| e.to_string())?;
            let (local_name, extra) = rest.split_at(name_len as usize);
            if local_name != h.name.as_slice() {
                return Err(format!(
                    "the local header names it {:?} (the central directory and the local header disagree)",
                    String::from_utf8_lossy(local_name)
                ));
            }
            let (flags, method) = (u16_at(&l, 6) as u16, u16_at(&l, 8) as u16);
            if method != h.method {
                return Err(format!(
                    "the local header says compression method {method}, the central directory {}",
                    h.method
                ));
            }
            if flags & 8 == 0 {
                let (mut size, mut compressed) = (u32_at(&l, 22), u32_at(&l, 18));
                zip64_extra(extra, &mut [(&mut size, SATURATED32), (&mut compressed, SATURATED32)])?;
                if (size, compressed) != (h.size, h.compressed) {
                    return Err(format!(
                        "the local header says {size} bytes ({compressed} compressed), the central directory {} ({})",
                        h.size, h.compressed
                    ));
                }
                if u32_at(&l, 14) as u32 != h.crc32 {
                    return Err("the local header and the central directory disagree about its CRC-32".into());
                }
            }
            Ok(rest_at + name_len + extra_len)
        }

        pub fn path(&self) -> &Path {
            &self.path
        }

        /// SHA-256 of the whole zip file (for the report), read on demand.
        pub fn sha256(&self) -> Option<String> {
            let mut file = File::open(&self.path).ok()?;
            let mut hasher = Hasher::new(Algorithm::Sha256);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => return Some(hasher.finish().hex().to_string()),
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            }
        }

        pub fn members(&self) -> &[Member] {
            &self.members
        }

        /// True when the central directory names `name` at all (usable or not).
        pub fn has_name(&self, name: &str) -> bool {
            self.by_name.contains_key(name) || self.refused.contains_key(name)
        }

        /// Why an entry present in the zip cannot be used.
        pub fn refusal(&self, name: &str) -> Option<&SourceError> {
            self.refused.get(name)
        }

        /// A reader of one entry's content (inflated when deflated). Never more than the stored bytes
        /// are read; callers bound the inflated size (a [`crate::digest::VerifyingReader`] does).
        pub fn open_member(&self, name: &str) -> Result<Box<dyn Read + Send + 'static>, SourceError> {
            if let Some(e) = self.refused.get(name) {
                return Err(e.clone());
            }
            let m = self
                .by_name
                .get(name)
                .map(|&i| &self.members[i])
                .ok_or_else(|| SourceError::Missing(name.to_string()))?;
            let mut file = File::open(&self.path).map_err(|e| io_error(name, e))?;
            file.seek(SeekFrom::Start(m.data_offset)).map_err(|e| io_error(name, e))?;
            let raw = file.take(m.compressed);
            Ok(match m.method {
                STORED => Box::new(raw),
                _ => Box::new(flate2::read::DeflateDecoder::new(raw)),
            })
        }

        /// A small entry's bytes, refusing more than `limit`, checked against its size and CRC-32;
        /// `None` when the zip has no such entry.
        pub fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
            if let Some(e) = self.refused.get(name) {
                return Err(e.clone());
            }
            let Some(m) = self.by_name.get(name).map(|&i| &self.members[i]) else { return Ok(None) };
            if m.size > limit {
                return Err(damaged(format!("{name}: {} bytes is over the {limit}-byte limit", m.size)));
            }
            let mut out = Vec::with_capacity(m.size as usize);
            self.open_member(name)?.take(m.size + 1).read_to_end(&mut out).map_err(|e| io_error(name, e))?;
            if out.len() as u64 != m.size {
                let m = if out.len() as u64 > m.size {
                    crate::digest::Mismatch::TooLong { expected: m.size }
                } else {
                    crate::digest::Mismatch::TooShort { expected: m.size, actual: out.len() as u64 }
                };
                return Err(SourceError::Corrupt(name.to_string(), m));
            }
            let mut crc = flate2::Crc::new();
            crc.update(&out);
            if crc.sum() != m.crc32 {
                return Err(damaged(format!(
                    "{name}: CRC-32 mismatch: the central directory says {:08x}, the content has {:08x}",
                    m.crc32,
                    crc.sum()
                )));
            }
            Ok(Some(out))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn refuses_unsafe_names() {
            for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:x", ""] {
                assert!(unsafe_name(bad).is_some(), "{bad:?}");
            }
            for good in ["index.json", "share/", "share/sha256/ab", "abc/oci-layout"] {
                assert!(unsafe_name(good).is_none(), "{good:?}");
            }
        }

        #[test]
        fn resolves_only_saturated_zip64_fields() {
            let mut extra = vec![1, 0, 16, 0];
            extra.extend_from_slice(&7u64.to_le_bytes());
            extra.extend_from_slice(&9u64.to_le_bytes());
            let (mut size, mut compressed, mut offset) = (SATURATED32, 5, SATURATED32);
            zip64_extra(
                &extra,
                &mut [(&mut size, SATURATED32), (&mut compressed, SATURATED32), (&mut offset, SATURATED32)],
            )
            .unwrap();
            assert_eq!((size, compressed, offset), (7, 5, 9));
            let (mut size, mut offset) = (SATURATED32, SATURATED32);
            let short = [1, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0];
            assert!(zip64_extra(&short, &mut [(&mut size, SATURATED32), (&mut offset, SATURATED32)]).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
