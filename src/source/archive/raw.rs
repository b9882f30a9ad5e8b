//! The archive's own SHA-256 in the one pass, shared between its two threads.
//!
//! The archive file is read in chunks that the decoder decompresses from and that are queued, in file
//! order, for the SHA-256 (the same buffer: the digest covers exactly the bytes that were decoded).
//! That hash is one sequential stream, but either thread may advance it: the decoder thread when the
//! tar parser has all the decoded data it can take, the parser whenever it waits for data, and the
//! decoder when the queue is full. So both cores stay busy whichever of decompression and entry hashing
//! is the slower, and the short queue bounds the memory held (and keeps the chunks in cache).

use super::{PROGRESS_STEP, Progress};
use crate::digest::{Algorithm, Hasher};
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes read from the archive file at a time.
pub(super) const RAW_CHUNK: usize = 512 << 10;
/// Chunks read but not hashed yet, at most (a longer queue measured slower: its chunks leave the cache).
pub(super) const RAW_QUEUE: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The SHA-256 of the archive file and the chunks queued for it.
#[derive(Default)]
pub(super) struct RawHash {
    /// Held while a chunk is hashed, so the chunks go in in order.
    hasher: Mutex<Option<(Hasher, u64)>>,
    queue: Mutex<VecDeque<Arc<Vec<u8>>>>,
    /// Buffers back from use, for the reader.
    spare: Mutex<Vec<Vec<u8>>>,
}

impl RawHash {
    /// Hashes the oldest queued chunk unless another thread is hashing one; whether it did.
    pub(super) fn help(&self) -> bool {
        match self.hasher.try_lock() {
            Ok(mut state) => self.step(&mut state),
            Err(std::sync::TryLockError::Poisoned(p)) => self.step(&mut p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Chunks read and not hashed yet.
    pub(super) fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    /// Hashes the oldest queued chunk, waiting for a thread hashing one.
    fn step_now(&self) -> bool {
        self.step(&mut lock(&self.hasher))
    }

    fn step(&self, state: &mut Option<(Hasher, u64)>) -> bool {
        let Some(chunk) = lock(&self.queue).pop_front() else { return false };
        let (hasher, hashed) = state.get_or_insert_with(|| (Hasher::new(Algorithm::Sha256), 0));
        hasher.update(&chunk);
        *hashed += chunk.len() as u64;
        self.recycle(chunk);
        true
    }

    /// The hasher and how many bytes it took, once the reader is gone: the rest of the queue first.
    pub(super) fn finish(&self) -> (Hasher, u64) {
        while self.step_now() {}
        lock(&self.hasher).take().unwrap_or_else(|| (Hasher::new(Algorithm::Sha256), 0))
    }

    /// A buffer whose last user is done goes back to the spare list.
    fn recycle(&self, chunk: Arc<Vec<u8>>) {
        if let Some(buf) = Arc::into_inner(chunk) {
            lock(&self.spare).push(buf);
        }
    }

    /// A buffer for the next chunk of the file: a spare one, or a new one.
    fn buffer(&self) -> Vec<u8> {
        let mut buf = lock(&self.spare).pop().unwrap_or_default();
        buf.resize(RAW_CHUNK, 0);
        buf
    }
}

/// The archive file as the decoder reads it: each chunk is queued for the SHA-256 before it is decoded.
pub(super) struct Tee<R> {
    inner: R,
    raw: Arc<RawHash>,
    buf: Arc<Vec<u8>>,
    at: usize,
    progress: Option<(Progress, u64)>,
    read: u64,
    reported: u64,
}

impl<R: Read> Tee<R> {
    pub(super) fn new(inner: R, raw: Arc<RawHash>, progress: Option<(Progress, u64)>) -> Tee<R> {
        Tee { inner, raw, buf: Arc::default(), at: 0, progress, read: 0, reported: 0 }
    }

    fn refill(&mut self) -> io::Result<()> {
        while self.raw.queued() >= RAW_QUEUE {
            self.raw.step_now();
        }
        let mut next = self.raw.buffer();
        let mut n = 0;
        while n < next.len() {
            match self.inner.read(&mut next[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        next.truncate(n);
        let next = Arc::new(next);
        if n > 0 {
            lock(&self.raw.queue).push_back(next.clone());
        }
        self.read += n as u64;
        if let Some((report, total)) = &self.progress
            && (self.read >= self.reported + PROGRESS_STEP || n == 0)
        {
            self.reported = self.read;
            report(self.read, *total);
        }
        self.raw.recycle(std::mem::replace(&mut self.buf, next));
        self.at = 0;
        Ok(())
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = out.len().min(available.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Tee<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at == self.buf.len() {
            self.refill()?;
        }
        Ok(&self.buf[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.buf.len());
    }
}
