//! Tar archives, plain or compressed with gzip or zstd, whole or split into parts (`NAME.001`, …).
//! Compressed streams are read once, front to back, never extracted: a decoder thread decompresses
//! while this thread parses tar and hashes every file, and the two share the SHA-256 of the archive
//! file itself; small JSON files are kept for the graph check afterwards. Plain tar is random access:
//! its entries are indexed, then hashed in parallel.

mod parts;
mod plain;
mod raw;
mod spool;
#[cfg(test)]
mod spool_tests;
mod stream;
#[cfg(test)]
mod stream_tests;

use parts::PartsReader;
pub use parts::{is_later_part, missing_first_part, parts};
pub use spool::Spool;
use spool::Spooled;

use super::SourceError;
use super::store::Files;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::oci::{METADATA_LIMIT, TOC_LIMIT};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// Retained metadata is capped so a hostile archive cannot grow memory without bound (SPEC §2).
pub const RETAIN_LIMIT: u64 = 256 << 20;
pub const MAX_ENTRIES: usize = 1_000_000;
/// Padding after the end-of-archive marker that is read and discarded.
const TRAILER_LIMIT: u64 = 64 << 20;

/// What the first bytes of a file say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Tar,
    Gzip,
    Zstd,
    Zip,
}

/// Detects an archive by its magic bytes (never by its name).
pub fn sniff(path: &Path) -> io::Result<Option<Kind>> {
    let mut head = [0u8; 512];
    let mut file = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    Ok(if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Kind::Zstd)
    } else if head.starts_with(&[0x1f, 0x8b]) {
        Some(Kind::Gzip)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Kind::Zip)
    } else if is_tar_header(head) {
        Some(Kind::Tar)
    } else {
        None
    })
}

/// A ustar/GNU magic, or an old-style header whose checksum is right.
fn is_tar_header(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&head[148..156]).ok().map(|s| s.trim_matches(|c: char| c == '\0' || c == ' '));
    let Some(stored) = stored.and_then(|s| u32::from_str_radix(s, 8).ok()) else { return false };
    let sum: u32 = head.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
    sum == stored && head[0] != 0
}

/// One regular file of the archive.
#[derive(Clone, Debug)]
struct TarFile {
    size: u64,
    /// Offset of the data (plain tar).
    offset: u64,
    /// Digest computed while streaming (compressed tar), with the algorithm its blob name asks for.
    digest: Option<Digest>,
    data: Option<Arc<Vec<u8>>>,
    /// A compressed stream's file not kept in memory, read with a spool: where its copy is, or why not.
    spooled: Option<Spooled>,
}

/// The files of one archive, after one pass.
pub struct ArchiveTree {
    location: String,
    parts: Vec<PathBuf>,
    streamed: bool,
    files: BTreeMap<String, TarFile>,
    damage: Vec<(String, SourceError)>,
    file_sha256: OnceLock<Option<String>>,
    /// A plain tar's blobs are hashed on demand, after opening: where that pass reports.
    progress: Option<Progress>,
    /// Where a compressed stream's files are copied (import only); held as long as the tree is.
    spool: Option<Arc<Spool>>,
}

/// Called with (bytes read, total bytes) of a compressed archive as its one pass goes (a progress bar).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Options for reading archives.
#[derive(Clone)]
pub struct ArchiveOptions {
    /// Largest zstd window accepted, as log2 (SPEC §8: 27 by default).
    pub zstd_window_log_max: u32,
    pub progress: Option<Progress>,
    /// `import` only: every file of a compressed stream that is not kept in memory is also copied here as
    /// it is hashed, and read from here afterwards. `None` (the default, every verification run): nothing
    /// is written. Random-access archives (plain tar) are never spooled: they are read again in place.
    pub spool: Option<Arc<Spool>>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions { zstd_window_log_max: 27, progress: None, spool: None }
    }
}

/// Reports progress every this many bytes.
const PROGRESS_STEP: u64 = 4 << 20;

