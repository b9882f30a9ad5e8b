//! zarf packages: zarf's own test package (read in place from ../shared/interop/zarf), and packages written
//! here in zarf's layout by testdata/make_zarf.py from the signed-p256 layout, with zarf.bundle.sig made by
//! cosign 2.5 (testdata/make_zarf_signed.sh, committed in testdata/zarf/).

use crate::common::{Output, airlock, root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "testdata/keys/p256.pub";
const OTHER_KEY: &str = "testdata/keys/other.pub";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
/// signed-p256's one layer.
const LAYER: &str = "dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8";
const REAL: &str = "../shared/interop/zarf/zarf-package-test-amd64-0.0.1.tar.zst";

/// Packages written by make_zarf.py into a fresh folder: only those named.
fn packages(names: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(root().join("testdata/make_zarf.py"))
        .arg(dir.path())
        .args(names)
        .output()
        .expect("python3");
    assert!(out.status.success(), "make_zarf.py: {}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().to_path_buf();
    (dir, path)
}

fn verify(path: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify-archive".to_string(), path.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    airlock(args)
}

/// The report's damage entries as (kind, entry).
fn damage(out: &Output) -> Vec<(String, String)> {
    let report = out.report();
    let list = report["damage"].as_array().cloned().unwrap_or_default();
    list.iter().map(|d| (d["kind"].as_str().unwrap().to_string(), d["entry"].as_str().unwrap().to_string())).collect()
}

fn with_report(path: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--report", "-"];
    args.extend_from_slice(extra);
    verify(path, &args)
}

#[test]
fn zarfs_own_test_package_passes_its_image_named_as_zarf_names_it() {
    let real = root().join(REAL);
    assert!(real.is_file(), "{} is missing: the interop corpus must be there (SPEC §10)", real.display());
    let out = verify(&real, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let line = out.line_for("docker.io/library/alpine:3.20").unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(line.starts_with("PASS docker.io/library/alpine:3.20 (1 platform"), "{line}");
    assert!(out.stdout.contains("1 passed, 0 failed, signatures not checked"), "{}", out.describe());
    assert!(out.stderr.contains("zarf package test (zarf.yaml) is unsigned"), "{}", out.describe());
    let report = with_report(&real, &[]).report();
    assert_eq!(report["results"][0]["reference"], "docker.io/library/alpine:3.20");
    assert_eq!(report["damage"].as_array().map(Vec::len).unwrap_or(0), 0);
    let list = airlock(["list", real.to_str().unwrap(), "--format", "json"]);
    assert_eq!(list.code, 0, "{}", list.describe());
    let rows: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{}", list.stdout);
    assert_eq!(rows[0]["reference"], "docker.io/library/alpine:3.20");
}

#[test]
fn a_good_package_passes_with_its_image_signature_checked_and_its_signature_entry_not_listed() {
    let (_dir, dir) = packages(&["good.tar.zst", "good.tar"]);
    for name in ["good.tar.zst", "good.tar"] {
        let out = verify(&dir.join(name), &["-p", KEY]);
        assert_eq!(out.code, 0, "{name}: {}", out.describe());
        let line = out.line_for(SINGLE).unwrap();
        assert!(line.contains("signed by testdata/keys/p256.pub"), "{line}");
        assert!(out.stderr.contains("zarf package airlock-test (zarf.yaml) is unsigned"), "{}", out.describe());
        assert!(out.damage_line("").is_none(), "{}", out.describe());
    }
    let list = airlock(["list", dir.join("good.tar.zst").to_str().unwrap(), "--format", "json"]);
    let rows: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "the .sig entry is no image: {}", list.stdout);
    assert_eq!(rows[0]["reference"], SINGLE);
    assert_eq!(rows[0]["signatures"], 1, "{}", list.stdout);
}

#[test]
fn an_image_signed_by_another_key_fails_as_in_any_layout() {
    let (_dir, dir) = packages(&["good.tar.zst"]);
    let out = verify(&dir.join("good.tar.zst"), &["-p", OTHER_KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.line_for(SINGLE).unwrap().starts_with(&format!("FAIL {SINGLE}")), "{}", out.describe());
}

#[test]
fn a_flipped_byte_in_a_listed_component_is_corrupt_naming_the_file() {
    let (_dir, dir) = packages(&["tampered.tar.zst"]);
    let path = dir.join("tampered.tar.zst");
    let out = verify(&path, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line(path.to_str().unwrap()).unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(line.contains("corrupt: components/test.tar (checksums.txt): digest mismatch"), "{line}");
    assert_eq!(damage(&with_report(&path, &["-p", KEY])), [("corrupt".into(), "components/test.tar".into())]);
}

#[test]
fn a_flipped_byte_in_an_image_layer_fails_the_image_as_in_any_layout() {
    let (_dir, dir) = packages(&["tampered-layer.tar.zst"]);
    let path = dir.join("tampered-layer.tar.zst");
    let out = with_report(&path, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let report = out.report();
    let errors = &report["results"][0]["errors"];
    assert_eq!(errors[0]["kind"], "corrupt", "{errors}");
    assert_eq!(errors[0]["subject"], format!("images/blobs/sha256/{LAYER}"), "named as the package names it");
    assert_eq!(damage(&out), [], "reported once, by the image that holds the layer");
}

#[test]
fn a_file_checksums_txt_does_not_list_is_damage() {
    let (_dir, dir) = packages(&["extra.tar.zst"]);
    let path = dir.join("extra.tar.zst");
    let out = verify(&path, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.damage_line("").unwrap().contains("malformed: extra.txt: not listed in checksums.txt"),
        "{}",
        out.describe()
    );
    assert_eq!(damage(&with_report(&path, &["-p", KEY])), [("malformed".into(), "extra.txt".into())]);
}

#[test]
fn a_wrong_aggregate_checksum_is_damage_of_checksums_txt() {
    let (_dir, dir) = packages(&["aggregate.tar.zst"]);
    let path = dir.join("aggregate.tar.zst");
    let out = verify(&path, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line("").unwrap();
    assert!(line.contains("says aggregateChecksum 0000000000000000"), "{line}");
    assert_eq!(damage(&with_report(&path, &["-p", KEY])), [("malformed".into(), "checksums.txt".into())]);
}

#[test]
fn a_duplicate_key_in_zarf_yaml_is_damage() {
    let (_dir, dir) = packages(&["dupkey.tar.zst"]);
    let path = dir.join("dupkey.tar.zst");
    let out = verify(&path, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line("").unwrap();
    assert!(line.contains("malformed: zarf.yaml:") && line.contains("duplicate mapping key: name"), "{line}");
    assert_eq!(damage(&with_report(&path, &["-p", KEY])), [("malformed".into(), "zarf.yaml".into())]);
}

#[test]
fn checksum_lines_listing_a_path_twice_or_escaping_the_package_are_damage() {
    let (_dir, dir) = packages(&["listed-twice.tar.zst", "escaping.tar.zst"]);
    let out = verify(&dir.join("listed-twice.tar.zst"), &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.damage_line("").unwrap().contains("is listed again (first on line 1)"), "{}", out.describe());
    let out = verify(&dir.join("escaping.tar.zst"), &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line("").unwrap();
    assert!(line.contains("\"components/../sboms.tar\": a path with \"..\""), "{line}");
    let report = with_report(&dir.join("escaping.tar.zst"), &["-p", KEY]);
    assert_eq!(damage(&report), [("malformed".into(), "checksums.txt".into())]);
}

#[test]
fn a_split_package_is_read_from_its_header_and_its_parts_fold_into_it() {
    let (_dir, dir) = packages(&["split.tar.zst"]);
    let header = dir.join("split.tar.zst.part000");
    let parts: Vec<String> =
        (0..=3).map(|i| dir.join(format!("split.tar.zst.part{i:03}")).display().to_string()).collect();
    let mut args = vec!["verify-archive".to_string()];
    args.extend(parts.iter().cloned());
    args.extend(["-p".to_string(), KEY.to_string()]);
    let out = airlock(&args);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("1 passed, 0 failed"), "one package, not four sources: {}", out.describe());
    // a part missing: the header's count and bytes no longer add up
    std::fs::remove_file(dir.join("split.tar.zst.part003")).unwrap();
    let out = verify(&header, &["-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line(header.to_str().unwrap()).unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(line.contains("the header says 3 part(s), 2 found"), "{line}");
    // a data part on its own, without its header
    std::fs::remove_file(&header).unwrap();
    let out = verify(&dir.join("split.tar.zst.part001"), &[]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("split.tar.zst.part000"), "{}", out.describe());
}

#[test]
fn zarf_bundle_sig_made_by_cosign_is_verified_with_the_runs_key() {
    let (_dir, dir) = packages(&["signed.tar.zst"]);
    let path = dir.join("signed.tar.zst");
    let out = verify(&path, &["-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stderr.contains(
            "zarf.bundle.sig verified: zarf package airlock-test (zarf.yaml) signed by testdata/keys/p256.pub"
        ),
        "{}",
        out.describe()
    );
    // without a key the package signature cannot be checked, and the output says so
    let out = verify(&path, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stderr.contains("zarf.bundle.sig over zarf package airlock-test (zarf.yaml) not checked"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_package_signature_by_another_key_or_over_a_changed_zarf_yaml_is_damage() {
    let (_dir, dir) = packages(&["signed-other.tar.zst", "signed-tampered.tar.zst"]);
    for (name, why) in [
        ("signed-other.tar.zst", "does not verify with testdata/keys/p256.pub"),
        ("signed-tampered.tar.zst", "does not match the bundle"),
    ] {
        let path = dir.join(name);
        let out = verify(&path, &["-p", KEY]);
        assert_eq!(out.code, 1, "{name}: {}", out.describe());
        assert!(out.line_for(SINGLE).unwrap().starts_with("PASS"), "the image itself is fine: {}", out.describe());
        let line = out.damage_line(path.to_str().unwrap()).unwrap();
        assert!(line.contains("bad-signature: zarf.bundle.sig: the package signature") && line.contains(why), "{line}");
        assert_eq!(damage(&with_report(&path, &["-p", KEY])), [("bad-signature".into(), "zarf.bundle.sig".into())]);
    }
}
