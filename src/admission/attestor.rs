//! Kyverno `verifyImages[].attestors[]` (`api/kyverno/v1/image_verification_types.go`, kyverno 111e07b) as
//! trusts airlock checks, evaluated as `pkg/engine/internal/imageverifier.go` does (`verifyAttestorSet`):
//! every attestor set must pass; within one, `count` entries must verify (none or 0: all of them); a
//! `keys.publicKeys` holding several PEM keys is one entry per key (`ExpandStaticKeys`, `splitPEM`).
//! Each entry builds the same trust as a policy-controller authority (`cip::legacy`: the legacy `.sig` of the
//! image's own digest, the payload's digest compared, not its docker-reference — cosign's
//! `SimpleClaimVerifier`, which Kyverno's `buildCosignOptions` sets too), with Kyverno's defaults
//! (`buildCosignVerifier`): Rekor is required unless `rekor.ignoreTlog`, and offline its SET is checked with
//! `rekor.pubkey` or the `--trusted-root` logs; keyless subjects and issuers are Kyverno wildcards or
//! unanchored regexps (`matchCertificateData`). What cannot be decided offline is an entry that never
//! verifies, with the reason.

use super::cip::{legacy, unknown_keys};
use super::wildcard;
use crate::finding::Kind;
use crate::signature::bundle::root::{Authority, TrustRoot, Window};
use crate::signature::cert::{Matcher, pem_certificates};
use crate::signature::check::{Outcome, Trust};
use crate::signature::keys::TrustedKey;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// One `attestors[]` set (or a nested `attestor`).
pub struct AttestorSet {
    pub path: String,
    /// Entries that must verify (`count`, or all).
    pub required: usize,
    pub entries: Vec<Entry>,
}

/// One entry after `ExpandStaticKeys`.
pub struct Entry {
    pub path: String,
    pub shown: String,
    pub kind: EntryKind,
}

pub enum EntryKind {
    Signed(Box<Trust>),
    Nested(AttestorSet),
    /// Never verifies offline: why.
    NotEvaluated(String),
}

/// Where the entries come from: names their keys, and the root keyless entries and Rekor checks use.
pub struct Origin<'a> {
    pub at: &'a str,
    pub root: Option<&'a Arc<TrustRoot>>,
}

const ATTESTOR: [&str; 7] =
    ["keys", "certificates", "keyless", "attestor", "annotations", "repository", "signatureAlgorithm"];
const KEYS: [&str; 6] = ["publicKeys", "signatureAlgorithm", "kms", "secret", "rekor", "ctlog"];
const KEYLESS: [&str; 8] =
    ["rekor", "ctlog", "issuer", "issuerRegExp", "subject", "subjectRegExp", "roots", "additionalExtensions"];
const PUBLIC_KEY_END: &str = "-----END PUBLIC KEY-----";

impl AttestorSet {
    /// Reads one set; `Err` for what Kyverno's own validation refuses (`validateAttestorSet`).
    pub fn parse(v: &Value, path: String, origin: &Origin) -> Result<AttestorSet, String> {
        let map = v.as_object().ok_or_else(|| format!("{path} is not an object"))?;
        if let Some(extra) = unknown_keys(map, &["count", "entries"], &path).into_iter().next() {
            return Err(extra);
        }
        let listed = map.get("entries").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if listed.is_empty() {
            return Err(format!("{path}: an entry is required (Kyverno refuses an empty attestor set)"));
        }
        let count = match map.get("count") {
            None | Some(Value::Null) => None,
            Some(c) => Some(c.as_u64().filter(|c| *c as usize <= listed.len()).ok_or_else(|| {
                format!("{path}: count {c} is not a number from 1 to the {} entries listed", listed.len())
            })? as usize),
        };
        let mut entries = Vec::new();
        for (i, e) in listed.iter().enumerate() {
            entries.extend(parse_entry(e, &format!("{path}.entries[{i}]"), origin)?);
        }
        // `RequiredCount`: a null or zero count means every (expanded) entry
        let required = count.filter(|c| *c > 0).unwrap_or(entries.len());
        Ok(AttestorSet { path, required, entries })
    }

    /// The shown names of the entries that verified, or why too few did.
    pub fn verify(&self, verify: &dyn Fn(&Trust) -> Outcome) -> Result<Vec<String>, (Kind, String)> {
        let (mut verified, mut reasons) = (Vec::new(), Vec::new());
        for entry in &self.entries {
            match entry.verify(verify) {
                Ok(shown) => {
                    verified.push(shown);
                    if verified.len() >= self.required {
                        return Ok(verified);
                    }
                }
                Err(reason) => reasons.push(reason),
            }
        }
        let kind = reasons.iter().map(|(k, _)| *k).find(|k| *k != Kind::Error).unwrap_or(Kind::Error);
        let all: Vec<String> = reasons.into_iter().map(|(_, m)| m).collect();
        let (n, got, need) = (self.entries.len(), verified.len(), self.required);
        Err((kind, format!("{}: {got} of {n} entries verified, {need} required: {}", self.path, all.join("; "))))
    }

