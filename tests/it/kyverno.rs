//! `--cluster-policy` (SPEC §6.7) with Kyverno `ClusterPolicy` / `Policy` `verifyImages` documents against the
//! testdata layouts. Each row's expectation comes from kyverno 111e07b (`/work/.mirror/kyverno+kyverno`):
//! - globs: `ext/wildcard/match.go` (go-wildcard v1.0.3: `*` crosses `/`, `?` one character), matched in
//!   `pkg/engine/internal/utils.go` `matchReferences` against `ImageInfo.String()` (`pkg/utils/image/infos.go`:
//!   `registry/path:tag`, or `registry/path@digest` with the tag dropped); `skipImageReferences` in
//!   `pkg/engine/internal/imageverifier.go` `verifyImage`;
//! - attestor sets: `imageverifier.go` `verifyAttestors` (every set), `verifyAttestorSet` (`count` entries,
//!   `RequiredCount`: none means all), `pkg/engine/internal/utils.go` `ExpandStaticKeys`/`splitPEM` (one entry
//!   per PEM key);
//! - Rekor and identities: `imageverifier.go` `buildCosignVerifier` (Rekor required unless `rekor.ignoreTlog`),
//!   `pkg/image/verifiers/cpol/cosign/cosign.go` `buildCosignOptions` (`SimpleClaimVerifier`, `roots`),
//!   `matchCertificateData` (subject and issuer as wildcards, `*RegExp` unanchored);
//! - `required`: `pkg/engine/handlers/validation/validate_image.go` `validateImage`;
//! - failure actions: `pkg/engine/api/engineresponse.go` `ruleAction`, `HasEnforcedFailure`;
//!   `pkg/utils/engine/response.go` `BlockRequest`; default `Audit`: `api/kyverno/v1/spec_types.go`;
//! - documents Kyverno refuses: `api/kyverno/v1/image_verification_types.go` `Validate` (reached from
//!   `pkg/validation/policy/validate.go`), e.g. `mutateDigest` must be false for Audit;
//! - `applyRules: One`: `pkg/engine/image_verify.go` `verifyAndPatchImages`.

use crate::common::airlock;
use serde_json::Value;

const EXAMPLES: &str = "testdata/examples/bundle";
const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";
const GOOD: &str = "testdata/examples/sigstore.pub";
const OTHER: &str = "testdata/keys/other.pub";
const ALL: &str = "registry.airlock.test/*";
const SIG_KEYLESS: &str = "testdata/keyless/sig-layouts/sig-keyless";
const ROOT: [&str; 2] = ["--trusted-root", "testdata/keyless/trusted_root.json"];
const SUBJECT: &str = "https://github.com/airlock-test/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn pem(file: &str) -> String {
    std::fs::read_to_string(crate::common::root().join(file)).unwrap()
}

fn indent(text: &str, by: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(by))).collect()
}

