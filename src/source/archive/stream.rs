//! The one pass over a compressed tar stream, on two threads: a decoder thread decompresses into a
//! bounded queue while this thread parses tar and hashes every file, keeping what may be metadata; the
//! archive's own SHA-256 is shared between them (see `raw`), so neither core waits for the other.

use super::raw::{RAW_CHUNK, RAW_QUEUE, RawHash, Tee};
use super::spool::SpoolWriter;
use super::*;
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::time::Duration;

/// Decoded bytes handed from the decoder thread to the tar parser at a time.
const CHUNK: usize = 256 << 10;
/// Decoded chunks queued between the decoder thread and the tar parser.
const DECODED_QUEUE: usize = 32;
/// How long the parser, out of data while the decoder hashes a raw chunk, waits before it tries to take
/// the next raw chunk itself.
const POLL: Duration = Duration::from_micros(50);
/// The tar parser reads each file through one buffer of this size, hashing as it goes.
const HASH_BUF: usize = 256 << 10;

/// Stream bytes held at most. Buffers are reused, and a new one is made only when none came back, so
/// there are never more than places for one: the decoded queue, one chunk being filled and two at the
/// parser (the one it reads, and the next while that one goes back); the raw queue, the chunk being
/// hashed, the one being decoded and the next being read; the parser's hashing buffer.
const IN_FLIGHT: usize = (DECODED_QUEUE + 3) * CHUNK + (RAW_QUEUE + 3) * RAW_CHUNK + HASH_BUF;
const _: () = assert!(IN_FLIGHT <= 64 << 20, "SPEC §9: at most 64 MiB of stream data in flight");

fn open_decoder<'a>(kind: Kind, input: impl BufRead + 'a, window_log_max: u32) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Kind::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        _ => {
            let mut d = zstd::stream::read::Decoder::with_buffer(input)?;
            d.window_log_max(window_log_max)?;
            Box::new(d)
        }
    })
}

/// The decoder side of the queue to the tar parser; chunks come back for reuse.
struct Decoded {
    tx: SyncSender<io::Result<Vec<u8>>>,
    back: Receiver<Vec<u8>>,
    raw: Arc<RawHash>,
}

impl Decoded {
    /// Sends `msg` on, hashing raw chunks while the parser has all it can take; false when it hung up.
    fn send(&self, mut msg: io::Result<Vec<u8>>) -> bool {
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) if self.raw.help() => msg = m,
                Err(TrySendError::Full(m)) => return self.tx.send(m).is_ok(),
            }
        }
    }

    fn buffer(&self) -> Vec<u8> {
        let mut buf = self.back.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        buf
    }
}

/// The decoder thread: decompressed chunks until the stream ends, breaks (the error is the last
/// message) or the parser hangs up.
fn decode(kind: Kind, input: impl BufRead, window_log_max: u32, out: Decoded) {
    let mut decoded = match open_decoder(kind, input, window_log_max) {
        Ok(d) => d,
        Err(e) => {
            out.send(Err(e));
            return;
        }
    };
    loop {
        let mut chunk = out.buffer();
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
        if filled > 0 && !out.send(Ok(chunk)) {
            return;
        }
        if let Err(e) = result {
            out.send(Err(e));
            return;
        }
        if filled == 0 {
            return;
        }
    }
}

/// Counts the bytes the tar parser consumed.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The consumer side of the decoder thread: while it waits for data, it hashes raw chunks.
struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    back: SyncSender<Vec<u8>>,
    raw: Arc<RawHash>,
    buf: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    /// The next message from the decoder; while there is none, raw chunks are hashed here.
    fn next(&self) -> Option<io::Result<Vec<u8>>> {
        loop {
            match self.rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if self.raw.help() {
                continue;
            }
            if self.raw.queued() == 0 {
                return self.rx.recv().ok();
            }
            // the decoder is hashing a chunk: take the next one when it is done, unless data comes first
            match self.rx.recv_timeout(POLL) {
                Ok(msg) => return Some(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.next() {
                Some(Ok(chunk)) => {
                    let _ = self.back.try_send(std::mem::replace(&mut self.buf, chunk));
                    self.at = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
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
        let file = PartsReader::open(&self.parts)?;
        let progress = opts.progress.clone().map(|p| (p, file.total));
        let raw = Arc::new(RawHash::default());
        let tee = Tee::new(file, raw.clone(), progress);
        let (tx, rx) = sync_channel(DECODED_QUEUE);
        let (back, returned) = sync_channel(DECODED_QUEUE + 3);
        let out = Decoded { tx, back: returned, raw: raw.clone() };
        let window = opts.zstd_window_log_max;
        let decoder = std::thread::spawn(move || decode(kind, tee, window, out));
        self.scan(ChannelReader { rx, back, raw: raw.clone(), buf: Vec::new(), at: 0 });
        // a decoder thread that died may have read bytes it never queued: the archive then has no SHA-256
        let decoded = decoder.join().is_ok();
        self.finish_raw_hash(decoded.then(|| raw.finish()));
        Ok(())
    }

    /// Hashes whatever the decoder did not read (trailing bytes) and records the archive's SHA-256.
    /// `raw`: the hasher and how many bytes it took (`None` when the decoder thread died).
    fn finish_raw_hash(&mut self, raw: Option<(Hasher, u64)>) {
        let Some((mut hasher, consumed)) = raw else {
            let _ = self.file_sha256.set(None);
            return;
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
        let consumed = Arc::new(AtomicU64::new(0));
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
        let mut buf = vec![0u8; HASH_BUF];
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
            let Some(file) = self.read_entry(&mut entry, &name, &mut retained, &mut buf) else { return };
            self.insert(name, file);
        }
        let complete = consumed.load(Ordering::Relaxed) >= data_end + 512;
        self.check_end(archive.into_inner(), complete, &last);
    }

    /// Hashes one regular entry as it streams by, keeping the bytes of small JSON and the files a layout
    /// is read from (within the retention budget). `None` when the stream broke: the damage is recorded.
    fn read_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        name: &str,
        retained: &mut u64,
        buf: &mut [u8],
    ) -> Option<TarFile> {
        let size = entry.size();
        let mut hasher = Hasher::new(algorithm_for(name));
        // a bundle's own table of contents (index.json, manifest.json) may be up to TOC_LIMIT (SPEC §8)
        let limit = if retainable(name) { TOC_LIMIT } else { METADATA_LIMIT };
        let keep = size <= limit && *retained + size <= RETAIN_LIMIT;
        let mut data: Vec<u8> = Vec::new();
        let mut first = None;
        // import: what is not kept in memory is copied to the spool as it is hashed
        let spool = self.spool.clone();
        let mut copy = spool.as_deref().map(|s| s.writer(size));
        let read = hasher.consume_with(entry, buf, |chunk| {
            first = first.or(chunk.first().copied());
            if keep && (first == Some(b'{') || retainable(name)) {
                data.extend_from_slice(chunk);
            } else if let Some(copy) = copy.as_mut() {
                copy.write(chunk);
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
        // a file kept in memory has no copy: its writer, dropped unfinished, wrote nothing
        let spooled = copy.filter(|_| !keep_data).map(SpoolWriter::finish);
        let data = keep_data.then(|| Arc::new(data));
        Some(TarFile { size, offset: 0, digest: Some(hasher.finish()), data, spooled })
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
                if let (Some(spool), Some(Spooled::At(path))) = (&self.spool, &file.spooled) {
                    spool.remove(path, file.size);
                }
            }
        }
    }
}
