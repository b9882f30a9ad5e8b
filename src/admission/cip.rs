//! One sigstore policy-controller `ClusterImagePolicy` (`policy.sigstore.dev/v1beta1`, `v1alpha1`), as far
//! as an offline check can decide it. Read from the controller's types
//! (`pkg/apis/policy/v1beta1/clusterimagepolicy_types.go`) and its validator (`pkg/webhook/validator.go`,
//! policy-controller f925c0c):
//! - `key.data` authorities verify the legacy `.sig` signatures of the image's own digest with any of the
//!   PEM keys, and only the payload's digest is compared (cosign's `SimpleClaimVerifier`: the signed
//!   docker-reference is not); with no `ctlog` the transparency log is not consulted (`IgnoreTlog`);
//! - `static` authorities pass or fail;
//! - within one policy any authority admits the image; `mode: warn` turns a refusal into a warning.
//!
//! - `keyless` authorities (legacy `.sig` with a Fulcio certificate) are checked against `--trusted-root`,
//!   which stands in for the Fulcio and Rekor roots the controller would fetch: the certificate chains to a
//!   CA valid at the SET's time, carries an SCT when the root lists CT logs, and matches one of the
//!   `identities` (issuer and subject, exact or cosign's unanchored RE2 `*RegExp`);
//!
//! Everything else — `keyless` without `--trusted-root`, `ca-cert`, `secretRef`/`kms` keys, `source`, `ctlog`, `rfc3161timestamp`,
//! `attestations`, `signatureFormat: bundle`, `spec.policy` (CUE/Rego), and any field this reader does not
//! know — is not evaluated: the authority (or the policy) counts as refusing, and the output names it.

use super::glob::Glob;
use crate::signature::bundle::{self, root::TrustRoot};
use crate::signature::cert::{CertTrust, Matcher};
use crate::signature::check::Trust;
use crate::signature::identity::IdentityPolicy;
use crate::signature::keys::TrustedKey;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub struct ClusterImagePolicy {
    pub name: String,
    pub globs: Vec<Glob>,
    pub authorities: Vec<Authority>,
    pub warn: bool,
    /// Why the whole policy cannot admit anything offline (`spec.policy`, unknown spec fields).
    pub not_evaluated: Vec<String>,
    /// Parts read but not applied, said once per image (`spec.match`).
    pub notes: Vec<String>,
}

pub struct Authority {
    pub name: String,
    pub kind: AuthorityKind,
}

pub enum AuthorityKind {
    /// Signatures one of these admits (a key authority's keys; one per keyless identity), with what each
    /// is shown as.
    Signed(Vec<(String, Trust)>),
    Static {
        pass: bool,
        message: String,
    },
    /// Cannot be evaluated offline, or not yet: why.
    NotEvaluated(String),
}

const SPEC: [&str; 5] = ["images", "authorities", "policy", "mode", "match"];
const AUTHORITY: [&str; 9] =
    ["name", "key", "keyless", "static", "source", "ctlog", "attestations", "rfc3161timestamp", "signatureFormat"];

impl ClusterImagePolicy {
    /// Reads one document; `Err` only for a document the controller itself would refuse.
    pub fn parse(doc: &Value, file: &str, root: Option<&Arc<TrustRoot>>) -> Result<ClusterImagePolicy, String> {
        let name = doc["metadata"]["name"].as_str().unwrap_or("(unnamed)").to_string();
        let at = |why: String| format!("{file}: ClusterImagePolicy {name}: {why}");
        let spec = doc.get("spec").and_then(Value::as_object).ok_or_else(|| at("no spec".into()))?;
        let mut policy = ClusterImagePolicy {
            name: name.clone(),
            globs: Vec::new(),
            authorities: Vec::new(),
            warn: false,
            not_evaluated: unknown_keys(spec, &SPEC, "spec"),
            notes: Vec::new(),
        };
        for image in spec.get("images").and_then(Value::as_array).into_iter().flatten() {
            let glob = image["glob"].as_str().ok_or_else(|| at("an images entry has no glob".into()))?;
            policy.globs.push(Glob::compile(glob).map_err(at)?);
            let extra = image.as_object().map(|o| unknown_keys(o, &["glob"], "images[]")).unwrap_or_default();
            policy.not_evaluated.extend(extra);
        }
        if policy.globs.is_empty() {
            return Err(at("spec.images names no glob".into()));
        }
        policy.warn = match spec.get("mode").and_then(Value::as_str).unwrap_or("enforce") {
            "enforce" => false,
            "warn" => true,
            other => return Err(at(format!("mode {other:?} is neither enforce nor warn"))),
        };
        if spec.contains_key("policy") {
            policy.not_evaluated.push("spec.policy (a CUE/Rego policy over the image) is not evaluated".into());
        }
        if spec.contains_key("match") {
            policy.notes.push("spec.match (resource kinds and labels) is not evaluated: applied to every image".into());
        }
        for (i, a) in spec.get("authorities").and_then(Value::as_array).into_iter().flatten().enumerate() {
            policy.authorities.push(Authority::parse(a, i, &PathBuf::from(format!("{file}: {name}")), root));
        }
        Ok(policy)
    }