/// A ClusterPolicy with one rule `verify` holding one `verifyImages` entry: `spec` lines (indent 2) and the
/// entry's lines after `imageReferences` (written at indent 4, shifted under the list item).
fn cpol(name: &str, spec: &str, reference: &str, entry: &str) -> String {
    let entry = indent(entry, 2);
    format!(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: {name}\nspec:\n{spec}  rules:\n  - name: verify\n    match:\n      any:\n      - resources:\n          kinds: [Pod]\n    verifyImages:\n    - imageReferences: [\"{reference}\"]\n{entry}"
    )
}

const ENFORCE: &str = "  validationFailureAction: Enforce\n";

/// `attestors:` with one set of the given entries (each a list of lines at indent 8; `- ` is added).
fn attestors(count: Option<u32>, entries: &[String]) -> String {
    let count = count.map(|c| format!("count: {c}\n      ")).unwrap_or_default();
    let entries: String = entries.iter().map(|e| format!("      - {}", &e[8..])).collect();
    format!("    attestors:\n    - {count}entries:\n{entries}")
}

/// One `keys` entry (lines at indent 8) for `files` (several: one multi-key `publicKeys`), `rekor` lines at 10.
fn keys(files: &[&str], rekor: &str) -> String {
    let text: String = files.iter().map(|f| pem(f)).collect();
    format!("        keys:\n          publicKeys: |\n{}{rekor}", indent(&text, 12))
}

const NO_TLOG: &str = "          rekor:\n            url: https://rekor.airlock.test\n            ignoreTlog: true\n";

fn keyless(identity: &str, extra: &str) -> String {
    format!("        keyless:\n{identity}{extra}          rekor:\n            url: https://rekor.airlock.test\n")
}

/// Runs the bundle under the documents; returns (exit code, report, everything said).
fn run(source: &str, docs: &[String], extra: &[&str]) -> (i32, Value, String) {
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

fn key_policy(name: &str, spec: &str, reference: &str, files: &[&str]) -> String {
    cpol(name, spec, reference, &attestors(None, &[keys(files, NO_TLOG)]))
}

#[test]
fn a_key_entry_admits_what_its_key_signed_and_names_policy_rule_and_attestor() {
    let (code, r, out) = run(EXAMPLES, &[key_policy("release", ENFORCE, ALL, &[GOOD])], &[]);
    assert_eq!(code, 0, "{out}");
    for image in [MULTI, SINGLE, LAYERS3] {
        assert_eq!(kind(&r, image), "pass", "{out}");
    }
    let by = "admitted by Kyverno ClusterPolicy release, rule verify (verifyImages[0].attestors[0].entries[0] (key))";
    assert!(text(&r, SINGLE).contains(by), "{out}");
    assert!(text(&r, SINGLE).contains("match/exclude (kinds, namespaces, subjects) are not evaluated"), "{out}");
    let (code, r, out) = run(EXAMPLES, &[key_policy("release", ENFORCE, ALL, &[OTHER])], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    let why = "Kyverno ClusterPolicy release, rule verify refuses it: verifyImages[0].attestors[0]: 0 of 1 entries \
               verified, 1 required: verifyImages[0].attestors[0].entries[0] (key): ";
    assert!(text(&r, SINGLE).contains(why), "{out}");
}

/// Kyverno's wildcard on Kyverno's spelling of the name: `*` crosses `/`, `?` is one character, a pattern
/// without a wildcard is the whole name (so it misses `:v1`), the digest form drops the tag; an image no rule
/// matches is admitted (Kyverno has no no-match deny).
#[test]
fn image_references_are_kyverno_wildcards_and_no_match_admits() {
    let refused = |reference: &str| {
        let (code, r, out) = run(EXAMPLES, &[key_policy("p", ENFORCE, reference, &[OTHER])], &[]);
        let refused: Vec<&str> =
            [MULTI, SINGLE, LAYERS3].into_iter().filter(|i| kind(&r, i) == "bad-signature").collect();
        (code, refused, r, out)
    };
    let (_, got, _, out) = refused("registry.airlock.test/*");
    assert_eq!(got, [MULTI, SINGLE, LAYERS3], "* crosses /: {out}");
    let (_, got, r, out) = refused("registry.airlock.test/airlock/single:v?");
    assert_eq!(got, [SINGLE], "{out}");
    let none = "no Kyverno verifyImages rule matches this image: Kyverno admits it (it has no no-match deny), and \
                no other controller's policy was given";
    assert!(text(&r, MULTI).contains(none), "{out}");
    let (code, got, _, out) = refused("registry.airlock.test/airlock/single");
    assert_eq!((code, got), (0, vec![]), "no wildcard: the whole name, tag included: {out}");
    let (_, got, _, out) = refused("registry.airlock.test/airlock/single@sha256:*");
    assert_eq!(got, [SINGLE], "the digest form: {out}");
    let (_, got, _, out) = refused("registry.airlock.test/airlock/single:v1@sha256:*");
    assert!(got.is_empty(), "ImageInfo.String() drops the tag when a digest is given: {out}");
    let (_, got, _, out) = refused("index.docker.io/*");
    assert!(got.is_empty(), "{out}");
    let skip = format!("{}    skipImageReferences: [\"*single*\"]\n", attestors(None, &[keys(&[OTHER], NO_TLOG)]));
    let (_, r, out) = run(EXAMPLES, &[cpol("p", ENFORCE, ALL, &skip)], &[]);
    assert_eq!((kind(&r, SINGLE).as_str(), kind(&r, MULTI).as_str()), ("pass", "bad-signature"), "{out}");
}

/// One entry per key of a multi-key `publicKeys`, all required unless `count`; every attestor set must pass.
#[test]
fn multi_key_entries_count_and_every_set() {
    let both = keys(&[GOOD, OTHER], NO_TLOG);
    let (code, r, out) = run(EXAMPLES, &[cpol("mk", ENFORCE, ALL, &attestors(None, std::slice::from_ref(&both)))], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("1 of 2 entries verified, 2 required"), "{out}");
    assert!(text(&r, SINGLE).contains("entries[0] (key 2 of 2): "), "{out}");
    let (code, r, out) = run(EXAMPLES, &[cpol("mk", ENFORCE, ALL, &attestors(Some(1), &[both]))], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(text(&r, SINGLE).contains("(verifyImages[0].attestors[0].entries[0] (key 1 of 2))"), "{out}");
    let two_sets = format!(
        "{}{}",
        attestors(None, &[keys(&[GOOD], NO_TLOG)]),
        attestors(None, &[keys(&[OTHER], NO_TLOG)]).replacen("    attestors:\n", "", 1)
    );
    let (code, r, out) = run(EXAMPLES, &[cpol("sets", ENFORCE, ALL, &two_sets)], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("verifyImages[0].attestors[1]: 0 of 1 entries verified"), "{out}");
    let two_entries = attestors(None, &[keys(&[GOOD], NO_TLOG), keys(&[OTHER], NO_TLOG)]);
    let (code, _, out) = run(EXAMPLES, &[cpol("entries", ENFORCE, ALL, &two_entries)], &[]);
    assert_eq!(code, 1, "two entries, no count: both required: {out}");
}

/// Rekor is required unless `rekor.ignoreTlog: true`; offline its SET is checked with `rekor.pubkey` (or the
/// `--trusted-root` logs). The examples carry no SET.
#[test]
fn rekor_is_required_unless_ignore_tlog() {
    let bare = cpol("tlog", ENFORCE, ALL, &attestors(None, &[keys(&[GOOD], "")]));
    let (code, r, out) = run(EXAMPLES, &[bare], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "error"), "{out}");
    assert!(text(&r, SINGLE).contains("Rekor is required (rekor.ignoreTlog is not true)"), "{out}");
    let pubkey = format!(
        "          rekor:\n            url: https://rekor.airlock.test\n            pubkey: |\n{}",
        indent(&pem(OTHER), 14)
    );
    let (code, r, out) = run(EXAMPLES, &[cpol("tlog", ENFORCE, ALL, &attestors(None, &[keys(&[GOOD], &pubkey)]))], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("missing dev.sigstore.cosign/bundle annotation"), "{out}");
    let (code, _, out) = run(EXAMPLES, &[key_policy("tlog", ENFORCE, ALL, &[GOOD])], &[]);
    assert_eq!(code, 0, "ignoreTlog: {out}");
}

/// Default `Audit`: a failure admits with a note; an Enforce `failureAction` on the entry wins; an explicit
/// Audit one beats the spec's Enforce. Kyverno refuses an Audit entry that leaves `mutateDigest` true.
#[test]
fn audit_admits_and_reports_enforce_refuses() {
    let audit_entry = format!("    mutateDigest: false\n{}", attestors(None, &[keys(&[OTHER], NO_TLOG)]));
    let (code, r, out) = run(EXAMPLES, &[cpol("soft", "", ALL, &audit_entry)], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (0, "pass"), "{out}");
    let note = "Kyverno ClusterPolicy soft, rule verify: failureAction Audit, admitted (Kyverno only reports it): \
                verifyImages[0].attestors[0]: 0 of 1 entries verified";
    assert!(text(&r, SINGLE).contains(note), "{out}");
    assert!(text(&r, SINGLE).contains("verifyDigest with mutateDigest false"), "{out}");
    let rule_enforce = format!("    failureAction: Enforce\n{audit_entry}");
    let (code, r, out) = run(EXAMPLES, &[cpol("soft", "", ALL, &rule_enforce)], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    let rule_audit = format!("    failureAction: Audit\n{audit_entry}");
    let (code, _, out) = run(EXAMPLES, &[cpol("soft", ENFORCE, ALL, &rule_audit)], &[]);
    assert_eq!(code, 0, "the rule's own Audit: {out}");
    let (code, _, out) = run(EXAMPLES, &[key_policy("soft", "", ALL, &[GOOD])], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("mutateDigest must be set to false for the Audit failure action"), "{out}");
}

/// `required` is the validate step's "was it verified": an entry without attestors fails unless
/// `required: false`, and `required: false` does not relax an attestor that failed.
#[test]
fn required_needs_a_verification() {
    let (code, r, out) = run(EXAMPLES, &[cpol("req", ENFORCE, ALL, "")], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "unsigned"), "{out}");
    assert!(text(&r, SINGLE).contains("verifyImages[0] has no attestors and required is true"), "{out}");
    let (code, r, out) = run(EXAMPLES, &[cpol("req", ENFORCE, ALL, "    required: false\n")], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(text(&r, SINGLE).contains("no attestors, required false"), "{out}");
    let failing = format!("    required: false\n{}", attestors(None, &[keys(&[OTHER], NO_TLOG)]));
    let (code, _, out) = run(EXAMPLES, &[cpol("req", ENFORCE, ALL, &failing)], &[]);
    assert_eq!(code, 1, "{out}");
}

/// The private instance's trusted root as JSON.
fn trusted_root() -> Value {
    serde_json::from_str(&pem("testdata/keyless/trusted_root.json")).unwrap()
}

/// base64 DER as a PEM block.
fn to_pem(label: &str, b64: &str) -> String {
    let lines: Vec<String> = b64.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// The root certificate of one authority of the private instance (`certificateAuthorities` for Fulcio,
/// `timestampAuthorities` for its TSA) as PEM: the trusted root lists each chain root last.
fn root_pem(section: &str) -> String {
    let root = trusted_root();
    let chain = root[section][0]["certChain"]["certificates"].as_array().unwrap();
    to_pem("CERTIFICATE", chain.last().unwrap()["rawBytes"].as_str().unwrap())
}

/// Keyless entries against the private sigstore instance's `.sig` fixtures (testdata/keyless), `--trusted-root`
/// standing in for the Fulcio, Rekor and CT roots Kyverno fetches by TUF.
#[test]
fn keyless_entries_match_kyverno_subjects_and_issuers() {
    let policy = |identity: &str, extra: &str| cpol("kl", ENFORCE, ALL, &attestors(None, &[keyless(identity, extra)]));
    let exact = format!("          subject: {SUBJECT}\n          issuer: {ISSUER}\n");
    let (code, r, out) = run(SIG_KEYLESS, &[policy(&exact, "")], &ROOT);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (0, "pass"), "{out}");
    assert!(text(&r, SINGLE).contains(&format!("entries[0] (keyless {SUBJECT} ({ISSUER}))")), "{out}");
    let wildcard = format!("          subject: \"https://github.com/airlock-test/*\"\n          issuer: {ISSUER}\n");
    let (code, _, out) = run(SIG_KEYLESS, &[policy(&wildcard, "")], &ROOT);
    assert_eq!(code, 0, "the subject is a Kyverno wildcard: {out}");
    let unanchored = "          subjectRegExp: airlock-test/app/\n          issuerRegExp: actions\n";
    let (code, _, out) = run(SIG_KEYLESS, &[policy(unanchored, "")], &ROOT);
    assert_eq!(code, 0, "Go's MatchString: {out}");
    let other = format!("          subject: https://github.com/airlock-test/other/*\n          issuer: {ISSUER}\n");
    let (code, r, out) = run(SIG_KEYLESS, &[policy(&other, "")], &ROOT);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    let late = ["--trusted-root", "testdata/keyless/roots/ca-late.json"];
    let (code, _, out) = run(SIG_KEYLESS, &[policy(&exact, "")], &late);
    assert_eq!(code, 1, "CA outside its window: {out}");
    // `roots` replaces the CAs: the instance's own root admits even under ca-late.json; a foreign one does not
    let roots = format!("          roots: |\n{}", indent(&root_pem("certificateAuthorities"), 12));
    let (code, _, out) = run(SIG_KEYLESS, &[policy(&exact, &roots)], &late);
    assert_eq!(code, 0, "keyless.roots: {out}");
    let foreign = format!("          roots: |\n{}", indent(&root_pem("timestampAuthorities"), 12));
    let (code, _, out) = run(SIG_KEYLESS, &[policy(&exact, &foreign)], &ROOT);
    assert_eq!(code, 1, "a root that did not issue the chain: {out}");
    for (fixture, why) in [("sig-keyless-no-set", "no SET"), ("sig-keyless-wrong-san", "wrong SAN")] {
        let (code, _, out) = run(&format!("testdata/keyless/sig-layouts/{fixture}"), &[policy(&exact, "")], &ROOT);
        assert_eq!(code, 1, "{why}: {out}");
    }
    let (code, r, out) = run(SIG_KEYLESS, &[policy(&exact, "")], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "error"), "{out}");
    assert!(text(&r, SINGLE).contains("keyless entries need --trusted-root"), "{out}");
    // `rekor.pubkey` replaces the root's logs: the instance's Rekor v1 key admits, another key does not
    let rekor = "url: https://rekor.airlock.test\n";
    let with_pubkey = |pem: &str| {
        let pubkey = format!("{rekor}              pubkey: |\n{}", indent(pem, 16));
        policy(&exact, "").replace(rekor, &pubkey)
    };
    let v1 = to_pem("PUBLIC KEY", trusted_root()["tlogs"][0]["publicKey"]["rawBytes"].as_str().unwrap());
    let (code, _, out) = run(SIG_KEYLESS, &[with_pubkey(&v1)], &ROOT);
    assert_eq!(code, 0, "rekor.pubkey of the log: {out}");
    let (code, _, out) = run(SIG_KEYLESS, &[with_pubkey(&pem(OTHER))], &ROOT);
    assert_eq!(code, 1, "rekor.pubkey of another log: {out}");
    let rekor = "url: https://rekor.airlock.test\n";
    let no_tlog = policy(&exact, "").replace(rekor, &format!("{rekor}              ignoreTlog: true\n"));
    let (_, r, out) = run(SIG_KEYLESS, &[no_tlog], &ROOT);
    assert!(text(&r, SINGLE).contains("keyless with rekor.ignoreTlog"), "{out}");
}

/// What cannot be decided offline is named and refuses under Enforce, and is only reported under Audit.
#[test]
fn what_cannot_be_decided_offline_refuses_and_says_so() {
    let rows: &[(&str, &str)] = &[
        (
            "    attestations:\n    - type: https://slsa.dev/provenance/v0.2\n",
            "attestations (in-toto statements and their conditions) are not evaluated",
        ),
        ("    type: Notary\n", "type Notary is not evaluated (only Cosign)"),
        ("    repository: registry.airlock.test/signatures\n", "repository (signatures in another repository)"),
        ("    imageReferencez: [x]\n", "verifyImages[0].imageReferencez is not a field this check knows"),
        (
            "    attestors:\n    - entries:\n      - keys:\n          secret:\n            name: k\n            namespace: kyverno\n",
            "keys.kms / keys.secret (a key in a KMS or a cluster Secret) cannot be read offline",
        ),
        (
            "    attestors:\n    - entries:\n      - certificates:\n          cert: x\n",
            "certificates attestors are not evaluated",
        ),
        (
            "    attestors:\n    - entries:\n      - keys:\n          publicKeys: \"{{ request.object.metadata.annotations.key }}\"\n",
            "a {{variable}} is not substituted offline",
        ),
    ];
    for (entry, why) in rows {
        let (code, r, out) = run(EXAMPLES, &[cpol("ne", ENFORCE, ALL, entry)], &[]);
        assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "error"), "{why}: {out}");
        assert!(text(&r, SINGLE).contains(why), "{why}: {out}");
    }
    let audit = format!("    mutateDigest: false\n{}", rows[0].0);
    let (code, r, out) = run(EXAMPLES, &[cpol("ne", "", ALL, &audit)], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(text(&r, SINGLE).contains("failureAction Audit, admitted (Kyverno only reports it)"), "{out}");
    let spec = format!("{ENFORCE}  mysteryField: true\n");
    let (_, r, out) = run(EXAMPLES, &[key_policy("ne", &spec, ALL, &[GOOD])], &[]);
    assert!(text(&r, SINGLE).contains("spec.mysteryField is not a field this check knows"), "{out}");
    let ivpol = "apiVersion: policies.kyverno.io/v1\nkind: ImageValidatingPolicy\nmetadata:\n  name: iv\nspec: {}\n";
    let (code, _, out) = run(EXAMPLES, &[ivpol.to_string()], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Kyverno \"ImageValidatingPolicy\" (\"policies.kyverno.io/v1\") is not evaluated"), "{out}");
}

/// Every controller given must admit: policy-controller's ClusterImagePolicy and Kyverno's ClusterPolicy.
#[test]
fn both_controllers_must_admit() {
    let cip = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata:\n  name: pc\nspec:\n  images:\n  - glob: \"registry.airlock.test/**\"\n  authorities:\n  - name: k\n    key:\n      data: |\n{}",
        indent(&pem(GOOD), 8)
    );
    let (code, r, out) = run(EXAMPLES, &[cip.clone(), key_policy("kv", ENFORCE, ALL, &[GOOD])], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(text(&r, SINGLE).contains("admitted by ClusterImagePolicy pc, authority k (key)"), "{out}");
    assert!(text(&r, SINGLE).contains("admitted by Kyverno ClusterPolicy kv, rule verify"), "{out}");
    // the report's own field names both, in order, for the audit record
    let by: Vec<String> = result(&r, SINGLE)["admitted_by"]
        .as_array()
        .expect("admitted_by")
        .iter()
        .map(|b| b.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(by.len(), 2, "{by:?}");
    assert_eq!(by[0], "ClusterImagePolicy pc, authority k (key)");
    assert!(by[1].starts_with("Kyverno ClusterPolicy kv, rule verify ("), "{by:?}");
    let (code, r, out) = run(EXAMPLES, &[cip.clone(), key_policy("kv", ENFORCE, ALL, &[OTHER])], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("admitted by ClusterImagePolicy pc"), "{out}");
    let only_single = key_policy("kv", ENFORCE, "*single*", &[GOOD]);
    let (code, r, out) = run(EXAMPLES, &[cip, only_single], &[]);
    assert_eq!(code, 0, "{out}");
    let note = text(&r, MULTI);
    assert!(note.contains("Kyverno admits it (it has no no-match deny)"), "{out}");
    assert!(!note.contains("no other controller"), "{out}");
}

/// The deprecated single-attestor form (`image`, `key`) is the attestor set `ImageVerification.Convert` makes:
/// here a key entry without `rekor`, so Rekor is required.
#[test]
fn deprecated_fields_become_an_attestor() {
    let doc = format!(
        "apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata:\n  name: old\nspec:\n{ENFORCE}  rules:\n  - name: verify\n    verifyImages:\n    - image: \"*single*\"\n      key: |\n{}",
        indent(&pem(GOOD), 8)
    );
    let (code, r, out) = run(EXAMPLES, &[doc], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str(), kind(&r, MULTI).as_str()), (1, "error", "pass"), "{out}");
    let why = "verifyImages[0].attestors[0].entries[0]: not evaluated: Rekor is required";
    assert!(text(&r, SINGLE).contains(why), "{out}");
}

/// Names and messages from the document are printed escaped: no control character reaches the terminal.
#[test]
fn input_text_is_printed_escaped() {
    let doc = key_policy("evil", ENFORCE, ALL, &[OTHER]).replace("name: evil", "name: \"evil\\e[2J\\nFAIL x\"");
    let (code, r, out) = run(EXAMPLES, &[doc], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains("\nFAIL x"), "{out}");
    assert!(out.contains("Kyverno ClusterPolicy evil\\u{001b}[2J\\u{000a}FAIL x"), "{out}");
    assert!(text(&r, SINGLE).contains("Kyverno ClusterPolicy evil"), "{out}");
}

/// `applyRules: One` stops at the first rule that applies; namespaced Policies say where they apply.
#[test]
fn apply_rules_one_and_namespaced_policies() {
    let two = |spec: &str| {
        let second = key_policy("x", "", ALL, &[OTHER]);
        let second = &second[second.find("  - name: verify").unwrap()..].replacen("name: verify", "name: second", 1);
        format!("{}{second}", key_policy("two", spec, ALL, &[GOOD]))
    };
    let (code, r, out) = run(EXAMPLES, &[two(ENFORCE)], &[]);
    assert_eq!((code, kind(&r, SINGLE).as_str()), (1, "bad-signature"), "{out}");
    assert!(text(&r, SINGLE).contains("rule second refuses it"), "{out}");
    let (code, _, out) = run(EXAMPLES, &[two(&format!("{ENFORCE}  applyRules: One\n"))], &[]);
    assert_eq!(code, 0, "{out}");
    let ns = key_policy("team", ENFORCE, ALL, &[GOOD])
        .replace("kind: ClusterPolicy", "kind: Policy")
        .replace("  name: team\n", "  name: team\n  namespace: apps\n");
    let (code, r, out) = run(EXAMPLES, &[ns], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        text(&r, SINGLE).contains("Kyverno Policy apps/team: a namespaced Policy governs only pods in namespace apps"),
        "{out}"
    );
}
