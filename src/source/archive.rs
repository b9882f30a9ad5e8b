//! Tar archives, plain or compressed with gzip or zstd, whole or split into parts (`NAME.001`, …).
//! Compressed streams are read once, front to back, never extracted: a decoder thread decompresses
//! while this thread parses tar and hashes every file; small JSON files are kept for the graph check
//! afterwards. Plain tar is random access: its entries are indexed, then hashed in parallel.

use super::SourceError;
use super::store::{BlobEntry, BlobStore, FileTree};
use crate::digest::{Algorithm, Digest, Hasher, Mismatch};
use crate::oci::METADATA_LIMIT;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

/// Retained metadata is capped so a hostile archive cannot grow memory without bound (SPEC §2).
pub const RETAIN_LIMIT: u64 = 256 << 20;
pub const MAX_ENTRIES: usize = 1_000_000;
const CHUNK: usize = 1 << 20;
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

/// The parts of a split archive: `NAME.001` → `NAME.001`, `NAME.002`, … until one is missing.
pub fn parts(first: &Path) -> Vec<PathBuf> {
    let mut out = vec![first.to_path_buf()];
    let name = first.to_string_lossy();
    let Some(stem) = name.strip_suffix(".001") else { return out };
    for n in 2..1000 {
        let next = PathBuf::from(format!("{stem}.{n:03}"));
        if !next.is_file() {
            break;
        }
        out.push(next);
    }
    out
}

/// Whether `path` is a later part (`.002`…) of a split archive whose first part exists.
pub fn is_later_part(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let Some((stem, n)) = name.rsplit_once('.') else { return false };
    n.len() == 3 && n != "001" && n.bytes().all(|b| b.is_ascii_digit()) && Path::new(&format!("{stem}.001")).is_file()
}

/// Several files read as one (split archives); seekable.
struct PartsReader {
    parts: Vec<(PathBuf, u64)>,
    total: u64,
    pos: u64,
    current: Option<(usize, File)>,
}

impl PartsReader {
    fn open(paths: &[PathBuf]) -> io::Result<PartsReader> {
        let mut parts = Vec::new();
        let mut total = 0;
        for p in paths {
            let len = std::fs::metadata(p)?.len();
            total += len;
            parts.push((p.clone(), len));
        }
        Ok(PartsReader { parts, total, pos: 0, current: None })
    }

    /// The part holding `pos` and the offset inside it.
    fn locate(&self, pos: u64) -> Option<(usize, u64)> {
        let mut start = 0;
        for (i, (_, len)) in self.parts.iter().enumerate() {
            if pos < start + len {
                return Some((i, pos - start));
            }
            start += len;
        }
        None
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((i, offset)) = self.locate(self.pos) else { return Ok(0) };
        if self.current.as_ref().map(|c| c.0) != Some(i) {
            let mut f = File::open(&self.parts[i].0)?;
            f.seek(SeekFrom::Start(offset))?;
            self.current = Some((i, f));
        }
        let remaining = self.parts[i].1 - offset;
        let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let (_, f) = self.current.as_mut().expect("opened above");
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "archive part shorter than when opened"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PartsReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.total.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let pos = pos.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?;
        if let (Some((i, offset)), Some((cur, f))) = (self.locate(pos), self.current.as_mut()) {
            if *cur == i {
                f.seek(SeekFrom::Start(offset))?;
            } else {
                self.current = None;
            }
        } else {
            self.current = None;
        }
        self.pos = pos;
        Ok(pos)
    }
}

/// SHA-256 of the raw (compressed) bytes, shared between the decoder thread and its owner.
#[derive(Clone)]
struct RawHash(Arc<Mutex<(Hasher, u64)>>);

impl RawHash {
    fn new() -> RawHash {
        RawHash(Arc::new(Mutex::new((Hasher::new(Algorithm::Sha256), 0))))
    }
}

