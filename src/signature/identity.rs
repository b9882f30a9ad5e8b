//! The signed-identity policy (SPEC §6.3): does a signature's `docker-reference` fit the image's reference?
//! Explicit types follow containers-policy.json(5) exactly; the default adds two documented extensions.

use crate::digest::Digest;
use crate::reference::{DockerRef, RefError, valid_domain, valid_repository_path};
use std::fmt;

/// Which signed identities are accepted for an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityPolicy {
    /// No identity option given: `matchRepoDigestOrExact`, plus a repository-only identity of the image's
    /// repository (cosign, hangar ≥ 1.9), plus `repo@D` where `D` is the digest being verified (hangar 1.8).
    Default,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    /// `exactReference`: the identity must be exactly this reference (which has a tag or a digest).
    ExactReference(DockerRef),
    /// `exactRepository`: the identity's repository must be this one (tags and digests ignored).
    ExactRepository(DockerRef),
    /// cosign's claim check, which policy-controller's key authorities use: the payload must sign the
    /// verified digest (checked for every policy), and its docker-reference is not compared. Only
    /// `--cluster-policy` makes this; no flag selects it.
    DigestOnly,
    /// `remapIdentity`: the image's reference with `prefix` rewritten to `signed_prefix`, then
    /// `matchRepoDigestOrExact`.
    Remap {
        prefix: String,
        signed_prefix: String,
    },
}

/// Why an identity specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "unknown signed identity {0:?}: expected match-repo-digest-or-exact, match-exact, match-repository, \
         exact-reference:REF, exact-repository:REPO or remap:PREFIX=SIGNEDPREFIX"
    )]
    Unknown(String),
    #[error("signed identity: {0}")]
    Reference(#[from] RefError),
    #[error("exact-reference {0:?} has neither a tag nor a digest")]
    NameOnly(String),
    #[error("remap {0:?}: expected PREFIX=SIGNEDPREFIX")]
    RemapSyntax(String),
    #[error("remap prefix {0:?} is not valid: expected HOST[:PORT] or HOST[:PORT]/PATH")]
    Prefix(String),
}

impl IdentityPolicy {
    /// Parses `--signed-identity` (and, with `exact-repository:`, `--exact-repository`).
    pub fn parse_cli(spec: &str) -> Result<IdentityPolicy, IdentityError> {
        match spec {
            "match-repo-digest-or-exact" => return Ok(IdentityPolicy::MatchRepoDigestOrExact),
            "match-exact" => return Ok(IdentityPolicy::MatchExact),
            "match-repository" => return Ok(IdentityPolicy::MatchRepository),
            _ => {}
        }
        if let Some(r) = spec.strip_prefix("exact-reference:") {
            IdentityPolicy::exact_reference(r)
        } else if let Some(r) = spec.strip_prefix("exact-repository:") {
            IdentityPolicy::exact_repository(r)
        } else if let Some(m) = spec.strip_prefix("remap:") {
            let (prefix, signed) = m.split_once('=').ok_or_else(|| IdentityError::RemapSyntax(m.to_string()))?;
            IdentityPolicy::remap(prefix, signed)
        } else {
            Err(IdentityError::Unknown(spec.to_string()))
        }
    }

    /// `exactReference`: `reference` must parse and carry a tag or a digest (checked at load, as
    /// containers-image does).
    pub fn exact_reference(reference: &str) -> Result<IdentityPolicy, IdentityError> {
        let r = DockerRef::parse(reference)?;
        if r.is_name_only() {
            return Err(IdentityError::NameOnly(reference.to_string()));
        }
        Ok(IdentityPolicy::ExactReference(r))
    }

    /// `exactRepository`: `repository` must parse (a tag or digest on it is ignored).
    pub fn exact_repository(repository: &str) -> Result<IdentityPolicy, IdentityError> {
        Ok(IdentityPolicy::ExactRepository(DockerRef::parse(repository)?))
    }

    /// `remapIdentity`: each prefix must be `HOST[:PORT]` or `HOST[:PORT]/PATH` (containers-image's check).
    pub fn remap(prefix: &str, signed_prefix: &str) -> Result<IdentityPolicy, IdentityError> {
        for p in [prefix, signed_prefix] {
            if !valid_remap_prefix(p) {
                return Err(IdentityError::Prefix(p.to_string()));
            }
        }
        Ok(IdentityPolicy::Remap { prefix: prefix.to_string(), signed_prefix: signed_prefix.to_string() })
    }