    pub fn governs(&self, names: &[String]) -> bool {
        self.globs.iter().any(|g| names.iter().any(|n| g.matches(n)))
    }
}

impl Authority {
    fn parse(a: &Value, index: usize, origin: &std::path::Path, root: Option<&Arc<TrustRoot>>) -> Authority {
        let name = a["name"].as_str().map_or_else(|| format!("authority-{index}"), str::to_string);
        let kind = match a.as_object() {
            Some(map) => kind_of(map, origin, root),
            None => AuthorityKind::NotEvaluated("not an object".into()),
        };
        Authority { name, kind }
    }
}

fn kind_of(
    map: &serde_json::Map<String, Value>,
    origin: &std::path::Path,
    root: Option<&Arc<TrustRoot>>,
) -> AuthorityKind {
    let mut why = unknown_keys(map, &AUTHORITY, "authority");
    for (field, what) in [
        ("source", "signatures in another repository (source) are not read offline"),
        ("ctlog", "a transparency log (ctlog) cannot be reached offline"),
        ("rfc3161timestamp", "RFC 3161 timestamp authorities (rfc3161timestamp) are not evaluated yet"),
        ("attestations", "attestations are not evaluated"),
    ] {
        if map.contains_key(field) {
            why.push(what.into());
        }
    }
    match map.get("signatureFormat").and_then(Value::as_str) {
        None | Some("") | Some("simplesigning") => {}
        Some(other) => why.push(format!("signatureFormat {other:?} is not evaluated for key authorities")),
    }
    if !why.is_empty() {
        return AuthorityKind::NotEvaluated(why.join("; "));
    }
    if let Some(s) = map.get("static") {
        return match s["action"].as_str() {
            Some("pass") => AuthorityKind::Static { pass: true, message: String::new() },
            Some("fail") => AuthorityKind::Static { pass: false, message: s["message"].as_str().unwrap_or("").into() },
            other => AuthorityKind::NotEvaluated(format!("static action {other:?} is neither pass nor fail")),
        };
    }
    match (map.get("key"), map.get("keyless")) {
        (Some(key), _) => key_kind(key, origin),
        (None, Some(keyless)) => keyless_kind(keyless, root),
        (None, None) => AuthorityKind::NotEvaluated("the authority has neither key, keyless nor static".into()),
    }
}

/// A trust that checks legacy `.sig` signatures the way cosign does for the controller: the payload's
/// digest, not its docker-reference; no referrer bundles.
/// With a certificate, the trusted root's rules apply too (the SET by the log its logID names, the log and a
/// CA valid at the integrated time, an SCT when the root lists CT logs): `bundle_identity` turns them on.
pub(super) fn legacy(keys: Vec<TrustedKey>, keyless: Option<(&Arc<TrustRoot>, Matcher, Matcher)>) -> Trust {
    let (certificate, bundle_root, bundle_identity) = match keyless {
        Some((root, issuer, subject)) => (
            Some(Box::new(CertTrust::fulcio(root, issuer.clone(), subject.clone()))),
            Some(root.clone()),
            Some(bundle::Identity { subject, issuer }),
        ),
        None => (None, None, None),
    };
    Trust {
        keys,
        rekor_keys: Vec::new(),
        identity: IdentityPolicy::DigestOnly,
        certificate,
        bundle_root,
        bundle_identity,
    }
}

