//! Command-line behaviour: exit statuses, image lists, the failed list, reports, hostile layouts.

use crate::common::{airlock, copy_fixture, sha256_hex};
use serde_json::{Value, json};
use std::path::Path;

const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const KEY: &str = "testdata/keys/p256.pub";
/// The manifest of `registry.airlock.test/airlock/single:v1` (reproducible across fixture regenerations).
const SINGLE_MANIFEST: &str = "sha256:2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// Stores `bytes` as a blob of `layout` and returns its descriptor fields.
fn add_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256_hex(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).expect("blob");
    (format!("sha256:{hex}"), bytes.len())
}

fn index_json(layout: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index")).expect("json")
}

/// Replaces the first index.json entry's descriptor (keeping its annotations).
fn repoint_first_entry(layout: &Path, media_type: &str, digest: &str, size: usize) {
    let mut index = index_json(layout);
    let entry = &mut index["manifests"][0];
    entry["mediaType"] = json!(media_type);
    entry["digest"] = json!(digest);
    entry["size"] = json!(size);
    write(&layout.join("index.json"), &index.to_string());
}

/// sha256 of the DER inside a `PUBLIC KEY` PEM file.
fn spki_sha256(path: &str) -> String {
    use base64::Engine as _;
    let pem = std::fs::read_to_string(path).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    sha256_hex(&base64::engine::general_purpose::STANDARD.decode(body).unwrap())
}

#[test]
fn exit_2_when_airlock_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.txt");
    write(&plain, "hello");
    for args in [
        vec!["verify-archive", "testdata/does-not-exist"],
        vec!["verify-archive", plain.to_str().unwrap()],
        vec!["verify-archive", dir.path().to_str().unwrap()],
        vec!["verify-archive", "testdata/layouts/signed-p256", "-p", "testdata/keys/missing.pub"],
        vec!["verify-archive", "testdata/layouts/signed-p256", "-p", plain.to_str().unwrap()],
        vec!["verify-archive", "testdata/layouts/signed-p256", "-f", "testdata/missing-list.txt"],
        vec!["verify-archive", "testdata/layouts/signed-p256", "--arch", ""],
        vec!["verify-archive", "testdata/layouts/signed-p256", "--signed-identity", "bogus"],
        vec!["verify-archive", "testdata/layouts/signed-p256", "--failed", "/nonexistent-dir/failed.txt"],
        vec!["verify-archive", "testdata/layouts/signed-p256", "--bogus-flag"],
    ] {
        let out = airlock(&args);
        assert_eq!(out.code, 2, "{args:?}\n{}", out.describe());
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn list_selects_images_and_reports_missing_lines_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    let failed = dir.path().join("failed.txt");
    write(
        &list,
        "# comment\n\nregistry.airlock.test/airlock/missing:v1\nregistry.airlock.test/airlock/single:v1\n// another\nbad line with spaces x\nregistry.airlock.test/airlock/gone:v2\n",
    );
    let out = airlock([
        "verify-archive",
        "testdata/layouts/signed-p256",
        "-p",
        KEY,
        "-f",
        list.to_str().unwrap(),
        "--failed",
        failed.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.line_for(SINGLE).is_some_and(|l| l.starts_with("PASS")), "{}", out.describe());
    let missing = out.line_for("registry.airlock.test/airlock/missing:v1").unwrap_or_default();
    assert!(missing.contains(": missing: "), "{}", out.describe());
    assert!(out.stderr.contains(":6:"), "warning names the line: {}", out.describe());
    let text = std::fs::read_to_string(&failed).unwrap();
    assert_eq!(text, "registry.airlock.test/airlock/missing:v1\nregistry.airlock.test/airlock/gone:v2\n");
}

#[test]
fn registry_override_keeps_the_original_line_in_the_failed_list() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    let failed = dir.path().join("failed.txt");
    write(&list, "other.example/airlock/single:v1\nother.example/airlock/nope:v1\n");
    let out = airlock([
        "verify-archive",
        "testdata/layouts/signed-p256",
        "-p",
        KEY,
        "-f",
        list.to_str().unwrap(),
        "--registry",
        "registry.airlock.test",
        "-o",
        failed.to_str().unwrap(),
    ]);
    assert!(out.line_for(SINGLE).is_some_and(|l| l.starts_with("PASS")), "{}", out.describe());
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), "other.example/airlock/nope:v1\n");
}