    /// Whether a signature claiming identity `signed` is accepted for the image named `image` (`None`: the
    /// image has no name, so only `ExactReference` / `ExactRepository` can accept). `verified` is the digest of
    /// the manifest being checked (its equality with the payload's digest claim is checked elsewhere). A
    /// `signed` string that does not parse is never accepted.
    pub fn accepts(&self, image: Option<&DockerRef>, verified: &Digest, signed: &str) -> bool {
        let Ok(s) = DockerRef::parse(signed) else {
            return false;
        };
        match (self, image) {
            (IdentityPolicy::DigestOnly, _) => true,
            (IdentityPolicy::ExactReference(r), _) => !r.is_name_only() && !s.is_name_only() && s == *r,
            (IdentityPolicy::ExactRepository(r), _) => s.name() == r.name(),
            (_, None) => false,
            (IdentityPolicy::Default, Some(i)) => {
                match_repo_digest_or_exact(i, &s)
                    || (s.name() == i.name() && s.tag().is_none() && s.digest().is_none_or(|d| d == verified))
            }
            (IdentityPolicy::MatchExact, Some(i)) => !i.is_name_only() && !s.is_name_only() && s == *i,
            (IdentityPolicy::MatchRepoDigestOrExact, Some(i)) => match_repo_digest_or_exact(i, &s),
            (IdentityPolicy::MatchRepository, Some(i)) => s.name() == i.name(),
            (IdentityPolicy::Remap { prefix, signed_prefix }, Some(i)) => {
                remap_reference(i, prefix, signed_prefix).is_some_and(|r| match_repo_digest_or_exact(&r, &s))
            }
        }
    }

    /// False only for the default, whose extensions (and acceptance of identity-less cosign bundles) apply
    /// only when the user named no identity type.
    pub fn binds_identity_explicitly(&self) -> bool {
        !matches!(self, IdentityPolicy::Default)
    }
}

impl fmt::Display for IdentityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityPolicy::Default => f.write_str("match-repo-digest-or-exact (default, extended)"),
            IdentityPolicy::MatchExact => f.write_str("match-exact"),
            IdentityPolicy::MatchRepoDigestOrExact => f.write_str("match-repo-digest-or-exact"),
            IdentityPolicy::MatchRepository => f.write_str("match-repository"),
            IdentityPolicy::DigestOnly => f.write_str("digest only (cosign, policy-controller)"),
            IdentityPolicy::ExactReference(r) => write!(f, "exact-reference:{r}"),
            IdentityPolicy::ExactRepository(r) => write!(f, "exact-repository:{}", r.name()),
            IdentityPolicy::Remap { prefix, signed_prefix } => write!(f, "remap:{prefix}={signed_prefix}"),
        }
    }
}

/// containers-image's `matchRepoDigestOrExact`: a tagged image needs exactly its reference (tag, and digest if
/// it has one); a digest-only image needs only its repository; a name-only signed identity never matches.
fn match_repo_digest_or_exact(image: &DockerRef, signed: &DockerRef) -> bool {
    if signed.is_name_only() {
        return false;
    }
    if image.tag().is_some() {
        signed == image
    } else if image.digest().is_some() {
        signed.name() == image.name()
    } else {
        false
    }
}

/// `remapIdentity`'s rewrite: unchanged unless the image's name is `prefix` or lies under `prefix/`; else the
/// first `prefix` in its string form becomes `signed_prefix`, and the result must be a fully-qualified
/// reference (`None` otherwise, which rejects).
fn remap_reference(image: &DockerRef, prefix: &str, signed_prefix: &str) -> Option<DockerRef> {
    let name = image.name();
    let under = name == prefix || (name.starts_with(prefix) && name.as_bytes().get(prefix.len()) == Some(&b'/'));
    if !under {
        return Some(image.clone());
    }
    let rewritten = image.to_string().replacen(prefix, signed_prefix, 1);
    DockerRef::parse(&rewritten).ok().filter(|r| r.to_string() == rewritten)
}

