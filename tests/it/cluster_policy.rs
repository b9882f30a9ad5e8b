//! `--cluster-policy` (SPEC §6.7), sigstore policy-controller documents against testdata layouts. Each row's
//! expectation comes from policy-controller f925c0c:
//! - globs: `pkg/apis/glob/glob.go` (`*` one path segment, `**` anything; ported with its test table in
//!   `src/admission/glob.rs`);
//! - every matching policy must pass, any authority within one, no match → `no-match-policy` (default deny):
//!   `pkg/webhook/validator.go` `validateContainerImage`, `ValidatePolicy`, `setNoMatchingPoliciesError`;
//! - key authorities check the image's own digest (the index for a multi-arch image) with cosign's
//!   `SimpleClaimVerifier` (digest only, not the signed docker-reference), no tlog without `ctlog`:
//!   `ValidatePolicySignaturesForAuthority`, `checkOptsFromAuthority`;
//! - `static`, `mode: warn`: `ValidatePolicy` (`asFieldError(cip.Mode == "warn", …)`);
//! - keyless authorities: `checkOptsFromAuthority` (identities, Fulcio roots, SCT, Rekor keys);
//! - what this check cannot decide offline (keyless without --trusted-root, attestations, unknown fields)
//!   refuses.

use crate::common::airlock;
use serde_json::Value;

const EXAMPLES: &str = "testdata/examples/bundle";
const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";

fn pem(file: &str) -> String {
    std::fs::read_to_string(crate::common::root().join(file)).unwrap()
}

fn indent(text: &str, by: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

fn cip(name: &str, glob: &str, authorities: &str, extra: &str) -> String {
    format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\nspec:\n  images:\n  - glob: \"{glob}\"\n{extra}  authorities:\n{authorities}"
    )
}

fn key_authority(name: &str, key_file: &str) -> String {
    format!("  - name: {name}\n    key:\n      data: |\n{}", indent(&pem(key_file), 8))
}

/// Runs the bundle under the documents; returns (exit code, report).
fn run(source: &str, docs: &[String]) -> (i32, Value, String) {
    run_with(source, docs, &[])
}

fn run_with(source: &str, docs: &[String], extra: &[&str]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, docs.join("---\n")).unwrap();
    let args = ["verify-archive", source, "--cluster-policy", file.to_str().unwrap(), "--report", "-"];
    let out = airlock(args.iter().copied().chain(extra.iter().copied()));
    let report = if out.code == 2 { Value::Null } else { out.report() };
    (out.code, report, out.describe())
}

fn result<'a>(report: &'a Value, reference: &str) -> &'a Value {
    report["results"].as_array().unwrap().iter().find(|r| r["reference"] == reference).expect(reference)
}

fn kind(report: &Value, reference: &str) -> String {
    let r = result(report, reference);
    if r["status"] == "pass" { "pass".into() } else { r["errors"][0]["kind"].as_str().unwrap().into() }
}

fn text(report: &Value, reference: &str) -> String {
    let r = result(report, reference);
    format!("{} {}", r["errors"], r["notes"])
}

const ALL: &str = "registry.airlock.test/airlock/**";
const GOOD: &str = "testdata/examples/sigstore.pub";
const OTHER: &str = "testdata/keys/other.pub";

#[test]
fn a_key_authority_admits_what_its_key_signed() {
    let (code, r, out) = run(EXAMPLES, &[cip("release", ALL, &key_authority("release-key", GOOD), "")]);
    assert_eq!(code, 0, "{out}");
    for image in [MULTI, SINGLE, LAYERS3] {
        assert_eq!(kind(&r, image), "pass", "{out}");
    }
    assert!(out.contains("signed by ClusterImagePolicy release, authority release-key (key)"), "{out}");
    assert!(text(&r, SINGLE).contains("admitted by ClusterImagePolicy release, authority release-key (key)"), "{out}");
    let (code, r, out) = run(EXAMPLES, &[cip("release", ALL, &key_authority("other", OTHER), "")]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(kind(&r, SINGLE), "bad-signature", "{out}");
    assert!(text(&r, SINGLE).contains("ClusterImagePolicy release refuses it: authority other (key): "), "{out}");
}

#[test]
fn the_top_digest_must_be_signed_and_the_signed_name_is_not_compared() {
    // signed per platform only: policy-controller verifies the index digest the pod names
    let (code, r, out) =
        run("testdata/layouts/signed-multi-per-platform", &[cip("p", ALL, &key_authority("k", GOOD), "")]);
    assert_eq!((code, kind(&r, MULTI).as_str()), (1, "unsigned"), "{out}");
    // a signature made for another repository: cosign's claim check compares the digest only
    let glob = "registry.airlock.test/mirror/*";
    let (code, r, out) = run("testdata/layouts/copied-repo", &[cip("p", glob, &key_authority("k", GOOD), "")]);
    assert_eq!((code, kind(&r, "registry.airlock.test/mirror/single:v1").as_str()), (0, "pass"), "{out}");
    // a cosign v3 referrer bundle by the same key: key authorities read only the legacy `.sig` format
    // (`signatureFormat` unset; `checkOptsFromAuthority` refuses `bundle` for key authorities)
    let (code, r, out) = run("testdata/layouts/bundle-v3", &[cip("p", ALL, &key_authority("k", GOOD), "")]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "unsigned"), "{out}");
}

