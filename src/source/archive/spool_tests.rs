//! The import spool: a compressed stream's files not kept in memory are served from their spooled copy,
//! exactly their bytes; the limit, a broken entry and hostile names leave nothing servable that should not
//! be; the folder is private and goes with the last holder; split archives and zarf packages are spooled too.

use super::stream_tests::{BROKEN, Entries, broken_entry_framed, entries, tar_of, zstd_frames};
use super::*;
use crate::source::detect;
use std::os::unix::fs::PermissionsExt;

/// Room for every entry of [`entries`].
const ROOM: u64 = 64 << 20;

fn spool_in(dir: &Path, limit: u64) -> Arc<Spool> {
    Arc::new(Spool::new(dir, limit).unwrap())
}

fn with_spool(spool: &Arc<Spool>) -> ArchiveOptions {
    ArchiveOptions { spool: Some(spool.clone()), ..ArchiveOptions::default() }
}

/// `bytes` written to `dir/name` and read as one archive with `opts`.
fn open_at(dir: &Path, name: &str, bytes: &[u8], opts: ArchiveOptions) -> Shared {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Shared(Arc::new(ArchiveTree::open(vec![path], Kind::Zstd, opts).unwrap()))
}

fn read_all(tree: &Shared, name: &str) -> Result<Vec<u8>, SourceError> {
    let mut out = Vec::new();
    tree.open(name)?.expect("the entry is listed").read_to_end(&mut out).unwrap();
    Ok(out)
}

/// The spool's files: (name, size, mode).
fn spooled(spool: &Spool) -> Vec<(String, u64, u32)> {
    let mut files: Vec<_> = std::fs::read_dir(spool.dir())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            assert!(meta.is_file(), "only files in the spool: {:?}", e.path());
            (e.file_name().into_string().unwrap(), meta.len(), meta.permissions().mode() & 0o777)
        })
        .collect();
    files.sort();
    files
}

fn zstd_of(entries: &Entries) -> Vec<u8> {
    zstd_frames(&tar_of(entries).0, &[]).0
}

#[test]
fn the_spool_is_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Spool>();
    shared::<ArchiveOptions>();
}

#[test]
fn without_a_spool_a_large_entry_is_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = entries();
    let tree = open_at(tmp.path(), "bundle", &zstd_of(&entries), ArchiveOptions::default());
    let e = read_all(&tree, &entries[1].0).unwrap_err();
    assert!(e.to_string().contains("not kept from the compressed stream"), "{e}");
    let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["bundle"], "a verification run writes nothing");
}

#[test]
fn with_a_spool_every_entry_is_served_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path(), ROOM);
    let entries = entries();
    let tree = open_at(tmp.path(), "bundle", &zstd_of(&entries), with_spool(&spool));
    assert!(tree.0.damage.is_empty(), "{:?}", tree.0.damage);
    for (name, data) in &entries {
        assert!(read_all(&tree, name).unwrap() == *data, "{name}");
    }
    let files = spooled(&spool);
    let sizes: Vec<u64> = files.iter().map(|f| f.1).collect();
    let blobs: Vec<u64> = entries[1..].iter().map(|(_, d)| d.len() as u64).collect();
    assert_eq!(sizes, blobs, "one copy per blob; index.json is kept in memory, not spooled");
    assert_eq!(spool.used(), blobs.iter().sum::<u64>());
}

#[test]
fn an_entry_over_the_limit_is_not_spooled_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let entries = entries();
    let first = entries[1].1.len() as u64;
    let spool = spool_in(tmp.path(), first + 10);
    let tree = open_at(tmp.path(), "bundle", &zstd_of(&entries), with_spool(&spool));
    assert!(tree.0.damage.is_empty(), "the limit never fails the verification pass: {:?}", tree.0.damage);
    assert!(read_all(&tree, &entries[1].0).unwrap() == entries[1].1, "the first blob fits");
    let (name, _) = &entries[2];
    let e = read_all(&tree, name).unwrap_err();
    let expected =
        format!("{name}: not spooled: the spool limit of {} bytes was reached (raise --spool-max)", first + 10);
    assert!(matches!(&e, SourceError::Io(m) if *m == expected), "{e:?}");
    assert_eq!(spooled(&spool).len(), 1);
    assert_eq!(spool.used(), first);
}

#[test]
fn a_write_error_never_fails_the_pass_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path(), ROOM);
    std::fs::remove_dir(spool.dir()).unwrap();
    let entries = entries();
    let tree = open_at(tmp.path(), "bundle", &zstd_of(&entries), with_spool(&spool));
    assert!(tree.0.damage.is_empty(), "{:?}", tree.0.damage);
    let (name, _) = &entries[1];
    let e = read_all(&tree, name).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{name}: not spooled: creating {}/", spool.dir().display())), "{e}");
    assert!(e.contains("No such file or directory"), "{e}");
    assert_eq!(spool.used(), 0, "no room held by files that are not there");
    assert!(read_all(&tree, "index.json").unwrap() == entries[0].1, "what is kept in memory is still served");
}

#[test]
fn the_spool_is_private_and_removed_with_its_last_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path(), ROOM);
    let dir = spool.dir().to_path_buf();
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(&format!("airlock-spool-{}-", std::process::id())), "{name}");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let tree = open_at(tmp.path(), "bundle", &zstd_of(&entries()), with_spool(&spool));
    assert!(spooled(&spool).iter().all(|(_, _, mode)| *mode == 0o600), "{:?}", spooled(&spool));
    let other = Spool::new(tmp.path(), ROOM).unwrap();
    assert_ne!(other.dir(), dir, "a fresh folder each time");
    drop(other);
    drop(spool);
    assert!(dir.is_dir(), "the tree holds the spool its files are in");
    drop(tree);
    assert!(!dir.exists(), "removed with all it holds");
    let missing = Spool::new(&tmp.path().join("absent"), ROOM).unwrap_err();
    assert!(missing.to_string().contains("absent/airlock-spool-"), "{missing}");
}

