//! `--policy FILE`: containers-policy.json(5), decided as containers-image decides it (SPEC §6.3): parsed
//! as `signature/policy_config*.go` parses it (duplicate and unknown keys refused, every transport's
//! scopes and requirements validated), key files read when a requirement is evaluated (relative paths
//! against the working directory), and the scope chosen in containers-image's order. Requirements airlock
//! cannot evaluate (GPG `signedBy`, `signedBaseLayer`) parse, and fail only the images they govern.

mod parse;

use super::cert::{self, CertTrust, Matcher, Mode};
use super::check::Trust;
use super::keys::TrustedKey;
use crate::reference::DockerRef;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One requirement of a policy scope.
pub enum Requirement {
    Accept,
    Reject,
    Sigstore(Box<Sigstore>),
    /// Parsed, but not something airlock evaluates: every image it governs fails with this reason.
    Unsupported(String),
}

/// A `sigstoreSigned` requirement: what it names, and its trust material once read.
pub struct Sigstore {
    spec: parse::SigstoreSpec,
    loaded: OnceLock<Result<Trust, String>>,
}

impl Sigstore {
    /// The requirement's keys, CA or PKI, read on first use (as containers-image reads them when it
    /// evaluates the requirement): `Err` rejects every image the requirement governs.
    pub fn trust(&self) -> Result<&Trust, &str> {
        self.loaded.get_or_init(|| self.spec.load()).as_ref().map_err(String::as_str)
    }
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
        Policy::from_bytes(path, &bytes).map_err(|e| format!("invalid policy in {}: {e}", path.display()))
    }

    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Policy, String> {
        // containers-image's paranoid parser: exact keys, no duplicates anywhere.
        crate::oci::json::check_exact(bytes).map_err(|e| e.to_string())?;
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let (default, docker) = parse::policy(&value)?;
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

    /// Every key the policy has read so far, for the report.
    pub fn keys(&self) -> Vec<&TrustedKey> {
        self.docker
            .iter()
            .flat_map(|(_, r)| r.iter())
            .chain(self.default.iter())
            .filter_map(|r| match r {
                Requirement::Sigstore(s) => s.loaded.get().and_then(|t| t.as_ref().ok()).map(|t| t.keys.iter()),
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

/// Reads a key, CA or PKI file named in a policy: as given, so a relative path is relative to the working
/// directory (containers-image opens it with `os.ReadFile`).
fn read_keys(paths: &[String], what: &str) -> Result<Vec<TrustedKey>, String> {
    paths.iter().map(|p| TrustedKey::load(Path::new(p)).map_err(|e| format!("{what}: {e}"))).collect()
}

fn parse_keys(datas: &[Vec<u8>], what: &str) -> Result<Vec<TrustedKey>, String> {
    datas.iter().map(|pem| TrustedKey::from_pem(PathBuf::from(what), pem).map_err(|e| format!("{what}: {e}"))).collect()
}

impl parse::KeySource {
    fn load(&self, what: &str) -> Result<Vec<TrustedKey>, String> {
        match self {
            parse::KeySource::Paths(p) => read_keys(p, what),
            parse::KeySource::Datas(d) => parse_keys(d, what),
        }
    }
}

impl parse::CertSource {
    fn load(&self, what: &str) -> Result<Vec<Vec<u8>>, String> {
        match self {
            parse::CertSource::Path(p) => cert::load_certificates(Path::new(p)),
            parse::CertSource::Data(pem) => cert::pem_certificates(pem, what),
        }
    }
}

impl parse::SigstoreSpec {
    fn load(&self) -> Result<Trust, String> {
        let rekor_keys = match &self.rekor {
            Some(source) => source.load(&format!("{} rekor key", self.what))?,
            None => Vec::new(),
        };
        let (keys, certificate) = match &self.trust {
            parse::TrustSpec::Keys(source) => (source.load(&self.what)?, None),
            parse::TrustSpec::Fulcio { ca, issuer, email } => {
                let trust = CertTrust {
                    roots: ca.load(&self.what)?,
                    intermediates: Vec::new(),
                    rekor_keys: rekor_keys.clone(),
                    mode: Mode::Fulcio {
                        issuer: Matcher::Exact(issuer.clone()),
                        identity: Matcher::Exact(email.clone()),
                    },
                };
                (Vec::new(), Some(Box::new(trust)))
            }
            parse::TrustSpec::Pki { roots, intermediates, email, hostname } => {
                let trust = CertTrust {
                    roots: roots.load(&self.what)?,
                    intermediates: match intermediates {
                        Some(i) => i.load(&self.what)?,
                        None => Vec::new(),
                    },
                    rekor_keys: Vec::new(),
                    mode: Mode::Pki { email: email.clone(), hostname: hostname.clone() },
                };
                (Vec::new(), Some(Box::new(trust)))
            }
        };
        Ok(Trust {
            keys,
            rekor_keys,
            identity: self.identity.clone(),
            certificate,
            bundle_root: None,
            bundle_identity: None,
        })
    }
}

#[cfg(test)]
mod tests;
