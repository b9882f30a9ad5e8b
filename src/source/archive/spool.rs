//! The import spool: a private temporary folder where the one pass over a compressed tar stream leaves a
//! copy of each file it does not keep in memory, so `import` pushes the bytes that were hashed without a
//! second parse (issue 14). Besides `--failed` and `--report`, it is the only thing airlock writes, and
//! only for `import`: a verification run has no spool and writes nothing.

use std::fs::{DirBuilder, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Names tried for a fresh spool folder before giving up (each taken name is skipped, never reused).
const ATTEMPTS: u32 = 64;

/// Spool folder names made by this process so far: part of the next one.
static FOLDERS: AtomicU64 = AtomicU64::new(0);

/// A private folder (mode 0700, made fresh, never an existing one) holding at most `limit` bytes of
/// spooled files (mode 0600), named by a counter, never by entry names; removed with all it holds on drop.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limit: u64,
    /// Bytes reserved by the files spooled and being spooled.
    used: AtomicU64,
    /// The next file's number.
    next: AtomicU64,
}

/// Where one entry's copy is in the spool, or why it is not there.
#[derive(Clone, Debug)]
pub(super) enum Spooled {
    /// The whole entry, exactly its bytes.
    At(PathBuf),
    /// Why the entry was not spooled (the limit, a write error).
    Not(String),
}

impl Spool {
    /// A new spool folder `airlock-spool-<pid>-<n>` in `parent` (which must exist), for at most `limit`
    /// bytes of spooled files.
    pub fn new(parent: &Path, limit: u64) -> io::Result<Spool> {
        let mut builder = DirBuilder::new();
        builder.mode(0o700);
        for _ in 0..ATTEMPTS {
            let dir = parent.join(folder_name());
            match builder.create(&dir) {
                Ok(()) => return Ok(Spool { dir, limit, used: AtomicU64::new(0), next: AtomicU64::new(0) }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", dir.display()))),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{}: no free name for a spool folder after {ATTEMPTS} tries", parent.display()),
        ))
    }

    /// [`Spool::new`] in the system's temporary folder (`TMPDIR`, else `/tmp`).
    pub fn in_temp_dir(limit: u64) -> io::Result<Spool> {
        Spool::new(&std::env::temp_dir(), limit)
    }

    /// The spool's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes held by the files spooled (and being spooled).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Starts the copy of one entry of `size` bytes, before it is read: its room is reserved now, or the
    /// writer records that the limit was reached and writes nothing.
    pub(super) fn writer(&self, size: u64) -> SpoolWriter<'_> {
        let reserved = self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
            used.checked_add(size).filter(|&total| total <= self.limit)
        });
        let state = match reserved {
            Ok(_) => State::Reserved,
            Err(_) => State::Failed(format!("the spool limit of {} bytes was reached (raise --spool-max)", self.limit)),
        };
        let path = self.dir.join(format!("{:08}", self.next.fetch_add(1, Ordering::Relaxed)));
        SpoolWriter { spool: self, path, size, written: 0, state }
    }

    /// Gives back the room of a file that is no longer wanted, and removes it.
    pub(super) fn remove(&self, path: &Path, size: u64) {
        let _ = std::fs::remove_file(path);
        self.used.fetch_sub(size, Ordering::Relaxed);
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `airlock-spool-<pid>-<n>`, `n` unpredictable: this process's count of spool folders and the clock, hashed
/// with std's randomly keyed hasher, so no one can plant the next name ahead of time.
fn folder_name() -> String {
    let count = FOLDERS.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("airlock-spool-{}-{:016x}", std::process::id(), RandomState::new().hash_one((count, nanos)))
}

enum State {
    /// Room reserved, no file yet.
    Reserved,
    /// The file, created new, written so far.
    Open(File),
    /// Why nothing (more) is written; no room is held.
    Failed(String),
    /// Finished: the file, if any, belongs to the tree now.
    Done,
}

/// One entry's copy, written chunk by chunk as the entry is hashed. It never fails the pass: a write error
/// or the limit leaves the entry unspooled, with the reason. Dropped unfinished (the entry's read failed, or
/// its bytes were kept in memory), it removes its file.
pub(super) struct SpoolWriter<'a> {
    spool: &'a Spool,
    path: PathBuf,
    /// The entry's size, as its header says: the room reserved.
    size: u64,
    written: u64,
    state: State,
}

impl SpoolWriter<'_> {
    /// Appends the entry's next bytes.
    pub(super) fn write(&mut self, chunk: &[u8]) {
        if matches!(self.state, State::Failed(_) | State::Done) {
            return;
        }
        if self.written + chunk.len() as u64 > self.size {
            return self.fail(format!("the entry has more bytes than the {} its header says", self.size));
        }
        if matches!(self.state, State::Reserved) {
            self.open();
        }
        let State::Open(file) = &mut self.state else { return };
        match file.write_all(chunk) {
            Ok(()) => self.written += chunk.len() as u64,
            Err(e) => self.fail(format!("writing {}: {e}", self.path.display())),
        }
    }

    /// The entry was read whole: where its copy is, or why there is none.
    pub(super) fn finish(mut self) -> Spooled {
        if matches!(self.state, State::Reserved) {
            self.open(); // an empty entry
        }
        if matches!(self.state, State::Open(_)) && self.written != self.size {
            self.fail(format!("{} bytes written of the {} the entry has", self.written, self.size));
        }
        match std::mem::replace(&mut self.state, State::Done) {
            State::Failed(why) => Spooled::Not(why),
            _ => Spooled::At(self.path.clone()),
        }
    }

    /// Creates the file (only ever a new one): `Open`, or `Failed` with the reason.
    fn open(&mut self) {
        let created = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&self.path);
        match created {
            Ok(file) => self.state = State::Open(file),
            Err(e) => self.fail(format!("creating {}: {e}", self.path.display())),
        }
    }

    /// Stops writing: the file (if any) is removed and its room given back.
    fn fail(&mut self, why: String) {
        self.discard();
        self.state = State::Failed(why);
    }

    fn discard(&mut self) {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Open(file) => {
                drop(file);
                self.spool.remove(&self.path, self.size);
            }
            State::Reserved => {
                self.spool.used.fetch_sub(self.size, Ordering::Relaxed);
            }
            State::Failed(why) => self.state = State::Failed(why),
            State::Done => {}
        }
    }
}

impl Drop for SpoolWriter<'_> {
    fn drop(&mut self) {
        self.discard();
    }
}
