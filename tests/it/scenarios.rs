//! The signed fixtures of `testdata/` (see `testdata/FIXTURES.md`) run through `airlock verify-archive`:
//! each row is one accept/reject rule, asserted on the exit status and the image's PASS/FAIL line.

use crate::common::airlock;

const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";

/// `expect`: `PASS` or the failure kind that must appear on the FAIL line.
struct Case {
    args: &'static str,
    image: &'static str,
    expect: &'static str,
}

const fn case(args: &'static str, image: &'static str, expect: &'static str) -> Case {
    Case { args, image, expect }
}

const CASES: &[Case] = &[
    // valid signature, scopes, explicit identity types
    case("layouts/signed-p256 -p keys/p256.pub", SINGLE, "PASS"),
    case("layouts/signed-p256", SINGLE, "PASS"),
    case("layouts/signed-p256 -p keys/p256.pub --signature-scope platform", SINGLE, "PASS"),
    case("layouts/signed-p256 -p keys/p256.pub --signature-scope all", SINGLE, "PASS"),
    case("layouts/signed-p256 -p keys/p256.pub --signed-identity match-repo-digest-or-exact", SINGLE, "PASS"),
    case("layouts/signed-p256 -p keys/p256.pub --signed-identity match-exact", SINGLE, "PASS"),
    case("layouts/signed-p256 -p keys/p256.pub --signed-identity match-repository", SINGLE, "PASS"),
    case(
        "layouts/signed-p256 -p keys/p256.pub --signed-identity exact-reference:registry.airlock.test/airlock/single:v1",
        SINGLE,
        "PASS",
    ),
    case(
        "layouts/signed-p256 -p keys/p256.pub --signed-identity exact-reference:registry.airlock.test/airlock/single:v2",
        SINGLE,
        "identity-mismatch",
    ),
    case(
        "layouts/signed-p256 -p keys/p256.pub --signed-identity exact-repository:registry.airlock.test/airlock/single",
        SINGLE,
        "PASS",
    ),
    case("layouts/signed-p256 -p keys/p256.pub --arch arm64", SINGLE, "platform-missing"),
    // keys: wrong key, any-one-of, every key type
    case("layouts/signed-p256 -p keys/other.pub", SINGLE, "bad-signature"),
    case("layouts/signed-p256 -p keys/p384.pub", SINGLE, "bad-signature"),
    case("layouts/signed-p256 -p keys/rsa.pub", SINGLE, "bad-signature"),
    case("layouts/signed-p256 -p keys/ed25519.pub", SINGLE, "bad-signature"),
    case("layouts/signed-p256 -p keys/other.pub -p keys/p256.pub", SINGLE, "PASS"),
    case("layouts/signed-p384 -p keys/p384.pub", SINGLE, "PASS"),
    case("layouts/signed-p384 -p keys/p256.pub", SINGLE, "bad-signature"),
    case("layouts/signed-rsa -p keys/rsa.pub", SINGLE, "PASS"),
    case("layouts/signed-rsa -p keys/p256.pub", SINGLE, "bad-signature"),
    case("layouts/signed-ed25519 -p keys/ed25519.pub", SINGLE, "PASS"),
    case("layouts/signed-ed25519 -p keys/p256.pub", SINGLE, "bad-signature"),
    case("layouts/signed-layers3 -p keys/p256.pub", LAYERS3, "PASS"),
    case("layouts/signed-layers3 -p keys/other.pub", LAYERS3, "bad-signature"),
    // Rekor required but absent
    case("layouts/signed-p256 -p keys/p256.pub --rekor-pubkey keys/other.pub", SINGLE, "bad-signature"),
    // multi-arch: scopes and platforms
    case("layouts/signed-multi-all -p keys/p256.pub", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --signature-scope platform", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --signature-scope all", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --arch arm/v7", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --arch amd64,arm64,arm/v7", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --arch s390x", MULTI, "platform-missing"),
    case("layouts/signed-multi-all -p keys/p256.pub --arch amd64,s390x", MULTI, "PASS"),
    case("layouts/signed-multi-all -p keys/p256.pub --arch amd64,s390x --require-platforms", MULTI, "platform-missing"),
    case("layouts/signed-multi-index-only -p keys/p256.pub", MULTI, "PASS"),
    case("layouts/signed-multi-index-only -p keys/p256.pub --signature-scope platform", MULTI, "unsigned"),
    case("layouts/signed-multi-index-only -p keys/p256.pub --signature-scope all", MULTI, "unsigned"),
    case("layouts/signed-multi-per-platform -p keys/p256.pub", MULTI, "PASS"),
    case("layouts/signed-multi-per-platform -p keys/p256.pub --signature-scope platform", MULTI, "PASS"),
    case("layouts/signed-multi-per-platform -p keys/p256.pub --signature-scope all", MULTI, "unsigned"),
    // Docker manifest list in a dir:, and its digest-changing conversion
    case(
        "dirs/dockerlist-signed -p keys/p256.pub --reference registry.airlock.test/airlock/dockerlist:v1",
        "registry.airlock.test/airlock/dockerlist:v1",
        "PASS",
    ),
    case(
        "dirs/dockerlist-signed -p keys/p256.pub --reference registry.airlock.test/airlock/dockerlist:v1 --signature-scope all",
        "registry.airlock.test/airlock/dockerlist:v1",
        "PASS",
    ),
    case("dirs/dockerlist-signed -p keys/p256.pub", "testdata/dirs/dockerlist-signed", "identity-mismatch"),
    case(
        "dirs/dockerlist-signed -p keys/p256.pub --reference registry.airlock.test/airlock/other:v1",
        "registry.airlock.test/airlock/other:v1",
        "identity-mismatch",
    ),
    case("dirs/dockerlist-signed", "testdata/dirs/dockerlist-signed", "PASS"),
    case("layouts/dockerlist-converted -p keys/p256.pub", "registry.airlock.test/airlock/dockerlist:v1", "unsigned"),
    case("layouts/dockerlist-converted", "registry.airlock.test/airlock/dockerlist:v1", "PASS"),
    // cosign: repository-only identity, cosign save
    case("layouts/cosign-signed -p keys/p256.pub", SINGLE, "PASS"),
    case(
        "layouts/cosign-signed -p keys/p256.pub --signed-identity match-repo-digest-or-exact",
        SINGLE,
        "identity-mismatch",
    ),
    case("layouts/cosign-signed -p keys/p256.pub --signed-identity match-exact", SINGLE, "identity-mismatch"),
    case("layouts/cosign-signed -p keys/p256.pub --signed-identity match-repository", SINGLE, "PASS"),
    case(
        "layouts/cosign-signed -p keys/p256.pub --exact-repository registry.airlock.test/airlock/single",
        SINGLE,
        "PASS",
    ),
    case("layouts/cosign-save -p keys/p256.pub --reference registry.airlock.test/airlock/single:v1", SINGLE, "PASS"),
    case("layouts/cosign-save -p keys/p256.pub", "testdata/layouts/cosign-save", "identity-mismatch"),
    case(
        "layouts/cosign-save -p keys/p256.pub --reference registry.airlock.test/airlock/other:v1",
        "registry.airlock.test/airlock/other:v1",
        "identity-mismatch",
    ),
    case("layouts/cosign-save", "testdata/layouts/cosign-save", "PASS"),
    // docker.io identity
    case("layouts/docker-io-identity -p keys/p256.pub", "docker.io/library/airlocktest:v1", "PASS"),
    // two signatures, one valid
    case("layouts/two-sigs-one-valid -p keys/p256.pub", SINGLE, "PASS"),
    case("layouts/two-sigs-one-valid -p keys/other.pub", SINGLE, "PASS"),
    case("layouts/two-sigs-one-valid -p keys/p384.pub", SINGLE, "bad-signature"),
    // cosign v3 bundles
    case("layouts/bundle-v3 -p keys/p256.pub", SINGLE, "PASS"),
    case(
        "layouts/bundle-v3 -p keys/p256.pub --signed-identity match-repo-digest-or-exact",
        SINGLE,
        "identity-mismatch",
    ),
    case("layouts/bundle-v3 -p keys/other.pub", SINGLE, "bad-signature"),
    case("layouts/bundle-v3 -p keys/p256.pub --rekor-pubkey keys/other.pub", SINGLE, "bad-signature"),
    case("layouts/bundle-v3-tagged -p keys/p256.pub", SINGLE, "PASS"),
    case(
        "layouts/bundle-v3-tagged -p keys/p256.pub --signed-identity match-repo-digest-or-exact",
        SINGLE,
        "identity-mismatch",
    ),
    // dir: directories
    case("dirs/multi-signed -p keys/p256.pub --reference registry.airlock.test/airlock/multi:v1", MULTI, "PASS"),
    case(
        "dirs/multi-signed -p keys/p256.pub --reference registry.airlock.test/airlock/multi:v1 --signature-scope all",
        MULTI,
        "PASS",
    ),
    case("dirs/multi-signed -p keys/p256.pub", "testdata/dirs/multi-signed", "identity-mismatch"),
    case("dirs/single-signed -p keys/p256.pub --reference registry.airlock.test/airlock/single:v1", SINGLE, "PASS"),
    case(
        "dirs/single-signed -p keys/other.pub --reference registry.airlock.test/airlock/single:v1",
        SINGLE,
        "bad-signature",
    ),
    // negative: unsigned, tampered, replayed, copied
    case("layouts/unsigned -p keys/p256.pub", SINGLE, "unsigned"),
    case("layouts/unsigned", SINGLE, "PASS"),
    case("layouts/tampered-signature -p keys/p256.pub", SINGLE, "bad-signature"),
    case("layouts/tampered-signature", SINGLE, "PASS"),
    case("layouts/tampered-payload -p keys/p256.pub", SINGLE, "bad-signature"),
    case("layouts/tampered-payload", SINGLE, "PASS"),
    case("layouts/replayed-signature -p keys/p256.pub", LAYERS3, "bad-signature"),
    case("layouts/replayed-signature", LAYERS3, "PASS"),
    case("layouts/copied-repo -p keys/p256.pub", "registry.airlock.test/mirror/single:v1", "identity-mismatch"),
    case(
        "layouts/copied-repo -p keys/p256.pub --exact-repository registry.airlock.test/airlock/single",
        "registry.airlock.test/mirror/single:v1",
        "PASS",
    ),
    case(
        "layouts/copied-repo -p keys/p256.pub --signed-identity remap:registry.airlock.test/mirror=registry.airlock.test/airlock",
        "registry.airlock.test/mirror/single:v1",
        "PASS",
    ),
    // negative: damaged content
    case("layouts/corrupt-layer -p keys/p256.pub", SINGLE, "corrupt"),
    case("layouts/corrupt-layer", SINGLE, "corrupt"),
    case("layouts/corrupt-layer -p keys/p256.pub --blobs skip", SINGLE, "PASS"),
    case("layouts/missing-blob -p keys/p256.pub", SINGLE, "missing"),
    case("layouts/missing-blob", SINGLE, "missing"),
    case("layouts/size-mismatch -p keys/p256.pub", SINGLE, "corrupt"),
    case("layouts/size-mismatch", SINGLE, "corrupt"),
    case("layouts/multi-corrupt-arm64 -p keys/p256.pub", MULTI, "corrupt"),
    case("layouts/multi-corrupt-arm64 -p keys/p256.pub --arch arm64", MULTI, "corrupt"),
    case("layouts/multi-corrupt-arm64 -p keys/p256.pub --arch amd64 --blobs skip", MULTI, "PASS"),
];

/// Splits a case's arguments, prefixing `testdata/` to fixture and key paths.
fn args(case: &Case) -> Vec<String> {
    let mut out = vec!["verify-archive".to_string()];
    for a in case.args.split_whitespace() {
        if a.starts_with("layouts/") || a.starts_with("dirs/") || a.starts_with("keys/") {
            out.push(format!("testdata/{a}"));
        } else {
            out.push(a.to_string());
        }
    }
    out
}

#[test]
fn every_fixture_rule() {
    let mut failures = Vec::new();
    for case in CASES {
        let out = airlock(args(case));
        let line = out.line_for(case.image);
        let ok = match (case.expect, line) {
            ("PASS", Some(l)) => l.starts_with("PASS ") && out.code == 0,
            (kind, Some(l)) => l.starts_with("FAIL ") && l.contains(&format!(": {kind}: ")) && out.code == 1,
            (_, None) => false,
        };
        if !ok {
            failures.push(format!("airlock {}\n  expected {}\n{}", args(case).join(" "), case.expect, out.describe()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
    println!("{} fixture cases agree", CASES.len());
}

#[test]
fn unreferenced_damage_fails_the_run_even_when_the_image_passes() {
    let out = airlock([
        "verify-archive",
        "testdata/layouts/multi-corrupt-arm64",
        "-p",
        "testdata/keys/p256.pub",
        "--arch",
        "amd64",
    ]);
    assert!(out.line_for(MULTI).is_some_and(|l| l.starts_with("PASS ")), "{}", out.describe());
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stdout.contains("7928c1da58aed58a9b479c1f09f7d43d5baa6a8f9d4c99f1a46c977d3b3c66a9"),
        "{}",
        out.describe()
    );
}

#[test]
fn integrity_only_runs_say_so() {
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("1 passed, 0 failed, signatures not checked"), "{}", out.describe());
    let out =
        airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", "testdata/keys/p256.pub", "--blobs", "skip"]);
    assert!(out.stdout.contains("blobs not checked"), "{}", out.describe());
    // existence alone is not "checked": the lines and the report say which it was
    let report = std::env::temp_dir().join(format!("airlock-exist-{}.json", std::process::id()));
    let r = report.to_str().unwrap();
    let args = ["verify-archive", "testdata/layouts/signed-p256", "-p", "testdata/keys/p256.pub", "--blobs", "exist"];
    let out = airlock(args.into_iter().chain(["--report", r]));
    assert!(out.stdout.contains("1 passed, 0 failed, blobs: existence only"), "{}", out.describe());
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    std::fs::remove_file(&report).unwrap();
    assert_eq!(value["blobs_checked"], false, "{value}");
    assert_eq!(value["mode"]["blobs"], "exist", "{value}");
}

#[test]
fn pass_line_names_platforms_and_key() {
    let out = airlock(["verify-archive", "testdata/layouts/signed-multi-all", "-p", "testdata/keys/p256.pub"]);
    let line = out.line_for(MULTI).unwrap_or_default().to_string();
    assert!(line.contains("(2 platforms, signed by testdata/keys/p256.pub)"), "{}", out.describe());
}

#[test]
fn several_signatures_report_every_reason() {
    let out = airlock(["verify-archive", "testdata/layouts/two-sigs-one-valid", "-p", "testdata/keys/p384.pub"]);
    assert!(out.stdout.contains("None of the signatures were accepted, reasons:"), "{}", out.describe());
}

#[test]
fn replayed_signature_names_the_digest() {
    let out = airlock(["verify-archive", "testdata/layouts/replayed-signature", "-p", "testdata/keys/p256.pub"]);
    assert!(
        out.stdout.contains(
            "Signature for digest sha256:2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3 does not match"
        ),
        "{}",
        out.describe()
    );
}

/// A `corrupt` finding carries what it is about and the expected and actual size or digest as data, in
/// the image's errors and in source damage alike.
#[test]
fn corrupt_findings_carry_the_mismatch_as_data() {
    let layer = "sha256:7928c1da58aed58a9b479c1f09f7d43d5baa6a8f9d4c99f1a46c977d3b3c66a9";
    let content = "sha256:8cc465ef0bde07060ec4890b7e9dcd78b2730d708b7155e7f87c95a330982d86";
    let blob = format!("blobs/sha256/{}", &layer[7..]);
    let out = airlock(["verify-archive", "testdata/layouts/multi-corrupt-arm64", "--report", "-"]);
    let report = out.report();
    let errors = &report["results"][0]["errors"];
    assert_eq!(errors[0]["kind"], "corrupt", "{}", out.describe());
    assert_eq!(errors[0]["subject"], blob.as_str());
    assert_eq!(errors[0]["mismatch"], serde_json::json!({"field": "digest", "expected": layer, "actual": content}));

    // the same blob when no selected platform names it: source damage, with the same data
    let out = airlock(["verify-archive", "testdata/layouts/multi-corrupt-arm64", "--arch", "amd64", "--report", "-"]);
    let report = out.report();
    let damage = report["damage"].as_array().unwrap();
    let d = damage.iter().find(|d| d["entry"] == blob.as_str()).expect("damage for the layer");
    assert_eq!(d["mismatch"], serde_json::json!({"field": "digest", "expected": layer, "actual": content}));

    // a file 16 bytes longer than its descriptor: both sizes
    let out = airlock(["verify-archive", "testdata/layouts/size-mismatch", "--report", "-"]);
    let report = out.report();
    let e = &report["results"][0]["errors"][0];
    assert_eq!(e["kind"], "corrupt", "{}", out.describe());
    assert_eq!(e["mismatch"], serde_json::json!({"field": "size", "expected": 270, "actual": 286}));
}

#[test]
fn the_report_records_the_list_and_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    let text = "registry.airlock.test/airlock/single:v1\n";
    std::fs::write(&list, text).unwrap();
    let report = dir.path().join("r.json");
    let out = airlock([
        "verify-archive",
        "testdata/layouts/signed-p256",
        "-p",
        "testdata/keys/p256.pub",
        "-f",
        list.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(value["list"]["path"], list.to_str().unwrap(), "{value}");
    assert_eq!(value["list"]["sha256"], crate::common::sha256_hex(text.as_bytes()), "{value}");
    let keys: Vec<&String> = value.as_object().unwrap().keys().take(3).collect();
    assert_eq!(keys, ["tool", "version", "time"], "the audit record starts with what made it");
}
