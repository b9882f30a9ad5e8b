//! Real-world signatures from `../shared/interop/` (cosign and containers-image fixtures) with the
//! outcomes their authors' tests expect: every `mode=key` and `mode=key+rekor` row of `cases.tsv` runs
//! through airlock.
//! The files are read in place, never copied into this repository.

use crate::common::airlock;
use std::path::PathBuf;

/// The shared corpus, read in place: a test that needs it fails (never skips) when it is absent.
fn interop_dir() -> PathBuf {
    let dir = crate::common::root().join("../shared/interop");
    assert!(
        dir.join("cases.tsv").is_file(),
        "{} is missing: the interop tests read the shared corpus in place (SPEC §10)",
        dir.display()
    );
    dir
}

/// containers-image's policy spelling → airlock's `--signed-identity`.
fn identity_flag(spec: &str) -> String {
    if let Some(r) = spec.strip_prefix("exactReference:") {
        return format!("exact-reference:{r}");
    }
    if let Some(r) = spec.strip_prefix("exactRepository:") {
        return format!("exact-repository:{r}");
    }
    if let Some(r) = spec.strip_prefix("remapIdentity:") {
        return format!("remap:{}", r.replacen("->", "=", 1));
    }
    match spec {
        "matchRepository" => "match-repository",
        "matchExact" => "match-exact",
        "matchRepoDigestOrExact" => "match-repo-digest-or-exact",
        other => panic!("unknown signedIdentity {other}"),
    }
    .to_string()
}

/// The failure kind a containers-image error message corresponds to.
fn expected_kind(message: &str) -> &'static str {
    if message.contains("A signature was required") {
        "unsigned"
    } else if message.contains("Signature for identity") || message.starts_with("None of the signatures") {
        "identity-mismatch"
    } else if message.contains("no such file") {
        "missing"
    } else if message.contains("error unmarshalling signatures") {
        "malformed"
    } else {
        "bad-signature"
    }
}

#[test]
fn key_mode_rows_agree_with_their_upstream_tests() {
    run_rows("key");
}

#[test]
fn key_and_rekor_rows_agree_with_their_upstream_tests() {
    run_rows("key+rekor");
}

#[test]
fn fulcio_rows_agree_with_their_upstream_tests() {
    run_rows("fulcio");
}

#[test]
fn pki_rows_agree_with_their_upstream_tests() {
    run_rows("pki");
}

/// A containers-policy.json for a certificate row (`cert_trust` = `fulcio:caPath=…;oidcIssuer=…` or
/// `pki:caRootsPath=…;…`), written into `tmp`.
fn policy_for(dir: &std::path::Path, tmp: &std::path::Path, cert_trust: &str, rekor: &str, identity: &str) -> PathBuf {
    let (kind, fields) = cert_trust.split_once(':').expect("kind:fields");
    let mut trust = serde_json::Map::new();
    for field in fields.split(';') {
        let (k, v) = field.split_once('=').expect("k=v");
        let v = if k.ends_with("Path") { dir.join(v).display().to_string() } else { v.to_string() };
        trust.insert(k.to_string(), serde_json::Value::String(v));
    }
    let mut requirement = serde_json::json!({"type": "sigstoreSigned", kind: trust});
    let rekor: Vec<String> =
        rekor.split_whitespace().filter(|k| *k != "-").map(|k| dir.join(k).display().to_string()).collect();
    if !rekor.is_empty() {
        requirement["rekorPublicKeyPaths"] = serde_json::json!(rekor);
    }
    requirement["signedIdentity"] = match identity {
        "matchRepository" | "matchExact" | "matchRepoDigestOrExact" => serde_json::json!({"type": identity}),
        other => panic!("no policy form for {other}"),
    };
    let path = tmp.join("policy.json");
    std::fs::write(&path, serde_json::json!({"default": [requirement]}).to_string()).expect("write policy");
    path
}

