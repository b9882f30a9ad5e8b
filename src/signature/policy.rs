//! `--policy FILE`: containers-policy.json(5) for the docker transport — `sigstoreSigned` requirements
//! with key sources (`keyPath(s)`, `keyData(s)`), Rekor keys and `signedIdentity`, `insecureAcceptAnything`
//! and `reject` — with the scope chosen as containers-image chooses it. Parsing is strict: an unknown or
//! unsupported field rejects the whole policy (exit 2), never a requirement silently ignored.

use super::cert::{self, CertTrust, Matcher, Mode};
use super::check::Trust;
use super::identity::IdentityPolicy;
use super::keys::TrustedKey;
use crate::reference::DockerRef;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// One requirement of a policy scope.
pub enum Requirement {
    Accept,
    Reject,
    Sigstore(Box<Trust>),
}

/// A loaded policy: the requirements by scope of the docker transport, and the defaults.
pub struct Policy {
    pub file: PathBuf,
    default: Vec<Requirement>,
    /// Scopes of `transports.docker`, including `""` (the transport default).
    docker: Vec<(String, Vec<Requirement>)>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("policy {}: {e}", path.display()))?;
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("policy {}: invalid JSON: {e}", path.display()))?;
        Policy::from_value(path, &value).map_err(|e| format!("policy {}: {e}", path.display()))
    }

    fn from_value(path: &Path, value: &Value) -> Result<Policy, String> {
        let top = object(value, "the policy")?;
        only_keys(top, &["default", "transports"], "the policy")?;
        let base = path.parent().unwrap_or(Path::new("."));
        let default = requirements(top.get("default").ok_or("\"default\" is missing")?, "default", base)?;
        if default.is_empty() {
            return Err("\"default\" must not be empty".into());
        }
        let mut docker = Vec::new();
        if let Some(transports) = top.get("transports") {
            for (transport, scopes) in object(transports, "transports")? {
                let scopes = object(scopes, transport)?;
                if transport != "docker" {
                    // Other transports (oci, dir, …) do not apply: airlock checks docker identities.
                    continue;
                }
                for (scope, reqs) in scopes {
                    let reqs = requirements(reqs, &format!("transports.docker[{scope:?}]"), base)?;
                    if reqs.is_empty() {
                        return Err(format!("transports.docker[{scope:?}] must not be empty"));
                    }
                    docker.push((scope.clone(), reqs));
                }
            }
        }
        Ok(Policy { file: path.to_path_buf(), default, docker })
    }

    /// The requirements for an image (containers-image's scope order: the full reference, the
    /// repository, each parent namespace, the host, `*.domain` wildcards, the transport default, the
    /// global default). An image with no name gets the transport default.
    pub fn requirements_for(&self, image: Option<&DockerRef>) -> (&str, &[Requirement]) {
        let scopes = image.map(scopes_of).unwrap_or_default();
        for scope in scopes.iter().map(String::as_str).chain([""]) {
            if let Some((s, reqs)) = self.docker.iter().find(|(s, _)| s == scope) {
                return (s.as_str(), reqs.as_slice());
            }
        }
        ("default", &self.default)
    }

    /// Every key the policy trusts, for the report.
    pub fn keys(&self) -> Vec<&TrustedKey> {
        self.docker
            .iter()
            .flat_map(|(_, r)| r.iter())
            .chain(self.default.iter())
            .filter_map(|r| match r {
                Requirement::Sigstore(t) => Some(t.keys.iter()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// `host/ns/repo:tag` → `host/ns/repo:tag`, `host/ns/repo`, `host/ns`, `host`, `*.domain`…
fn scopes_of(r: &DockerRef) -> Vec<String> {
    let mut out = Vec::new();
    let name = r.name();
    if let Some(d) = r.digest() {
        out.push(format!("{name}@{d}"));
    } else if let Some(t) = r.tag() {
        out.push(format!("{name}:{t}"));
    }
    let mut prefix = name.as_str();
    loop {
        out.push(prefix.to_string());
        match prefix.rfind('/') {
            Some(i) => prefix = &prefix[..i],
            None => break,
        }
    }
    let host = r.domain().split(':').next().unwrap_or_default();
    let mut rest = host;
    while let Some(i) = rest.find('.') {
        rest = &rest[i + 1..];
        out.push(format!("*.{rest}"));
    }
    out
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{what} must be a JSON object"))
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: unknown or unsupported field {k:?}")),
        None => Ok(()),
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<Option<&'a str>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{what}.{key} must be a string")),
    }
}

fn strings<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<Option<Vec<&'a str>>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| format!("{what}.{key} must hold strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("{what}.{key} must be a non-empty array of strings")),
    }
}

fn requirements(v: &Value, what: &str, base: &Path) -> Result<Vec<Requirement>, String> {
    let items = v.as_array().ok_or_else(|| format!("{what} must be an array of requirements"))?;
    items.iter().enumerate().map(|(i, r)| requirement(r, &format!("{what}[{i}]"), base)).collect()
}

fn requirement(v: &Value, what: &str, base: &Path) -> Result<Requirement, String> {
    let map = object(v, what)?;
    match string(map, "type", what)? {
        Some("insecureAcceptAnything") => only_keys(map, &["type"], what).map(|_| Requirement::Accept),
        Some("reject") => only_keys(map, &["type"], what).map(|_| Requirement::Reject),
        Some("sigstoreSigned") => sigstore(map, what, base).map(|t| Requirement::Sigstore(Box::new(t))),
        Some("signedBy") => Err(format!("{what}: GPG \"signedBy\" requirements are not supported (sigstore only)")),
        Some(other) => Err(format!("{what}: unknown requirement type {other:?}")),
        None => Err(format!("{what}: \"type\" is missing")),
    }
}

/// A `sigstoreSigned` requirement: public keys, a Fulcio CA, or a private PKI.
fn sigstore(map: &Map<String, Value>, what: &str, base: &Path) -> Result<Trust, String> {
    const KEYS: [&str; 4] = ["keyPath", "keyPaths", "keyData", "keyDatas"];
    const REKOR: [&str; 4] = ["rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"];
    let mut allowed = vec!["type", "signedIdentity", "fulcio", "pki"];
    allowed.extend(KEYS);
    allowed.extend(REKOR);
    only_keys(map, &allowed, what)?;
    let given: Vec<&str> = KEYS.iter().chain(&["fulcio", "pki"]).copied().filter(|k| map.contains_key(*k)).collect();
    if given.len() != 1 {
        return Err(format!(
            "{what}: exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, and pki must be specified"
        ));
    }
    let rekor: Vec<&str> = REKOR.iter().copied().filter(|k| map.contains_key(*k)).collect();
    let rekor_keys = match rekor.as_slice() {
        [] => Vec::new(),
        [one] => load(map, one, what, base)?,
        _ => return Err(format!("{what}: at most one rekorPublicKey field may be specified")),
    };
    let (keys, certificate) = match given[0] {
        "fulcio" => {
            if rekor_keys.is_empty() {
                return Err(format!("{what}: Internal inconsistency: Fulcio CA specified without a Rekor public key"));
            }
            let trust = fulcio(map.get("fulcio").unwrap_or(&Value::Null), &format!("{what}.fulcio"), base)?;
            (Vec::new(), Some(Box::new(CertTrust { rekor_keys: rekor_keys.clone(), ..trust })))
        }
        "pki" => {
            if !rekor_keys.is_empty() {
                return Err(format!("{what}: a Rekor public key cannot be used with pki"));
            }
            (Vec::new(), Some(Box::new(pki(map.get("pki").unwrap_or(&Value::Null), &format!("{what}.pki"), base)?)))
        }
        key_field => (load(map, key_field, what, base)?, None),
    };
    let identity = match map.get("signedIdentity") {
        None => IdentityPolicy::MatchRepoDigestOrExact,
        Some(v) => signed_identity(v, &format!("{what}.signedIdentity"))?,
    };
    Ok(Trust { keys, rekor_keys, identity, certificate })
}

/// Certificates from a path field (relative to the policy) or a data field (base64 of the PEM).
fn certificates(
    map: &Map<String, Value>,
    path_key: &str,
    data_key: &str,
    what: &str,
    base: &Path,
) -> Result<Option<Vec<Vec<u8>>>, String> {
    match (string(map, path_key, what)?, string(map, data_key, what)?) {
        (Some(_), Some(_)) => Err(format!("{what}: {path_key} and {data_key} cannot both be given")),
        (Some(p), None) => {
            let p = Path::new(p);
            cert::load_certificates(&if p.is_absolute() { p.to_path_buf() } else { base.join(p) }).map(Some)
        }
        (None, Some(d)) => {
            let pem =
                base64::engine::general_purpose::STANDARD.decode(d).map_err(|e| format!("{what}.{data_key}: {e}"))?;
            cert::pem_certificates(&pem, &format!("{what}.{data_key}")).map(Some)
        }
        (None, None) => Ok(None),
    }
}

fn fulcio(v: &Value, what: &str, base: &Path) -> Result<CertTrust, String> {
    let map = object(v, what)?;
    only_keys(map, &["caPath", "caData", "oidcIssuer", "subjectEmail"], what)?;
    let roots =
        certificates(map, "caPath", "caData", what, base)?.ok_or(format!("{what}: caPath or caData is required"))?;
    let issuer = string(map, "oidcIssuer", what)?.ok_or(format!("{what}: oidcIssuer is required"))?;
    let email = string(map, "subjectEmail", what)?.ok_or(format!("{what}: subjectEmail is required"))?;
    Ok(CertTrust {
        roots,
        intermediates: Vec::new(),
        rekor_keys: Vec::new(),
        mode: Mode::Fulcio { issuer: Matcher::Exact(issuer.to_string()), identity: Matcher::Exact(email.to_string()) },
    })
}

fn pki(v: &Value, what: &str, base: &Path) -> Result<CertTrust, String> {
    let map = object(v, what)?;
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
        what,
    )?;
    let roots = certificates(map, "caRootsPath", "caRootsData", what, base)?
        .ok_or(format!("{what}: caRootsPath or caRootsData is required"))?;
    let intermediates =
        certificates(map, "caIntermediatesPath", "caIntermediatesData", what, base)?.unwrap_or_default();
    let email = string(map, "subjectEmail", what)?.map(str::to_string);
    let hostname = string(map, "subjectHostname", what)?.map(str::to_string);
    if email.is_none() && hostname.is_none() {
        return Err(format!("{what}: at least one of subjectEmail and subjectHostname is required"));
    }
    Ok(CertTrust { roots, intermediates, rekor_keys: Vec::new(), mode: Mode::Pki { email, hostname } })
}

