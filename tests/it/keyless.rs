//! Keyless-signed images (SPEC §6.6): cosign v3 referrer bundles made by the private sigstore instance of
//! `testdata/make_keyless.py` (a Fulcio-like CA, a CT log, Rekor v1 and v2 logs, an RFC 3161 TSA), each with the
//! verdict sigstore-python 4.5 gave it (`testdata/keyless/verdicts.tsv`). airlock must agree with every verdict,
//! for the reason the fixture was built to show, in a layout, in every archive form and in a registry.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::registry::{Mode, Registry, push_layout};
use crate::common::{Output, airlock, copy_dir, root, sha256_hex};

const IDENTITY: &str = "https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main";
const EMAIL: &str = "signer@airlock.test";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const IMAGE_DIGEST: &str = "sha256:2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";

/// Why each failing fixture fails: airlock's reason kind and a fragment of its message.
const REASONS: &[(&str, &str, &str)] = &[
    ("keyless-wrong-san", "identity-mismatch", "the certificate's identity"),
    ("keyless-wrong-issuer", "identity-mismatch", "OIDC issuer \"https://oidc.airlock.test\" does not match"),
    ("keyless-ca-outside-window", "bad-signature", "no certificate authority"),
    ("keyless-expired-at-signing", "bad-signature", "CertExpired"),
    ("keyless-entry-other-data", "bad-signature", "transparency log entry does not match the bundle"),
    ("keyless-proof-other-data", "bad-signature", "inclusion proof does not verify"),
    ("keyless-checkpoint-other-tree", "bad-signature", "the checkpoint is for another tree"),
    ("keyless-untrusted-tsa", "bad-signature", "not signed by a trusted timestamp authority"),
    ("keyless-subject-not-image", "bad-signature", "does not match the bundle"),
];

struct Verdict {
    fixture: String,
    expected: String,
    peer: String,
}

fn keyless() -> PathBuf {
    root().join("testdata/keyless")
}

fn verdicts() -> Vec<Verdict> {
    let text = std::fs::read_to_string(keyless().join("verdicts.tsv")).expect("verdicts.tsv");
    let rows: Vec<Verdict> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Verdict { fixture: f[0].into(), expected: f[1].into(), peer: f[2].into() }
        })
        .collect();
    assert_eq!(rows.len(), 12, "verdicts.tsv lists the 12 fixtures");
    rows
}

/// The trust flags a fixture is checked with: its trusted root and the identity it was meant for.
fn trust(fixture: &str) -> Vec<String> {
    let root = if fixture == "keyless-ca-outside-window" { "roots/ca-late.json" } else { "trusted_root.json" };
    let identity = if fixture == "keyless-email" { EMAIL } else { IDENTITY };
    vec![
        "--trusted-root".into(),
        keyless().join(root).display().to_string(),
        "--certificate-identity".into(),
        identity.into(),
        "--certificate-oidc-issuer".into(),
        ISSUER.into(),
    ]
}

/// The one image's result must be the fixture's verdict, for its reason; a PASS shows its evidence.
fn judge(fixture: &str, expected: &str, out: &Output) -> Result<(), String> {
    let report = out.report();
    let image = &report["results"][0];
    let status = image["status"].as_str().unwrap_or("?");
    if expected == "pass" {
        if out.code != 0 || status != "pass" {
            return Err(format!("must pass: {}", out.describe()));
        }
        let sigstore = &image["platforms"][0]["signature"]["sigstore"];
        let identity = if fixture == "keyless-email" { EMAIL } else { IDENTITY };
        let evidence_ok = sigstore["certificate_identity"] == identity
            && sigstore["certificate_issuer"] == ISSUER
            && sigstore["log_indexes"].as_array().is_some_and(|l| l.len() == 1)
            && sigstore["timestamps"].as_array().is_some_and(|t| !t.is_empty());
        return if evidence_ok { Ok(()) } else { Err(format!("evidence missing from the report: {image:#}")) };
    }
    let (_, kind, reason) =
        REASONS.iter().find(|(f, _, _)| *f == fixture).ok_or("a failing fixture without an expected reason")?;
    let text = image.to_string();
    if out.code == 1
        && status == "fail"
        && text.contains(&format!("\"{kind}\""))
        && text.contains(&reason.replace('"', "\\\""))
    {
        Ok(())
    } else {
        Err(format!("must fail {kind} ({reason}): {}", out.describe()))
    }
}

fn verify_archive(path: &Path, fixture: &str) -> Output {
    let mut args = vec!["verify-archive".to_string(), path.display().to_string(), "--report".into(), "-".into()];
    args.extend(trust(fixture));
    airlock(args)
}

