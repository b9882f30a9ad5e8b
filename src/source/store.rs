//! Where a source's bytes physically are — a directory, one pass over a tar, a zip — behind one trait,
//! [`Files`], and the blobs derived from those files by a naming rule ([`Blobs`], in the shape of
//! go-containerregistry's `partial`): each blob hashed at most once, all of them in one parallel pass,
//! largest first.

use super::SourceError;
use super::archive::Progress;
use crate::digest::{Algorithm, Digest, Hasher, Mismatch, VerifyingReader, read_verified};
use crate::oci::METADATA_LIMIT;
use rayon::prelude::*;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The read-only regular files of one source, named by their path relative to its root.
pub trait Files: Send + Sync {
    fn location(&self) -> String;
    /// Every regular file: relative path and size.
    fn files(&self) -> Vec<(String, u64)>;
    /// Opens one file; `None` when absent. Links and special files are refused.
    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + Send + '_>>, SourceError>;
    /// Entries that could not be taken as files (links, devices, bad names, a broken stream).
    fn damage(&self) -> Vec<(String, SourceError)>;
    /// The files and folders on disk that the source reads.
    fn paths(&self) -> Vec<PathBuf>;
    /// The digest a one-pass reader computed for `name` as it streamed by (compressed archives, which
    /// cannot be read again); `None` when the file is hashed on demand.
    fn prehashed(&self, _name: &str) -> Option<&Digest> {
        None
    }
    /// (path, SHA-256) of the archive file behind the files, when it is one.
    fn file_sha256(&self) -> Option<(String, String)> {
        None
    }
    /// Where the one hashing pass reports (bytes hashed, bytes in all) as it goes (a progress bar).
    fn progress(&self) -> Option<Progress> {
        None
    }

    /// A small file's bytes, refusing more than `limit`; `None` when absent.
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(file) = self.open(name)? else { return Ok(None) };
        let mut out = Vec::new();
        file.take(limit + 1).read_to_end(&mut out).map_err(|e| SourceError::Io(format!("{name}: {e}")))?;
        if out.len() as u64 > limit {
            return Err(SourceError::Malformed(format!("{name}: larger than the {limit}-byte limit")));
        }
        Ok(Some(out))
    }

    /// SHA-256 of a file (from the one pass when it was computed there).
    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        if let Some(d) = self.prehashed(name).filter(|d| d.algorithm() == Algorithm::Sha256) {
            return Ok(d.clone());
        }
        let file = self.open(name)?.ok_or_else(|| SourceError::Missing(name.to_string()))?;
        Hasher::of_reader(Algorithm::Sha256, file).map_err(|e| SourceError::Io(format!("{name}: {e}")))
    }
}

/// How a format names its blobs: the digest a file name stands for, `Some(Err(why))` for a name in the
/// blob area that is not a blob name, `None` for a file that is no blob.
pub type BlobName = fn(&str) -> Option<Result<Digest, String>>;

/// OCI layouts (and hauler stores, archives of them): `blobs/<algorithm>/<hex>`.
pub fn layout_blob(name: &str) -> Option<Result<Digest, String>> {
    let rest = name.strip_prefix("blobs/")?;
    Some(match rest.split_once('/') {
        Some((alg, hex)) => Digest::parse(&format!("{alg}:{hex}")).map_err(|e| format!("not a blob name: {e}")),
        None => Err("unexpected entry in blobs/".into()),
    })
}

/// One blob a source holds.
#[derive(Clone, Debug)]
pub struct BlobEntry {
    pub digest: Digest,
    pub size: u64,
    /// The file behind it, for messages (`blobs/sha256/ab…`).
    pub name: String,
}

/// A directory on disk. Links and special files anywhere in it are damage, never followed.
pub struct Dir {
    root: PathBuf,
    files: Vec<(String, u64)>,
    damage: Vec<(String, SourceError)>,
    progress: Option<Progress>,
}

