//! The sigstore-conformance bundle-verification suite (`../shared/interop/sigstore-conformance/`, read in
//! place): all 70 cases, each run with the artifact path and with its `sha256:` digest, through
//! `airlock verify-bundle` exactly as the suite's `test/client.py` builds the arguments. A case ending in
//! `_fail` must fail, and for the reason its README gives (the table below); every other case must verify.

use std::path::{Path, PathBuf};

use crate::common::{Output, airlock, root, sha256_hex};

const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Why each failing case must fail: a fragment of airlock's message. A case that fails for another reason
/// is a bug (a check that passes it wrongly, hidden behind one that fails it).
const REASONS: &[(&str, &str)] = &[
    ("bundle-empty-certificate-chain_fail", "certificate chain is empty"),
    ("bundle-from-wrong-instance_fail", "untrusted log"),
    ("bundle-invalid-base64-signature_fail", "bundle: "),
    ("bundle-malformed-json_fail", "bundle: "),
    ("bundle-negative-log-index_fail", "negative log index"),
    ("bundle-unknown-version_fail", "unsupported bundle media type"),
    ("bundle-with-root-cert_fail", "contains a root certificate"),
    ("checkpoint-bad-keyhint_fail", "checkpoint"),
    ("checkpoint-wrong-roothash_fail", "checkpoint"),
    ("dsse-invalid-sig_fail", "signature verification failed"),
    ("dsse-mismatch-envelope_fail", "does not match the bundle"),
    ("dsse-mismatch-sig_fail", "does not match the bundle: the DSSE signature"),
    ("inclusion-proof-corrupted-hash_fail", "calculated root"),
    ("incorrect-public-key_fail", "does not match the bundle: the signer"),
    ("integrated-time-in-future_fail", "certificate at time"),
    ("intoto-expired-certificate_fail", "certificate at time"),
    ("intoto-log-entry-mismatch_fail", "does not match the bundle"),
    ("intoto-missing-inclusion-proof_fail", "no inclusion proof"),
    ("intoto-set-outside-signing-cert-validity_fail", "certificate at time"),
    ("intoto-tsa-timestamp-outside-cert-validity_fail", "certificate at time"),
    ("invalid-checkpoint-signature_fail", "checkpoint"),
    ("invalid-ct-key_fail", "SCT"),
    ("invalid-inclusion-proof_fail", "inclusion proof"),
    ("managed-key-no-key_fail", "signed with a key, but no key"),
    ("managed-key-wrong-key_fail", "invalid public key"),
    ("message-digest-mismatch_fail", "does not match"),
    ("rekor2-checkpoint-missing-log-signature_fail", "checkpoint"),
    ("rekor2-checkpoint-missing-origin_fail", "checkpoint"),
    ("rekor2-checkpoint-missing-root-hash_fail", "checkpoint"),
    ("rekor2-checkpoint-missing-size_fail", "checkpoint"),
    ("rekor2-checkpoint-no-matching-signature_fail", "checkpoint"),
    ("rekor2-dsse-invalid-sig_fail", "signature verification failed"),
    ("rekor2-dsse-mismatch-envelope_fail", "does not match the bundle: the artifact hash"),
    ("rekor2-dsse-mismatch-sig_fail", "does not match the bundle: the signature"),
    ("rekor2-no-inclusion-proof_fail", "no inclusion proof"),
    ("rekor2-no-timestamp_fail", "an RFC 3161 timestamp is required"),
    ("rekor2-timestamp-outside-trust-root-tsa-validity_fail", "RFC 3161 timestamp"),
    ("rekor2-timestamp-outside-tsa-cert-validity_fail", "RFC 3161 timestamp"),
    ("rekor2-timestamp-payload-mismatch_fail", "RFC 3161 timestamp"),
    ("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail", "RFC 3161 timestamp"),
    ("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail", "RFC 3161 timestamp"),
    ("rekor2-timestamp-with-incorrect-time_fail", "certificate at time"),
    ("set-invalid-signature_fail", "inclusion promise (SET) does not verify"),
    ("signature-mismatch_fail", "signature verification failed"),
    ("trust-root-tlog-missing-validity-start_fail", "validFor has no start"),
    ("wrong-hashedrekord-artifact_fail", "does not match"),
    ("wrong-hashedrekord-cert-and-sig_fail", "does not match the bundle"),
    ("wrong-hashedrekord-entry_fail", "does not match the bundle"),
    ("wrong-material_fail", "does not match the bundle"),
];

fn suite() -> PathBuf {
    let dir = root().join("../shared/interop/sigstore-conformance");
    assert!(dir.is_dir(), "{} is missing: the conformance tests read the shared corpus in place", dir.display());
    dir
}

