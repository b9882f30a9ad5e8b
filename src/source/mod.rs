//! Sources: one read-only trait that every backend (OCI layout, skopeo `dir:`, archives, registry)
//! implements, so the verification engine never knows where an image lives.

pub mod archive;
mod attach;
pub mod detect;
pub mod docker_archive;
pub mod hangar_zip;
mod haul;
pub mod layout;
pub mod multi;
pub mod registry;
pub mod skopeo_dir;
pub mod store;
pub mod zarf;
pub mod zip;

use crate::digest::{Digest, Mismatch, ReadError};
use crate::finding::{Finding, Kind};
use crate::oci::Desc;
use crate::reference::DockerRef;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// The manifests the candidates came from, for `import` to carry them along.
    pub attached: Vec<Attachment>,
    pub non_sigstore: usize,
    pub non_signature_attachments: usize,
}

/// A manifest that holds signatures of a digest: a `.sig` manifest (under the digest's `.sig` tag) or a
/// referrer (whose `subject` names the digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attachment {
    SignatureTag(Desc),
    Referrer(Desc),
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
        match self {
            SourceError::Corrupt(what, m) => Finding::corrupt(format!("{context}: {self}"), what, m.clone()),
            _ => Finding::new(self.kind(), format!("{context}: {self}")),
        }
    }

    /// The expected and actual size or digest, when content did not match its descriptor.
    pub fn mismatch(&self) -> Option<&Mismatch> {
        match self {
            SourceError::Corrupt(_, m) => Some(m),
            _ => None,
        }
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
pub fn canonical(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(name))
}

/// What a source is, for messages, the report and the run's own checks.
#[derive(Clone, Debug, Default)]
pub struct Info {
    /// Where the source is, for messages (several PATHs: each, comma-separated).
    pub location: String,
    /// (path, SHA-256) of each archive file behind the source, computed in its one pass.
    pub files: Vec<(String, String)>,
    /// The files and folders the source reads.
    pub paths: Vec<PathBuf>,
    /// Why the format cannot hold signatures, added to "no signature exists" (docker-archive, hangar zip).
    pub no_signatures: Option<String>,
}

impl Info {
    pub fn at(location: String, paths: Vec<PathBuf>) -> Info {
        Info { location, paths, ..Info::default() }
    }

    /// Whether `path` is one of the source's files or inside one of its folders, judged by where it is
    /// (see [`canonical`]): an output written there, or a key kept there, would be part of the bundle.
    pub fn contains(&self, path: &Path) -> bool {
        let Some(p) = canonical(path) else { return false };
        self.paths
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .any(|r| if r.is_dir() { p.starts_with(&r) } else { p == r })
    }
}

/// The one pass over a source: damage found opening it and hashing every blob it holds (SPEC §3: damage
/// no image names still fails the run), and what was hashed.
#[derive(Debug, Default)]
pub struct Scan {
    pub damage: Vec<Damage>,
    pub blobs: u64,
    pub bytes: u64,
}

impl Scan {
    /// The source's own damage list (entry, error), about no particular digest.
    pub fn opened(origin: &str, list: &[(String, SourceError)]) -> Scan {
        Scan { damage: Damage::list(origin, list), ..Scan::default() }
    }

    pub fn add(&mut self, other: Scan) {
        self.damage.extend(other.damage);
        self.blobs += other.blobs;
        self.bytes += other.bytes;
    }
}

/// A package's signature over its own manifest (zarf's `zarf.bundle.sig` over `zarf.yaml`), for the run to
/// check with its trust (SPEC §6.6): what is signed, its SHA-256, and the signature files found.
#[derive(Clone, Debug)]
pub struct PackageSignature {
    /// The location of the source PATH.
    pub origin: String,
    /// What is signed, for messages (`zarf package test (zarf.yaml)`).
    pub package: String,
    /// SHA-256 (hex) of the signed file.
    pub sha256_hex: String,
    /// (file name, bytes) of each signature file: none when the package is unsigned.
    pub signatures: Vec<(String, Vec<u8>)>,
}

/// Which attachments of a digest to gather: containers-image's (`.sig` manifests and `signature-N`
/// files) are asked for first; sigstore bundles among the referrers only when none of those is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    Signatures,
    Referrers,
}

/// A source of images. Read-only, shareable across threads.
pub trait Source: Send + Sync {
    /// Where the source is and what it is made of.
    fn info(&self) -> Info;

    /// The image and artifact entries the source names (none for a registry: it is asked by name).
    fn entries(&self) -> Vec<Entry>;

    /// Resolves a reference the entries do not answer (a registry's tags). Offline sources: `None`.
    fn resolve(&self, _reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        Ok(None)
    }

    /// The exact bytes of small content (manifests, configs, payloads), checked against `desc`.
    fn read(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError>;

    /// Checks that a blob is present with the descriptor's size and digest (hashing it, or for a
    /// registry in `exist` mode only asking). Offline sources answer from their one hashing pass.
    fn check_blob(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError>;

    /// A blob's bytes as stored, for `import` to push: at most `desc.size` bytes are served, and the
    /// consumer hashes them again as it sends them. Sources whose blobs cannot be re-read say why.
    fn open_blob(
        &self,
        _repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        Err(SourceError::Io(format!("blob {}: this source cannot serve blobs for import", desc.digest)))
    }

    /// The signature candidates stored for `digest` (in `repo` when the source can tell repositories
    /// apart). Formats that cannot store them have none.
    fn attachments(&self, _repo: Option<&DockerRef>, _digest: &Digest, _which: Attached) -> Result<Found, SourceError> {
        Ok(Found::default())
    }

    /// The one pass: damage found opening the source, and (when `hash`) every blob hashed once.
    fn scan(&self, hash: bool) -> Scan;

    /// Signatures a package carries over its own manifest (none for formats without them).
    fn package_signatures(&self) -> Vec<PackageSignature> {
        Vec::new()
    }

    /// The one source a multi-PATH run reads an entry's content from (`origin` = its location);
    /// `None` for a single source.
    fn for_origin(&self, _origin: &str) -> Option<&dyn Source> {
        None
    }
}
