//! The one pass over a compressed tar stream: a decoder thread decompresses into a bounded channel
//! while this thread parses tar, hashes every file and keeps what may be metadata.

use super::*;
use std::sync::mpsc::{Receiver, sync_channel};

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

impl ArchiveTree {
    /// The one pass over a compressed stream.
    pub(super) fn stream(&mut self, kind: Kind, opts: ArchiveOptions) -> io::Result<()> {
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
        // the bytes after what the tar reader consumed (padding, the compressed trailer); a file that
        // cannot be read to its end has no SHA-256, so --archive-sha256 fails closed
        let rest = PartsReader::open(&self.parts).and_then(|mut rest| {
            rest.seek(SeekFrom::Start(consumed))?;
            hasher.consume(rest, |_| {})
        });
        let _ = self.file_sha256.set(rest.ok().map(|_| hasher.finish().hex().to_string()));
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
                    let e = SourceError::Malformed(format!("archive damaged after entry {last}: {}", hint(&e)));
                    self.damaged(&last, e);
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
            let Some(file) = self.read_entry(&mut entry, &name, &mut retained) else { return };
            self.insert(name, file);
        }
        let complete = consumed.load(std::sync::atomic::Ordering::Relaxed) >= data_end + 512;
        self.check_end(archive.into_inner(), complete, &last);
    }

    /// Hashes one regular entry as it streams by, keeping the bytes of small JSON and the files a layout
    /// is read from (within the retention budget). `None` when the stream broke: the damage is recorded.
    fn read_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        retained: &mut u64,
    ) -> Option<TarFile> {
        let size = entry.size();
        let mut hasher = Hasher::new(algorithm_for(name));
        // a bundle's own table of contents (index.json, manifest.json) may be up to TOC_LIMIT (SPEC §8)
        let limit = if retainable(name) { TOC_LIMIT } else { METADATA_LIMIT };
        let keep = size <= limit && *retained + size <= RETAIN_LIMIT;
        let mut data: Vec<u8> = Vec::new();
        let mut first = None;
        let read = hasher.consume(entry, |chunk| {
            first = first.or(chunk.first().copied());
            if keep && (first == Some(b'{') || retainable(name)) {
                data.extend_from_slice(chunk);
            }
        });
        let read = match read {
            Ok(n) => n,
            Err(e) => {
                let e = SourceError::Malformed(format!("{name}: archive truncated or corrupt: {}", hint(&e)));
                self.damaged(name, e);
                return None;
            }
        };
        if read != size {
            self.damaged(
                name,
                SourceError::Malformed(format!("{name}: entry has {read} bytes, its header says {size}")),
            );
            return None;
        }
        let wanted = first == Some(b'{') || retainable(name);
        let keep_data = keep && wanted && data.len() as u64 == size;
        if keep_data {
            *retained += size;
        } else if wanted && size <= limit && !keep {
            self.damaged(
                name,
                SourceError::Malformed(format!(
                    "{name}: over the {RETAIN_LIMIT}-byte budget for metadata kept from a compressed stream"
                )),
            );
        }
        Some(TarFile { size, offset: 0, digest: Some(hasher.finish()), data: keep_data.then(|| Arc::new(data)) })
    }

    /// After the last entry: the parser stops at the first zero block, and the second must follow it
    /// (`complete` says the first was read); the rest of the stream must decode cleanly (a truncated gzip
    /// trailer, a corrupt last frame) and be short: tar pads with zeros, nothing else belongs there.
    fn check_end(&mut self, mut rest: impl Read, complete: bool, last: &str) {
        let mut second = Vec::with_capacity(512);
        let complete = complete
            && (&mut rest).take(512).read_to_end(&mut second).is_ok()
            && second.len() == 512
            && second.iter().all(|&b| b == 0);
        if !complete {
            self.end_marker_missing(last);
            return;
        }
        let mut tail = (&mut rest).take(TRAILER_LIMIT + 1);
        match io::copy(&mut tail, &mut io::sink()) {
            Ok(n) if n > TRAILER_LIMIT => self.damaged(
                last,
                SourceError::Malformed(format!(
                    "more than {TRAILER_LIMIT} bytes of data after the end-of-archive marker"
                )),
            ),
            Ok(_) => {}
            Err(e) => self.damaged(
                last,
                SourceError::Malformed(format!("compressed stream damaged after the tar archive: {}", hint(&e))),
            ),
        }
    }

    pub(super) fn end_marker_missing(&mut self, last: &str) {
        self.damaged(
            last,
            SourceError::Malformed(format!(
                "archive truncated after entry {last}: the end-of-archive marker is missing"
            )),
        );
    }

    /// Checks one entry's name and type; `Some(clean name)` for regular files.
    pub(super) fn admit(&mut self, raw: &[u8], kind: tar::EntryType, previous: &str) -> Option<String> {
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
}
