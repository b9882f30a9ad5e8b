//! Blob stores: where a layout's bytes physically are (a directory today, an archive's entries later),
//! plus the one hashing pass that checks every blob once, in parallel, largest first.

use super::SourceError;
use crate::digest::{Algorithm, Digest, Hasher, Mismatch, VerifyingReader, read_verified};
use crate::oci::METADATA_LIMIT;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One blob a store holds.
#[derive(Clone, Debug)]
pub struct BlobEntry {
    pub digest: Digest,
    pub size: u64,
    /// The entry's name inside the source, for messages (`blobs/sha256/ab…`).
    pub name: String,
}

/// Random-access, read-only bytes of one layout-like source.
pub trait BlobStore: Send + Sync {
    fn location(&self) -> String;
    /// A named file outside `blobs/` (`index.json`, `oci-layout`); `None` when absent.
    fn read_file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError>;
    /// Every blob the store holds.
    fn blobs(&self) -> &[BlobEntry];
    /// Opens one blob for reading.
    fn open(&self, blob: &BlobEntry) -> Result<Box<dyn Read + Send + '_>, SourceError>;
    /// Entries that could not be taken as blobs (links, bad names, devices).
    fn damage(&self) -> Vec<(String, SourceError)>;
    /// The files and folders the store reads.
    fn paths(&self) -> Vec<PathBuf>;
    /// The result of a hashing pass the store already made (a compressed stream is hashed as it is
    /// read); `None` when the blob must be opened and hashed.
    fn prehashed(&self, _blob: &BlobEntry) -> Option<Result<(), SourceError>> {
        None
    }
    /// (path, SHA-256) of the file behind the store, when it is one file (an archive).
    fn file_sha256(&self) -> Option<(String, String)> {
        None
    }
}

/// The files of a source that is not an OCI layout (docker-archive, hangar zip) by relative path.
pub trait FileTree: Send + Sync {
    fn location(&self) -> String;
    /// Every regular file: relative path and size.
    fn files(&self) -> Vec<(String, u64)>;
    /// A small file's bytes, refusing more than `limit`; `None` when absent.
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError>;
    /// sha256 of a file (precomputed for streamed archives, computed now for random-access ones).
    fn sha256(&self, name: &str) -> Result<Digest, SourceError>;
    /// Entries that are not regular files, or otherwise unusable.
    fn damage(&self) -> Vec<(String, SourceError)>;
    /// The files and folders the tree reads.
    fn paths(&self) -> Vec<PathBuf>;
    /// (path, SHA-256) of the archive file behind the tree, when it is one.
    fn file_sha256(&self) -> Option<(String, String)> {
        None
    }
}

/// A directory on disk: files named relative to `root`, blobs found by the caller.
pub struct DirStore {
    root: PathBuf,
    blobs: Vec<BlobEntry>,
    by_digest: HashMap<Digest, usize>,
    damage: Vec<(String, SourceError)>,
}