struct HashingReader<R> {
    inner: R,
    hash: RawHash,
    progress: Option<(Progress, u64)>,
    reported: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = self.hash.0.lock().unwrap_or_else(|p| p.into_inner());
        state.0.update(&buf[..n]);
        state.1 += n as u64;
        if let Some((report, total)) = &self.progress
            && (state.1 >= self.reported + PROGRESS_STEP || n == 0)
        {
            self.reported = state.1;
            report(state.1, *total);
        }
        Ok(n)
    }
}

/// Counts the bytes the tar parser consumed.
struct CountingReader<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// The consumer side of the decoder thread.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
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
}

/// The files of one archive, after one pass.
pub struct ArchiveTree {
    location: String,
    parts: Vec<PathBuf>,
    streamed: bool,
    files: BTreeMap<String, TarFile>,
    damage: Vec<(String, SourceError)>,
    blobs: Vec<BlobEntry>,
    file_sha256: OnceLock<Option<String>>,
}

/// Called with (bytes read, total bytes) of a compressed archive as its one pass goes (a progress bar).
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Options for reading archives.
#[derive(Clone)]
pub struct ArchiveOptions {
    /// Largest zstd window accepted, as log2 (SPEC §8: 27 by default).
    pub zstd_window_log_max: u32,
    pub progress: Option<Progress>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions { zstd_window_log_max: 27, progress: None }
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
    matches!(base, "index.json" | "oci-layout" | "manifest.json" | "repositories")
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
            blobs: Vec::new(),
            file_sha256: OnceLock::new(),
        };
        match kind {
            Kind::Tar => tree.index_plain()?,
            Kind::Gzip | Kind::Zstd => tree.stream(kind, opts)?,
            Kind::Zip => return Err(io::Error::other("zip archives are not tar archives")),
        }
        tree.strip_top_folder();
        tree.collect_blobs();
        Ok(tree)
    }

    fn damaged(&mut self, name: &str, e: SourceError) {
        self.damage.push((name.to_string(), e));
    }

    /// The one pass over a compressed stream.
    fn stream(&mut self, kind: Kind, opts: ArchiveOptions) -> io::Result<()> {
        let raw = PartsReader::open(&self.parts)?;
        let progress = opts.progress.clone().map(|p| (p, raw.total));
        let hash = RawHash::new();
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(8);
        let thread_hash = hash.clone();
        let decoder = std::thread::spawn(move || {
            let reader = HashingReader { inner: raw, hash: thread_hash, progress, reported: 0 };
            let mut decoded: Box<dyn Read> = match kind {
                Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
                _ => match zstd::stream::read::Decoder::new(reader) {
                    Ok(mut d) => {
                        if let Err(e) = d.window_log_max(opts.zstd_window_log_max) {
                            let _ = tx.send(Err(e));
                            return;
                        }
                        Box::new(d)
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                },
            };
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let mut filled = 0;
                let result = loop {
                    match decoded.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                let done = filled == 0;
                if filled > 0 && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Err(e) = result {
                    let _ = tx.send(Err(e));
                    return;
                }
                if done {
                    return;
                }
            }
        });
        let reader = ChannelReader { rx, buf: Vec::new(), at: 0 };
        self.scan(reader);
        let _ = decoder.join();
        self.finish_raw_hash(&hash);
        Ok(())
    }

    /// Hashes whatever the decoder did not read (trailing bytes) and records the archive's SHA-256.
    fn finish_raw_hash(&mut self, hash: &RawHash) {
        let (mut hasher, consumed) = {
            let mut state = hash.0.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *state, (Hasher::new(Algorithm::Sha256), 0))
        };
        if let Ok(mut rest) = PartsReader::open(&self.parts)
            && rest.seek(SeekFrom::Start(consumed)).is_ok()
        {
            let mut buf = vec![0u8; CHUNK];
            while let Ok(n) = rest.read(&mut buf) {
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
        let _ = self.file_sha256.set(Some(hasher.finish().hex().to_string()));
    }

    /// Parses tar from `reader`, hashing every regular file as it streams by.
    fn scan<R: Read>(&mut self, reader: R) {
        let consumed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut archive = tar::Archive::new(CountingReader { inner: reader, count: consumed.clone() });
        let mut data_end = 0u64;
        let entries = match archive.entries() {
            Ok(e) => e,
            Err(e) => {
                let loc = self.location.clone();
                self.damaged(&loc, SourceError::Malformed(format!("{loc}: not a readable tar stream: {e}")));
                return;
            }
        };
        let mut retained = 0u64;
        let mut last = String::from("(start of archive)");
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.damaged(
                        &last,
                        SourceError::Malformed(format!("archive damaged after entry {last}: {}", hint(&e))),
                    );
                    return;
                }
            };
            data_end = entry.raw_file_position() + entry.size().div_ceil(512) * 512;
            let Some(name) = self.admit(&entry.path_bytes(), entry.header().entry_type(), &last) else { continue };
            last = name.clone();
            if self.files.len() >= MAX_ENTRIES {
                self.damaged(&name, SourceError::Malformed(format!("more than {MAX_ENTRIES} entries")));
                return;
            }
            let size = entry.size();
            let mut hasher = Hasher::new(algorithm_for(&name));
            let keep = size <= METADATA_LIMIT && retained + size <= RETAIN_LIMIT;
            let mut data: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 256 * 1024];
            let mut read = 0u64;
            let mut first = None;
            loop {
                match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                        first = first.or(Some(buf[0]));
                        if keep && (first == Some(b'{') || retainable(&name)) {
                            data.extend_from_slice(&buf[..n]);
                        }
                        read += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.damaged(
                            &name,
                            SourceError::Malformed(format!("{name}: archive truncated or corrupt: {}", hint(&e))),
                        );
                        return;
                    }
                }
            }
            if read != size {
                self.damaged(
                    &name,
                    SourceError::Malformed(format!("{name}: entry has {read} bytes, its header says {size}")),
                );
                return;
            }
            let wanted = first == Some(b'{') || retainable(&name);
            let keep_data = keep && wanted && data.len() as u64 == size;
            if keep_data {
                retained += size;
            } else if wanted && size <= METADATA_LIMIT && !keep {
                self.damaged(
                    &name,
                    SourceError::Malformed(format!(
                        "{name}: over the {RETAIN_LIMIT}-byte budget for metadata kept from a compressed stream"
                    )),
                );
            }
            let file =
                TarFile { size, offset: 0, digest: Some(hasher.finish()), data: keep_data.then(|| Arc::new(data)) };
            self.insert(name, file);
        }
        // The parser stops at the first zero block; the second must follow it.
        let mut rest = archive.into_inner();
        let mut second = Vec::with_capacity(512);
        let complete = consumed.load(std::sync::atomic::Ordering::Relaxed) >= data_end + 512
            && (&mut rest).take(512).read_to_end(&mut second).is_ok()
            && second.len() == 512
            && second.iter().all(|&b| b == 0);
        if !complete {
            self.end_marker_missing(&last);
            return;
        }
        // The rest of the stream must decode cleanly (a truncated gzip trailer, a corrupt last frame)
        // and be short: tar pads with zeros, nothing else belongs there.
        let mut tail = (&mut rest).take(TRAILER_LIMIT + 1);
        match io::copy(&mut tail, &mut io::sink()) {
            Ok(n) if n > TRAILER_LIMIT => self.damaged(
                &last,
                SourceError::Malformed(format!(
                    "more than {TRAILER_LIMIT} bytes of data after the end-of-archive marker"
                )),
            ),
            Ok(_) => {}
            Err(e) => self.damaged(
                &last,
                SourceError::Malformed(format!("compressed stream damaged after the tar archive: {}", hint(&e))),
            ),
        }
    }

    fn end_marker_missing(&mut self, last: &str) {
        self.damaged(
            last,
            SourceError::Malformed(format!(
                "archive truncated after entry {last}: the end-of-archive marker is missing"
            )),
        );
    }

    /// Checks one entry's name and type; `Some(clean name)` for regular files.
    fn admit(&mut self, raw: &[u8], kind: tar::EntryType, previous: &str) -> Option<String> {
        let Ok(raw) = std::str::from_utf8(raw) else {
            self.damaged(previous, SourceError::Malformed(format!("entry after {previous}: name is not UTF-8")));
            return None;
        };
        let name = match clean_name(raw) {
            Ok(n) => n,
            Err(why) => {
                self.damaged(raw, SourceError::Malformed(format!("{raw}: {why}")));
                return None;
            }
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => return None,
            other => {
                let what = match other {
                    tar::EntryType::Symlink => "a symbolic link",
                    tar::EntryType::Link => "a hard link",
                    tar::EntryType::Char | tar::EntryType::Block => "a device file",
                    tar::EntryType::Fifo => "a FIFO",
                    _ => "an entry of an unsupported type",
                };
                self.damaged(
                    &name,
                    SourceError::Malformed(format!("{name}: {what} (links and special files are refused)")),
                );
                return None;
            }
        }
        if name.is_empty() {
            return None;
        }
        Some(name)
    }

    /// Keeps the first of duplicate names; a duplicate with other content is damage.
    fn insert(&mut self, name: String, file: TarFile) {
        match self.files.get(&name) {
            None => {
                self.files.insert(name, file);
            }
            Some(existing) => {
                let same = existing.size == file.size && existing.digest == file.digest && existing.digest.is_some();
                if !same {
                    self.damaged(
                        &name,
                        SourceError::Malformed(format!("{name}: duplicate entry with different content")),
                    );
                }
            }
        }
    }

    /// Indexes a plain tar without reading file data.
    fn index_plain(&mut self) -> io::Result<()> {
        let reader = PartsReader::open(&self.parts)?;
        let total = reader.total;
        let mut archive = tar::Archive::new(reader);
        let mut last = String::from("(start of archive)");
        let mut data_end = 0u64;
        let entries = archive.entries_with_seek()?;
        let mut pending: Vec<(String, TarFile)> = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.damaged(&last, SourceError::Malformed(format!("archive damaged after entry {last}: {e}")));
                    break;
                }
            };
            let Some(name) = self.admit(&entry.path_bytes(), entry.header().entry_type(), &last) else { continue };
            last = name.clone();
            if pending.len() >= MAX_ENTRIES {
                self.damaged(&name, SourceError::Malformed(format!("more than {MAX_ENTRIES} entries")));
                break;
            }
            let (offset, size) = (entry.raw_file_position(), entry.size());
            data_end = offset + size.div_ceil(512) * 512;
            if offset.checked_add(size).is_none_or(|end| end > total) {
                self.damaged(&name, SourceError::Malformed(format!("{name}: archive truncated inside this entry")));
                break;
            }
            pending.push((name, TarFile { size, offset, digest: None, data: None }));
        }
        drop(archive);
        if self.damage.is_empty() && !self.zero_blocks_at(data_end)? {
            self.end_marker_missing(&last);
        }
        for (name, file) in pending {
            if let Some(existing) = self.files.get(&name) {
                let same = existing.size == file.size
                    && self.hash_range(existing.offset, existing.size).ok()
                        == self.hash_range(file.offset, file.size).ok();
                if !same {
                    self.damaged(
                        &name,
                        SourceError::Malformed(format!("{name}: duplicate entry with different content")),
                    );
                }
                continue;
            }
            self.files.insert(name, file);
        }
        Ok(())
    }

    /// Whether two zero blocks (the end-of-archive marker) follow `at`.
    fn zero_blocks_at(&self, at: u64) -> io::Result<bool> {
        let mut r = PartsReader::open(&self.parts)?;
        r.seek(SeekFrom::Start(at))?;
        let mut marker = Vec::with_capacity(1024);
        r.take(1024).read_to_end(&mut marker)?;
        Ok(marker.len() == 1024 && marker.iter().all(|&b| b == 0))
    }

    fn hash_range(&self, offset: u64, size: u64) -> io::Result<Digest> {
        let mut r = PartsReader::open(&self.parts)?;
        r.seek(SeekFrom::Start(offset))?;
        let mut hasher = Hasher::new(Algorithm::Sha256);
        let mut limited = r.take(size);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = limited.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
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

    fn collect_blobs(&mut self) {
        for (name, file) in &self.files {
            let Some(rest) = name.strip_prefix("blobs/") else { continue };
            match rest.split_once('/').map(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}"))) {
                Some(Ok(digest)) => self.blobs.push(BlobEntry { digest, size: file.size, name: name.clone() }),
                Some(Err(e)) => {
                    self.damage.push((name.clone(), SourceError::Malformed(format!("{name}: not a blob name: {e}"))))
                }
                None => self
                    .damage
                    .push((name.clone(), SourceError::Malformed(format!("{name}: unexpected entry in blobs/")))),
            }
        }
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
                let mut r = PartsReader::open(&self.parts).ok()?;
                let mut hasher = Hasher::new(Algorithm::Sha256);
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = r.read(&mut buf).ok()?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                }
                Some(hasher.finish().hex().to_string())
            })
            .clone()
    }

    fn open_file(&self, name: &str, file: &TarFile) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        if let Some(data) = &file.data {
            return Ok(Box::new(io::Cursor::new(ArcBytes(data.clone()))));
        }
        if self.streamed {
            return Err(SourceError::Malformed(format!(
                "{name}: not kept from the compressed stream (not JSON, or over the {METADATA_LIMIT}-byte metadata limit)"
            )));
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

impl BlobStore for Shared {
    fn location(&self) -> String {
        self.0.location.clone()
    }

    fn read_file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        FileTree::read_small(self, name, limit)
    }

    fn blobs(&self) -> &[BlobEntry] {
        &self.0.blobs
    }

    fn open(&self, blob: &BlobEntry) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let file = self.0.files.get(&blob.name).ok_or_else(|| SourceError::Missing(blob.name.clone()))?;
        self.0.open_file(&blob.name, file)
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.0.damage.clone()
    }

    fn contains_path(&self, path: &Path) -> bool {
        let Some(p) = super::canonical(path) else { return false };
        self.0.parts.iter().any(|part| part.canonicalize().is_ok_and(|a| a == p))
    }

    fn file_sha256(&self) -> Option<(String, String)> {
        self.0.archive_sha256().map(|h| (self.0.location.clone(), h))
    }

    fn prehashed(&self, blob: &BlobEntry) -> Option<Result<(), SourceError>> {
        let file = self.0.files.get(&blob.name)?;
        let digest = file.digest.as_ref()?;
        Some(if digest == &blob.digest {
            Ok(())
        } else {
            Err(SourceError::Corrupt(
                blob.name.clone(),
                Mismatch::Digest { expected: blob.digest.clone(), actual: digest.clone() },
            ))
        })
    }
}

impl FileTree for Shared {
    fn location(&self) -> String {
        self.0.location.clone()
    }

    fn files(&self) -> Vec<(String, u64)> {
        self.0.files.iter().map(|(k, v)| (k.clone(), v.size)).collect()
    }

    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        let Some(file) = self.0.files.get(name) else { return Ok(None) };
        if file.size > limit {
            return Err(SourceError::Malformed(format!("{name}: larger than the {limit}-byte limit")));
        }
        let mut out = Vec::with_capacity(file.size as usize);
        self.0.open_file(name, file)?.read_to_end(&mut out).map_err(|e| SourceError::Io(format!("{name}: {e}")))?;
        Ok(Some(out))
    }

    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        let file = self.0.files.get(name).ok_or_else(|| SourceError::Missing(name.to_string()))?;
        if let Some(d) = file.digest.as_ref().filter(|d| d.algorithm() == Algorithm::Sha256) {
            return Ok(d.clone());
        }
        self.0.hash_range(file.offset, file.size).map_err(|e| SourceError::Io(format!("{name}: {e}")))
    }

    fn file_sha256(&self) -> Option<(String, String)> {
        BlobStore::file_sha256(self)
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        self.0.damage.clone()
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
