//! A strict reader of a zip's central directory (APPNOTE 4.3), hangar-agnostic: end records (classic
//! and ZIP64), central directory headers, and each entry's local header, with every count and offset
//! bounded. The `zip` crate silently collapses duplicate names; this reader refuses them.

use crate::digest::{Algorithm, Hasher};
use crate::source::SourceError;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// At most this many entries, and this many central directory bytes.
const MAX_ENTRIES: u64 = 1_000_000;
const MAX_DIRECTORY: u64 = 256 << 20;

const LOCAL: &[u8; 4] = b"PK\x03\x04";
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
const END: &[u8; 4] = b"PK\x05\x06";
const END64: &[u8; 4] = b"PK\x06\x06";
const LOCATOR64: &[u8; 4] = b"PK\x06\x07";
const END_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
const SATURATED16: u64 = 0xffff;
const SATURATED32: u64 = 0xffff_ffff;

/// One usable file entry.
#[derive(Clone, Debug)]
pub struct Member {
    pub name: String,
    pub method: u16,
    pub crc32: u32,
    pub compressed: u64,
    pub size: u64,
    pub data_offset: u64,
}

/// A central directory header as stored.
struct Header {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    size: u64,
    external: u32,
    offset: u64,
}

pub struct ZipIndex {
    path: PathBuf,
    members: Vec<Member>,
    by_name: HashMap<String, usize>,
    /// Entries present but unusable, with why (duplicates, links, bad headers).
    refused: HashMap<String, SourceError>,
    pub damage: Vec<(String, SourceError)>,
}

fn io_error(what: &str, e: std::io::Error) -> SourceError {
    SourceError::Io(format!("{what}: {e}"))
}