/// Keys from a path field (relative to the policy file) or a data field (base64 of the PEM).
fn load(map: &Map<String, Value>, key: &str, what: &str, base: &Path) -> Result<Vec<TrustedKey>, String> {
    let plural = key.ends_with('s');
    let values = if plural {
        strings(map, key, what)?.unwrap_or_default()
    } else {
        string(map, key, what)?.into_iter().collect()
    };
    values
        .into_iter()
        .map(|v| {
            if key.contains("Path") {
                let p = Path::new(v);
                let p = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
                TrustedKey::load(&p).map_err(|e| format!("{what}.{key}: {e}"))
            } else {
                let pem = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|e| format!("{what}.{key}: not base64: {e}"))?;
                TrustedKey::from_pem(PathBuf::from(format!("{what}.{key}")), &pem)
                    .map_err(|e| format!("{what}.{key}: {e}"))
            }
        })
        .collect()
}

fn signed_identity(v: &Value, what: &str) -> Result<IdentityPolicy, String> {
    let map = object(v, what)?;
    let field =
        |k: &str| -> Result<&str, String> { string(map, k, what)?.ok_or_else(|| format!("{what}.{k} is missing")) };
    let id = match string(map, "type", what)? {
        Some("matchExact") => only_keys(map, &["type"], what).map(|_| IdentityPolicy::MatchExact)?,
        Some("matchRepoDigestOrExact") => {
            only_keys(map, &["type"], what).map(|_| IdentityPolicy::MatchRepoDigestOrExact)?
        }
        Some("matchRepository") => only_keys(map, &["type"], what).map(|_| IdentityPolicy::MatchRepository)?,
        Some("exactReference") => {
            only_keys(map, &["type", "dockerReference"], what)?;
            IdentityPolicy::exact_reference(field("dockerReference")?).map_err(|e| format!("{what}: {e}"))?
        }
        Some("exactRepository") => {
            only_keys(map, &["type", "dockerRepository"], what)?;
            IdentityPolicy::exact_repository(field("dockerRepository")?).map_err(|e| format!("{what}: {e}"))?
        }
        Some("remapIdentity") => {
            only_keys(map, &["type", "prefix", "signedPrefix"], what)?;
            IdentityPolicy::remap(field("prefix")?, field("signedPrefix")?).map_err(|e| format!("{what}: {e}"))?
        }
        Some(other) => return Err(format!("{what}: unknown signedIdentity type {other:?}")),
        None => return Err(format!("{what}: \"type\" is missing")),
    };
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<Policy, String> {
        let dir = std::env::current_dir().unwrap().join("testdata/keys/policy.json");
        Policy::from_value(&dir, &serde_json::from_str(json).unwrap())
    }

    #[test]
    fn scopes_go_from_specific_to_general() {
        let r = DockerRef::parse("reg.example.com:5000/a/b/c:v1").unwrap();
        assert_eq!(
            scopes_of(&r),
            [
                "reg.example.com:5000/a/b/c:v1",
                "reg.example.com:5000/a/b/c",
                "reg.example.com:5000/a/b",
                "reg.example.com:5000/a",
                "reg.example.com:5000",
                "*.example.com",
                "*.com"
            ]
        );
    }

    #[test]
    fn chooses_the_most_specific_scope() {
        let p = policy(
            r#"{"default":[{"type":"reject"}],"transports":{"docker":{
                "reg.example.com/team":[{"type":"sigstoreSigned","keyPath":"p256.pub"}],
                "reg.example.com/team/open":[{"type":"insecureAcceptAnything"}],
                "*.example.com":[{"type":"reject"}]}}}"#,
        )
        .unwrap();
        let at = |s: &str| p.requirements_for(Some(&DockerRef::parse(s).unwrap())).0.to_string();
        assert_eq!(at("reg.example.com/team/app:v1"), "reg.example.com/team");
        assert_eq!(at("reg.example.com/team/open:v1"), "reg.example.com/team/open");
        assert_eq!(at("other.example.com/x:v1"), "*.example.com");
        assert_eq!(at("docker.io/library/x:v1"), "default");
        assert_eq!(p.keys().len(), 1);
    }

    #[test]
    fn strict_parsing() {
        assert!(policy(r#"{"default":[{"type":"insecureAcceptAnything"}],"bogus":1}"#).is_err());
        assert!(policy(r#"{"default":[]}"#).is_err());
        assert!(policy(r#"{"default":[{"type":"reject","x":1}]}"#).is_err());
        assert!(policy(r#"{"default":[{"type":"signedBy","keyType":"GPGKeys"}]}"#).is_err());
        assert!(policy(r#"{"default":[{"type":"sigstoreSigned"}]}"#).is_err());
        assert!(
            policy(r#"{"default":[{"type":"sigstoreSigned","keyPath":"p256.pub","keyPaths":["p256.pub"]}]}"#).is_err()
        );
        assert!(policy(r#"{"default":[{"type":"sigstoreSigned","fulcio":{}}]}"#).is_err());
        assert!(policy(r#"{"default":[{"type":"sigstoreSigned","pki":{"caRootsPath":"p256.pub"}}]}"#).is_err());
        assert!(
            policy(r#"{"default":[{"type":"sigstoreSigned","keyPath":"p256.pub","signedIdentity":{"type":"nope"}}]}"#)
                .is_err()
        );
        assert!(policy(r#"{"default":[{"type":"sigstoreSigned","keyPath":"missing.pub"}]}"#).is_err());
        let ok = policy(
            r#"{"default":[{"type":"sigstoreSigned","keyPaths":["p256.pub","other.pub"],
                "signedIdentity":{"type":"exactRepository","dockerRepository":"reg.example/app"}}]}"#,
        )
        .unwrap();
        assert_eq!(ok.keys().len(), 2);
    }
}