/// A tar entry named by raw bytes, bypassing the tar builder's own checks.
fn raw_entry(builder: &mut tar::Builder<Vec<u8>>, name: &[u8], data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    builder.append(&header, data).unwrap();
}

#[test]
fn entry_names_never_reach_spool_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = spool_in(tmp.path(), ROOM);
    let data = vec![7u8; 100_000];
    let mut builder = tar::Builder::new(Vec::new());
    for name in ["../../escaped", "/absolute", "a/../../b", "blobs/../../../c", "deep/er/file", "./x", "x"] {
        raw_entry(&mut builder, name.as_bytes(), &data);
    }
    let tar = builder.into_inner().unwrap();
    let tree = open_at(tmp.path(), "bundle", &zstd_frames(&tar, &[]).0, with_spool(&spool));
    assert_eq!(tree.0.damage.len(), 4, "{:?}", tree.0.damage);
    let files = spooled(&spool);
    assert_eq!(files.len(), 2, "the two admitted entries only, a duplicate's copy removed: {files:?}");
    assert_eq!(spool.used(), 2 * data.len() as u64);
    assert!(files.iter().all(|(n, _, _)| n.bytes().all(|b| b.is_ascii_digit())), "{files:?}");
    let mut around: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let mut expected = vec![tmp.path().join("bundle"), spool.dir().to_path_buf()];
    around.sort();
    expected.sort();
    assert_eq!(around, expected, "nothing written elsewhere");
    assert!(read_all(&tree, "deep/er/file").unwrap() == data && read_all(&tree, "x").unwrap() == data);
}

/// A broken entry is neither listed nor left in the spool; those before it are, whole.
fn assert_nothing_partial(spool: &Spool, tree: &Shared, entries: &Entries, what: &str) {
    assert!(!tree.0.has(&entries[BROKEN].0), "{what}");
    let sizes: Vec<u64> = spooled(spool).iter().map(|f| f.1).collect();
    let before: Vec<u64> = entries[1..BROKEN].iter().map(|(_, d)| d.len() as u64).collect();
    assert_eq!(sizes, before, "{what}: only the blobs read whole");
    assert_eq!(spool.used(), before.iter().sum::<u64>(), "{what}: the broken entry's room is given back");
    for (name, data) in &entries[1..BROKEN] {
        assert!(read_all(tree, name).unwrap() == *data, "{what}: {name}");
    }
}

#[test]
fn a_broken_entry_leaves_nothing_servable_in_the_spool() {
    let tmp = tempfile::tempdir().unwrap();
    let (entries, bytes, frame) = broken_entry_framed();
    let mut corrupt = bytes.clone();
    corrupt[(frame.start + frame.end) / 2] ^= 0x55;
    let cut = &bytes[..(frame.start + frame.end) / 2];
    for (what, bytes) in [("corrupt", &corrupt[..]), ("cut", cut)] {
        let spool = spool_in(tmp.path(), ROOM);
        let tree = open_at(tmp.path(), what, bytes, with_spool(&spool));
        assert_eq!(tree.0.damage.len(), 1, "{what}: {:?}", tree.0.damage);
        assert_nothing_partial(&spool, &tree, &entries, what);
    }
}

/// A zarf package's files, its layout under `images/`: zarf.yaml and checksums.txt make it one.
fn zarf_entries() -> Entries {
    let blob = vec![42u8; 300_000];
    let name = format!("images/blobs/sha256/{}", Digest::sha256_of(&blob).hex());
    let text = |s: &str| s.as_bytes().to_vec();
    vec![
        ("zarf.yaml".into(), text("kind: ZarfPackageConfig\nmetadata:\n  name: spooled\n")),
        ("checksums.txt".into(), text("")),
        ("images/oci-layout".into(), text(r#"{"imageLayoutVersion":"1.0.0"}"#)),
        ("images/index.json".into(), text(r#"{"schemaVersion":2,"manifests":[]}"#)),
        (name, blob),
    ]
}

#[test]
fn split_archives_and_zarf_packages_are_spooled_when_opened_by_content() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = zstd_of(&entries());
    let zarf = zstd_of(&zarf_entries());
    let (half, stem) = (layout.len() / 2, tmp.path().join("split.tar.zst"));
    std::fs::write(tmp.path().join("split.tar.zst.001"), &layout[..half]).unwrap();
    std::fs::write(tmp.path().join("split.tar.zst.002"), &layout[half..]).unwrap();
    std::fs::write(tmp.path().join("zarf.tar.zst"), &zarf).unwrap();
    std::fs::write(tmp.path().join("parts.tar.zst.part001"), &zarf[..100]).unwrap();
    std::fs::write(tmp.path().join("parts.tar.zst.part002"), &zarf[100..]).unwrap();
    let header = format!(r#"{{"Sha256Sum":"{}","Bytes":{},"Count":2}}"#, Digest::sha256_of(&zarf).hex(), zarf.len());
    std::fs::write(tmp.path().join("parts.tar.zst.part000"), header).unwrap();
    let cases =
        [(format!("{}.001", stem.display()), 5), ("zarf.tar.zst".into(), 1), ("parts.tar.zst.part000".into(), 1)];
    for (path, copies) in cases {
        let spool = spool_in(tmp.path(), ROOM);
        let source = detect::open(&tmp.path().join(&path), with_spool(&spool)).unwrap();
        assert_eq!(spooled(&spool).len(), copies, "{path}");
        drop(source);
        assert_eq!(Arc::strong_count(&spool), 1, "{path}: the source let go of the spool");
    }
}