fn read_at(file: &mut File, offset: u64, len: usize, what: &str) -> Result<Vec<u8>, SourceError> {
    file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(what, e))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(|e| io_error(what, e))?;
    Ok(buf)
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u32_at(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Where the central directory is, from the end records.
struct End {
    entries: u64,
    size: u64,
    offset: u64,
    /// Where the central directory must end: the ZIP64 end record, or the classic one.
    ends_at: u64,
}

fn damaged(msg: impl Into<String>) -> SourceError {
    SourceError::Malformed(msg.into())
}

fn find_end(file: &mut File, len: u64, damage: &mut Vec<(String, SourceError)>) -> Result<End, SourceError> {
    let tail_len = len.min((END_LEN + 0xffff) as u64);
    let tail = read_at(file, len - tail_len, tail_len as usize, "end of central directory")?;
    let last = tail.len().checked_sub(END_LEN);
    let found = last.and_then(|last| {
        (0..=last).rev().find(|&i| &tail[i..i + 4] == END && i + END_LEN + u16_at(&tail, i + 20) as usize <= tail.len())
    });
    let Some(at) = found else {
        return Err(damaged(
            "zip central directory: no end-of-central-directory record (a truncated file, or a hangar save \
             that was interrupted before it finished)",
        ));
    };
    let e = &tail[at..at + END_LEN];
    let end_at = len - tail_len + at as u64;
    let (disk, cd_disk) = (u16_at(e, 4), u16_at(e, 6));
    let mut end = End { entries: u16_at(e, 10), size: u32_at(e, 12), offset: u32_at(e, 16), ends_at: end_at };
    if disk != 0 || cd_disk != 0 || u16_at(e, 8) != end.entries {
        return Err(damaged("zip end record: split (multi-disk) zip archives are not supported"));
    }
    if let Some(zip64) = find_end64(file, &end, damage)? {
        end = zip64;
    }
    match end.offset.checked_add(end.size) {
        Some(cd_end) if cd_end <= end.ends_at => {
            if cd_end < end.ends_at {
                damage.push((
                    "zip central directory".into(),
                    damaged(format!(
                        "zip central directory: {} unexplained bytes between it and the end record",
                        end.ends_at - cd_end
                    )),
                ));
            }
        }
        _ => {
            return Err(damaged("zip central directory: runs past the end record (a truncated or damaged zip)"));
        }
    }
    if end.entries > MAX_ENTRIES || end.size > MAX_DIRECTORY {
        return Err(damaged(format!(
            "zip central directory: {} entries in {} bytes is over the limit ({MAX_ENTRIES} entries, {MAX_DIRECTORY} bytes)",
            end.entries, end.size
        )));
    }
    if end.entries.saturating_mul(CENTRAL_LEN as u64) > end.size {
        return Err(damaged(format!(
            "zip central directory: {} bytes cannot hold the {} entries the end record announces",
            end.size, end.entries
        )));
    }
    Ok(end)
}

/// The ZIP64 end record the locator before the classic `end` points to, when there is one; the classic
/// record's fields must agree with it wherever they are not saturated.
fn find_end64(file: &mut File, end: &End, damage: &mut Vec<(String, SourceError)>) -> Result<Option<End>, SourceError> {
    let end_at = end.ends_at;
    let locator = if end_at >= 20 { Some(read_at(file, end_at - 20, 20, "ZIP64 end locator")?) } else { None };
    let Some(loc) = locator.filter(|l| &l[..4] == LOCATOR64) else { return Ok(None) };
    let record_at = u64_at(&loc, 8);
    if u32_at(&loc, 4) != 0 || u32_at(&loc, 16) > 1 {
        return Err(damaged("ZIP64 end locator: split (multi-disk) zip archives are not supported"));
    }
    if record_at.checked_add(56).is_none_or(|e| e > end_at - 20) {
        return Err(damaged("ZIP64 end locator: points past the end records (a damaged zip)"));
    }
    let r = read_at(file, record_at, 56, "ZIP64 end record")?;
    if &r[..4] != END64 {
        return Err(damaged("ZIP64 end record: not found where the locator points (a damaged zip)"));
    }
    if u32_at(&r, 16) != 0 || u32_at(&r, 20) != 0 || u64_at(&r, 24) != u64_at(&r, 32) {
        return Err(damaged("ZIP64 end record: split (multi-disk) zip archives are not supported"));
    }
    let zip64 = End { entries: u64_at(&r, 32), size: u64_at(&r, 40), offset: u64_at(&r, 48), ends_at: record_at };
    let disagree = [
        (end.entries, zip64.entries, SATURATED16),
        (end.size, zip64.size, SATURATED32),
        (end.offset, zip64.offset, SATURATED32),
    ]
    .iter()
    .any(|&(classic, wide, saturated)| classic != saturated && classic != wide);
    if disagree {
        damage.push((
            "zip end records".into(),
            damaged("zip end records: the classic and ZIP64 end records disagree about the central directory"),
        ));
    }
    Ok(Some(zip64))
}

/// Resolves the ZIP64 extended information extra field (id 1): the saturated fields, in order.
fn zip64_extra(extra: &[u8], fields: &mut [(&mut u64, u64)]) -> Result<(), String> {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let (id, len) = (u16_at(extra, i), u16_at(extra, i + 2) as usize);
        let data = extra.get(i + 4..i + 4 + len).ok_or("an extra field runs past the header")?;
        if id == 1 {
            let mut at = 0;
            for (value, saturated) in fields.iter_mut() {
                if **value == *saturated {
                    let bytes = data.get(at..at + 8).ok_or("a short ZIP64 extra field")?;
                    **value = u64_at(bytes, 0);
                    at += 8;
                }
            }
            return Ok(());
        }
        i += 4 + len;
    }
    // Saturated without a ZIP64 field: the values are taken as they are, as Go's reader does.
    Ok(())
}