impl DirStore {
    /// A store over `root` whose blobs live in `blobs/<alg>/<hex>` (OCI layout).
    pub fn layout(root: &Path) -> DirStore {
        let mut blobs = Vec::new();
        let mut damage = Vec::new();
        let blob_root = root.join("blobs");
        for item in walkdir::WalkDir::new(&blob_root).min_depth(1).follow_links(false).sort_by_file_name() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    damage.push(("blobs/".to_string(), SourceError::Io(format!("reading blobs/: {e}"))));
                    continue;
                }
            };
            let rel = item.path().strip_prefix(root).unwrap_or(item.path()).to_string_lossy().into_owned();
            let ft = item.file_type();
            if item.depth() == 1 && ft.is_dir() {
                continue;
            }
            if item.depth() > 2 || (item.depth() == 1) {
                damage.push((rel.clone(), SourceError::Malformed(format!("{rel}: unexpected entry in blobs/"))));
                continue;
            }
            if ft.is_symlink() || !ft.is_file() {
                damage.push((
                    rel.clone(),
                    SourceError::Malformed(format!("{rel}: not a regular file (links are refused)")),
                ));
                continue;
            }
            let alg = item.path().parent().and_then(Path::file_name).map(|s| s.to_string_lossy().into_owned());
            let hex = item.file_name().to_string_lossy().into_owned();
            let digest = match Digest::parse(&format!("{}:{}", alg.unwrap_or_default(), hex)) {
                Ok(d) => d,
                Err(e) => {
                    damage.push((rel.clone(), SourceError::Malformed(format!("{rel}: not a blob name: {e}"))));
                    continue;
                }
            };
            let size = match item.metadata() {
                Ok(m) => m.len(),
                Err(e) => {
                    damage.push((rel.clone(), SourceError::Io(format!("{rel}: {e}"))));
                    continue;
                }
            };
            blobs.push(BlobEntry { digest, size, name: rel });
        }
        DirStore::new(root, blobs, damage)
    }

    /// A store over `root` with the given blobs (used by skopeo `dir:`, where blobs are named by hex).
    pub fn new(root: &Path, blobs: Vec<BlobEntry>, damage: Vec<(String, SourceError)>) -> DirStore {
        let by_digest = blobs.iter().enumerate().map(|(i, b)| (b.digest.clone(), i)).collect();
        DirStore { root: root.to_path_buf(), blobs, by_digest, damage }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens a regular file under the root, refusing links and anything that is not a plain file.
    pub fn open_regular(&self, name: &str) -> Result<Option<File>, SourceError> {
        let path = self.root.join(name);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SourceError::Io(format!("{name}: {e}"))),
        };
        if !meta.file_type().is_file() {
            return Err(SourceError::Malformed(format!("{name}: not a regular file (links are refused)")));
        }
        File::open(&path).map(Some).map_err(|e| SourceError::Io(format!("{name}: {e}")))
    }

    pub fn find(&self, digest: &Digest) -> Option<&BlobEntry> {
        self.by_digest.get(digest).map(|&i| &self.blobs[i])
    }
}

impl BlobStore for DirStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn read_file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(file) = self.open_regular(name)? else { return Ok(None) };
        let mut out = Vec::new();
        file.take(limit + 1).read_to_end(&mut out).map_err(|e| SourceError::Io(format!("{name}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(SourceError::Malformed(format!("{name}: larger than the {limit}-byte limit")));
        }
        Ok(Some(out))
    }

    fn blobs(&self) -> &[BlobEntry] {
        &self.blobs
    }

    fn open(&self, blob: &BlobEntry) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        match self.open_regular(&blob.name)? {
            Some(f) => Ok(Box::new(f)),
            None => Err(SourceError::Missing(blob.name.clone())),
        }
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.damage.clone()
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.root.clone()]
    }
}

/// The blobs of one store, each hashed at most once; shared by every image that names them.
pub struct Blobs<S> {
    pub store: S,
    by_digest: HashMap<Digest, usize>,
    hashed: Mutex<HashMap<Digest, Result<(), SourceError>>>,
}

impl<S: BlobStore> Blobs<S> {
    pub fn new(store: S) -> Blobs<S> {
        let by_digest = store.blobs().iter().enumerate().map(|(i, b)| (b.digest.clone(), i)).collect();
        Blobs { store, by_digest, hashed: Mutex::new(HashMap::new()) }
    }

    pub fn entry(&self, digest: &Digest) -> Option<&BlobEntry> {
        self.by_digest.get(digest).map(|&i| &self.store.blobs()[i])
    }

