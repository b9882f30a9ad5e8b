//! docker-archive (`docker save`) through the binary: the unpacked fixture directories and the same
//! archives as plain tars, tar.gz and tar.zst (RKE2/k3s ship `*-images.tar.zst`). Integrity through config names and diff_ids; images named by RepoTags; no
//! signatures possible, so a key makes every image fail `unsigned` with the reason.

use crate::common::{Output, airlock, copy_fixture};

const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";
const KEY: &str = "testdata/keys/p256.pub";
const SINGLE_LAYER: &str = "04dcae6442ed4ed7059cc0b60a37dce1d629a01e8b0d0190c9f77a4b58ad0ba4/layer.tar";
const NO_SIGNATURES: &str =
    "docker-archive keeps no manifest digests, so its images cannot carry verifiable signatures";

/// Each fixture as a directory and as a tar.
fn forms(name: &str) -> [String; 2] {
    [format!("testdata/archives/docker/{name}-dir"), format!("testdata/archives/docker/{name}.tar")]
}

fn line<'a>(out: &'a Output, reference: &str) -> &'a str {
    out.line_for(reference).unwrap_or_else(|| panic!("no line for {reference}\n{}", out.describe()))
}

#[test]
fn intact_archives_pass_and_say_signatures_were_not_checked() {
    for path in forms("two") {
        let out = airlock(["verify-archive", &path]);
        assert_eq!(out.code, 0, "{path}\n{}", out.describe());
        assert!(line(&out, SINGLE).starts_with(&format!("PASS {SINGLE} (1 platform")), "{}", out.describe());
        assert!(line(&out, LAYERS3).starts_with("PASS "), "{}", out.describe());
        assert!(out.stdout.contains("2 passed, 0 failed, signatures not checked"), "{}", out.describe());
    }
}

#[test]
fn with_a_key_every_image_is_unsigned_with_the_reason() {
    for path in forms("single") {
        let out = airlock(["verify-archive", &path, "-p", KEY]);
        assert_eq!(out.code, 1, "{path}\n{}", out.describe());
        let l = line(&out, SINGLE);
        assert!(l.starts_with(&format!("FAIL {SINGLE}: unsigned: ")), "{l}");
        assert!(l.contains("A signature was required, but no signature exists"), "{l}");
        assert!(l.contains(NO_SIGNATURES), "{l}");
        assert!(l.contains("OCI layout, hauler haul or cosign save"), "{l}");
    }
}

#[test]
fn list_lines_match_repo_tags_and_missing_lines_fail() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{LAYERS3}\nregistry.airlock.test/airlock/gone:v1\n")).unwrap();
    for path in forms("two") {
        let out = airlock(["verify-archive", &path, "-f", list.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{path}\n{}", out.describe());
        assert!(line(&out, LAYERS3).starts_with("PASS "), "{}", out.describe());
        assert!(out.line_for(SINGLE).is_none(), "not in the list: {}", out.describe());
        let gone = line(&out, "registry.airlock.test/airlock/gone:v1");
        assert!(gone.contains("missing: not in the source"), "{gone}");
    }
}

#[test]
fn a_damaged_layer_fails_its_image_as_corrupt() {
    let (_tmp, dir) = copy_fixture("archives/docker/single-dir");
    let layer = dir.join(SINGLE_LAYER);
    let mut bytes = std::fs::read(&layer).unwrap();
    bytes[600] ^= 0x01;
    std::fs::write(&layer, bytes).unwrap();
    let out = airlock(["verify-archive", dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let l = line(&out, SINGLE);
    assert!(l.contains("corrupt: ") && l.contains(SINGLE_LAYER) && l.contains("digest mismatch"), "{l}");
}

#[test]
fn bad_manifest_json_is_a_damaged_source_not_a_crash() {
    let (_tmp, dir) = copy_fixture("archives/docker/single-dir");
    std::fs::write(dir.join("manifest.json"), b"[{\"Config\": ").unwrap();
    let out = airlock(["verify-archive", dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "a recognised, damaged source: {}", out.describe());
    assert!(out.stdout.contains("manifest.json: not valid JSON"), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

#[test]
fn list_shows_every_image() {
    for path in forms("two") {
        let out = airlock(["list", &path]);
        assert_eq!(out.code, 0, "{path}\n{}", out.describe());
        for reference in [SINGLE, LAYERS3] {
            assert!(out.stdout.lines().any(|l| l.starts_with(reference)), "{reference}\n{}", out.describe());
        }
    }
}

/// `two.tar` compressed as RKE2 and k3s ship their image tarballs.
#[test]
fn compressed_archives_are_read_in_one_pass() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let tar = std::fs::read(crate::common::root().join("testdata/archives/docker/two.tar")).unwrap();
    let gz = dir.path().join("two.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&tar).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("rke2-images.linux-amd64.tar.zst");
    std::fs::write(&zst, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
    for path in [gz, zst] {
        let out = airlock(["verify-archive", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{}\n{}", path.display(), out.describe());
        assert!(line(&out, SINGLE).starts_with("PASS ") && line(&out, LAYERS3).starts_with("PASS "));
        let out = airlock(["verify-archive", path.to_str().unwrap(), "-p", KEY]);
        assert!(line(&out, SINGLE).contains(NO_SIGNATURES), "{}", out.describe());
    }
}

/// `docker load` decodes manifest.json with Go's encoding/json: `repoTags` is `RepoTags` to it.
#[test]
fn case_folded_manifest_json_keys_are_malformed() {
    let (_tmp, dir) = copy_fixture("archives/docker/two-dir");
    let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        text.replacen("\"RepoTags\":", "\"repoTags\":[\"evil.example/x:1\"],\"RepoTags\":", 1),
    )
    .unwrap();
    let out = airlock(["verify-archive", dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let l = out.damage_line("").unwrap_or_else(|| panic!("source damage\n{}", out.describe()));
    assert!(l.contains("malformed: manifest.json: [0]: key \"repoTags\" is \"RepoTags\" to Go"), "{l}");
}

/// Two items that give one tag two images: loaders differ in which one they keep.
#[test]
fn one_tag_for_two_images_is_ambiguous() {
    let (_tmp, dir) = copy_fixture("archives/docker/two-dir");
    let mut items: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    items[1]["RepoTags"] = serde_json::json!([SINGLE]);
    std::fs::write(dir.join("manifest.json"), items.to_string()).unwrap();
    let out = airlock(["verify-archive", dir.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(line(&out, SINGLE).contains(&format!("malformed: ambiguous: {SINGLE} is ")), "{}", out.describe());
}