fn run_rows(mode: &str) {
    let dir = interop_dir();
    let tsv = std::fs::read_to_string(dir.join("cases.tsv")).expect("cases.tsv");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut header: Vec<&str> = Vec::new();
    let (mut ran, mut failures) = (0, Vec::new());
    for (i, line) in tsv.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 0 {
            header = cols;
            continue;
        }
        let col = |name: &str| cols[header.iter().position(|h| *h == name).expect("column")];
        if col("mode") != mode {
            continue;
        }
        let mut args = vec![
            "verify-archive".to_string(),
            dir.join(col("fixture_dir")).display().to_string(),
            "--blobs".into(),
            "skip".into(),
            "--reference".into(),
            col("image_reference").to_string(),
        ];
        if col("cert_trust") != "-" {
            let policy = policy_for(&dir, tmp.path(), col("cert_trust"), col("rekor_key"), col("signed_identity"));
            args.extend(["--policy".to_string(), policy.display().to_string()]);
        } else {
            args.extend(["--signed-identity".to_string(), identity_flag(col("signed_identity"))]);
            for key in col("keys").split_whitespace() {
                args.push("-p".into());
                args.push(dir.join(key).display().to_string());
            }
            for key in col("rekor_key").split_whitespace().filter(|k| *k != "-") {
                args.push("--rekor-pubkey".into());
                args.push(dir.join(key).display().to_string());
            }
        }
        let out = airlock(&args);
        ran += 1;
        let fail_line = out.stdout.lines().find(|l| l.starts_with("FAIL "));
        let verdict = match col("expected") {
            "accept" => out.code == 0 && fail_line.is_none(),
            // a policy containers-image refuses to load is refused before any image is looked at; the
            // upstream test builds it in Go ("Internal inconsistency"), skopeo's JSON parser words it as
            // newPRSigstoreSigned does
            _ if col("expected_error_substring").starts_with("Internal inconsistency") => {
                out.code == 2 && out.stderr.contains("must be specified if fulcio is used")
            }
            _ => {
                let kind = expected_kind(col("expected_error_substring"));
                out.code == 1 && fail_line.is_some_and(|l| l.contains(&format!(": {kind}: ")))
            }
        };
        if !verdict {
            failures.push(format!(
                "{} (expected {} {:?})\n  airlock {}\n{}",
                col("case_id"),
                col("expected"),
                col("expected_error_substring"),
                args.join(" "),
                out.describe()
            ));
        }
    }
    println!("interop: {} of {ran} mode={mode} rows agree", ran - failures.len());
    assert!(ran > 0, "no mode={mode} rows found");
    assert!(failures.is_empty(), "{} rows disagree:\n{}", failures.len(), failures.join("\n"));
}

/// Keyless from the command line: cosign's public-good trusted root, offline, with the identity flags.
#[test]
fn keyless_flags_with_a_trusted_root() {
    let dir = interop_dir();
    let fixture = dir.join("containers-image/dir-img-cosign-fulcio-rekor-valid").display().to_string();
    let root = dir.join("cosign/trusted_root_pgi.json").display().to_string();
    let base = [
        "verify-archive",
        fixture.as_str(),
        "--blobs",
        "skip",
        "--reference",
        "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
        "--trusted-root",
        root.as_str(),
    ];
    let run = |extra: &[&str]| airlock(base.iter().chain(extra.iter()));
    let issuer = ["--certificate-oidc-issuer", "https://github.com/login/oauth"];
    let ok = run(&[&["--certificate-identity", "mitr@redhat.com"][..], &issuer[..]].concat());
    assert_eq!(ok.code, 0, "{}", ok.describe());
    assert!(ok.stdout.contains("signed by certificate mitr@redhat.com"), "{}", ok.describe());
    let re = run(&[&["--certificate-identity-regexp", ".*@redhat\\.com"][..], &issuer[..]].concat());
    assert_eq!(re.code, 0, "{}", re.describe());
    let wrong = run(&[&["--certificate-identity", "someone@example.com"][..], &issuer[..]].concat());
    assert_eq!(wrong.code, 1, "{}", wrong.describe());
    // containers-image reports a certificate that names someone else as a bad signature, not an identity
    // mismatch (that kind is about the signed docker-reference)
    assert!(
        wrong.stdout.contains("bad-signature: ") && wrong.stdout.contains("Required email"),
        "{}",
        wrong.describe()
    );
    let wrong_issuer =
        run(&["--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", "https://accounts.google.com"]);
    assert_eq!(wrong_issuer.code, 1, "{}", wrong_issuer.describe());
    let said = &wrong_issuer.stdout;
    assert!(
        said.contains("bad-signature: ") && said.contains("Required OIDC issuer \"https://accounts.google.com\""),
        "{}",
        wrong_issuer.describe()
    );
    let partial = run(&["--certificate-identity", "mitr@redhat.com"]);
    assert_eq!(partial.code, 2, "{}", partial.describe());
    // a keyless signature is not accepted by a public key, and a key signature not by the trusted root
    let key_sig = dir.join("containers-image/dir-img-cosign-valid").display().to_string();
    let out = airlock([
        "verify-archive",
        &key_sig,
        "--blobs",
        "skip",
        "--reference",
        "192.168.64.2:5000/cosign-signed-single-sample",
        "--trusted-root",
        &root,
        "--certificate-identity",
        "mitr@redhat.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains("missing dev.sigstore.cosign/certificate annotation"), "{}", out.describe());
}
