//! The docker-archive backend driven through the library's engine: reconstructed manifests, damage
//! reported once, every file hashed once.

use airlock::digest::Digest;
use airlock::finding::Kind;
use airlock::imagelist::parse_list;
use airlock::oci::DOCKER_MANIFEST;
use airlock::oci::platform::PlatformFilter;
use airlock::signature::check::Trust;
use airlock::signature::identity::IdentityPolicy;
use airlock::signature::keys::TrustedKey;
use airlock::source::docker_archive::{DockerArchive, NO_SIGNATURES, RECONSTRUCTED};
use airlock::source::store::{Dir, Files};
use airlock::source::{Source, SourceError};
use airlock::verify::result::ImageResult;
use airlock::verify::{self, BlobMode, Options, Run, Scope, Verification};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";
const SINGLE_LAYER: &str = "04dcae6442ed4ed7059cc0b60a37dce1d629a01e8b0d0190c9f77a4b58ad0ba4/layer.tar";
const SINGLE_CONFIG: &str = "ab2bb3204cc0548580964593f27318fc0d6bd47148039a28fa2f2170733b2242.json";
/// The gzip blob of the same layer in the OCI layout the fixture was made from.
const SINGLE_GZIP: &str =
    "testdata/layouts/signed-p256/blobs/sha256/dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

/// A temp copy of `testdata/archives/docker/<name>`.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&root().join("testdata/archives/docker").join(name), &dir);
    (tmp, dir)
}

fn open(dir: &Path) -> DockerArchive<Dir> {
    DockerArchive::open(Dir::new(dir)).unwrap().expect("a docker-archive")
}

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn run(source: &dyn Source, key: bool, list: Option<&str>) -> Run {
    let trust = key.then(|| Trust {
        keys: vec![TrustedKey::load(&root().join("testdata/keys/p256.pub")).unwrap()],
        rekor_keys: Vec::new(),
        identity: IdentityPolicy::Default,
        certificate: None,
        bundle_root: None,
        bundle_identity: None,
    });
    let opts = Options {
        verification: trust.map(Verification::Keys),
        platforms: PlatformFilter::parse("amd64,arm64", "linux").unwrap(),
        require_platforms: false,
        scope: Scope::Auto,
        blobs: BlobMode::Verify,
        jobs: 2,
        timeout: None,
        on_image: None,
        digests: None,
    };
    let lines = list.map(|l| parse_list(l).0);
    let targets = verify::plan(source, lines.as_deref(), None);
    verify::run(source, targets, &opts)
}

fn result<'a>(run: &'a Run, reference: &str) -> &'a ImageResult {
    run.results.iter().find(|r| r.reference == reference).unwrap_or_else(|| panic!("no result for {reference}"))
}

fn kinds(r: &ImageResult) -> Vec<Kind> {
    r.errors.iter().map(|f| f.kind).collect()
}

fn messages(r: &ImageResult) -> String {
    r.errors.iter().map(|f| format!("{}: {}", f.kind, f.message)).collect::<Vec<_>>().join("\n")
}

#[test]
fn intact_archive_passes_with_a_reconstructed_manifest() {
    let (_t, dir) = fixture("two-dir");
    let archive = open(&dir);
    let entries = archive.entries();
    assert_eq!(entries.len(), 2);
    assert!(entries.iter().all(|e| e.notes == [RECONSTRUCTED]));
    let run = run(&archive, false, None);
    assert_eq!(run.results.len(), 2, "{:?}", run.results);
    for reference in [SINGLE, LAYERS3] {
        let r = result(&run, reference);
        assert!(r.passed(), "{reference}: {}", messages(r));
        assert_eq!(r.platforms.len(), 1);
        assert_eq!(r.platforms[0].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(r.platforms[0].media_type, DOCKER_MANIFEST);
    }
    assert_eq!(run.blobs, 6, "2 configs and 4 layers");
}

#[test]
fn flipped_byte_in_a_layer_is_corrupt_and_reported_once() {
    let (_t, dir) = fixture("single-dir");
    let layer = dir.join(SINGLE_LAYER);
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[600] ^= 0x01;
    std::fs::write(&layer, bytes).unwrap();
    let run = run(&open(&dir), false, None);
    let r = result(&run, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Corrupt], "{}", messages(r));
    assert!(r.errors[0].message.contains(SINGLE_LAYER), "{}", messages(r));
    assert_eq!(run.results.len(), 1, "the image already names the damage: {:?}", run.results);
}