/// The `verify-bundle` arguments for one case, as `test/client.py` `build_verify_args` builds them.
fn case_args(suite: &Path, case: &Path, digest: bool) -> Vec<String> {
    let mut args =
        vec!["verify-bundle".to_string(), "--bundle".into(), case.join("bundle.sigstore.json").display().to_string()];
    let key = case.join("key.pub");
    if key.exists() {
        args.extend(["--key".into(), key.display().to_string()]);
    } else {
        let read = |f: &str, default: &str| {
            std::fs::read_to_string(case.join(f)).map(|s| s.trim().to_string()).unwrap_or(default.to_string())
        };
        args.extend(["--certificate-identity".into(), read("identity", IDENTITY)]);
        args.extend(["--certificate-oidc-issuer".into(), read("issuer", ISSUER)]);
    }
    let own_root = case.join("trusted_root.json");
    let trusted_root =
        if own_root.exists() { own_root } else { suite.join("production-trusted-root/trusted_root.json") };
    args.extend(["--trusted-root".into(), trusted_root.display().to_string()]);
    let artifact = case.join("artifact");
    let artifact = if artifact.exists() { artifact } else { suite.join("test/assets/bundle-verify/a.txt") };
    if digest {
        let bytes = std::fs::read(&artifact).expect("artifact");
        args.push(format!("sha256:{}", sha256_hex(&bytes)));
    } else {
        args.push(artifact.display().to_string());
    }
    args
}

fn judge(name: &str, out: &Output) -> Result<(), String> {
    let text = format!("{}{}", out.stdout, out.stderr);
    if !name.ends_with("_fail") {
        return if out.code == 0 { Ok(()) } else { Err(format!("must verify, got {}: {}", out.code, text.trim())) };
    }
    let reason = REASONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
    let Some(reason) = reason else { return Err("a failing case without an expected reason in REASONS".into()) };
    match out.code {
        0 => Err(format!("must fail ({reason}), but verified: {}", text.trim())),
        1 | 2 if text.contains(reason) => Ok(()),
        code => Err(format!("must fail with {reason:?}, got {code}: {}", text.trim())),
    }
}

#[test]
fn every_case_with_path_and_digest() {
    let suite = suite();
    let cases_dir = suite.join("test/assets/bundle-verify");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .expect("cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 70, "the suite at {} has 70 cases", cases_dir.display());
    let (mut agreed, mut wrong) = (0, Vec::new());
    for case in &cases {
        let name = case.file_name().and_then(|n| n.to_str()).expect("name");
        for digest in [false, true] {
            let out = airlock(case_args(&suite, case, digest));
            match judge(name, &out) {
                Ok(()) => agreed += 1,
                Err(e) => wrong.push(format!("{name} ({}): {e}", if digest { "digest" } else { "path" })),
            }
        }
    }
    assert!(wrong.is_empty(), "{agreed}/140 agree; disagreements:\n{}", wrong.join("\n"));
    assert_eq!(agreed, 140);
}

/// `verify-blob` never guesses: no trust source, an identity without a root, half an identity, a malformed
/// digest and an unreadable bundle are exit 2 with the reason, never a verdict.
#[test]
fn verify_blob_refuses_what_it_cannot_check() {
    let suite = suite();
    let case = suite.join("test/assets/bundle-verify/happy-path-v0.3");
    let bundle = case.join("bundle.sigstore.json").display().to_string();
    let root = suite.join("production-trusted-root/trusted_root.json").display().to_string();
    let artifact = suite.join("test/assets/bundle-verify/a.txt").display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--bundle", &bundle, &artifact], "needs a trust source"),
        (
            &["--bundle", &bundle, "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, &artifact],
            "needs --trusted-root",
        ),
        (&["--bundle", &bundle, "--trusted-root", &root, "--certificate-identity", IDENTITY, &artifact], "give both"),
        (
            &[
                "--bundle",
                &bundle,
                "--trusted-root",
                &root,
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
                "sha256:abc",
            ],
            "not a sha256 digest",
        ),
        (
            &[
                "--bundle",
                "/nonexistent/b.json",
                "--trusted-root",
                &root,
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
                &artifact,
            ],
            "--bundle /nonexistent/b.json",
        ),
        (
            &[
                "--staging",
                "--bundle",
                &bundle,
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
                &artifact,
            ],
            "no built-in trust roots",
        ),
    ];
    for (args, reason) in cases {
        let out = airlock(std::iter::once("verify-blob").chain(args.iter().copied()));
        assert_eq!(out.code, 2, "{args:?}: {}", out.describe());
        assert!(out.stderr.contains(reason), "{args:?}: want {reason:?}: {}", out.describe());
    }
    // The regexp forms match the whole identity: a prefix is not enough.
    let regexp = |identity: &str| {
        airlock([
            "verify-blob",
            "--bundle",
            &bundle,
            "--trusted-root",
            &root,
            "--certificate-identity-regexp",
            identity,
            "--certificate-oidc-issuer-regexp",
            "https://token\\.actions\\.githubusercontent\\.com",
            &artifact,
        ])
    };
    let ok = regexp("https://github.com/sigstore-conformance/.*");
    assert_eq!(ok.code, 0, "{}", ok.describe());
    assert!(ok.stdout.starts_with("PASS ") && ok.stdout.contains(IDENTITY), "{}", ok.describe());
    let prefix = regexp("https://github.com/sigstore-conformance/");
    assert_eq!(prefix.code, 1, "{}", prefix.describe());
    assert!(prefix.stderr.contains("does not match /"), "{}", prefix.describe());
}