fn keyless_kind(keyless: &Value, root: Option<&Arc<TrustRoot>>) -> AuthorityKind {
    let Some(map) = keyless.as_object() else { return AuthorityKind::NotEvaluated("keyless is not an object".into()) };
    let known = ["url", "identities", "ca-cert", "trustRootRef", "insecureIgnoreSCT"];
    let mut why = unknown_keys(map, &known, "keyless");
    if map.contains_key("ca-cert") {
        why.push("keyless ca-cert (a private CA) is not evaluated".into());
    }
    let Some(root) = root else {
        why.push("keyless identities need --trusted-root (the Fulcio and Rekor roots the cluster trusts)".into());
        return AuthorityKind::NotEvaluated(why.join("; "));
    };
    let mut trusts = Vec::new();
    for id in map.get("identities").and_then(Value::as_array).into_iter().flatten() {
        match identity(id) {
            Ok((shown, issuer, subject)) => trusts.push((shown, legacy(Vec::new(), Some((root, issuer, subject))))),
            Err(e) => why.push(e),
        }
    }
    if trusts.is_empty() && why.is_empty() {
        why.push("keyless has no identities".into());
    }
    if !why.is_empty() {
        return AuthorityKind::NotEvaluated(why.join("; "));
    }
    AuthorityKind::Signed(trusts)
}

/// One `identities[]` entry: issuer and subject, each exact or as cosign's `*RegExp` (RE2, matched
/// anywhere in the value, as Go's `MatchString` does). Both are required: an identity that leaves one open
/// is not evaluated rather than read as "any".
fn identity(id: &Value) -> Result<(String, Matcher, Matcher), String> {
    let field = |exact: &str, re: &str| -> Result<Option<(String, Matcher)>, String> {
        match (id[exact].as_str().filter(|s| !s.is_empty()), id[re].as_str().filter(|s| !s.is_empty())) {
            (Some(e), _) => Ok(Some((e.to_string(), Matcher::Exact(e.to_string())))),
            (None, Some(r)) => Matcher::regex(&format!(".*(?:{r}).*"))
                .map(|m| Some((format!("/{r}/"), m)))
                .map_err(|e| format!("identities {re}: {e}")),
            (None, None) => Ok(None),
        }
    };
    let extra = id
        .as_object()
        .map(|o| unknown_keys(o, &["issuer", "subject", "issuerRegExp", "subjectRegExp"], "identities[]"));
    if let Some(e) = extra.and_then(|e| e.into_iter().next()) {
        return Err(e);
    }
    match (field("issuer", "issuerRegExp")?, field("subject", "subjectRegExp")?) {
        (Some((i, issuer)), Some((s, subject))) => Ok((format!("{s} ({i})"), issuer, subject)),
        _ => Err("an identity without both an issuer and a subject is not evaluated".into()),
    }
}

fn key_kind(key: &Value, origin: &std::path::Path) -> AuthorityKind {
    let Some(map) = key.as_object() else { return AuthorityKind::NotEvaluated("key is not an object".into()) };
    let mut why = unknown_keys(map, &["data", "secretRef", "kms", "hashAlgorithm"], "key");
    if map.contains_key("secretRef") || map.contains_key("kms") {
        why.push("secretRef/kms keys cannot be read offline".into());
    }
    if map.get("hashAlgorithm").and_then(Value::as_str).is_some_and(|h| h != "sha256") {
        why.push("a hashAlgorithm other than sha256 is not evaluated".into());
    }
    if !why.is_empty() {
        return AuthorityKind::NotEvaluated(why.join("; "));
    }
    let Some(data) = map.get("data").and_then(Value::as_str) else {
        return AuthorityKind::NotEvaluated("key has no data".into());
    };
    let mut keys = Vec::new();
    for block in pem_blocks(data) {
        match TrustedKey::from_pem(origin.to_path_buf(), block.as_bytes()) {
            Ok(k) => keys.push(k),
            Err(e) => return AuthorityKind::NotEvaluated(format!("key data: {e}")),
        }
    }
    if keys.is_empty() {
        return AuthorityKind::NotEvaluated("key data holds no PEM public key".into());
    }
    AuthorityKind::Signed(vec![("key".into(), legacy(keys, None))])
}

/// Each `-----BEGIN …-----` … `-----END …-----` block of `data` (policy-controller accepts several keys).
fn pem_blocks(data: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in data.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END ") {
            blocks.extend(current.take());
        }
    }
    blocks
}

pub(super) fn unknown_keys(map: &serde_json::Map<String, Value>, known: &[&str], at: &str) -> Vec<String> {
    map.keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| format!("{at}.{k} is not a field this check knows"))
        .collect()
}