    /// Every key an entry holds (the report's `keys`).
    pub fn keys(&self) -> Vec<TrustedKey> {
        let of = |e: &Entry| match &e.kind {
            EntryKind::Signed(t) => t.keys.clone(),
            EntryKind::Nested(set) => set.keys(),
            EntryKind::NotEvaluated(_) => Vec::new(),
        };
        self.entries.iter().flat_map(of).collect()
    }
}

impl Entry {
    fn verify(&self, verify: &dyn Fn(&Trust) -> Outcome) -> Result<String, (Kind, String)> {
        match &self.kind {
            EntryKind::Signed(trust) => match verify(trust) {
                Outcome::Accepted(_) => Ok(format!("{} ({})", self.path, self.shown)),
                Outcome::Rejected { kind, message } => {
                    Err((kind, format!("{} ({}): {message}", self.path, self.shown)))
                }
            },
            EntryKind::Nested(set) => set.verify(verify).map(|v| v.join(", ")),
            EntryKind::NotEvaluated(why) => Err((Kind::Error, format!("{}: not evaluated: {why}", self.path))),
        }
    }
}

/// One `entries[]` item: one entry, or one per key of a multi-key `publicKeys`.
fn parse_entry(v: &Value, path: &str, origin: &Origin) -> Result<Vec<Entry>, String> {
    let map = v.as_object().ok_or_else(|| format!("{path} is not an object"))?;
    let forms = ["keys", "certificates", "keyless", "attestor"].iter().filter(|k| map.contains_key(**k)).count();
    if forms != 1 {
        return Err(format!("{path}: exactly one of keys, certificates, keyless or a nested attestor is required"));
    }
    let mut why = unknown_keys(map, &ATTESTOR, path);
    if map.get("annotations").and_then(Value::as_object).is_some_and(|a| !a.is_empty()) {
        why.push("annotations (payload annotations to match) are not evaluated".into());
    }
    if map.get("repository").and_then(Value::as_str).is_some_and(|r| !r.is_empty()) {
        why.push("repository (signatures in another repository) is not read offline".into());
    }
    why.extend(algorithm(map));
    if map.contains_key("certificates") {
        why.push("certificates attestors are not evaluated".into());
    }
    let one = |shown: &str, kind: EntryKind| vec![Entry { path: path.into(), shown: shown.into(), kind }];
    if let Some(nested) = map.get("attestor") {
        let set = AttestorSet::parse(nested, format!("{path}.attestor"), origin)?;
        return Ok(one("nested attestor", if why.is_empty() { EntryKind::Nested(set) } else { not(why) }));
    }
    if let Some(keyless) = map.get("keyless") {
        let (shown, kind) = keyless_kind(keyless, path, why, origin)?;
        return Ok(one(&shown, kind));
    }
    match map.get("keys") {
        Some(keys) => key_entries(keys, path, why, origin),
        None => Ok(one("certificates", not(why))),
    }
}

fn not(why: Vec<String>) -> EntryKind {
    EntryKind::NotEvaluated(why.join("; "))
}

/// `signatureAlgorithm`: cosign's default sha256 is what airlock checks.
fn algorithm(map: &Map<String, Value>) -> Option<String> {
    match map.get("signatureAlgorithm").and_then(Value::as_str) {
        None | Some("") | Some("sha256") => None,
        Some(other) => Some(format!("signatureAlgorithm {other:?} is not evaluated (only sha256)")),
    }
}