impl Dir {
    pub fn new(root: &Path) -> Dir {
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
                let e = SourceError::Malformed(format!("{rel}: not a regular file (links are refused)"));
                damage.push((rel, e));
                continue;
            }
            match item.metadata() {
                Ok(m) => files.push((rel, m.len())),
                Err(e) => damage.push((rel.clone(), SourceError::Io(format!("{rel}: {e}")))),
            }
        }
        Dir { root: root.to_path_buf(), files, damage, progress: None }
    }

    /// Opens a regular file under the root, refusing links and anything that is not a plain file.
    fn open_regular(&self, name: &str) -> Result<Option<File>, SourceError> {
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
}

impl Dir {
    /// The same folder, its hashing pass reported to `progress`.
    pub fn with_progress(mut self, progress: Option<Progress>) -> Dir {
        self.progress = progress;
        self
    }
}

impl Files for Dir {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn progress(&self) -> Option<Progress> {
        self.progress.clone()
    }

    fn files(&self) -> Vec<(String, u64)> {
        self.files.clone()
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + Send + '_>>, SourceError> {
        Ok(self.open_regular(name)?.map(|f| Box::new(f) as Box<dyn Read + Send>))
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.damage.clone()
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.root.clone()]
    }
}

/// The blobs among a source's files, each hashed at most once; shared by every image that names them.
pub struct Blobs<F> {
    pub files: F,
    blobs: Vec<BlobEntry>,
    by_digest: HashMap<Digest, usize>,
    /// Files in the blob area whose names are no blob names.
    misnamed: Vec<(String, SourceError)>,
    hashed: Mutex<HashMap<Digest, Result<(), SourceError>>>,
}

impl<F: Files> Blobs<F> {
    /// The blobs `rule` finds among the files, plus `extra` ones a format knows another way (a `dir:`
    /// image's `manifest.json`, named by no digest).
    pub fn new(files: F, rule: BlobName, extra: Vec<BlobEntry>) -> Blobs<F> {
        let (mut blobs, mut misnamed) = (extra, Vec::new());
        for (name, size) in files.files() {
            match rule(&name) {
                Some(Ok(digest)) => blobs.push(BlobEntry { digest, size, name }),
                Some(Err(why)) => misnamed.push((name.clone(), SourceError::Malformed(format!("{name}: {why}")))),
                None => {}
            }
        }
        let by_digest = blobs.iter().enumerate().map(|(i, b)| (b.digest.clone(), i)).collect();
        Blobs { files, blobs, by_digest, misnamed, hashed: Mutex::new(HashMap::new()) }
    }

    /// The damage of the files and of the names in the blob area.
    pub fn damage(&self) -> Vec<(String, SourceError)> {
        let mut damage = self.files.damage();
        damage.extend(self.misnamed.iter().cloned());
        damage
    }

    pub fn all(&self) -> &[BlobEntry] {
        &self.blobs
    }

    pub fn entry(&self, digest: &Digest) -> Option<&BlobEntry> {
        self.by_digest.get(digest).map(|&i| &self.blobs[i])
    }