#[test]
fn hangar_style_short_line_matches_docker_hub_names() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    write(&list, "airlocktest:v1\n");
    let out =
        airlock(["verify-archive", "testdata/layouts/docker-io-identity", "-p", KEY, "-f", list.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.line_for("docker.io/library/airlocktest:v1").is_some(), "{}", out.describe());
}

#[test]
fn failed_list_is_left_alone_when_nothing_failed() {
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.txt");
    write(&failed, "stale\n");
    let out =
        airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", KEY, "--failed", failed.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), "stale\n");
    assert!(out.stderr.contains("earlier run"), "{}", out.describe());
}

#[test]
fn nothing_verified_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    write(&list, "# only comments\n\n");
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "-f", list.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains("nothing verified"), "{}", out.describe());
}

#[test]
fn json_report_is_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = airlock([
        "verify-archive",
        "testdata/layouts/signed-multi-index-only",
        "-p",
        KEY,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let v = crate::common::registry::read_report(&report, &out);
    assert_eq!(v["tool"], "airlock");
    assert!(v["version"].as_str().unwrap().starts_with(env!("CARGO_PKG_VERSION")));
    assert_eq!(v["keys"][0]["sha256_spki"], spki_sha256(KEY));
    assert_eq!(v["summary"]["passed"], 1);
    assert_eq!(v["summary"]["failed"], 0);
    assert!(v["summary"]["blobs"].as_u64().unwrap() > 0);
    let platforms = v["results"][0]["platforms"].as_array().unwrap();
    let index = platforms.iter().find(|p| p["platform"].is_null()).unwrap();
    assert_eq!(index["signature"]["status"], "verified");
    assert_eq!(index["signature"]["identity"], "registry.airlock.test/airlock/multi:v1");
    let amd64 = platforms.iter().find(|p| p["platform"] == "linux/amd64").unwrap();
    assert_eq!(amd64["signature"]["status"], "covered-by-index");
}

#[test]
fn failure_reasons_carry_their_kind_in_the_report() {
    let out = airlock(["verify-archive", "testdata/layouts/corrupt-layer", "-p", KEY, "--report", "-"]);
    assert_eq!(out.code, 1);
    let v = out.report();
    assert_eq!(v["results"][0]["errors"][0]["kind"], "corrupt");
    assert_eq!(v["results"][0]["status"], "fail");
}

#[test]
fn yaml_and_csv_reports() {
    let out =
        airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", KEY, "--report", "-", "--format", "yaml"]);
    assert!(out.stdout.contains("\"tool\": \"airlock\""), "{}", out.describe());
    let out =
        airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", KEY, "--report", "-", "--format", "csv"]);
    assert!(out.stdout.contains("image,arch,os,payload,digest,tlogVerify,mediaType"), "{}", out.describe());
    assert!(out.stdout.contains("registry.airlock.test/airlock/single:v1,amd64,linux,"), "{}", out.describe());
}

#[test]
fn a_key_inside_the_source_is_a_loud_warning() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    std::fs::copy("testdata/keys/p256.pub", layout.join("trusted.pub")).unwrap();
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "-p", layout.join("trusted.pub").to_str().unwrap()]);
    assert!(out.stderr.contains("vouching for itself"), "{}", out.describe());
}

#[test]
fn validate_with_source_is_hangar_compatible() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    let failed = dir.path().join("sign-failed.txt");
    write(&list, "registry.airlock.test/mirror/single:v1\n");
    let base = [
        "--source",
        "testdata/layouts/copied-repo",
        "-f",
        list.to_str().unwrap(),
        "-p",
        KEY,
        "-o",
        failed.to_str().unwrap(),
    ];
    let out = airlock(["sign", "validate"].iter().chain(base.iter()));
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains("identity-mismatch"), "{}", out.describe());
    assert!(failed.exists());
    let out = airlock(
        ["validate", "--exact-repository", "registry.airlock.test/airlock/single", "-y", "--insecure-policy"]
            .iter()
            .chain(base.iter()),
    );
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stderr.contains("--auto-yes is accepted for hangar compatibility"), "{}", out.describe());
}