#[test]
fn every_fixture_agrees_with_its_sigstore_python_verdict() {
    let mut wrong = Vec::new();
    for v in verdicts() {
        assert_eq!(v.expected, v.peer, "{}: the recorded peer verdict must be the intended one", v.fixture);
        let out = verify_archive(&keyless().join("layouts").join(&v.fixture), &v.fixture);
        if let Err(e) = judge(&v.fixture, &v.expected, &out) {
            wrong.push(format!("{}: {e}", v.fixture));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

/// The same bundles, alone, through `verify-blob` against the image digest: the same verdicts.
#[test]
fn every_bundle_agrees_through_verify_blob() {
    for v in verdicts() {
        let bundle = keyless().join("bundles").join(format!("{}.sigstore.json", v.fixture));
        let mut args = vec!["verify-blob".to_string(), "--bundle".into(), bundle.display().to_string()];
        args.extend(trust(&v.fixture));
        args.push(IMAGE_DIGEST.into());
        let out = airlock(&args);
        let want = if v.expected == "pass" { 0 } else { 1 };
        assert_eq!(out.code, want, "{}: {}", v.fixture, out.describe());
    }
}

/// A keyless bundle is found and verified in every source kind: tar, tar.gz, tar.zst and split hauls.
#[test]
fn keyless_images_pass_in_every_archive_form() {
    for fixture in ["keyless-rekor1", "keyless-rekor2-tsa"] {
        for (form, path) in crate::archives::forms(&keyless().join("layouts").join(fixture)) {
            let out = verify_archive(&path, fixture);
            judge(fixture, "pass", &out).unwrap_or_else(|e| panic!("{fixture} as {form}: {e}"));
        }
    }
    let (form, path) = crate::archives::forms(&keyless().join("layouts/keyless-wrong-san")).remove(3);
    let out = verify_archive(&path, "keyless-wrong-san");
    judge("keyless-wrong-san", "fail", &out).unwrap_or_else(|e| panic!("keyless-wrong-san as {form}: {e}"));
}

/// A copy of a keyless layout with cosign's referrers fallback tag (`sha256-<hex>` → an index of the
/// referrers), which is how a registry without the referrers API (distribution 2.8) holds them.
fn with_fallback_tag(fixture: &str, dir: &Path) -> PathBuf {
    let layout = dir.join(fixture);
    copy_dir(&keyless().join("layouts").join(fixture), &layout);
    let blobs = layout.join("blobs/sha256");
    let referrer = std::fs::read_dir(&blobs)
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .find_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let v: Value = serde_json::from_slice(&bytes).ok()?;
            (v["subject"]["digest"] == IMAGE_DIGEST).then_some(bytes)
        })
        .expect("the referrer manifest");
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "digest": format!("sha256:{}", sha256_hex(&referrer)), "size": referrer.len()}]})
    .to_string();
    std::fs::write(blobs.join(sha256_hex(index.as_bytes())), &index).expect("write index");
    let mut top: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index")).expect("json");
    let tag = format!("registry.airlock.test/airlock/single:{}", IMAGE_DIGEST.replace(':', "-"));
    top["manifests"].as_array_mut().expect("manifests").push(serde_json::json!({
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": format!("sha256:{}", sha256_hex(index.as_bytes())),
        "size": index.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}));
    std::fs::write(layout.join("index.json"), top.to_string()).expect("write index.json");
    layout
}

/// After import: the same keyless verdicts from a real registry (`validate`), through the fallback tag.
#[test]
fn keyless_images_in_a_registry_agree_with_the_layout() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().expect("tempdir");
    for fixture in ["keyless-rekor1", "keyless-rekor2-tsa", "keyless-wrong-issuer", "keyless-subject-not-image"] {
        let layout = with_fallback_tag(fixture, tmp.path());
        push_layout(&reg, &layout, |_| format!("{fixture}/single"));
        let list = tmp.path().join(format!("{fixture}.txt"));
        std::fs::write(&list, format!("{}/{fixture}/single:v1\n", reg.addr)).expect("list");
        let failed = tmp.path().join(format!("{fixture}-failed.txt"));
        let mut args: Vec<String> =
            ["validate", "--tls-verify=false", "--report", "-", "-f"].map(String::from).to_vec();
        args.extend([list.display().to_string(), "-o".into(), failed.display().to_string()]);
        args.extend(trust(fixture));
        let out = airlock(&args);
        let expected = if fixture.ends_with("rekor1") || fixture.ends_with("tsa") { "pass" } else { "fail" };
        judge(fixture, expected, &out).unwrap_or_else(|e| panic!("{fixture} in the registry: {e}"));
        // hangar's failed list holds exactly the failed line
        let listed = std::fs::read_to_string(&failed).unwrap_or_default();
        let want = if expected == "fail" { format!("{}/{fixture}/single:v1\n", reg.addr) } else { String::new() };
        assert_eq!(listed, want, "{fixture}: the failed list");
    }
}

/// Why each failing `.sig` fixture fails (containers-image's words where it has them).
const SIG_REASONS: &[(&str, &str)] = &[
    ("sig-keyless-wrong-san", "not found (the certificate names"),
    ("sig-keyless-expired", "CertExpired"),
    ("sig-keyless-set-other-sig", "signature in Rekor SET does not match"),
    ("sig-keyless-no-set", "missing dev.sigstore.cosign/bundle annotation"),
];

/// Old-style `.sig` keyless signatures (certificate, chain and SET annotations) from the same private
/// instance (`testdata/make_keyless_sig.py`), each with the verdict cosign 2.5 gave it (`sig-verdicts.tsv`).
#[test]
fn sig_fixtures_agree_with_their_cosign_verdict() {
    let text = std::fs::read_to_string(keyless().join("sig-verdicts.tsv")).expect("sig-verdicts.tsv");
    let rows: Vec<Vec<&str>> = text.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 5, "sig-verdicts.tsv lists the 5 .sig fixtures");
    for row in rows {
        let (fixture, expected, peer) = (row[0], row[1], row[2]);
        assert_eq!(expected, peer, "{fixture}: the recorded peer verdict must be the intended one");
        let out = verify_archive(&keyless().join("sig-layouts").join(fixture), "keyless-rekor1");
        let line = out.line_for("registry.airlock.test/airlock/single:v1").unwrap_or_default().to_string();
        if expected == "pass" {
            assert_eq!(out.code, 0, "{fixture}: {}", out.describe());
            continue;
        }
        let reason = SIG_REASONS.iter().find(|(f, _)| *f == fixture).map(|(_, r)| *r).expect("a reason");
        assert_eq!(out.code, 1, "{fixture}: {}", out.describe());
        assert!(
            line.contains("bad-signature") && line.contains(reason),
            "{fixture}: want {reason:?}: {}",
            out.describe()
        );
    }
}