    fn open(&self, entry: &BlobEntry) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        self.files.open(&entry.name)?.ok_or_else(|| SourceError::Missing(entry.name.clone()))
    }

    /// A blob's bytes as stored (at most `size` of them), for a consumer that hashes them again.
    pub fn stream(&self, digest: &Digest, size: u64) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let entry = self.entry(digest).ok_or_else(|| SourceError::Missing(format!("blob {digest}")))?;
        if entry.size != size {
            return Err(SourceError::Corrupt(entry.name.clone(), Mismatch::size(size, entry.size)));
        }
        Ok(Box::new(self.open(entry)?.take(size)))
    }

    /// The first byte of a blob, when it can be read: a layer is told from a JSON document without
    /// reading it whole.
    pub fn first_byte(&self, entry: &BlobEntry) -> Option<u8> {
        let mut byte = [0u8; 1];
        let mut reader = self.open(entry).ok()?;
        loop {
            match reader.read(&mut byte) {
                Ok(1) => return Some(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                _ => return None,
            }
        }
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
        let reader = self.open(entry)?;
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
        self.hash_one(entry, &|_| {})
    }

    fn hash_one(&self, entry: &BlobEntry, tick: &(dyn Fn(u64) + Sync)) -> Result<(), SourceError> {
        if let Some(actual) = self.files.prehashed(&entry.name) {
            if actual == &entry.digest {
                return Ok(());
            }
            let m = Mismatch::Digest { expected: entry.digest.clone(), actual: actual.clone() };
            return Err(SourceError::Corrupt(entry.name.clone(), m));
        }
        if let Some(r) = self.lock().get(&entry.digest) {
            return r.clone();
        }
        let result = self.open(entry).and_then(|r| {
            VerifyingReader::new(Ticking { inner: r, tick }, &entry.digest, entry.size)
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
        let mut order: Vec<&BlobEntry> = self.blobs.iter().collect();
        order.sort_by_key(|b| std::cmp::Reverse(b.size));
        let origin = self.files.location();
        let (progress, done) = (self.files.progress(), std::sync::atomic::AtomicU64::new(0));
        let total: u64 = self.blobs.iter().map(|b| b.size).sum();
        let tick = |n: u64| {
            if let Some(report) = &progress {
                report(done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n, total);
            }
        };
        let mut problems: Vec<super::Damage> = order
            .par_iter()
            .with_max_len(1)
            .filter_map(|e| {
                self.hash_one(e, &tick).err().map(|error| super::Damage {
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

    /// The source's one pass over these blobs: the damage found opening the source (`opened`), then
    /// (when `hash`) every blob hashed.
    pub fn scan(&self, opened: &[(String, SourceError)], hash: bool) -> super::Scan {
        let mut scan = super::Scan::opened(&self.files.location(), opened);
        if hash {
            scan.damage.extend(self.hash_all());
            (scan.blobs, scan.bytes) = (self.blobs.len() as u64, self.blobs.iter().map(|b| b.size).sum());
        }
        scan
    }

    /// The `Info` of a source whose content is these blobs.
    pub fn info(&self) -> super::Info {
        let mut info = super::Info::at(self.files.location(), self.files.paths());
        info.files = self.files.file_sha256().into_iter().collect();
        info
    }
}

/// A reader that tells `tick` how many bytes each read gave.
struct Ticking<'a, R> {
    inner: R,
    tick: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Ticking<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.tick)(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_blobs_are_named_by_algorithm_and_hex() {
        let hex = "a".repeat(64);
        let d = layout_blob(&format!("blobs/sha256/{hex}")).unwrap().unwrap();
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        assert!(layout_blob("index.json").is_none(), "outside blobs/: no blob");
        assert!(layout_blob("blobs/stray").unwrap().unwrap_err().contains("unexpected entry in blobs/"));
        assert!(layout_blob("blobs/sha256/xyz").unwrap().unwrap_err().contains("not a blob name"));
        assert!(layout_blob(&format!("blobs/sha256/{hex}/deeper")).unwrap().is_err());
    }

    #[test]
    fn blobs_come_from_the_rule_and_misnamed_files_are_damage() {
        let tmp = tempfile::tempdir().unwrap();
        let hex = crate::digest::Digest::sha256_of(b"x").hex().to_string();
        std::fs::create_dir_all(tmp.path().join("blobs/sha256")).unwrap();
        std::fs::write(tmp.path().join("blobs/sha256").join(&hex), b"x").unwrap();
        std::fs::write(tmp.path().join("blobs/sha256/nothex"), b"y").unwrap();
        std::fs::write(tmp.path().join("index.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("elsewhere")).unwrap();
        let blobs = Blobs::new(Dir::new(tmp.path()), layout_blob, Vec::new());
        assert_eq!(blobs.all().len(), 1);
        let damage: Vec<String> = blobs.damage().into_iter().map(|(name, _)| name).collect();
        assert_eq!(damage, ["elsewhere", "blobs/sha256/nothex"], "the link and the misnamed file");
        let d = blobs.all()[0].digest.clone();
        assert!(blobs.check(&d, 1, true).is_ok());
        assert!(matches!(blobs.check(&d, 2, false), Err(SourceError::Corrupt(..))));
    }
}