#[test]
fn edited_or_renamed_config_is_corrupt() {
    let (_t, dir) = fixture("single-dir");
    let config = dir.join(SINGLE_CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"single\"", "\"singlf\"")).unwrap();
    let run1 = run(&open(&dir), false, None);
    let r = result(&run1, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Corrupt], "{}", messages(r));
    assert!(r.errors[0].message.contains(SINGLE_CONFIG), "{}", messages(r));
    assert_eq!(run1.results.len(), 1, "the image already names the damage: {:?}", run1.results);

    let (_t2, dir) = fixture("single-dir");
    let renamed = format!("{}.json", "1".repeat(64));
    std::fs::rename(dir.join(SINGLE_CONFIG), dir.join(&renamed)).unwrap();
    edit_manifest(&dir, |v| v[0]["Config"] = serde_json::json!(renamed));
    let run2 = run(&open(&dir), false, None);
    let r = result(&run2, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Corrupt], "{}", messages(r));

    let (_t3, dir) = fixture("single-dir");
    std::fs::write(dir.join(SINGLE_CONFIG), b"{not json").unwrap();
    let run3 = run(&open(&dir), false, None);
    assert_eq!(kinds(result(&run3, SINGLE)), vec![Kind::Corrupt]);
    assert_eq!(run3.results.len(), 1, "{:?}", run3.results);
}

#[test]
fn layer_count_mismatch_is_malformed() {
    let (_t, dir) = fixture("single-dir");
    edit_manifest(&dir, |v| v[0]["Layers"] = serde_json::json!([SINGLE_LAYER, SINGLE_LAYER]));
    let run = run(&open(&dir), false, None);
    let r = result(&run, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Malformed], "{}", messages(r));
    assert!(r.errors[0].message.contains("2 Layers but the config"), "{}", messages(r));
    assert!(r.errors[0].message.contains("manifest.json[0]"), "{}", messages(r));
    assert_eq!(run.results.len(), 1, "{:?}", run.results);
}

#[test]
fn missing_files_are_missing() {
    let (_t, dir) = fixture("two-dir");
    std::fs::remove_file(dir.join(SINGLE_LAYER)).unwrap();
    let run1 = run(&open(&dir), false, None);
    let r = result(&run1, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Missing], "{}", messages(r));
    assert!(r.errors[0].message.contains(SINGLE_LAYER), "{}", messages(r));
    assert!(result(&run1, LAYERS3).passed());

    std::fs::remove_file(dir.join(SINGLE_CONFIG)).unwrap();
    let run2 = run(&open(&dir), false, None);
    assert_eq!(kinds(result(&run2, SINGLE)), vec![Kind::Missing]);
}

#[test]
fn hostile_names_and_bad_json_are_errors_not_panics() {
    let (_t, dir) = fixture("single-dir");
    edit_manifest(&dir, |v| v[0]["Layers"] = serde_json::json!(["../../etc/passwd"]));
    let run1 = run(&open(&dir), false, None);
    let r = result(&run1, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Malformed]);
    assert!(r.errors[0].message.contains("../../etc/passwd"), "{}", messages(r));

    edit_manifest(&dir, |v| v[0]["Config"] = serde_json::json!(format!("/tmp/{SINGLE_CONFIG}")));
    assert_eq!(kinds(result(&run(&open(&dir), false, None), SINGLE)), vec![Kind::Malformed]);

    edit_manifest(&dir, |v| v[0]["Layers"] = serde_json::json!("not a list"));
    let archive = open(&dir);
    let run3 = run(&archive, false, None);
    assert!(run3.results.iter().all(|r| !r.passed()));

    std::fs::write(dir.join("manifest.json"), b"[{\"Config\": ").unwrap();
    let err = DockerArchive::open(Dir::new(&dir)).err().expect("an error");
    assert!(err.to_string().contains("manifest.json"), "{err}");
}

#[test]
fn other_formats_are_not_docker_archives() {
    for dir in ["testdata/layouts/signed-p256", "testdata/dirs/single-signed"] {
        assert!(DockerArchive::open(Dir::new(&root().join(dir))).unwrap().is_none(), "{dir}");
    }
    let (_t, dir) = fixture("single-dir");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    assert!(DockerArchive::open(Dir::new(&dir)).unwrap().is_none());
    std::fs::remove_file(dir.join("oci-layout")).unwrap();
    std::fs::write(dir.join("manifest.json"), b"[]").unwrap();
    assert!(DockerArchive::open(Dir::new(&dir)).unwrap().is_none());
}