#[test]
fn validate_manifest_index_false_means_platform_scope() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    write(&list, "registry.airlock.test/airlock/multi:v1\n");
    let l = list.to_str().unwrap();
    let out = airlock([
        "validate",
        "--source",
        "testdata/layouts/signed-multi-index-only",
        "-f",
        l,
        "-p",
        KEY,
        "-o",
        "/dev/null",
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let out = airlock([
        "validate",
        "--source",
        "testdata/layouts/signed-multi-index-only",
        "-f",
        l,
        "-p",
        KEY,
        "-o",
        "/dev/null",
        "--validate-manifest-index=false",
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    // the index's signature does not cover its platforms: each platform is unsigned
    let line = out.line_for("registry.airlock.test/airlock/multi:v1").unwrap_or_default();
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(line.contains(&format!("unsigned: {platform} sha256:")), "{platform}: {}", out.describe());
    }
}

#[test]
fn shards_split_a_list_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    write(
        &list,
        "registry.airlock.test/airlock/single:v1\nregistry.airlock.test/airlock/a:v1\nregistry.airlock.test/airlock/b:v1\n",
    );
    let l = list.to_str().unwrap();
    let first = airlock(["verify-archive", "testdata/layouts/signed-p256", "-f", l, "--shard", "1/2"]);
    let second = airlock(["verify-archive", "testdata/layouts/signed-p256", "-f", l, "--shard", "2/2"]);
    assert!(first.stdout.contains("single:v1") && first.stdout.contains("b:v1") && !first.stdout.contains("/a:v1"));
    assert!(second.stdout.contains("/a:v1") && !second.stdout.contains("single:v1"), "{}", second.describe());
    let indexed = crate::common::airlock_env(
        ["verify-archive", "testdata/layouts/signed-p256", "-f", l, "--shard-count", "2"],
        &[("JOB_COMPLETION_INDEX", "1")],
    );
    assert_eq!(indexed.stdout, second.stdout, "{}", indexed.describe());
    let missing = airlock(["verify-archive", "testdata/layouts/signed-p256", "-f", l, "--shard-count", "2"]);
    assert_eq!(missing.code, 2, "{}", missing.describe());
}

// ---- hostile and damaged layouts: a clear message naming the entry, exit 1, never a panic ----

fn assert_damaged(layout: &Path, needle: &str) {
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains(needle), "expected {needle:?}\n{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

#[test]
fn symlinked_blob_is_damage() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let layer = layout.join("blobs/sha256/dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8");
    let target = layout.join("elsewhere");
    std::fs::rename(&layer, &target).unwrap();
    std::os::unix::fs::symlink(&target, &layer).unwrap();
    assert_damaged(&layout, "links are refused");
}

#[test]
fn bad_blob_names_are_damage() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    write(&layout.join("blobs/sha256/NOT-A-DIGEST"), "x");
    assert_damaged(&layout, "blobs/sha256/NOT-A-DIGEST");
    let (_tmp2, layout) = copy_fixture("layouts/signed-p256");
    std::fs::create_dir(layout.join("blobs/md5")).unwrap();
    write(&layout.join("blobs/md5/abcd"), "x");
    assert_damaged(&layout, "unsupported digest algorithm");
}

#[test]
fn broken_index_json_is_damage() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    write(&layout.join("index.json"), "{\"schemaVersion\":2,\"manifests\":[");
    assert_damaged(&layout, "index.json");
    let (_tmp2, layout) = copy_fixture("layouts/signed-p256");
    std::fs::remove_file(layout.join("index.json")).unwrap();
    assert_damaged(&layout, "index.json");
}

#[test]
fn ambiguous_manifest_is_rejected() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let manifest = std::fs::read_to_string(layout.join("blobs/sha256").join(&SINGLE_MANIFEST[7..])).unwrap();
    let evil = manifest.replacen('{', "{\"manifests\":[],", 1);
    let (digest, size) = add_blob(&layout, evil.as_bytes());
    repoint_first_entry(&layout, "application/vnd.oci.image.manifest.v1+json", &digest, size);
    assert_damaged(&layout, "CVE-2021-41190");
}

