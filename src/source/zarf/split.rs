//! Split zarf packages: `NAME.part000` is a JSON header (`{"Sha256Sum","Bytes","Count"}`, zarf's
//! `SplitFileMetadata`) and `NAME.part001` … `NAME.partN` are the package's bytes in order
//! (zarf-dev/zarf src/internal/split/split.go). Found from `.part000`, read as one archive.

use super::super::SourceError;
use std::path::{Path, PathBuf};

/// The split header, as zarf writes it (Go field names; encoding/json matches them case-insensitively,
/// which the one JSON reader's folding rule covers).
#[derive(serde::Deserialize)]
struct Header {
    #[serde(rename = "Sha256Sum")]
    sha256: String,
    #[serde(rename = "Bytes")]
    bytes: u64,
    #[serde(rename = "Count")]
    count: usize,
}

const FIELDS: &[&str] = &["Sha256Sum", "Bytes", "Count"];
const HEADER_LIMIT: u64 = 4096;
const MAX_PARTS: usize = 999;

/// A split package found from its `.part000`.
pub struct Split {
    /// The data parts, `.part001` on, as many as exist in a row.
    pub parts: Vec<PathBuf>,
    /// What the header says the parts hold: their SHA-256 (lower-case hex), and what does not add up.
    pub sha256: String,
    pub damage: Vec<SourceError>,
}

/// `NAME.partNNN` → (`NAME`, NNN).
fn part_number(path: &Path) -> Option<(String, usize)> {
    let name = path.to_str()?;
    let (stem, n) = name.rsplit_once(".part")?;
    (n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit())).then(|| (stem.to_string(), n.parse().unwrap_or(0)))
}

fn part(stem: &str, n: usize) -> PathBuf {
    PathBuf::from(format!("{stem}.part{n:03}"))
}

/// A data part (`.part001`…) whose header `.part000` exists: folded into the package, not a source.
pub fn is_later_part(path: &Path) -> bool {
    matches!(part_number(path), Some((stem, n)) if n > 0 && part(&stem, 0).is_file())
}

/// A data part given on its own, whose `.part000` header is not there: the header's name.
pub fn missing_header(path: &Path) -> Option<PathBuf> {
    let (stem, n) = part_number(path)?;
    (n > 0 && !part(&stem, 0).exists()).then(|| part(&stem, 0))
}

/// `Some` when `path` is a `.part000` holding a split header (a JSON object); `None` for any other file.
pub fn open(path: &Path) -> Option<Split> {
    let (stem, 0) = part_number(path)? else { return None };
    let mut head = Vec::new();
    let file = std::fs::File::open(path).ok()?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, HEADER_LIMIT + 1), &mut head).ok()?;
    if head.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let shown = path.display().to_string();
    let mut parts = Vec::new();
    while parts.len() < MAX_PARTS && part(&stem, parts.len() + 1).is_file() {
        parts.push(part(&stem, parts.len() + 1));
    }
    let header = match crate::oci::json::parse::<Header>(&head, FIELDS) {
        Ok(h) if head.len() as u64 <= HEADER_LIMIT => h,
        Ok(_) => return Some(broken(parts, format!("{shown}: a split header over {HEADER_LIMIT} bytes"))),
        Err(e) => return Some(broken(parts, format!("{shown}: not a zarf split header: {e}"))),
    };
    let mut damage = Vec::new();
    if parts.len() != header.count {
        damage.push(SourceError::Malformed(format!(
            "{shown}: the header says {} part(s), {} found ({} is {})",
            header.count,
            parts.len(),
            part(&stem, parts.len() + 1).display(),
            if parts.len() < header.count { "missing" } else { "one too many" },
        )));
    }
    if parts.len() == header.count && part(&stem, parts.len() + 1).exists() {
        let extra = part(&stem, parts.len() + 1).display().to_string();
        damage.push(SourceError::Malformed(format!("{shown}: {extra} is not one of the {} part(s)", header.count)));
    }
    let bytes: u64 = parts.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    if bytes != header.bytes {
        damage.push(SourceError::Malformed(format!(
            "{shown}: the parts hold {bytes} bytes, the header says {}",
            header.bytes
        )));
    }
    Some(Split { parts, sha256: header.sha256, damage })
}

fn broken(parts: Vec<PathBuf>, message: String) -> Split {
    Split { parts, sha256: String::new(), damage: vec![SourceError::Malformed(message)] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_numbered_from_the_header() {
        assert_eq!(part_number(Path::new("a/p.tar.zst.part000")), Some(("a/p.tar.zst".into(), 0)));
        assert_eq!(part_number(Path::new("p.part012")), Some(("p".into(), 12)));
        assert_eq!(part_number(Path::new("p.part1")), None);
        assert_eq!(part_number(Path::new("p.001")), None);
    }

    #[test]
    fn counts_and_sizes_must_add_up() {
        let tmp = tempfile::tempdir().unwrap();
        let stem = tmp.path().join("p.tar");
        std::fs::write(part(stem.to_str().unwrap(), 1), b"abc").unwrap();
        std::fs::write(part(stem.to_str().unwrap(), 2), b"de").unwrap();
        let header = part(stem.to_str().unwrap(), 0);
        std::fs::write(&header, br#"{"Sha256Sum":"x","Bytes":5,"Count":2}"#).unwrap();
        let split = open(&header).unwrap();
        assert_eq!(split.parts.len(), 2);
        assert!(split.damage.is_empty(), "{:?}", split.damage);
        assert!(is_later_part(&split.parts[1]));
        std::fs::write(&header, br#"{"Sha256Sum":"x","Bytes":6,"Count":3}"#).unwrap();
        let text: Vec<String> = open(&header).unwrap().damage.iter().map(|e| e.to_string()).collect();
        assert!(text[0].contains("says 3 part(s), 2 found") && text[0].contains("part003 is missing"), "{text:?}");
        assert!(text[1].contains("hold 5 bytes, the header says 6"), "{text:?}");
        std::fs::write(&header, br#"{"Count":2,"count":3}"#).unwrap();
        assert!(open(&header).unwrap().damage[0].to_string().contains("not a zarf split header"));
        std::fs::write(&header, b"not json").unwrap();
        assert!(open(&header).is_none(), "not a split header: detected by content as anything else");
        std::fs::remove_file(&header).unwrap();
        assert_eq!(missing_header(&split.parts[0]), Some(header));
    }
}