fn read_headers(cd: &[u8], count: u64, damage: &mut Vec<(String, SourceError)>) -> Result<Vec<Header>, SourceError> {
    let mut headers = Vec::with_capacity(count as usize);
    let mut p = 0usize;
    for i in 0..count {
        let truncated = || damaged(format!("zip central directory: entry {i} is cut short"));
        let h = cd.get(p..p + CENTRAL_LEN).ok_or_else(truncated)?;
        if &h[..4] != CENTRAL {
            return Err(damaged(format!("zip central directory: entry {i} has no header signature")));
        }
        let (name_len, extra_len, comment_len) =
            (u16_at(h, 28) as usize, u16_at(h, 30) as usize, u16_at(h, 32) as usize);
        let name = cd.get(p + CENTRAL_LEN..p + CENTRAL_LEN + name_len).ok_or_else(truncated)?.to_vec();
        let extra_at = p + CENTRAL_LEN + name_len;
        let extra = cd.get(extra_at..extra_at + extra_len).ok_or_else(truncated)?;
        cd.get(extra_at + extra_len..extra_at + extra_len + comment_len).ok_or_else(truncated)?;
        let mut header = Header {
            name,
            flags: u16_at(h, 8) as u16,
            method: u16_at(h, 10) as u16,
            crc32: u32_at(h, 16) as u32,
            compressed: u32_at(h, 20),
            size: u32_at(h, 24),
            external: u32_at(h, 38) as u32,
            offset: u32_at(h, 42),
        };
        let mut disk = u16_at(h, 34);
        let resolved = zip64_extra(
            extra,
            &mut [
                (&mut header.size, SATURATED32),
                (&mut header.compressed, SATURATED32),
                (&mut header.offset, SATURATED32),
                (&mut disk, SATURATED16),
            ],
        );
        let shown = String::from_utf8_lossy(&header.name).into_owned();
        match resolved {
            Err(e) => damage.push((shown.clone(), damaged(format!("{shown}: central directory header: {e}")))),
            Ok(()) if disk != 0 => {
                damage.push((shown.clone(), damaged(format!("{shown}: on another disk of a split zip"))))
            }
            Ok(()) => headers.push(header),
        }
        p = extra_at + extra_len + comment_len;
    }
    if p != cd.len() {
        damage.push((
            "zip central directory".into(),
            damaged(format!("zip central directory: {} bytes after its last entry", cd.len() - p)),
        ));
    }
    Ok(headers)
}

/// Why an entry name cannot be trusted: absolute, `..`, `.`, empty components, backslashes.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        return Some("an absolute path");
    }
    if name.contains('\\') || name.contains('\0') {
        return Some("a backslash or NUL in the name");
    }
    let path = name.strip_suffix('/').unwrap_or(name);
    for component in path.split('/') {
        match component {
            ".." => return Some("a .. component"),
            "." | "" => return Some("an empty or . component"),
            _ => {}
        }
    }
    None
}

/// The file type bits of the unix mode in the external attributes (0 when none is recorded).
fn unix_type(external: u32) -> u32 {
    (external >> 16) & 0o170000
}

impl ZipIndex {
    /// Reads the central directory. `Err` when there is none to read (a truncated file) or it
    /// cannot be walked; damage to single entries is collected in `damage` instead.
    pub fn open(path: &Path) -> Result<ZipIndex, SourceError> {
        let shown = path.display().to_string();
        let mut file = File::open(path).map_err(|e| io_error(&shown, e))?;
        let len = file.metadata().map_err(|e| io_error(&shown, e))?.len();
        let mut damage = Vec::new();
        let end = find_end(&mut file, len, &mut damage)?;
        let cd = read_at(&mut file, end.offset, end.size as usize, "zip central directory")?;
        let headers = read_headers(&cd, end.entries, &mut damage)?;
        let mut index = ZipIndex {
            path: path.to_path_buf(),
            members: Vec::new(),
            by_name: HashMap::new(),
            refused: HashMap::new(),
            damage,
        };
        let mut counts: HashMap<&[u8], usize> = HashMap::new();
        for h in &headers {
            *counts.entry(h.name.as_slice()).or_default() += 1;
        }
        for h in &headers {
            let Ok(name) = std::str::from_utf8(&h.name) else {
                let shown = String::from_utf8_lossy(&h.name).into_owned();
                index.damage.push((shown.clone(), damaged(format!("{shown}: entry name is not valid UTF-8"))));
                continue;
            };
            if let Some(why) = unsafe_name(name) {
                index.damage.push((name.to_string(), damaged(format!("{name:?}: unsafe entry name ({why})"))));
                continue;
            }
            let refusal = match counts[h.name.as_slice()] {
                n if n > 1 && !name.ends_with('/') => Some(format!(
                    "{name}: stored {n} times (duplicate entry names: zip readers disagree on which copy counts)"
                )),
                _ => index.check_member(&mut file, len, end.offset, h, name).err(),
            };
            if let Some(msg) = refusal {
                index.refuse(name, msg);
            }
        }
        Ok(index)
    }