#[test]
fn compressed_layer_cannot_be_checked_without_decompression() {
    let (_t, dir) = fixture("single-dir");
    std::fs::copy(root().join(SINGLE_GZIP), dir.join(SINGLE_LAYER)).unwrap();
    let run = run(&open(&dir), false, None);
    let r = result(&run, SINGLE);
    assert_eq!(kinds(r), vec![Kind::Malformed], "{}", messages(r));
    assert!(r.errors[0].message.contains("gzip-compressed"), "{}", messages(r));
    assert!(r.errors[0].message.contains("without decompressing"), "{}", messages(r));
}

#[test]
fn repo_tags_name_the_image_for_list_matching() {
    let (_t, dir) = fixture("two-dir");
    edit_manifest(&dir, |v| {
        v[1]["RepoTags"] = serde_json::json!([LAYERS3, "rancher/layers3:v1"]);
    });
    let archive = open(&dir);
    let list = format!("{LAYERS3}\nrancher/layers3:v1\ndocker.io/rancher/layers3:v2\n{SINGLE}\n");
    let run = run(&archive, false, Some(&list));
    assert!(result(&run, LAYERS3).passed());
    assert!(result(&run, "docker.io/rancher/layers3:v1").passed());
    assert!(result(&run, SINGLE).passed());
    assert_eq!(kinds(result(&run, "docker.io/rancher/layers3:v2")), vec![Kind::Missing]);
}

#[test]
fn an_image_without_repo_tags_is_unnamed() {
    let (_t, dir) = fixture("single-dir");
    edit_manifest(&dir, |v| v[0]["RepoTags"] = serde_json::Value::Null);
    let archive = open(&dir);
    let entries = archive.entries();
    assert!(entries[0].identity().is_none() && entries[0].stored_name.is_none());
    let plain = run(&archive, false, None);
    assert!(plain.results[0].passed(), "{}", messages(&plain.results[0]));
    let keyed = run(&archive, true, None);
    assert!(kinds(&keyed.results[0]).contains(&Kind::IdentityMismatch), "{}", messages(&keyed.results[0]));
    let one_line = run(&archive, false, Some(&format!("{SINGLE}\n")));
    assert!(result(&one_line, SINGLE).passed(), "a one-line list names the one unnamed image");
}

#[test]
fn with_a_key_each_image_is_unsigned_and_says_why() {
    let (_t, dir) = fixture("two-dir");
    let run = run(&open(&dir), true, None);
    for reference in [SINGLE, LAYERS3] {
        let r = result(&run, reference);
        assert_eq!(kinds(r), vec![Kind::Unsigned], "{}", messages(r));
        assert!(r.errors[0].message.contains("A signature was required, but no signature exists"));
        assert!(r.errors[0].message.contains(NO_SIGNATURES), "{}", messages(r));
    }
}

#[test]
fn unreferenced_damage_fails_the_run() {
    let (_t, dir) = fixture("single-dir");
    std::fs::create_dir(dir.join("stray")).unwrap();
    std::fs::write(dir.join("stray/layer.tar"), b"not a layer").unwrap();
    let run = run(&open(&dir), false, None);
    assert!(result(&run, SINGLE).passed());
    let stray = run.damage.iter().find(|d| d.entry == "stray/layer.tar").expect("damage for the stray layer");
    assert_eq!(stray.kind, Kind::Malformed, "{stray:?}");
    assert!(stray.message.contains("no image names this layer"), "{stray:?}");
}

/// A [`Dir`] that counts how often each file is hashed.
struct Counting(Dir, Arc<Mutex<HashMap<String, usize>>>);

impl Files for Counting {
    fn location(&self) -> String {
        self.0.location()
    }
    fn files(&self) -> Vec<(String, u64)> {
        self.0.files()
    }
    fn open(&self, name: &str) -> Result<Option<Box<dyn std::io::Read + Send + '_>>, SourceError> {
        self.0.open(name)
    }
    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        *self.1.lock().unwrap().entry(name.to_string()).or_default() += 1;
        self.0.sha256(name)
    }
    fn damage(&self) -> Vec<(String, SourceError)> {
        self.0.damage()
    }
    fn paths(&self) -> Vec<std::path::PathBuf> {
        self.0.paths()
    }
}

#[test]
fn every_file_is_hashed_once() {
    let (_t, dir) = fixture("two-dir");
    let counter = Arc::new(Mutex::new(HashMap::new()));
    let archive = DockerArchive::open(Counting(Dir::new(&dir), counter.clone())).unwrap().unwrap();
    let run = run(&archive, false, None);
    assert!(run.results.iter().all(|r| r.passed()));
    let counts = counter.lock().unwrap().clone();
    assert_eq!(counts.len(), 6, "2 configs and 4 layers: {counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
}
