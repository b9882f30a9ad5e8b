//! Docker references as containers-image parses them (`reference.ParseNormalizedNamed`): normalised
//! `host/path[:tag][@digest]`, compared as plain strings. Also the distribution-spec grammar checks.

use crate::digest::{Digest, DigestError};
use std::fmt;
use std::str::FromStr;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO: &str = "library";
/// The longest `host/path` a reference may have.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised docker reference: a registry host, a repository path, and an optional tag and digest (the
/// parser keeps both when both are given). Equality is the equality of the normalised strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DockerRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a docker reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("invalid reference: empty")]
    Empty,
    #[error("invalid reference {0:?}: a 64-character hexadecimal string is an image ID, not a repository name")]
    HexName(String),
    #[error("invalid reference {0:?}: repository name must be lowercase")]
    Uppercase(String),
    #[error("invalid reference {reference:?}: {reason}")]
    Format { reference: String, reason: &'static str },
    #[error("invalid reference {0:?}: repository name must not be longer than {NAME_TOTAL_LENGTH_MAX} characters")]
    TooLong(String),
    #[error("invalid reference {reference:?}: {source}")]
    Digest { reference: String, source: DigestError },
}

impl DockerRef {
    /// Parses and normalises like containers-image: the first component is a registry host iff it contains
    /// `.` or `:` or is `localhost` (else `docker.io`); `index.docker.io` becomes `docker.io`; a one-component
    /// Docker Hub path gains `library/`. A digest with an algorithm airlock cannot verify is an error.
    pub fn parse(s: &str) -> Result<DockerRef, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.len() == 64 && s.bytes().all(is_lower_hex) {
            return Err(RefError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder.split(':').next().unwrap_or_default();
        if remote_name.chars().any(char::is_uppercase) {
            return Err(RefError::Uppercase(s.to_string()));
        }
        let (path_tag, digest) = match remainder.split_once('@') {
            Some((pt, d)) => (pt, Some(d)),
            None => (remainder.as_str(), None),
        };
        // Path components never contain ':', so the first one after the host starts the tag.
        let (path, tag) = match path_tag.split_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (path_tag, None),
        };
        let digest = match digest {
            Some(d) => Some(Digest::parse(d).map_err(|source| RefError::Digest { reference: s.to_string(), source })?),
            None => None,
        };
        DockerRef::build(s, domain, path.to_string(), tag, digest)
    }

    /// A reference from parts already split (hangar's list normalisation): `domain` is taken as the registry
    /// host whatever it looks like. `index.docker.io` still becomes `docker.io`, and a one-component Docker Hub
    /// path still gains `library/`.
    pub fn from_parts(
        domain: &str,
        path: &str,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<DockerRef, RefError> {
        let domain = if domain == LEGACY_DEFAULT_DOMAIN { DEFAULT_DOMAIN } else { domain };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_REPO}/{path}")
        } else {
            path.to_string()
        };
        let mut shown = format!("{domain}/{path}");
        if let Some(t) = tag {
            shown = format!("{shown}:{t}");
        }
        if let Some(d) = digest {
            shown = format!("{shown}@{d}");
        }
        DockerRef::build(&shown, domain.to_string(), path, tag, digest.cloned())
    }

    fn build(
        input: &str,
        domain: String,
        path: String,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<DockerRef, RefError> {
        let format = |reason| RefError::Format { reference: input.to_string(), reason };
        if !valid_domain(&domain) {
            return Err(format("invalid registry host"));
        }
        if path.chars().any(char::is_uppercase) {
            return Err(RefError::Uppercase(input.to_string()));
        }
        if !valid_repository_path(&path) {
            return Err(format("invalid repository path"));
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(RefError::TooLong(input.to_string()));
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(format("invalid tag"));
        }
        Ok(DockerRef { domain, path, tag: tag.map(str::to_string), digest })
    }

    /// `host/path`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The registry host, with any `:port`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Neither a tag nor a digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// This reference with `tag` (any digest is kept, as containers-image's `WithTag` does). The caller passes
    /// a tag that satisfies [`valid_tag`] (a tag read from a parsed reference, or `latest`).
    pub fn with_tag(&self, tag: &str) -> DockerRef {
        debug_assert!(valid_tag(tag), "invalid tag {tag:?}");
        DockerRef { tag: Some(tag.to_string()), ..self.clone() }
    }

    /// This reference with digest `d` (any tag is kept, as containers-image's `WithDigest` does).
    pub fn with_digest(&self, d: &Digest) -> DockerRef {
        DockerRef { digest: Some(d.clone()), ..self.clone() }
    }

    /// The repository alone, without tag or digest.
    pub fn name_only(&self) -> DockerRef {
        DockerRef { tag: None, digest: None, ..self.clone() }
    }
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for DockerRef {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DockerRef::parse(s)
    }
}