    /// The exact bytes of a small blob, checked against the descriptor's digest and size.
    pub fn read(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, SourceError> {
        let entry = self.entry(digest).ok_or_else(|| SourceError::Missing(format!("blob {digest}")))?;
        if size > METADATA_LIMIT {
            return Err(SourceError::Malformed(format!(
                "{}: {size} bytes is over the {METADATA_LIMIT}-byte limit for metadata",
                entry.name
            )));
        }
        let reader = self.store.open(entry)?;
        read_verified(reader, digest, size, METADATA_LIMIT).map_err(|e| SourceError::from_read(&entry.name, e))
    }

    /// Present, right size, and (when `hash`) right digest.
    pub fn check(&self, digest: &Digest, size: u64, hash: bool) -> Result<(), SourceError> {
        let entry = self.entry(digest).ok_or_else(|| SourceError::Missing(format!("blob {digest}")))?;
        if entry.size != size {
            return Err(SourceError::Corrupt(entry.name.clone(), Mismatch::size(size, entry.size)));
        }
        if !hash {
            return Ok(());
        }
        self.hash_one(entry)
    }

    fn hash_one(&self, entry: &BlobEntry) -> Result<(), SourceError> {
        if let Some(r) = self.store.prehashed(entry) {
            return r;
        }
        if let Some(r) = self.lock().get(&entry.digest) {
            return r.clone();
        }
        let result = self.store.open(entry).and_then(|r| {
            VerifyingReader::new(r, &entry.digest, entry.size)
                .finish()
                .map_err(|e| SourceError::from_read(&entry.name, e))
        });
        self.lock().insert(entry.digest.clone(), result.clone());
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Result<(), SourceError>>> {
        self.hashed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hashes every blob once, in parallel, largest first.
    fn hash_all(&self) -> Vec<super::Damage> {
        let mut order: Vec<&BlobEntry> = self.store.blobs().iter().collect();
        order.sort_by_key(|b| std::cmp::Reverse(b.size));
        let origin = self.store.location();
        let mut problems: Vec<super::Damage> = order
            .par_iter()
            .with_max_len(1)
            .filter_map(|e| {
                self.hash_one(e).err().map(|error| super::Damage {
                    origin: origin.clone(),
                    entry: e.name.clone(),
                    digest: Some(e.digest.clone()),
                    error,
                })
            })
            .collect();
        problems.sort_by(|a, b| a.entry.cmp(&b.entry));
        problems
    }

    /// The source's one pass over these blobs: the store's own damage and that of the source above it
    /// (`opened`), then (when `hash`) every blob hashed.
    pub fn scan(&self, opened: &[(String, SourceError)], hash: bool) -> super::Scan {
        let mut scan = super::Scan::opened(&self.store.location(), opened);
        if hash {
            scan.damage.extend(self.hash_all());
            let blobs = self.store.blobs();
            (scan.blobs, scan.bytes) = (blobs.len() as u64, blobs.iter().map(|b| b.size).sum());
        }
        scan
    }

    /// The `Info` of a source whose content is these blobs.
    pub fn info(&self) -> super::Info {
        let mut info = super::Info::at(self.store.location(), self.store.paths());
        info.files = self.store.file_sha256().into_iter().collect();
        info
    }
}

/// A plain directory as a [`FileTree`] (an unpacked docker-archive); links and special files are damage.
pub struct DirTree {
    root: PathBuf,
    files: Vec<(String, u64)>,
    damage: Vec<(String, SourceError)>,
}

impl DirTree {
    pub fn new(root: &Path) -> DirTree {
        let (mut files, mut damage) = (Vec::new(), Vec::new());
        for item in walkdir::WalkDir::new(root).min_depth(1).follow_links(false).sort_by_file_name() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    damage.push((root.display().to_string(), SourceError::Io(e.to_string())));
                    continue;
                }
            };
            let rel = item.path().strip_prefix(root).unwrap_or(item.path()).to_string_lossy().into_owned();
            let ft = item.file_type();
            if ft.is_dir() {
                continue;
            }
            if !ft.is_file() {
                damage.push((
                    rel.clone(),
                    SourceError::Malformed(format!("{rel}: not a regular file (links are refused)")),
                ));
                continue;
            }
            match item.metadata() {
                Ok(m) => files.push((rel, m.len())),
                Err(e) => damage.push((rel.clone(), SourceError::Io(format!("{rel}: {e}")))),
            }
        }
        DirTree { root: root.to_path_buf(), files, damage }
    }
}

impl FileTree for DirTree {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn files(&self) -> Vec<(String, u64)> {
        self.files.clone()
    }

    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        DirStore::new(&self.root, vec![], vec![]).read_file(name, limit)
    }

    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        let store = DirStore::new(&self.root, vec![], vec![]);
        let file = store.open_regular(name)?.ok_or_else(|| SourceError::Missing(name.to_string()))?;
        Hasher::of_reader(Algorithm::Sha256, file).map_err(|e| SourceError::Io(format!("{name}: {e}")))
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.damage.clone()
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.root.clone()]
    }
}
