//! Split archives (`NAME.001`, `NAME.002`, …) found from the first part and read as one file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

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

/// For a split archive (`NAME.001`…): `Some(the part after the last one read)`, which does not exist;
/// `None` for an archive that is not split.
pub(super) fn next_part(parts: &[PathBuf]) -> Option<Option<PathBuf>> {
    let name = parts.first()?.to_string_lossy().into_owned();
    let stem = name.strip_suffix(".001")?;
    let next = parts.len() + 1;
    Some((next < 1000).then(|| PathBuf::from(format!("{stem}.{next:03}"))))
}

/// A later part (`.002`…) given on its own, whose first part is not there: the first part's name.
pub fn missing_first_part(path: &Path) -> Option<PathBuf> {
    let name = path.to_string_lossy();
    let (stem, n) = name.rsplit_once('.')?;
    let later = n.len() == 3 && n != "001" && n != "000" && n.bytes().all(|b| b.is_ascii_digit());
    let first = PathBuf::from(format!("{stem}.001"));
    (later && !first.exists()).then_some(first)
}

/// Whether `path` is a later part (`.002`…) of a split archive whose first part exists.
pub fn is_later_part(path: &Path) -> bool {
    let name = path.to_string_lossy();
    let Some((stem, n)) = name.rsplit_once('.') else { return false };
    n.len() == 3 && n != "001" && n.bytes().all(|b| b.is_ascii_digit()) && Path::new(&format!("{stem}.001")).is_file()
}

/// Several files read as one (split archives); seekable.
pub(super) struct PartsReader {
    parts: Vec<(PathBuf, u64)>,
    pub(super) total: u64,
    pos: u64,
    current: Option<(usize, File)>,
}

impl PartsReader {
    pub(super) fn open(paths: &[PathBuf]) -> io::Result<PartsReader> {
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