    fn refuse(&mut self, name: &str, msg: String) {
        if self.refused.contains_key(name) {
            return;
        }
        let error = damaged(msg);
        self.damage.push((name.to_string(), error.clone()));
        self.refused.insert(name.to_string(), error);
    }

    /// Checks one entry against its local header and the file, and records it when usable.
    fn check_member(
        &mut self,
        file: &mut File,
        len: u64,
        cd_offset: u64,
        h: &Header,
        name: &str,
    ) -> Result<(), String> {
        let kind = unix_type(h.external);
        if kind == 0o120000 {
            return Err(format!("{name}: a symbolic link (links are refused)"));
        }
        let is_dir = name.ends_with('/');
        if kind != 0 && kind != 0o100000 && !(is_dir && kind == 0o040000) {
            return Err(format!("{name}: not a regular file (unix mode {:o})", h.external >> 16));
        }
        if is_dir {
            return if h.size == 0 { Ok(()) } else { Err(format!("{name}: a directory entry with data")) };
        }
        if h.flags & 1 != 0 {
            return Err(format!("{name}: encrypted"));
        }
        if h.method != STORED && h.method != DEFLATED {
            return Err(format!(
                "{name}: compression method {} is not supported (hangar stores entries uncompressed)",
                h.method
            ));
        }
        if h.method == STORED && h.compressed != h.size {
            return Err(format!(
                "{name}: stored, but its compressed size {} differs from its size {}",
                h.compressed, h.size
            ));
        }
        let data_offset = self.check_local(file, len, h, name).map_err(|e| format!("{name}: {e}"))?;
        match data_offset.checked_add(h.compressed) {
            Some(end) if end <= len && end <= cd_offset => {}
            Some(end) if end <= len => return Err(format!("{name}: its data runs into the central directory")),
            _ => {
                return Err(format!(
                    "{name}: its {} bytes of data would run past the end of the file (truncated?)",
                    h.compressed
                ));
            }
        }
        self.by_name.insert(name.to_string(), self.members.len());
        self.members.push(Member {
            name: name.to_string(),
            method: h.method,
            crc32: h.crc32,
            compressed: h.compressed,
            size: h.size,
            data_offset,
        });
        Ok(())
    }

    /// The local header must agree with the central directory: name, method, and (without a
    /// data descriptor) sizes and CRC. Returns where the entry's data starts.
    fn check_local(&self, file: &mut File, len: u64, h: &Header, name: &str) -> Result<u64, String> {
        if h.offset.checked_add(LOCAL_LEN as u64).is_none_or(|e| e > len) {
            return Err("its local header would be past the end of the file".into());
        }
        let l = read_at(file, h.offset, LOCAL_LEN, name).map_err(|e| e.to_string())?;
        if &l[..4] != LOCAL {
            return Err(format!("no local header at offset {}", h.offset));
        }
        let (name_len, extra_len) = (u16_at(&l, 26), u16_at(&l, 28));
        let rest_at = h.offset + LOCAL_LEN as u64;
        if rest_at + name_len + extra_len > len {
            return Err("its local header runs past the end of the file".into());
        }
        let rest = read_at(file, rest_at, (name_len + extra_len) as usize, name).map_err(|e| e.to_string())?;
        let (local_name, extra) = rest.split_at(name_len as usize);
        if local_name != h.name.as_slice() {
            return Err(format!(
                "the local header names it {:?} (the central directory and the local header disagree)",
                String::from_utf8_lossy(local_name)
            ));
        }
        let (flags, method) = (u16_at(&l, 6) as u16, u16_at(&l, 8) as u16);
        if method != h.method {
            return Err(format!(
                "the local header says compression method {method}, the central directory {}",
                h.method
            ));
        }
        if flags & 8 == 0 {
            let (mut size, mut compressed) = (u32_at(&l, 22), u32_at(&l, 18));
            zip64_extra(extra, &mut [(&mut size, SATURATED32), (&mut compressed, SATURATED32)])?;
            if (size, compressed) != (h.size, h.compressed) {
                return Err(format!(
                    "the local header says {size} bytes ({compressed} compressed), the central directory {} ({})",
                    h.size, h.compressed
                ));
            }
            if u32_at(&l, 14) as u32 != h.crc32 {
                return Err("the local header and the central directory disagree about its CRC-32".into());
            }
        }
        Ok(rest_at + name_len + extra_len)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the whole zip file (for the report), read on demand.
    pub fn sha256(&self) -> Option<String> {
        let file = File::open(&self.path).ok()?;
        Hasher::of_reader(Algorithm::Sha256, file).ok().map(|d| d.hex().to_string())
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// True when the central directory names `name` at all (usable or not).
    pub fn has_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name) || self.refused.contains_key(name)
    }