#[test]
fn no_match_follows_no_match_policy() {
    let only_single = cip("single", "registry.airlock.test/airlock/single*", &key_authority("k", GOOD), "");
    let (code, r, out) = run(EXAMPLES, std::slice::from_ref(&only_single));
    assert_eq!(code, 1, "{out}");
    assert_eq!(kind(&r, SINGLE), "pass", "{out}");
    assert_eq!(kind(&r, MULTI), "unsigned", "{out}");
    assert!(
        text(&r, MULTI)
            .contains("no ClusterImagePolicy matches this image, and policy-controller's no-match-policy is deny")
    );
    let allow = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-policy-controller\n  namespace: cosign-system\ndata:\n  no-match-policy: allow\n";
    let (code, r, out) = run(EXAMPLES, &[only_single, allow.to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(text(&r, MULTI).contains("no-match-policy allow admits it"), "{out}");
}

#[test]
fn static_warn_and_every_matching_policy() {
    let fail = "  - name: frozen\n    static:\n      action: fail\n      message: change freeze\n";
    let pass = "  - name: open\n    static:\n      action: pass\n";
    let (code, r, out) = run(EXAMPLES, &[cip("freeze", ALL, fail, "")]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("disallowed by static policy: change freeze"), "{out}");
    let (code, _, out) = run(EXAMPLES, &[cip("open", ALL, pass, "")]);
    assert_eq!(code, 0, "{out}");
    // within one policy any authority; across policies every one
    let either = format!("{}{pass}", key_authority("other", OTHER));
    let (code, _, out) = run(EXAMPLES, &[cip("either", ALL, &either, "")]);
    assert_eq!(code, 0, "{out}");
    let (code, r, out) = run(EXAMPLES, &[cip("open", ALL, pass, ""), cip("freeze", ALL, fail, "")]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    // mode: warn admits with a warning
    let (code, r, out) = run(EXAMPLES, &[cip("soft", ALL, &key_authority("other", OTHER), "  mode: warn\n")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        text(&r, SINGLE).contains("mode warn, admitted with a warning: ClusterImagePolicy soft refuses it"),
        "{out}"
    );
}

fn keyless_authority(identity: &str) -> String {
    format!(
        "  - name: gh\n    keyless:\n      url: https://fulcio.sigstore.dev\n      identities:\n      - {identity}\n"
    )
}

const ISSUER: &str = "issuer: https://token.actions.githubusercontent.com";

/// Keyless authorities against the private sigstore instance's `.sig` fixtures (testdata/keyless, each
/// confirmed by cosign 2.5): the certificate's subject and issuer must match one identity (cosign's
/// `*RegExp` is RE2 matched anywhere, `MatchString`), with `--trusted-root` standing in for the roots the
/// cluster fetches.
#[test]
fn keyless_authorities_check_identity_against_the_trusted_root() {
    let layouts = "testdata/keyless/sig-layouts";
    let root = ["--trusted-root", "testdata/keyless/trusted_root.json"];
    let subject = "https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main";
    let exact = keyless_authority(&format!("{ISSUER}\n        subject: {subject}"));
    let (code, r, out) = run_with(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &exact, "")], &root);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (0, "pass"), "{out}");
    assert!(text(&r, SINGLE).contains(&format!("admitted by ClusterImagePolicy kl, authority gh ({subject}")), "{out}");
    let unanchored = keyless_authority(&format!("{ISSUER}\n        subjectRegExp: airlock-test/app/"));
    let (code, _, out) = run_with(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &unanchored, "")], &root);
    assert_eq!(code, 0, "cosign's regexp matches anywhere: {out}");
    let other = keyless_authority(&format!("{ISSUER}\n        subject: https://github.com/airlock-test/other/x"));
    let (code, r, out) = run_with(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &other, "")], &root);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    for (fixture, why) in
        [("sig-keyless-wrong-san", "wrong SAN"), ("sig-keyless-expired", "expired"), ("sig-keyless-no-set", "no SET")]
    {
        let (code, r, out) = run_with(&format!("{layouts}/{fixture}"), &[cip("kl", ALL, &exact, "")], &root);
        assert_eq!((code, r["summary"]["passed"].as_u64()), (1, Some(0)), "{fixture} ({why}): {out}");
    }
    // the trusted root's windows apply: a CA whose validFor starts after the signing time admits nothing
    let late = ["--trusted-root", "testdata/keyless/roots/ca-late.json"];
    let (code, r, out) = run_with(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &exact, "")], &late);
    assert_eq!((code, r["summary"]["passed"].as_u64()), (1, Some(0)), "CA outside its window: {out}");
    // without --trusted-root the authority cannot be decided; an identity leaving the issuer open is not
    // read as "any issuer"
    let (code, r, out) = run(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &exact, "")]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "error"), "{out}");
    assert!(text(&r, SINGLE).contains("keyless identities need --trusted-root"), "{out}");
    let open = keyless_authority(&format!("subject: {subject}"));
    let (_, r, out) = run_with(&format!("{layouts}/sig-keyless"), &[cip("kl", ALL, &open, "")], &root);
    assert!(text(&r, SINGLE).contains("without both an issuer and a subject is not evaluated"), "{out}");
}