/// `keys`: one entry per PEM key (Kyverno's `splitPEM` cuts after each `-----END PUBLIC KEY-----`).
fn key_entries(keys: &Value, path: &str, mut why: Vec<String>, origin: &Origin) -> Result<Vec<Entry>, String> {
    let map = keys.as_object().ok_or_else(|| format!("{path}.keys is not an object"))?;
    let text = map.get("publicKeys").and_then(Value::as_str).unwrap_or_default();
    if text.is_empty() && !map.contains_key("kms") && !map.contains_key("secret") {
        return Err(format!("{path}.keys: a public key, kms key or secret is required"));
    }
    why.extend(unknown_keys(map, &KEYS, &format!("{path}.keys")));
    if map.contains_key("kms") || map.contains_key("secret") {
        why.push("keys.kms / keys.secret (a key in a KMS or a cluster Secret) cannot be read offline".into());
    }
    why.extend(algorithm(map));
    let rekor = rekor_keys(map, &format!("{path}.keys"), origin);
    if let Some(ctlog) = map.get("ctlog").and_then(Value::as_object) {
        why.extend(unknown_keys(ctlog, &["ignoreSCT", "pubkey", "tsaCertChain"], &format!("{path}.keys.ctlog")));
        if ctlog.contains_key("tsaCertChain") {
            why.push("ctlog.tsaCertChain (RFC 3161 timestamps) is not evaluated".into());
        }
    }
    let pieces: Vec<&str> = text.split_inclusive(PUBLIC_KEY_END).filter(|p| p.ends_with(PUBLIC_KEY_END)).collect();
    let pems = if pieces.len() > 1 { pieces } else { vec![text] };
    let n = pems.len();
    let mut entries = Vec::new();
    for (i, pem) in pems.into_iter().enumerate() {
        let shown = if n > 1 { format!("key {} of {n}", i + 1) } else { "key".to_string() };
        let kind = match (why.is_empty(), &rekor) {
            (false, _) => not(why.clone()),
            (true, Err(e)) => EntryKind::NotEvaluated(e.clone()),
            (true, Ok(rekor)) => key_kind(pem, &format!("{}: {path} ({shown})", origin.at), rekor),
        };
        entries.push(Entry { path: path.into(), shown, kind });
    }
    Ok(entries)
}

fn key_kind(pem: &str, file: &str, rekor: &[TrustedKey]) -> EntryKind {
    // anything else is a key reference to Kyverno (`k8s://`, a KMS URI) or an unsubstituted variable
    if !pem.trim().starts_with("-----BEGIN PUBLIC KEY-----") {
        return EntryKind::NotEvaluated(
            "publicKeys is not a PEM public key (a key reference is not read offline)".into(),
        );
    }
    match TrustedKey::from_pem(PathBuf::from(file), pem.trim().as_bytes()) {
        Ok(key) => {
            let mut trust = legacy(vec![key], None);
            trust.rekor_keys = rekor.to_vec();
            EntryKind::Signed(Box::new(trust))
        }
        Err(e) => EntryKind::NotEvaluated(format!("publicKeys: {e}")),
    }
}

/// The keys a Rekor SET must verify with: none with `rekor.ignoreTlog: true`; else `rekor.pubkey`, or the
/// `--trusted-root` logs; `Err` when Rekor is required and no key is at hand.
fn rekor_keys(map: &Map<String, Value>, path: &str, origin: &Origin) -> Result<Vec<TrustedKey>, String> {
    let rekor = map.get("rekor").and_then(Value::as_object);
    if let Some(extra) =
        rekor.and_then(|r| unknown_keys(r, &["url", "pubkey", "ignoreTlog"], &format!("{path}.rekor")).pop())
    {
        return Err(extra);
    }
    if rekor.and_then(|r| r.get("ignoreTlog")).and_then(Value::as_bool) == Some(true) {
        return Ok(Vec::new());
    }
    match rekor.and_then(|r| r.get("pubkey")).and_then(Value::as_str) {
        Some(pem) => TrustedKey::from_pem(PathBuf::from(format!("{}: {path}.rekor.pubkey", origin.at)), pem.as_bytes())
            .map(|k| vec![k])
            .map_err(|e| format!("rekor.pubkey: {e}")),
        None => match origin.root {
            Some(root) if !root.tlogs.is_empty() => Ok(root.tlogs.iter().map(|l| l.key.clone()).collect()),
            _ => Err("Rekor is required (rekor.ignoreTlog is not true), and its key is in neither rekor.pubkey \
                      nor --trusted-root"
                .into()),
        },
    }
}