#[test]
fn media_type_mismatch_is_rejected() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let digest = SINGLE_MANIFEST;
    repoint_first_entry(&layout, "application/vnd.docker.distribution.manifest.v2+json", digest, 401);
    assert_damaged(&layout, "malformed");
}

#[test]
fn descriptor_size_lies_are_caught_before_reading() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let digest = SINGLE_MANIFEST;
    repoint_first_entry(&layout, "application/vnd.oci.image.manifest.v1+json", digest, 1 << 40);
    assert_damaged(&layout, "limit");
    repoint_first_entry(&layout, "application/vnd.oci.image.manifest.v1+json", digest, 400);
    assert_damaged(&layout, "corrupt");
}

#[test]
fn upper_case_and_unknown_digests_are_rejected() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let upper = "sha256:2A4E26D6571939B711EDFAB19903A3B2D21380761848AB5D9A2C99FDB23A1ED3";
    repoint_first_entry(&layout, "application/vnd.oci.image.manifest.v1+json", upper, 401);
    assert_damaged(&layout, "index.json");
}

#[test]
fn deep_index_nesting_is_refused() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let mut child = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": SINGLE_MANIFEST, "size": 401,
        "platform": {"os": "linux", "architecture": "amd64"}});
    for _ in 0..12 {
        let body =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [child]});
        let (digest, size) = add_blob(&layout, body.to_string().as_bytes());
        child = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size});
    }
    repoint_first_entry(
        &layout,
        "application/vnd.oci.image.index.v1+json",
        child["digest"].as_str().unwrap(),
        child["size"].as_u64().unwrap() as usize,
    );
    assert_damaged(&layout, "nesting deeper than 8");
}

#[test]
fn signature_manifest_with_too_many_layers_fails_closed() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let mut index = index_json(&layout);
    let sig =
        index["manifests"].as_array().unwrap().iter().find(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or_default().ends_with(".sig")
        });
    let sig = sig.unwrap().clone();
    let hex = sig["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()).unwrap();
    let layer = manifest["layers"][0].clone();
    manifest["layers"] = Value::Array(vec![layer; 1001]);
    let (digest, size) = add_blob(&layout, manifest.to_string().as_bytes());
    for m in index["manifests"].as_array_mut().unwrap() {
        if m["digest"] == sig["digest"] {
            m["digest"] = json!(digest);
            m["size"] = json!(size);
        }
    }
    write(&layout.join("index.json"), &index.to_string());
    assert_damaged(&layout, "over the limit of 1000");
}

#[test]
fn skopeo_dir_without_manifest_is_missing() {
    let (_tmp, dir) = copy_fixture("dirs/single-signed");
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let out = airlock(["verify-archive", dir.to_str().unwrap(), "-p", KEY, "--reference", SINGLE]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains(": missing: "), "{}", out.describe());
}

#[test]
fn version_and_completions() {
    let out = airlock(["--version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")) && out.stdout.contains('('), "{}", out.describe());
    let out = airlock(["completions", "bash"]);
    assert!(out.code == 0 && out.stdout.contains("verify-archive"));
    let out = airlock(["man"]);
    assert!(out.code == 0 && out.stdout.contains(".TH"));
}

/// `airlock man SUBCOMMAND`: a page per subcommand with EXIT STATUS, EXAMPLES, ENVIRONMENT and FILES; the same
/// examples end its `--help`; an unknown subcommand is exit 2.
#[test]
fn man_pages_per_subcommand_and_help_examples() {
    for sub in ["verify-archive", "validate", "verify-blob", "list"] {
        let out = airlock(["man", sub]);
        assert_eq!(out.code, 0, "{sub}: {}", out.describe());
        assert!(out.stdout.contains(&format!(".TH airlock-{sub} 1")), "{sub}: {}", out.stdout);
        for section in
            ["NAME", "SYNOPSIS", "OPTIONS", "\"EXIT STATUS\"", "\"EXAMPLES\"", "\"ENVIRONMENT\"", "\"FILES\""]
        {
            assert!(out.stdout.contains(&format!(".SH {section}\n")), "{sub}: no {section}");
        }
        assert!(out.stdout.contains(&format!("airlock {sub} ")), "{sub}: examples name the subcommand");
        let help = airlock([sub, "--help"]);
        assert_eq!(help.code, 0, "{}", help.describe());
        assert!(help.stdout.contains("Examples:\n  airlock "), "{sub} --help: {}", help.stdout);
    }
    let out = airlock(["man", "nope"]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("man nope: no such subcommand"), "{}", out.describe());
}