fn valid_remap_prefix(p: &str) -> bool {
    match p.split_once('/') {
        None => valid_domain(p),
        Some((host, path)) => valid_domain(host) && valid_repository_path(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn r(s: &str) -> DockerRef {
        DockerRef::parse(s).unwrap()
    }

    fn d(s: &str) -> Digest {
        Digest::parse(s).unwrap()
    }

    fn ok(p: &IdentityPolicy, image: &str, signed: &str) -> bool {
        p.accepts(Some(&r(image)), &d(A), signed)
    }

    use IdentityPolicy::*;

    #[test]
    fn match_exact() {
        assert!(ok(&MatchExact, "busybox:1", "docker.io/library/busybox:1"));
        assert!(ok(&MatchExact, "busybox:1", "index.docker.io/library/busybox:1"));
        assert!(!ok(&MatchExact, "busybox:1", "busybox:2"));
        assert!(!ok(&MatchExact, "busybox:1", "busybox"));
        assert!(!ok(&MatchExact, "busybox", "busybox"), "name-only image");
        assert!(ok(&MatchExact, &format!("busybox@{A}"), &format!("busybox@{A}")));
        assert!(!ok(&MatchExact, &format!("busybox@{A}"), "busybox:1"), "digest pulls need a digest-form S");
        assert!(!ok(&MatchExact, "busybox:1", &format!("busybox:1@{A}")));
        assert!(ok(&MatchExact, &format!("busybox:1@{A}"), &format!("busybox:1@{A}")));
        assert!(!ok(&MatchExact, "busybox:1", "not a reference"));
    }

    #[test]
    fn match_repo_digest_or_exact_explicit() {
        let p = MatchRepoDigestOrExact;
        // Tagged image: exact string equality.
        assert!(ok(&p, "busybox:1", "busybox:1"));
        assert!(!ok(&p, "busybox:1", "busybox:2"));
        assert!(!ok(&p, "busybox:1", &format!("busybox@{A}")), "no repo@D extension when explicit");
        assert!(!ok(&p, "busybox:1", "busybox"), "no repo-only extension when explicit");
        // Tag and digest: both must match.
        assert!(ok(&p, &format!("busybox:1@{A}"), &format!("busybox:1@{A}")));
        assert!(!ok(&p, &format!("busybox:1@{A}"), "busybox:1"));
        // Digest-only image: repository equality, any tag or digest on S.
        assert!(ok(&p, &format!("busybox@{A}"), "busybox:anything"));
        assert!(ok(&p, &format!("busybox@{A}"), &format!("busybox@{B}")));
        assert!(!ok(&p, &format!("busybox@{A}"), "busybox"), "name-only S");
        assert!(!ok(&p, &format!("busybox@{A}"), "other:1"));
        // Name-only image: never.
        assert!(!ok(&p, "busybox", "busybox:latest"));
        assert!(!ok(&p, "busybox", "busybox"));
    }

    #[test]
    fn match_repository() {
        assert!(ok(&MatchRepository, "busybox:1", "busybox"));
        assert!(ok(&MatchRepository, "busybox:1", "busybox:2"));
        assert!(ok(&MatchRepository, "busybox", &format!("index.docker.io/library/busybox@{B}")));
        assert!(!ok(&MatchRepository, "busybox:1", "other/busybox:1"));
    }

    #[test]
    fn exact_reference() {
        let p = IdentityPolicy::parse_cli("exact-reference:reg.io/a/b:v1").unwrap();
        assert!(ok(&p, "anything:else", "reg.io/a/b:v1"));
        assert!(p.accepts(None, &d(A), "reg.io/a/b:v1"), "works without an image name");
        assert!(!ok(&p, "reg.io/a/b:v1", "reg.io/a/b:v2"));
        assert!(!ok(&p, "reg.io/a/b:v1", "reg.io/a/b"));
        assert_eq!(
            IdentityPolicy::parse_cli("exact-reference:reg.io/a/b"),
            Err(IdentityError::NameOnly("reg.io/a/b".to_string()))
        );
        // Built directly with a name-only reference, it still accepts nothing.
        assert!(!ok(&ExactReference(r("reg.io/a/b")), "reg.io/a/b", "reg.io/a/b"));
    }

    #[test]
    fn exact_repository() {
        let p = IdentityPolicy::parse_cli("exact-repository:reg.io/a/b").unwrap();
        assert!(ok(&p, "other.io/x/y:1", "reg.io/a/b:v1"));
        assert!(ok(&p, "other.io/x/y:1", "reg.io/a/b"));
        assert!(p.accepts(None, &d(A), &format!("reg.io/a/b@{B}")));
        assert!(!ok(&p, "reg.io/a/b:v1", "reg.io/a/c:v1"));
        let hub = IdentityPolicy::parse_cli("exact-repository:busybox").unwrap();
        assert!(ok(&hub, "x.io/y:1", "index.docker.io/library/busybox:1"));
    }

    #[test]
    fn remap_identity() {
        let p = IdentityPolicy::parse_cli("remap:mirror.local/team=docker.io/library").unwrap();
        // mirror.local/team/busybox:1 is rewritten to docker.io/library/busybox:1.
        assert!(ok(&p, "mirror.local/team/busybox:1", "busybox:1"));
        assert!(!ok(&p, "mirror.local/team/busybox:1", "mirror.local/team/busybox:1"));
        assert!(!ok(&p, "mirror.local/team/busybox:1", "busybox:2"));
        // Digest image after rewrite: repository match.
        assert!(ok(&p, &format!("mirror.local/team/busybox@{A}"), "busybox:whatever"));
        assert!(!ok(&p, &format!("mirror.local/team/busybox@{A}"), "busybox"));
        // Not under the prefix ("teams" is not "team/"): unchanged, plain matchRepoDigestOrExact.
        assert!(ok(&p, "mirror.local/teams/busybox:1", "mirror.local/teams/busybox:1"));
        assert!(!ok(&p, "mirror.local/teams/busybox:1", "docker.io/librarys/busybox:1"));
        // A rewrite that is not fully qualified (docker.io/busybox normalises to library/busybox) rejects.
        let p = IdentityPolicy::parse_cli("remap:mirror.local=docker.io").unwrap();
        assert!(!ok(&p, "mirror.local/busybox:1", "busybox:1"));
        assert!(ok(&p, "mirror.local/library/busybox:1", "busybox:1"));
        // Host-only prefix equal to the whole name.
        let p = IdentityPolicy::parse_cli("remap:reg.io/a/b=other.io/c").unwrap();
        assert!(ok(&p, "reg.io/a/b:v1", "other.io/c:v1"));
        assert!(!p.accepts(None, &d(A), "other.io/c:v1"));
        for bad in ["remap:nothing", "remap:bad_host=x.io", "remap:x.io=a/B", "remap:x.io/=y.io"] {
            assert!(IdentityPolicy::parse_cli(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_extends_match_repo_digest_or_exact() {
        let p = Default;
        // Everything matchRepoDigestOrExact accepts.
        assert!(ok(&p, "busybox:1", "busybox:1"));
        assert!(ok(&p, &format!("busybox@{A}"), "busybox:any"));
        assert!(!ok(&p, "busybox:1", "busybox:2"));
        // Extension 1: repository-only identity of the image's repository.
        assert!(ok(&p, "busybox:1", "busybox"));
        assert!(ok(&p, "busybox:1", "index.docker.io/library/busybox"));
        assert!(ok(&p, &format!("busybox@{A}"), "docker.io/library/busybox"));
        assert!(ok(&p, "busybox", "busybox"), "name-only image, name-only identity");
        assert!(!ok(&p, "busybox:1", "other"), "repo-only identity of another repository");
        assert!(!ok(&p, "reg.io/a/busybox:1", "busybox"));
        // Extension 2: repo@D with D the digest being verified.
        assert!(ok(&p, "busybox:1", &format!("busybox@{A}")));
        assert!(!ok(&p, "busybox:1", &format!("busybox@{B}")), "repo@D with another digest");
        assert!(!ok(&p, "busybox:1", &format!("other@{A}")), "repo@D with another repository");
        assert!(!ok(&p, "busybox:1", &format!("busybox:2@{A}")), "a wrong tag is not rescued by the digest");
        // No image name: nothing.
        assert!(!p.accepts(None, &d(A), "busybox"));
        assert!(!p.accepts(None, &d(A), &format!("busybox@{A}")));
        assert!(!ok(&p, "busybox:1", "Not/A/Reference"));
    }

    #[test]
    fn registry_hosts_are_compared_as_written() {
        let p = MatchRepoDigestOrExact;
        assert!(ok(&p, "192.168.64.2:5000/app:1", "192.168.64.2:5000/app:1"));
        assert!(!ok(&p, "192.168.64.2:5000/app:1", "192.168.64.2:5000/library/app:1"));
        assert!(!ok(&p, "reg.io:443/app:1", "reg.io/app:1"));
        assert!(!ok(&p, "Reg.io/app:1", "reg.io/app:1"));
    }

    #[test]
    fn only_exact_types_without_image_name() {
        for p in [Default, MatchExact, MatchRepoDigestOrExact, MatchRepository] {
            assert!(!p.accepts(None, &d(A), "busybox:1"), "{p}");
        }
    }

    #[test]
    fn parse_cli_forms() {
        assert_eq!(IdentityPolicy::parse_cli("match-exact"), Ok(MatchExact));
        assert_eq!(IdentityPolicy::parse_cli("match-repo-digest-or-exact"), Ok(MatchRepoDigestOrExact));
        assert_eq!(IdentityPolicy::parse_cli("match-repository"), Ok(MatchRepository));
        assert!(matches!(IdentityPolicy::parse_cli("matchExact"), Err(IdentityError::Unknown(_))));
        assert!(matches!(IdentityPolicy::parse_cli("exact-repository:Bad"), Err(IdentityError::Reference(_))));
        assert!(matches!(IdentityPolicy::parse_cli("remap:a.io"), Err(IdentityError::RemapSyntax(_))));
        assert!(!Default.binds_identity_explicitly());
        assert!(MatchRepoDigestOrExact.binds_identity_explicitly());
        assert_eq!(
            IdentityPolicy::parse_cli("exact-repository:busybox:1").unwrap().to_string(),
            "exact-repository:docker.io/library/busybox"
        );
        assert_eq!(IdentityPolicy::parse_cli("remap:a.io=b.io").unwrap().to_string(), "remap:a.io=b.io");
    }
}
