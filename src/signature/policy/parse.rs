//! Parsing containers-policy.json as containers-image's `signature/policy_config.go` and
//! `policy_config_sigstore.go` do: the same accepted shapes, the same refusals, and the same messages
//! where that helps an operator compare them with skopeo's.

use super::Requirement;
use crate::signature::identity::IdentityPolicy;
use base64::Engine as _;
use serde_json::{Map, Value};

/// Keys named by paths (read when evaluated), or given inline (decoded now, parsed when evaluated).
pub(super) enum KeySource {
    Paths(Vec<String>),
    Datas(Vec<Vec<u8>>),
}

pub(super) enum CertSource {
    Path(String),
    Data(Vec<u8>),
}

pub(super) enum TrustSpec {
    Keys(KeySource),
    Fulcio { ca: CertSource, issuer: String, email: String },
    Pki { roots: CertSource, intermediates: Option<CertSource>, email: Option<String>, hostname: Option<String> },
}

/// A parsed `sigstoreSigned` requirement.
pub(super) struct SigstoreSpec {
    pub trust: TrustSpec,
    pub rekor: Option<KeySource>,
    pub identity: IdentityPolicy,
    /// Where it is in the policy, for messages.
    pub what: String,
}

type Scopes = Vec<(String, Vec<Requirement>)>;

/// The whole policy: the global default and the docker transport's scopes; every other transport is
/// validated and set aside (airlock checks docker identities only).
pub(super) fn policy(v: &Value) -> Result<(Vec<Requirement>, Scopes), String> {
    let top = object(v)?;
    only_keys(top, &["default", "transports"])?;
    let default = requirements(top.get("default").ok_or("Default policy is missing")?, "default")?;
    let mut docker = Vec::new();
    if let Some(transports) = top.get("transports") {
        for (transport, scopes) in object(transports)? {
            for (scope, reqs) in object(scopes)? {
                if !scope.is_empty() {
                    validate_scope(transport, scope).map_err(|_| format!("Unknown key {scope:?}"))?;
                }
                let reqs = requirements(reqs, &format!("transports.{transport}[{scope:?}]"))?;
                if transport == "docker" {
                    docker.push((scope.clone(), reqs));
                }
            }
        }
    }
    Ok((default, docker))
}

/// Each transport's `ValidatePolicyConfigurationScope`: `docker`, `docker-daemon` and unknown
/// transports accept any scope; path transports want a clean absolute path; `docker-archive` none.
fn validate_scope(transport: &str, scope: &str) -> Result<(), ()> {
    let clean_absolute = |s: &str| {
        s.starts_with('/')
            && s != "/"
            && !s.ends_with('/')
            && !s.contains("//")
            && !s.split('/').any(|c| c == "." || c == "..")
    };
    match transport {
        "dir" | "oci" | "oci-archive" | "sif" if !clean_absolute(scope) => Err(()),
        "docker-archive" => Err(()),
        "containers-storage" => storage_scope(scope),
        _ => Ok(()),
    }
}

/// `[driver@/graph/root]` or `[/graph/root]`, then optionally an image name or ID.
fn storage_scope(scope: &str) -> Result<(), ()> {
    let rest = scope.strip_prefix('[').ok_or(())?;
    let close = rest.find(']').filter(|&i| i > 0).ok_or(())?;
    let store = &rest[..close];
    let root = match store.split_once('@') {
        Some((driver, root)) if !driver.is_empty() && !root.is_empty() => root,
        _ => store,
    };
    if !root.starts_with('/') {
        return Err(());
    }
    let image = &rest[close + 1..];
    let is_id = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if image.is_empty()
        || is_id(image)
        || crate::reference::DockerRef::parse(image.split('@').next().unwrap_or("")).is_ok()
    {
        Ok(())
    } else {
        Err(())
    }
}

fn object(v: &Value) -> Result<&Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("JSON object expected, got {}", kind(v)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("Unknown key {k:?}")),
        None => Ok(()),
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(format!("{key}: string expected, got {}", kind(v))),
    }
}

fn strings(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| format!("{key}: strings expected")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(format!("{key}: array expected, got {}", kind(v))),
    }
}

/// Go's encoding/json reads `[]byte` as standard base64 with padding; `\r` and `\n` are skipped (what
/// `base64` and `jq` write), nothing else is.
fn bytes(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<u8>>, String> {
    string(map, key)?.map(decode).transpose().map_err(|e| format!("{key}: {e}"))
}

fn decode(s: &str) -> Result<Vec<u8>, String> {
    let joined: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD.decode(joined).map_err(|e| format!("illegal base64 data: {e}"))
}

fn byte_lists(map: &Map<String, Value>, key: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
    strings(map, key)?.map(|v| v.iter().map(|s| decode(s)).collect::<Result<Vec<_>, _>>()).transpose()
}

fn requirements(v: &Value, what: &str) -> Result<Vec<Requirement>, String> {
    let items = match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.clone(),
        other => return Err(format!("{what}: array expected, got {}", kind(other))),
    };
    if items.is_empty() {
        return Err("List of verification policy requirements must not be empty".into());
    }
    items.iter().enumerate().map(|(i, r)| requirement(r, &format!("{what}[{i}]"))).collect()
}