/// `keyless`: a Fulcio certificate chaining to `roots` (or the `--trusted-root` CAs), its SET by `rekor.pubkey`
/// (or the root's logs), an SCT unless `ctlog.ignoreSCT`, and the identity Kyverno matches.
fn keyless_kind(
    keyless: &Value,
    path: &str,
    mut why: Vec<String>,
    origin: &Origin,
) -> Result<(String, EntryKind), String> {
    let map = keyless.as_object().ok_or_else(|| format!("{path}.keyless is not an object"))?;
    let text = |k: &str| map.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let shown = |exact: &str, re: &str| text(exact).map(str::to_string).or(text(re).map(|r| format!("/{r}/")));
    let any = || "any".to_string();
    let shown = format!(
        "keyless {} ({})",
        shown("subject", "subjectRegExp").unwrap_or_else(any),
        shown("issuer", "issuerRegExp").unwrap_or_else(any)
    );
    let rekor = map.get("rekor").and_then(Value::as_object);
    // `KeylessAttestor.Validate`
    if rekor.is_none() && text("roots").is_none() {
        return Err(format!("{path}.keyless: either rekor (with a url) or roots is required"));
    }
    if rekor.is_some_and(|r| r.get("url").and_then(Value::as_str).is_none_or(str::is_empty)) {
        return Err(format!("{path}.keyless.rekor: a url is required"));
    }
    why.extend(unknown_keys(map, &KEYLESS, &format!("{path}.keyless")));
    if let Some(r) = rekor {
        why.extend(unknown_keys(r, &["url", "pubkey", "ignoreTlog"], &format!("{path}.keyless.rekor")));
    }
    if map.get("additionalExtensions").and_then(Value::as_object).is_some_and(|a| !a.is_empty()) {
        why.push("keyless.additionalExtensions are not evaluated".into());
    }
    if rekor.and_then(|r| r.get("ignoreTlog")).and_then(Value::as_bool) == Some(true) {
        why.push("keyless with rekor.ignoreTlog (a certificate checked at the current time) is not evaluated".into());
    }
    let ctlog = map.get("ctlog").and_then(Value::as_object);
    if let Some(c) = ctlog {
        why.extend(unknown_keys(c, &["ignoreSCT", "pubkey", "tsaCertChain"], &format!("{path}.keyless.ctlog")));
        if c.contains_key("pubkey") || c.contains_key("tsaCertChain") {
            why.push("keyless ctlog.pubkey / ctlog.tsaCertChain are not evaluated".into());
        }
    }
    if text("issuer").is_some() && text("issuerRegExp").is_some() {
        why.push("issuer and issuerRegExp together are not evaluated".into());
    }
    let Some(root) = origin.root else {
        why.push("keyless entries need --trusted-root (the Fulcio, Rekor and CT roots the cluster trusts)".into());
        return Ok((shown, not(why)));
    };
    let identity = |exact: &str, re: &str| -> Result<Matcher, String> {
        let mut any: Vec<String> = text(exact).map(wildcard::to_regex).into_iter().collect();
        any.extend(text(re).map(|r| format!("(?s:.*)(?:{r})(?s:.*)")));
        let body = if any.is_empty() { "(?s:.*)".to_string() } else { any.join("|") };
        Matcher::regex(&body).map_err(|e| format!("keyless {exact}/{re}: {e}"))
    };
    let matchers = identity("issuer", "issuerRegExp").and_then(|i| Ok((i, identity("subject", "subjectRegExp")?)));
    let (issuer, subject) = match matchers {
        Ok(m) => m,
        Err(e) => return Ok((shown, EntryKind::NotEvaluated(e))),
    };
    let root = keyless_root(root, map, &format!("{}: {path}.keyless", origin.at), &mut why);
    if !why.is_empty() {
        return Ok((shown, not(why)));
    }
    Ok((shown, EntryKind::Signed(Box::new(legacy(Vec::new(), Some((&root, issuer, subject)))))))
}

/// The `--trusted-root` with the entry's own parts in place of its own: `roots` for the CAs, `rekor.pubkey`
/// for the logs, no CT logs under `ctlog.ignoreSCT`; what cannot be read is added to `why`.
fn keyless_root(root: &TrustRoot, map: &Map<String, Value>, at: &str, why: &mut Vec<String>) -> Arc<TrustRoot> {
    let mut root = root.clone();
    if let Some(roots) = map.get("roots").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        match pem_certificates(roots.as_bytes(), "keyless.roots") {
            Ok(certs) => root.fulcio = certs.into_iter().map(anchor).collect(),
            Err(e) => why.push(e),
        }
    }
    if let Some(pem) = map.get("rekor").and_then(|r| r.get("pubkey")).and_then(Value::as_str) {
        match TrustedKey::from_pem(PathBuf::from(format!("{at}.rekor.pubkey")), pem.as_bytes()) {
            Ok(k) => root.tlogs = TrustRoot::from_rekor_keys(&[k]).tlogs,
            Err(e) => why.push(format!("rekor.pubkey: {e}")),
        }
    }
    if map.get("ctlog").and_then(|c| c.get("ignoreSCT")).and_then(Value::as_bool) == Some(true) {
        root.ctlogs.clear();
    }
    Arc::new(root)
}

/// A `roots` certificate: a trust anchor at every time (cosign's `RootCerts` pool has no validity windows).
fn anchor(der: Vec<u8>) -> Authority {
    Authority { name: "keyless.roots".into(), chain: vec![der], valid: Window { start: i64::MIN, end: None } }
}