#[test]
fn what_cannot_be_decided_offline_refuses_and_says_so() {
    let keyless = keyless_authority(&format!("{ISSUER}\n        subject: x"));
    let (code, r, out) = run(EXAMPLES, &[cip("kl", ALL, &keyless, "")]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "error"), "{out}");
    assert!(text(&r, SINGLE).contains("authority gh: not evaluated: keyless identities need --trusted-root"), "{out}");
    let secret = "  - name: s\n    key:\n      secretRef:\n        name: cosign-key\n";
    let (_, r, out) = run(EXAMPLES, &[cip("sec", ALL, secret, "")]);
    assert!(text(&r, SINGLE).contains("secretRef/kms keys cannot be read offline"), "{out}");
    let attest =
        format!("{}    attestations:\n    - name: sbom\n      predicateType: spdx\n", key_authority("k", GOOD));
    let (_, r, out) = run(EXAMPLES, &[cip("att", ALL, &attest, "")]);
    assert_eq!(kind(&r, SINGLE), "error", "{out}");
    assert!(text(&r, SINGLE).contains("attestations are not evaluated"), "{out}");
    let unknown = cip("typo", ALL, &key_authority("k", GOOD), "  imagez: []\n");
    let (_, r, out) = run(EXAMPLES, &[unknown]);
    assert!(text(&r, SINGLE).contains("spec.imagez is not a field this check knows"), "{out}");
    let cue = cip("cue", ALL, &key_authority("k", GOOD), "  policy:\n    type: cue\n    data: x\n");
    let (_, r, out) = run(EXAMPLES, &[cue]);
    assert!(text(&r, SINGLE).contains("spec.policy (a CUE/Rego policy over the image) is not evaluated"), "{out}");
}

#[test]
fn documents_it_cannot_read_stop_the_run() {
    let kyverno = "apiVersion: kyverno.io/v2beta1\nkind: ClusterPolicy\nmetadata:\n  name: k\nspec: {}\n".to_string();
    let (code, _, out) = run(EXAMPLES, &[kyverno]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Kyverno \"ClusterPolicy\" (\"kyverno.io/v2beta1\") is not evaluated"), "{out}");
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-policy-controller\ndata: {}\n".to_string();
    let (code, _, out) = run(EXAMPLES, &[config]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no ClusterImagePolicy or Kyverno policy in the files given"), "{out}");
    let dup =
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nkind: ClusterImagePolicy\n".to_string();
    let (code, _, out) = run(EXAMPLES, &[dup]);
    assert_eq!(code, 2, "{out}");
    assert!(out.to_lowercase().contains("duplicate"), "{out}");
    let (code, _, out) = run(EXAMPLES, &[cip("bad", "[a-z]*", &key_authority("k", GOOD), "")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("invalid glob"), "{out}");
}