fn requirement(v: &Value, what: &str) -> Result<Requirement, String> {
    let map = object(v)?;
    match string(map, "type")?.unwrap_or("") {
        "insecureAcceptAnything" => only_keys(map, &["type"]).map(|_| Requirement::Accept),
        "reject" => only_keys(map, &["type"]).map(|_| Requirement::Reject),
        "sigstoreSigned" => sigstore(map, what)
            .map(|s| Requirement::Sigstore(Box::new(super::Sigstore { spec: s, loaded: std::sync::OnceLock::new() }))),
        "signedBy" => {
            signed_by(map).map(|()| Requirement::Unsupported("GPG signedBy requirements are not supported".into()))
        }
        "signedBaseLayer" => {
            only_keys(map, &["type", "baseLayerIdentity"])?;
            signed_identity(map.get("baseLayerIdentity").unwrap_or(&Value::Null))?;
            Ok(Requirement::Unsupported("signedBaseLayer not implemented yet!".into()))
        }
        other => Err(format!("Unknown policy requirement type {other:?}")),
    }
}

/// A GPG (or X.509) `signedBy` requirement: parsed for its validity only.
fn signed_by(map: &Map<String, Value>) -> Result<(), String> {
    only_keys(map, &["type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"])?;
    match string(map, "keyType")?.unwrap_or("") {
        "GPGKeys" | "signedByGPGKeys" | "X509Certificates" | "signedByX509CAs" => {}
        other => return Err(format!("Unrecognized keyType value {other:?}")),
    }
    let given = ["keyPath", "keyPaths", "keyData"].iter().filter(|k| map.contains_key(**k)).count();
    if given == 0 {
        return Err("Exactly one of keyPath, keyPaths and keyData must be specified, none of them present".into());
    }
    if given > 1 {
        return Err("Exactly one of keyPath, keyPaths and keyData must be specified, more than one present".into());
    }
    string(map, "keyPath")?;
    strings(map, "keyPaths")?;
    bytes(map, "keyData")?;
    if let Some(si) = map.get("signedIdentity") {
        signed_identity(si)?;
    }
    Ok(())
}

/// `sigstoreSigned` (`newPRSigstoreSigned`): exactly one key source, at most one Rekor key source.
fn sigstore(map: &Map<String, Value>, what: &str) -> Result<SigstoreSpec, String> {
    only_keys(
        map,
        &[
            "type",
            "keyPath",
            "keyPaths",
            "keyData",
            "keyDatas",
            "fulcio",
            "pki",
            "signedIdentity",
            "rekorPublicKeyPath",
            "rekorPublicKeyPaths",
            "rekorPublicKeyData",
            "rekorPublicKeyDatas",
        ],
    )?;
    let mut sources: Vec<TrustSpec> = Vec::new();
    if let Some(p) = string(map, "keyPath")?.filter(|p| !p.is_empty()) {
        sources.push(TrustSpec::Keys(KeySource::Paths(vec![p.to_string()])));
    }
    if let Some(p) = strings(map, "keyPaths")? {
        if p.is_empty() {
            return Err("\"keyPaths\" contains no entries".into());
        }
        sources.push(TrustSpec::Keys(KeySource::Paths(p)));
    }
    if let Some(d) = bytes(map, "keyData")? {
        sources.push(TrustSpec::Keys(KeySource::Datas(vec![d])));
    }
    if let Some(d) = byte_lists(map, "keyDatas")? {
        if d.is_empty() {
            return Err("\"keyDatas\" contains no entries".into());
        }
        sources.push(TrustSpec::Keys(KeySource::Datas(d)));
    }
    if let Some(f) = map.get("fulcio") {
        sources.push(fulcio(f)?);
    }
    if let Some(p) = map.get("pki") {
        sources.push(pki(p)?);
    }
    let rekor = rekor(map)?;
    if sources.len() != 1 {
        return Err("exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified".into());
    }
    let trust = sources.remove(0);
    if matches!(trust, TrustSpec::Fulcio { .. }) && rekor.is_none() {
        return Err("At least one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas must be specified if fulcio is used".into());
    }
    if matches!(trust, TrustSpec::Pki { .. }) && rekor.is_some() {
        return Err("a Rekor public key cannot be used with pki".into());
    }
    let identity = match map.get("signedIdentity") {
        None => IdentityPolicy::MatchRepoDigestOrExact,
        Some(v) => signed_identity(v)?,
    };
    Ok(SigstoreSpec { trust, rekor, identity, what: what.to_string() })
}