    /// Why an entry present in the zip cannot be used.
    pub fn refusal(&self, name: &str) -> Option<&SourceError> {
        self.refused.get(name)
    }

    /// A reader of one entry's content (inflated when deflated). Never more than the stored bytes
    /// are read; callers bound the inflated size (a [`crate::digest::VerifyingReader`] does).
    pub fn open_member(&self, name: &str) -> Result<Box<dyn Read + Send + 'static>, SourceError> {
        if let Some(e) = self.refused.get(name) {
            return Err(e.clone());
        }
        let m =
            self.by_name.get(name).map(|&i| &self.members[i]).ok_or_else(|| SourceError::Missing(name.to_string()))?;
        let mut file = File::open(&self.path).map_err(|e| io_error(name, e))?;
        file.seek(SeekFrom::Start(m.data_offset)).map_err(|e| io_error(name, e))?;
        let raw = file.take(m.compressed);
        Ok(match m.method {
            STORED => Box::new(raw),
            _ => Box::new(flate2::read::DeflateDecoder::new(raw)),
        })
    }

    /// A small entry's bytes, refusing more than `limit`, checked against its size and CRC-32;
    /// `None` when the zip has no such entry.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        if let Some(e) = self.refused.get(name) {
            return Err(e.clone());
        }
        let Some(m) = self.by_name.get(name).map(|&i| &self.members[i]) else { return Ok(None) };
        if m.size > limit {
            return Err(damaged(format!("{name}: {} bytes is over the {limit}-byte limit", m.size)));
        }
        let mut out = Vec::with_capacity(m.size as usize);
        self.open_member(name)?.take(m.size + 1).read_to_end(&mut out).map_err(|e| io_error(name, e))?;
        if out.len() as u64 != m.size {
            let m = if out.len() as u64 > m.size {
                crate::digest::Mismatch::TooLong { expected: m.size, actual: None }
            } else {
                crate::digest::Mismatch::TooShort { expected: m.size, actual: out.len() as u64 }
            };
            return Err(SourceError::Corrupt(name.to_string(), m));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&out);
        if crc.sum() != m.crc32 {
            return Err(damaged(format!(
                "{name}: CRC-32 mismatch: the central directory says {:08x}, the content has {:08x}",
                m.crc32,
                crc.sum()
            )));
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_names() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "C:x", ""] {
            assert!(unsafe_name(bad).is_some(), "{bad:?}");
        }
        for good in ["index.json", "share/", "share/sha256/ab", "abc/oci-layout"] {
            assert!(unsafe_name(good).is_none(), "{good:?}");
        }
    }

    #[test]
    fn resolves_only_saturated_zip64_fields() {
        let mut extra = vec![1, 0, 16, 0];
        extra.extend_from_slice(&7u64.to_le_bytes());
        extra.extend_from_slice(&9u64.to_le_bytes());
        let (mut size, mut compressed, mut offset) = (SATURATED32, 5, SATURATED32);
        zip64_extra(
            &extra,
            &mut [(&mut size, SATURATED32), (&mut compressed, SATURATED32), (&mut offset, SATURATED32)],
        )
        .unwrap();
        assert_eq!((size, compressed, offset), (7, 5, 9));
        let (mut size, mut offset) = (SATURATED32, SATURATED32);
        let short = [1, 0, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert!(zip64_extra(&short, &mut [(&mut size, SATURATED32), (&mut offset, SATURATED32)]).is_err());
    }
}