#[test]
fn list_shows_what_a_source_holds() {
    let out = airlock(["list", "testdata/layouts/signed-multi-all", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["reference"], "registry.airlock.test/airlock/multi:v1");
    assert_eq!(v[0]["platforms"], serde_json::json!(["linux/amd64", "linux/arm64", "linux/arm/v7"]));
    // signatures on the index and on each platform manifest (signed-multi-all: all four)
    assert_eq!((v[0]["signatures"].as_u64(), v[0]["signatures_top"].as_u64()), (Some(4), Some(1)), "{}", out.stdout);
    assert_eq!(v[0]["path"], "testdata/layouts/signed-multi-all");
    // the table: a header, aligned columns, human sizes, short digests
    let out = airlock(["list", "testdata/layouts/signed-multi-all", "testdata/layouts/missing-blob"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.describe());
    let columns =
        |l: &str| -> Vec<String> { l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect() };
    assert_eq!(columns(lines[0]), ["REFERENCE", "DIGEST", "PLATFORMS", "SIZE", "SIGNATURES", "PATH", "PROBLEM"]);
    let multi = columns(lines[1]);
    assert_eq!(multi[0], "registry.airlock.test/airlock/multi:v1");
    assert_eq!(multi[1].len(), "sha256:".len() + 12, "{multi:?}");
    assert_eq!(multi[2], "linux/amd64,linux/arm64,linux/arm/v7");
    assert!(multi[3].ends_with(" KiB") || multi[3].ends_with(" B"), "{multi:?}");
    assert_eq!(multi[4], "4 (3 on platforms)");
    assert_eq!(multi[6], "-");
    // a missing blob is named in PROBLEM (list checks that blobs exist, reading none)
    assert!(lines[2].contains("missing: layer sha256:dfcaf402"), "{}", out.describe());
    let header_at = lines[0].find("PROBLEM").expect("PROBLEM");
    assert!(lines[2][header_at..].starts_with("missing:"), "aligned under its header: {}", out.describe());
}

#[test]
fn content_is_read_only_from_the_path_that_holds_the_image() {
    // signed-p256 has the layer that missing-blob lacks; signatures pool across PATHs, content does not
    let out = airlock(["verify-archive", "testdata/layouts/missing-blob", "testdata/layouts/signed-p256", "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains(": missing: "), "{}", out.describe());
    assert!(out.stdout.contains("1 passed, 1 failed"), "{}", out.describe());
}

#[test]
fn signatures_carried_in_another_path_count() {
    // unsigned holds the image, two-sigs-one-valid holds a valid .sig for the same digest and name
    let out =
        airlock(["verify-archive", "testdata/layouts/unsigned", "testdata/layouts/two-sigs-one-valid", "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("2 passed, 0 failed"), "{}", out.describe());
}

fn policy_file(dir: &Path, json: &str) -> String {
    let p = dir.join("policy.json");
    let key = crate::common::root().join(KEY);
    write(&p, &json.replace("KEY", key.to_str().unwrap()));
    p.display().to_string()
}

#[test]
fn a_containers_policy_decides_per_scope() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        r#"{"default":[{"type":"reject"}],"transports":{"docker":{
            "registry.airlock.test/airlock":[{"type":"sigstoreSigned","keyPath":"KEY"}],
            "registry.airlock.test/mirror":[{"type":"sigstoreSigned","keyPath":"KEY",
                "signedIdentity":{"type":"exactRepository","dockerRepository":"registry.airlock.test/airlock/single"}}],
            "registry.airlock.test/airlock/multi":[{"type":"insecureAcceptAnything"}]}}}"#,
    );
    let run = |layout: &str| airlock(["verify-archive", &format!("testdata/layouts/{layout}"), "--policy", &policy]);
    let expect = [
        ("signed-p256", "PASS"),
        ("unsigned", "unsigned"),
        // a policy requirement has plain matchRepoDigestOrExact: no repository-only extension, no bundles
        ("cosign-signed", "identity-mismatch"),
        ("bundle-v3", "identity-mismatch"),
        ("copied-repo", "PASS"),
        ("docker-io-identity", "bad-signature"),
        ("dockerlist-converted", "unsigned"),
        ("signed-multi-index-only", "PASS"),
    ];
    for (layout, want) in expect {
        let out = run(layout);
        let line = out.stdout.lines().find(|l| l.starts_with("PASS ") || l.starts_with("FAIL ")).unwrap_or_default();
        let ok = if want == "PASS" { line.starts_with("PASS ") } else { line.contains(&format!(": {want}: ")) };
        assert!(ok, "{layout}: expected {want}\n{}", out.describe());
    }
    // an accepting scope needs no signature at all
    let open = policy_file(dir.path(), r#"{"default":[{"type":"insecureAcceptAnything"}]}"#);
    let out = airlock(["verify-archive", "testdata/layouts/unsigned", "--policy", &open]);
    assert_eq!(out.code, 0, "{}", out.describe());
}

/// A stock RHEL/Fedora policy: GPG `signedBy` for Red Hat's registries parses, and fails only what it
/// governs (kind `error`); every other scope works.
#[test]
fn gpg_signed_by_fails_only_the_images_it_governs() {
    let dir = tempfile::tempdir().unwrap();
    let gpg = r#"[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}]"#;
    let policy = policy_file(
        dir.path(),
        &format!(
            r#"{{"default":[{{"type":"sigstoreSigned","keyPath":"{KEY}"}}],"transports":{{"docker":{{
            "registry.access.redhat.com":{gpg},"registry.redhat.io":{gpg}}}}}}}"#
        ),
    );
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "--policy", &policy]);
    assert_eq!(out.code, 0, "{}", out.describe());
    // a skopeo dir: copy has no name of its own: --reference names it into the GPG scope
    let out = airlock([
        "verify-archive",
        "testdata/dirs/single-signed",
        "--policy",
        &policy,
        "--reference",
        "registry.access.redhat.com/ubi9:latest",
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stdout.contains(
            ": error: policy scope \"registry.access.redhat.com\": GPG signedBy requirements are not supported"
        ),
        "{}",
        out.describe()
    );
}

