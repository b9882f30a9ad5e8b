//! The two-thread pass over a compressed stream: entries several chunks long, each hashed right, the
//! archive's own SHA-256 over exactly its bytes, and a break inside one entry reported as damage naming
//! that entry, after the entries before it.

use super::*;
use std::io::Write;

/// Entries: name and bytes.
pub(super) type Entries = Vec<(String, Vec<u8>)>;

/// One small JSON file, then several entries larger than the decoded chunk and than the raw queue, of
/// incompressible bytes (so a changed byte is caught by the frame checksum, not by the block decoder).
pub(super) fn entries() -> Entries {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let blobs = (0..5).map(|i| {
        let data: Vec<u8> = (0..(3 << 20) + i * 100_003)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        (format!("blobs/sha256/{}", Digest::sha256_of(&data).hex()), data)
    });
    let index = ("index.json".to_string(), br#"{"schemaVersion":2,"manifests":[]}"#.to_vec());
    std::iter::once(index).chain(blobs).collect()
}

/// The entry the damage tests break: the third blob.
pub(super) const BROKEN: usize = 3;

/// The tar, and where each entry's data starts in it.
pub(super) fn tar_of(entries: &[(String, Vec<u8>)]) -> (Vec<u8>, Vec<usize>) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut starts = Vec::new();
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        starts.push(builder.get_ref().len() + 512);
        builder.append_data(&mut header, name, &data[..]).unwrap();
    }
    (builder.into_inner().unwrap(), starts)
}

/// `bytes` as zstd frames (with checksums) cut at `cuts`; the compressed offset of each cut.
pub(super) fn zstd_frames(bytes: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut at = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([bytes.len()].iter()) {
        let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder.write_all(&bytes[from..to]).unwrap();
        out.extend(encoder.finish().unwrap());
        at.push(out.len());
        from = to;
    }
    (out, at)
}

fn open(dir: &Path, bytes: &[u8], kind: Kind) -> ArchiveTree {
    let path = dir.join("bundle");
    std::fs::write(&path, bytes).unwrap();
    ArchiveTree::open(vec![path], kind, ArchiveOptions::default()).unwrap()
}

fn digest_of(tree: &ArchiveTree, name: &str) -> Option<Digest> {
    tree.files.get(name).and_then(|f| f.digest.clone())
}

#[test]
fn every_entry_is_hashed_whole_in_gzip_and_zstd() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = entries();
    let (tar, _) = tar_of(&entries);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    for (kind, bytes) in [(Kind::Zstd, zstd_frames(&tar, &[]).0), (Kind::Gzip, gz.finish().unwrap())] {
        let tree = open(tmp.path(), &bytes, kind);
        assert!(tree.damage.is_empty(), "{kind:?}: {:?}", tree.damage);
        for (name, data) in &entries {
            assert_eq!(digest_of(&tree, name), Some(Digest::sha256_of(data)), "{kind:?} {name}");
        }
        let index = tree.files["index.json"].data.as_deref().map(|d| d.as_slice());
        assert_eq!(index, Some(entries[0].1.as_slice()), "{kind:?}: the JSON is kept");
        assert_eq!(tree.archive_sha256().as_deref(), Some(Digest::sha256_of(&bytes).hex()), "{kind:?}");
    }
}

/// Frames cut so that the first half of the broken entry (bar its first bytes) is a frame of its own.
pub(super) fn broken_entry_framed() -> (Entries, Vec<u8>, std::ops::Range<usize>) {
    let entries = entries();
    let (tar, starts) = tar_of(&entries);
    let (start, half) = (starts[BROKEN], entries[BROKEN].1.len() / 2);
    let (bytes, at) = zstd_frames(&tar, &[start + 1000, start + half]);
    (entries, bytes, at[0]..at[1])
}

/// The damage is the broken entry's; those before it are recorded with their digests, none after it.
fn assert_broken_entry_named(tree: &ArchiveTree, entries: &[(String, Vec<u8>)], what: &str) {
    let broken = &entries[BROKEN].0;
    assert_eq!(tree.damage.len(), 1, "{what}: {:?}", tree.damage);
    let (at, e) = &tree.damage[0];
    assert_eq!(at, broken, "{what}: {e:?}");
    let message = e.to_string();
    assert!(message.contains(&format!("{broken}: archive truncated or corrupt")), "{what}: {message}");
    for (name, data) in &entries[..BROKEN] {
        assert_eq!(digest_of(tree, name), Some(Digest::sha256_of(data)), "{what}: {name}");
    }
    assert!(entries[BROKEN..].iter().all(|(name, _)| !tree.has(name)), "{what}: entries from the damage on");
}

#[test]
fn a_corrupt_frame_inside_an_entry_names_that_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (entries, mut bytes, frame) = broken_entry_framed();
    bytes[(frame.start + frame.end) / 2] ^= 0x55;
    let tree = open(tmp.path(), &bytes, Kind::Zstd);
    assert_broken_entry_named(&tree, &entries, "corrupt");
    assert!(tree.damage[0].1.to_string().contains("checksum"), "{:?}", tree.damage);
}

#[test]
fn a_stream_cut_inside_an_entry_names_that_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (entries, bytes, frame) = broken_entry_framed();
    let cut = &bytes[..(frame.start + frame.end) / 2];
    let tree = open(tmp.path(), cut, Kind::Zstd);
    assert_broken_entry_named(&tree, &entries, "cut");
    assert_eq!(tree.archive_sha256().as_deref(), Some(Digest::sha256_of(cut).hex()), "over the bytes there are");
}
