//! Sources: one read-only trait that every backend (OCI layout, skopeo `dir:`, archives, registry)
//! implements, so the verification engine never knows where an image lives.

pub mod archive;
pub mod detect;
pub mod docker_archive;
pub mod hangar_zip;
mod haul;
pub mod layout;
pub mod multi;
pub mod registry;
pub mod skopeo_dir;
pub mod store;
pub mod zip;

use crate::digest::{Digest, Mismatch, ReadError};
use crate::finding::{Finding, Kind};
use crate::oci::Desc;
use crate::reference::DockerRef;
use std::collections::BTreeMap;
use std::fmt;

/// An image (or artifact) entry that a source names: a top-level `index.json` descriptor, a hangar index
/// item, the one image of a skopeo `dir:`.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The name as stored, for messages (`registry.example/app:v1`, `v1`, or none).
    pub stored_name: Option<String>,
    /// Full references the entry is known by, best first (`io.containerd.image.name`, skopeo's full
    /// `ref.name`, hangar's `source:tag`).
    pub full_names: Vec<DockerRef>,
    /// Names stored without their registry (hauler's `ref.name`), matched by repository path and tag.
    pub partial_names: Vec<DockerRef>,
    /// The entry's top manifest or index, or why it cannot even be located (a `dir:` without
    /// `manifest.json`, a hangar item that names no valid digest).
    pub descriptor: Result<Desc, SourceError>,
    /// The source path the entry came from.
    pub origin: String,
    /// What the source's own code says about the entry (never text from the input).
    pub notes: Vec<String>,
    /// The descriptor is airlock's reconstruction (hangar's synthesized index, a docker-archive's rebuilt
    /// manifest), not bytes an importer loads: its digest is compared only with its own PATH's.
    pub synthetic: bool,
}

impl Entry {
    /// An entry with no names yet.
    pub fn new(origin: String, descriptor: Result<Desc, SourceError>) -> Entry {
        Entry {
            stored_name: None,
            full_names: Vec::new(),
            partial_names: Vec::new(),
            descriptor,
            origin,
            notes: Vec::new(),
            synthetic: false,
        }
    }

    /// The reference used as the image's identity when no list line names it (SPEC §6.3).
    pub fn identity(&self) -> Option<&DockerRef> {
        self.full_names.first().or(self.partial_names.first())
    }

    /// The digest of the entry's top manifest, when it could be located.
    pub fn digest(&self) -> Option<&Digest> {
        self.descriptor.as_ref().ok().map(|d| &d.digest)
    }

    /// Every distinct name an importer may load the entry under (SPEC §2 "One name, one image"): the full
    /// names, then each partial name that no full name spells with a registry.
    pub fn identities(&self) -> Vec<DockerRef> {
        let mut out: Vec<DockerRef> = Vec::new();
        for n in &self.full_names {
            if !out.contains(n) {
                out.push(n.clone());
            }
        }
        for p in &self.partial_names {
            let spelled = out.iter().any(|f| f.path() == p.path() && f.tag() == p.tag() && f.digest() == p.digest());
            if !spelled {
                out.push(p.clone());
            }
        }
        out
    }
}

/// One signature candidate in its storage-neutral form.
#[derive(Clone, Debug)]
pub enum Candidate {
    /// A simple-signing payload with its annotations (from a `.sig` layer or a `signature-N` file).
    Simple { payload: Vec<u8>, annotations: BTreeMap<String, String>, origin: String },
    /// A sigstore bundle (cosign v3 referrer layer).
    Bundle { bytes: Vec<u8>, origin: String },
}

/// Signature material found for one digest, with what was seen but is not a signature.
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub non_sigstore: usize,
    pub non_signature_attachments: usize,
}

/// What went wrong reading from a source; maps onto the failure kinds of SPEC §3.6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// Not present in the source.
    Missing(String),
    /// Present, but size or digest do not match.
    Corrupt(String, Mismatch),
    /// Present but unusable (bad JSON, a link where a file must be, over a limit).
    Malformed(String),
    /// I/O, network, auth, timeout.
    Io(String),
}

impl SourceError {
    /// The failure kind this error is reported as.
    pub fn kind(&self) -> Kind {
        match self {
            SourceError::Missing(_) => Kind::Missing,
            SourceError::Corrupt(..) => Kind::Corrupt,
            SourceError::Malformed(_) => Kind::Malformed,
            SourceError::Io(_) => Kind::Error,
        }
    }

    /// The finding for this error, prefixed with what was being read.
    pub fn finding(&self, context: &str) -> Finding {
        Finding::new(self.kind(), format!("{context}: {self}"))
    }