impl serde::Serialize for DockerRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// containers-image's `splitDockerDomain`, on the raw string (tag and digest still attached).
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_string()),
        _ => (DEFAULT_DOMAIN, name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN;
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO}/{remainder}");
    }
    (domain.to_string(), remainder)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < b.len() && is_lower_alnum(b[i]) {
            i += 1;
        }
        if i == run {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[sep..i];
        if !(sep == "." || sep == "_" || sep == "__" || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'))) {
            return false;
        }
    }
}

/// A repository path per the distribution spec: `/`-separated lower-case components.
pub fn valid_repository_path(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(valid_path_component)
}

/// A tag per the distribution spec: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty() && b.len() <= 128 && word(b[0]) && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A registry host as docker references allow it: dot-separated `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`
/// labels and an optional numeric `:port` (no IPv6 literals, as in containers-image's copy of the grammar).
pub fn valid_domain(d: &str) -> bool {
    let (host, port) = match d.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    host.split('.').all(label_ok) && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn s(r: &str) -> String {
        DockerRef::parse(r).map(|r| r.to_string()).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn normalises_like_containers_image() {
        assert_eq!(s("busybox"), "docker.io/library/busybox");
        assert_eq!(s("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(s("index.docker.io/library/busybox"), "docker.io/library/busybox");
        assert_eq!(s("index.docker.io/busybox"), "docker.io/library/busybox");
        assert_eq!(s("docker.io/busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(s("rancher/rancher:v2.8"), "docker.io/rancher/rancher:v2.8");
        assert_eq!(s("192.168.64.2:5000/app"), "192.168.64.2:5000/app");
        assert_eq!(s("localhost/app:1"), "localhost/app:1");
        assert_eq!(s("localhost:5000/a/b/c"), "localhost:5000/a/b/c");
        assert_eq!(s("quay.io/coreos/etcd"), "quay.io/coreos/etcd");
        assert_eq!(s("Reg.Example.com/app"), "Reg.Example.com/app");
        // Without '.', ':' or "localhost" the first part is a path component.
        assert_eq!(s("myreg/app/x"), "docker.io/myreg/app/x");
        // "localhost:5000" without a slash is a Docker Hub image with a tag.
        assert_eq!(s("localhost:5000"), "docker.io/library/localhost:5000");
        let a = DockerRef::parse("index.docker.io/library/busybox:1").unwrap();
        assert_eq!(a, DockerRef::parse("busybox:1").unwrap());
        assert_eq!(a.domain(), "docker.io");
        assert_eq!(a.path(), "library/busybox");
        assert_eq!(a.name(), "docker.io/library/busybox");
        assert_eq!(a.tag(), Some("1"));
        assert!(a.digest().is_none());
    }

    #[test]
    fn tags_and_digests() {
        let d = format!("sha256:{HEX}");
        let both = DockerRef::parse(&format!("reg.io/a/b:v1@{d}")).unwrap();
        assert_eq!(both.tag(), Some("v1"));
        assert_eq!(both.digest().map(|x| x.to_string()), Some(d.clone()));
        assert_eq!(both.to_string(), format!("reg.io/a/b:v1@{d}"));
        let dig = DockerRef::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(dig.to_string(), format!("docker.io/library/busybox@{d}"));
        assert!(dig.tag().is_none());
        assert!(!dig.is_name_only());
        assert!(DockerRef::parse("busybox").unwrap().is_name_only());
        assert_eq!(s(&format!("reg:5000/app:1.0@{d}")), format!("reg:5000/app:1.0@{d}"));
        assert!(matches!(DockerRef::parse(&format!("busybox@md5:{HEX}")), Err(RefError::Digest { .. })));
        assert!(matches!(DockerRef::parse(&format!("busybox@sha256:{}", &HEX[..40])), Err(RefError::Digest { .. })));
        assert!(matches!(
            DockerRef::parse(&format!("busybox@sha256:{}", HEX.to_uppercase())),
            Err(RefError::Digest { .. })
        ));
        // sha512 is supported.
        assert!(DockerRef::parse(&format!("busybox@sha512:{HEX}{HEX}")).is_ok());
    }

    #[test]
    fn rejects_bad_references() {
        assert_eq!(DockerRef::parse(""), Err(RefError::Empty));
        assert!(matches!(DockerRef::parse(HEX), Err(RefError::HexName(_))));
        assert!(DockerRef::parse(&format!("{HEX}:tag")).is_ok());
        assert!(matches!(DockerRef::parse("Busybox"), Err(RefError::Uppercase(_))));
        assert!(matches!(DockerRef::parse("reg.io/Org/app"), Err(RefError::Uppercase(_))));
        assert!(matches!(DockerRef::parse("LOCALHOST/app"), Err(RefError::Uppercase(_))));
        assert!(DockerRef::parse("busybox:UPPER_tag").is_ok());
        for bad in [
            "busybox:",
            "busybox:-x",
            "busybox:a/b",
            "reg.io/a:b/c",
            "reg.io//app",
            "reg.io/app/",
            "/app",
            "a..b",
            "a___b",
            "-a",
            "a-",
            "reg_x.io/app",
            "reg.io:/app",
            "reg.io:x/app",
            "-reg.io/app",
            "reg..io/app",
            "a b",
            "busybox@",
            "x@y@sha256:abc",
        ] {
            assert!(DockerRef::parse(bad).is_err(), "{bad} should fail");
        }
        assert!(DockerRef::parse(&format!("busybox:{}", "t".repeat(128))).is_ok());
        assert!(DockerRef::parse(&format!("busybox:{}", "t".repeat(129))).is_err());
        let long = format!("reg.io/{}", "a".repeat(248));
        assert_eq!(long.len(), 255);
        assert!(DockerRef::parse(&long).is_ok());
        assert!(matches!(DockerRef::parse(&format!("{long}a")), Err(RefError::TooLong(_))));
    }

    #[test]
    fn grammar_helpers() {
        for ok in ["a", "a/b", "a.b", "a_b", "a__b", "a-b", "a---b", "a1/b2.c3-d4_e5", "library/busybox"] {
            assert!(valid_repository_path(ok), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "a..b", "a___b", "a.-b", ".a", "a_", "a:b", "a@b", "é"] {
            assert!(!valid_repository_path(bad), "{bad}");
        }
        for ok in ["latest", "v1.2.3", "_x", "A-b.c_D", "sha256-abc.sig"] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a:b", "a/b", "a+b"] {
            assert!(!valid_tag(bad), "{bad}");
        }
        for ok in ["docker.io", "localhost", "localhost:5000", "192.168.64.2:5000", "My-Reg.io", "a"] {
            assert!(valid_domain(ok), "{ok}");
        }
        for bad in ["", "a_b", "-a", "a-", "a..b", "a:", "a:x", "[::1]:5000", "a:1:2"] {
            assert!(!valid_domain(bad), "{bad}");
        }
    }

    #[test]
    fn builders() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        let r = DockerRef::parse("reg.io/a/b:v1").unwrap();
        assert_eq!(r.with_digest(&d).to_string(), format!("reg.io/a/b:v1@{d}"));
        assert_eq!(r.name_only().to_string(), "reg.io/a/b");
        assert_eq!(r.name_only().with_tag("v2").to_string(), "reg.io/a/b:v2");
        assert_eq!(r.with_digest(&d).with_tag("v2").to_string(), format!("reg.io/a/b:v2@{d}"));
        assert_eq!("busybox".parse::<DockerRef>().unwrap().to_string(), "docker.io/library/busybox");
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"reg.io/a/b:v1\"");
    }

    #[test]
    fn from_parts_takes_the_host_as_given() {
        let r = DockerRef::from_parts("a", "b/c", Some("latest"), None).unwrap();
        assert_eq!(r.to_string(), "a/b/c:latest");
        assert_eq!(r.domain(), "a");
        let r = DockerRef::from_parts("index.docker.io", "nginx", Some("1"), None).unwrap();
        assert_eq!(r, DockerRef::parse("nginx:1").unwrap());
        assert!(DockerRef::from_parts("a_b", "c", None, None).is_err());
        assert!(matches!(DockerRef::from_parts("reg.io", "App", None, None), Err(RefError::Uppercase(_))));
        assert!(DockerRef::from_parts("reg.io", "app", Some("a:b"), None).is_err());
    }
}
