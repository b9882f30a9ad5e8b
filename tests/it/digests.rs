//! `--digests FILE` (SPEC §1): a Rancher-style digests list (`REF DIGEST`, and `REF@DIGEST`) against the
//! example bundle: the right digests pass, a name listed with another build's digest is `digest-mismatch`
//! (expected and actual as data), a listed image the bundle lacks is `missing`, and a bad line is exit 2.

use crate::common::airlock;
use serde_json::Value;

const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";
const MULTI_DIGEST: &str = "sha256:c615253fdc438be0ff7cb0774335f4e0e29ca143525c53c6432ef7808f897163";
const SINGLE_DIGEST: &str = "sha256:2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";
const LAYERS3_DIGEST: &str = "sha256:8c1517ac2658c86e2199c549989832f931d8cd6df0ecfa5cba683a5bd2a929e4";
const BUNDLE: &str = "testdata/examples/bundle";
const KEY: &str = "testdata/examples/sigstore.pub";

fn result<'a>(report: &'a Value, reference: &str) -> &'a Value {
    report["results"].as_array().unwrap().iter().find(|r| r["reference"] == reference).expect(reference)
}

fn write(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("rancher-images-digests-linux-amd64.txt");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn listed_digests_pass_and_another_build_under_the_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    let other = format!("sha256:{}", "e".repeat(64));
    let file = write(
        &dir,
        &format!(
            "{MULTI} {MULTI_DIGEST}\n{SINGLE}@{SINGLE_DIGEST}\n{LAYERS3} {other}\n\
             registry.airlock.test/airlock/absent:v2 {SINGLE_DIGEST}\n"
        ),
    );
    let out = airlock(["verify-archive", BUNDLE, "-p", KEY, "--digests", &file, "--report", "-"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let report = out.report();
    assert_eq!(result(&report, MULTI)["status"], "pass", "{}", out.describe());
    assert_eq!(result(&report, SINGLE)["status"], "pass", "{}", out.describe());
    let bad = &result(&report, LAYERS3)["errors"][0];
    assert_eq!(bad["kind"], "digest-mismatch", "{bad}");
    assert_eq!(bad["mismatch"]["expected"], other.as_str(), "{bad}");
    assert_eq!(bad["mismatch"]["actual"], LAYERS3_DIGEST, "{bad}");
    assert!(bad["message"].as_str().unwrap().contains("rancher-images-digests-linux-amd64.txt:3 lists"), "{bad}");
    let absent = &result(&report, "registry.airlock.test/airlock/absent:v2")["errors"][0];
    assert_eq!(absent["kind"], "missing", "{absent}");
    assert!(absent["message"].as_str().unwrap().contains("digests-linux-amd64.txt:4, not in the source"), "{absent}");
    assert!(out.stderr.contains("FAIL registry.airlock.test/airlock/layers3:v1: digest-mismatch: "), "{}", out.stderr);
    assert_eq!(report["summary"]["failed"], 2, "{}", out.describe());
}

#[test]
fn with_a_list_only_its_images_are_checked_and_unlisted_ones_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let file =
        write(&dir, &format!("{SINGLE} {SINGLE_DIGEST}\nregistry.airlock.test/airlock/absent:v2 {SINGLE_DIGEST}\n"));
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{SINGLE}\n{MULTI}\n")).unwrap();
    let args = ["verify-archive", BUNDLE, "-p", KEY, "--digests", &file, "-f", list.to_str().unwrap(), "--report", "-"];
    let out = airlock(args);
    assert_eq!(out.code, 0, "{}", out.describe());
    let report = out.report();
    assert_eq!(report["summary"]["passed"], 2, "{}", out.describe());
    let notes = result(&report, MULTI)["notes"].to_string();
    assert!(notes.contains("not listed in --digests"), "{notes}");
}

#[test]
fn a_bad_digests_line_is_exit_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, &format!("{SINGLE} {SINGLE_DIGEST}\n{MULTI} sha256:1234\n"));
    let out = airlock(["verify-archive", BUNDLE, "--digests", &file]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(
        out.stderr.contains("rancher-images-digests-linux-amd64.txt:2: sha256:1234: not a sha256"),
        "{}",
        out.stderr
    );
    let file =
        write(&dir, &format!("{SINGLE} {SINGLE_DIGEST}\nregistry.airlock.test/airlock/single:v1 {MULTI_DIGEST}\n"));
    let out = airlock(["verify-archive", BUNDLE, "--digests", &file]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(
        out.stderr.contains(":2: registry.airlock.test/airlock/single:v1 is also listed on line 1"),
        "{}",
        out.stderr
    );
}