    pub fn from_read(what: &str, e: ReadError) -> SourceError {
        match e {
            ReadError::Io(io) => SourceError::Io(format!("{what}: {io}")),
            ReadError::Mismatch(m) => SourceError::Corrupt(what.to_string(), m),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Missing(what) => write!(f, "{what} is missing"),
            SourceError::Corrupt(what, m) => write!(f, "{what}: {m}"),
            SourceError::Malformed(msg) | SourceError::Io(msg) => f.write_str(msg),
        }
    }
}

/// Damage found in a source: where, the entry, the digest it is about (when it is about one), and what is
/// wrong. The engine leaves out what an image already reported, by origin and digest, never by text.
#[derive(Clone, Debug)]
pub struct Damage {
    /// The location of the source PATH that holds the entry.
    pub origin: String,
    /// The entry inside the source (`blobs/sha256/ab…`, `manifest.json`).
    pub entry: String,
    pub digest: Option<Digest>,
    pub error: SourceError,
}

impl Damage {
    /// Damage lists of the storage layers (entry, error) as the source's own, about no particular digest.
    pub fn list(origin: &str, list: &[(String, SourceError)]) -> Vec<Damage> {
        list.iter()
            .map(|(entry, error)| Damage {
                origin: origin.to_string(),
                entry: entry.clone(),
                digest: None,
                error: error.clone(),
            })
            .collect()
    }
}

/// `path` made absolute without following its last component: the canonical folder plus the name (a file
/// that does not exist yet, or a planted symlink, is judged by where it is, not where it points).
pub fn canonical(path: &std::path::Path) -> Option<std::path::PathBuf> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// A source of images. Read-only, shareable across threads.
pub trait Source: Send + Sync {
    /// Where the source is, for messages.
    fn location(&self) -> String;

    /// The image and artifact entries the source names (none for a registry: it is asked by name).
    fn entries(&self) -> Vec<Entry>;

    /// Resolves a reference the entries do not answer (a registry's tags). Offline sources: `None`.
    fn resolve(&self, _reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        Ok(None)
    }

    /// The blobs behind a source that holds its content as blobs hashed once (layouts, `dir:`, zips):
    /// the default `read`, `check_blob`, `hash_all` and `blob_totals` go through them.
    fn blob_set(&self) -> Option<&dyn store::BlobSet> {
        None
    }

    /// The exact bytes of small content (manifests, configs, payloads), checked against `desc`.
    fn read(&self, _repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        match self.blob_set() {
            Some(blobs) => blobs.read(&desc.digest, desc.size),
            None => Err(SourceError::Missing(format!("blob {}", desc.digest))),
        }
    }

    /// Checks that a blob is present with the descriptor's size and digest (hashing it, or for a
    /// registry in `exist` mode only asking). Offline sources answer from their one hashing pass.
    fn check_blob(&self, _repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        match self.blob_set() {
            Some(blobs) => blobs.check(&desc.digest, desc.size, hash),
            None => Err(SourceError::Missing(format!("blob {}", desc.digest))),
        }
    }

    /// Hashes every blob the source holds, once (SPEC §3: damaged blobs fail the run even when no image
    /// names them). Returns the problems found, each naming the entry.
    fn hash_all(&self) -> Vec<Damage> {
        self.blob_set().map(|b| b.hash_all()).unwrap_or_default()
    }

    /// Blob count and bytes seen by `hash_all`.
    fn blob_totals(&self) -> (u64, u64) {
        self.blob_set().map_or((0, 0), |b| b.totals())
    }

    /// Damage found while opening the source (bad entries, links, invalid names).
    fn damage(&self) -> Vec<Damage> {
        Vec::new()
    }

    /// `.sig` manifests stored for `digest` (in `repo` when the source can tell repositories apart).
    /// Formats that cannot store them have none.
    fn signature_manifests(&self, _repo: Option<&DockerRef>, _digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        Ok(Vec::new())
    }

    /// Manifests whose `subject` is `digest` (cosign v3 bundles).
    fn referrers(&self, _repo: Option<&DockerRef>, _digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        Ok(Vec::new())
    }

    /// Signatures stored outside manifests (skopeo `dir:` `signature-N` files).
    fn raw_signatures(&self, _digest: &Digest) -> Result<Found, SourceError> {
        Ok(Found::default())
    }

    /// The one source a multi-PATH run reads an entry's content from (`origin` = its location);
    /// `None` for a single source.
    fn for_origin(&self, _origin: &str) -> Option<&dyn Source> {
        None
    }

    /// (path, SHA-256) of each source file (archives), for the report.
    fn file_sha256(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Why a format cannot hold signatures, added to "no signature exists" (docker-archive, hangar zip).
    fn no_signature_hint(&self) -> Option<String> {
        None
    }

    /// Absolute paths of the files the source reads (to warn when a trusted key lives inside it).
    fn contains_path(&self, _path: &std::path::Path) -> bool {
        false
    }
}