fn rekor(map: &Map<String, Value>) -> Result<Option<KeySource>, String> {
    let mut found = Vec::new();
    if let Some(p) = string(map, "rekorPublicKeyPath")?.filter(|p| !p.is_empty()) {
        found.push(KeySource::Paths(vec![p.to_string()]));
    }
    if let Some(p) = strings(map, "rekorPublicKeyPaths")? {
        if p.is_empty() {
            return Err("\"rekorPublickeyPaths\" contains no entries".into());
        }
        found.push(KeySource::Paths(p));
    }
    if let Some(d) = bytes(map, "rekorPublicKeyData")? {
        found.push(KeySource::Datas(vec![d]));
    }
    if let Some(d) = byte_lists(map, "rekorPublicKeyDatas")? {
        if d.is_empty() {
            return Err("\"rekorPublickeyDatas\" contains no entries".into());
        }
        found.push(KeySource::Datas(d));
    }
    if found.len() > 1 {
        return Err("at most one of rekorPublickeyPath, rekorPublicKeyPaths, rekorPublickeyData and rekorPublicKeyDatas can be used simultaneously".into());
    }
    Ok(found.pop())
}

/// One of a path or inline data, as `newPRSigstoreSignedFulcio` and the PKI constructor require.
fn cert_source(map: &Map<String, Value>, path_key: &str, data_key: &str) -> Result<Option<CertSource>, String> {
    match (string(map, path_key)?.filter(|p| !p.is_empty()), bytes(map, data_key)?) {
        (Some(_), Some(_)) => Err(format!("{path_key} and {data_key} cannot be used simultaneously")),
        (Some(p), None) => Ok(Some(CertSource::Path(p.to_string()))),
        (None, Some(d)) => Ok(Some(CertSource::Data(d))),
        (None, None) => Ok(None),
    }
}

fn fulcio(v: &Value) -> Result<TrustSpec, String> {
    let map = object(v)?;
    only_keys(map, &["caPath", "caData", "oidcIssuer", "subjectEmail"])?;
    let ca = cert_source(map, "caPath", "caData")?.ok_or("At least one of caPath and caData must be specified")?;
    let issuer = string(map, "oidcIssuer")?.filter(|s| !s.is_empty()).ok_or("oidcIssuer not specified")?;
    let email = string(map, "subjectEmail")?.filter(|s| !s.is_empty()).ok_or("subjectEmail not specified")?;
    Ok(TrustSpec::Fulcio { ca, issuer: issuer.to_string(), email: email.to_string() })
}

fn pki(v: &Value) -> Result<TrustSpec, String> {
    let map = object(v)?;
    only_keys(
        map,
        &[
            "caRootsPath",
            "caRootsData",
            "caIntermediatesPath",
            "caIntermediatesData",
            "subjectEmail",
            "subjectHostname",
        ],
    )?;
    let roots = cert_source(map, "caRootsPath", "caRootsData")?
        .ok_or("At least one of caRootsPath and caRootsData must be specified")?;
    let intermediates = cert_source(map, "caIntermediatesPath", "caIntermediatesData")?;
    let email = string(map, "subjectEmail")?.filter(|s| !s.is_empty()).map(str::to_string);
    let hostname = string(map, "subjectHostname")?.filter(|s| !s.is_empty()).map(str::to_string);
    if email.is_none() && hostname.is_none() {
        return Err("At least one of subjectEmail, subjectHostname must be specified".into());
    }
    Ok(TrustSpec::Pki { roots, intermediates, email, hostname })
}

/// `newPolicyReferenceMatchFromJSON`.
fn signed_identity(v: &Value) -> Result<IdentityPolicy, String> {
    let kind = v.as_object().and_then(|m| m.get("type")).and_then(Value::as_str).unwrap_or("");
    let map = match (kind, v.as_object()) {
        ("", _) | (_, None) => return Err(format!("Unknown policy reference match type {kind:?}")),
        (_, Some(map)) => map,
    };
    let field = |k: &str| -> Result<&str, String> { Ok(string(map, k)?.unwrap_or("")) };
    match kind {
        "matchExact" => only_keys(map, &["type"]).map(|_| IdentityPolicy::MatchExact),
        "matchRepoDigestOrExact" => only_keys(map, &["type"]).map(|_| IdentityPolicy::MatchRepoDigestOrExact),
        "matchRepository" => only_keys(map, &["type"]).map(|_| IdentityPolicy::MatchRepository),
        "exactReference" => {
            only_keys(map, &["type", "dockerReference"])?;
            IdentityPolicy::exact_reference(field("dockerReference")?).map_err(|e| e.to_string())
        }
        "exactRepository" => {
            only_keys(map, &["type", "dockerRepository"])?;
            IdentityPolicy::exact_repository(field("dockerRepository")?).map_err(|e| e.to_string())
        }
        "remapIdentity" => {
            only_keys(map, &["type", "prefix", "signedPrefix"])?;
            IdentityPolicy::remap(field("prefix")?, field("signedPrefix")?).map_err(|e| e.to_string())
        }
        other => Err(format!("Unknown policy reference match type {other:?}")),
    }
}