/// Normalises a tar entry name: `./a//b/./c` → `a/b/c`; absolute names and `..` are refused.
fn clean_name(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        return Err("absolute entry name".into());
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("entry name with \"..\"".into()),
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

/// The digest algorithm a blob path asks for (`blobs/sha512/…`), sha256 otherwise.
fn algorithm_for(name: &str) -> Algorithm {
    let mut it = name.rsplit('/');
    let _hex = it.next();
    match (it.next(), it.next()) {
        (Some("sha512"), Some("blobs")) => Algorithm::Sha512,
        _ => Algorithm::Sha256,
    }
}

/// Adds the remedy to a zstd window error.
fn hint(e: &io::Error) -> String {
    let text = e.to_string();
    if text.contains("too much memory") {
        format!("{text} (the zstd window is larger than --zstd-window-log-max allows)")
    } else {
        text
    }
}

fn retainable(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    // zarf packages: `zarf.yaml` and `checksums.txt` (its table of contents) are read after the pass
    matches!(base, "index.json" | "oci-layout" | "manifest.json" | "repositories")
        || matches!(name, "zarf.yaml" | "checksums.txt")
}

impl ArchiveTree {
    /// Reads `paths` (one archive, possibly split) of `kind` once.
    pub fn open(paths: Vec<PathBuf>, kind: Kind, opts: ArchiveOptions) -> io::Result<ArchiveTree> {
        let location = paths[0].display().to_string();
        let mut tree = ArchiveTree {
            location,
            parts: paths,
            streamed: kind != Kind::Tar,
            files: BTreeMap::new(),
            damage: Vec::new(),
            file_sha256: OnceLock::new(),
            progress: (kind == Kind::Tar).then(|| opts.progress.clone()).flatten(),
            spool: (kind != Kind::Tar).then(|| opts.spool.clone()).flatten(),
        };
        match kind {
            Kind::Tar => tree.index_plain()?,
            Kind::Gzip | Kind::Zstd => tree.stream(kind, opts)?,
            Kind::Zip => return Err(io::Error::other("zip archives are not tar archives")),
        }
        tree.strip_top_folder();
        Ok(tree)
    }

    fn damaged(&mut self, name: &str, e: SourceError) {
        // A split archive that breaks may be missing a part: say which parts were read, and which was not.
        let e = match (e, parts::next_part(&self.parts)) {
            (SourceError::Malformed(m), Some(next)) => {
                let last = self.parts.last().map(|p| p.display().to_string()).unwrap_or_default();
                let absent =
                    next.map(|n| format!("; {} is not there: is a part missing?", n.display())).unwrap_or_default();
                SourceError::Malformed(format!(
                    "{m} (split archive read as {} part(s), up to {last}{absent})",
                    self.parts.len()
                ))
            }
            (e, _) => e,
        };
        self.damage.push((name.to_string(), e));
    }

    /// An archive of a folder (`tar -C parent folder`): strip the one top-level folder.
    fn strip_top_folder(&mut self) {
        let at_root = ["oci-layout", "index.json", "manifest.json"].iter().any(|m| self.files.contains_key(*m));
        if at_root {
            return;
        }
        let Some(first) = self.files.keys().next().and_then(|k| k.split_once('/')).map(|(d, _)| format!("{d}/")) else {
            return;
        };
        if !self.files.keys().all(|k| k.starts_with(&first)) {
            return;
        }
        self.files =
            std::mem::take(&mut self.files).into_iter().map(|(k, v)| (k[first.len()..].to_string(), v)).collect();
    }

    pub fn has(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    pub fn damage_list(&self) -> Vec<SourceError> {
        self.damage.iter().map(|(_, e)| e.clone()).collect()
    }

    pub fn is_damaged(&self) -> bool {
        !self.damage.is_empty()
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// SHA-256 of the archive file itself (all parts), computed in the streaming pass, or on demand
    /// for plain tar.
    pub fn archive_sha256(&self) -> Option<String> {
        self.file_sha256
            .get_or_init(|| {
                let parts = PartsReader::open(&self.parts).ok()?;
                Hasher::of_reader(Algorithm::Sha256, parts).ok().map(|d| d.hex().to_string())
            })
            .clone()
    }

    /// A file's bytes: kept in memory, else (compressed stream) its spooled copy, else (plain tar) where
    /// it lies in the archive.
    fn open_file(&self, name: &str, file: &TarFile) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        if let Some(data) = &file.data {
            return Ok(Box::new(io::Cursor::new(ArcBytes(data.clone()))));
        }
        if self.streamed {
            return match &file.spooled {
                Some(Spooled::At(path)) => {
                    let copy = File::open(path).map_err(|e| SourceError::Io(format!("{name}: spooled copy: {e}")))?;
                    Ok(Box::new(copy.take(file.size)))
                }
                Some(Spooled::Not(why)) => Err(SourceError::Io(format!("{name}: not spooled: {why}"))),
                None => Err(SourceError::Malformed(format!(
                    "{name}: not kept from the compressed stream (not JSON, or over the {METADATA_LIMIT}-byte \
                     metadata limit; {TOC_LIMIT} bytes for an index.json or manifest.json)"
                ))),
            };
        }
        let mut r = PartsReader::open(&self.parts).map_err(|e| SourceError::Io(format!("{}: {e}", self.location)))?;
        r.seek(SeekFrom::Start(file.offset)).map_err(|e| SourceError::Io(format!("{name}: {e}")))?;
        Ok(Box::new(r.take(file.size)))
    }
}

/// Retained bytes, readable without borrowing the tree.
struct ArcBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Shared handle, so one pass can back both a layout and a docker-archive view.
#[derive(Clone)]
pub struct Shared(pub Arc<ArchiveTree>);

impl Files for Shared {
    fn location(&self) -> String {
        self.0.location.clone()
    }

    fn files(&self) -> Vec<(String, u64)> {
        self.0.files.iter().map(|(k, v)| (k.clone(), v.size)).collect()
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + Send + '_>>, SourceError> {
        let Some(file) = self.0.files.get(name) else { return Ok(None) };
        self.0.open_file(name, file).map(Some)
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.0.damage.clone()
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.0.parts.clone()
    }

    fn prehashed(&self, name: &str) -> Option<&Digest> {
        self.0.files.get(name)?.digest.as_ref()
    }

    fn file_sha256(&self) -> Option<(String, String)> {
        self.0.archive_sha256().map(|h| (self.0.location.clone(), h))
    }

    fn progress(&self) -> Option<Progress> {
        self.0.progress.clone()
    }

    /// The size is known before reading: a file over `limit` is refused unread (and a compressed
    /// stream keeps no bytes of it anyway).
    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(file) = self.0.files.get(name) else { return Ok(None) };
        if file.size > limit {
            return Err(SourceError::Malformed(format!("{name}: larger than the {limit}-byte limit")));
        }
        let mut out = Vec::with_capacity(file.size as usize);
        self.0.open_file(name, file)?.read_to_end(&mut out).map_err(|e| SourceError::Io(format!("{name}: {e}")))?;
        Ok(Some(out))
    }

    /// A plain tar's file is hashed where it lies; a streamed one was hashed as it went by.
    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        let file = self.0.files.get(name).ok_or_else(|| SourceError::Missing(name.to_string()))?;
        if let Some(d) = file.digest.as_ref().filter(|d| d.algorithm() == Algorithm::Sha256) {
            return Ok(d.clone());
        }
        self.0.hash_range(file.offset, file.size).map_err(|e| SourceError::Io(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean_name("./blobs//sha256/./x").unwrap(), "blobs/sha256/x");
        assert!(clean_name("/etc/passwd").is_err());
        assert!(clean_name("a/../../b").is_err());
    }

    #[test]
    fn blob_algorithms_come_from_the_path() {
        assert_eq!(algorithm_for("blobs/sha512/ab"), Algorithm::Sha512);
        assert_eq!(algorithm_for("blobs/sha256/ab"), Algorithm::Sha256);
        assert_eq!(algorithm_for("manifest.json"), Algorithm::Sha256);
    }
}