#[test]
fn bad_policies_and_conflicting_trust_flags_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    // containers-image's words for each, after "invalid policy in FILE"
    for (json, why) in [
        (r#"{"default":[{"type":"sigstoreSigned","fulcio":{"caPath":"x"}}]}"#, "oidcIssuer not specified"),
        (r#"{"default":[{"type":"signedBy","keyType":"nope","keyPath":"x"}]}"#, "Unrecognized keyType value \"nope\""),
        (r#"{"default":[{"type":"insecureAcceptAnything"}],"extra":true}"#, "Unknown key \"extra\""),
        ("{", "EOF while parsing"),
    ] {
        let policy = policy_file(dir.path(), json);
        let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "--policy", &policy]);
        assert_eq!(out.code, 2, "{json}\n{}", out.describe());
        let said = format!("invalid policy in {policy}: {why}");
        assert!(out.stderr.contains(&said), "{json}: expected {said:?}\n{}", out.describe());
        assert!(out.stdout.is_empty(), "nothing verified, nothing printed as a result\n{}", out.describe());
    }
    let policy = policy_file(dir.path(), r#"{"default":[{"type":"insecureAcceptAnything"}]}"#);
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "--policy", &policy, "-p", KEY]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(
        out.stderr.contains("'--policy <POLICY>' cannot be used with '--sigstore-pubkey <KEYS>'"),
        "{}",
        out.describe()
    );
}
