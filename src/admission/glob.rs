//! sigstore policy-controller's image globs, as `pkg/apis/glob/glob.go` (policy-controller f925c0c) has them:
//! `*` is any run of non-`/` characters, `**` any run of characters, `.` is literal, the whole name must
//! match; a bare `*` means `index.docker.io/library/*` and `*/*` means `index.docker.io/*/*`; only
//! `[a-zA-Z0-9-_:/*.@]` may appear. The name matched is go-containerregistry's `ref.Name()` — registry
//! `index.docker.io` for Docker Hub, `library/` for its official images, `:latest` when no tag is given —
//! and, when that differs from the name as written, the name as written (the controller's deprecated
//! fallback).

use regex::Regex;

/// A compiled glob.
pub struct Glob {
    pub text: String,
    re: Regex,
}

impl Glob {
    pub fn compile(glob: &str) -> Result<Glob, String> {
        let text = match glob {
            "*/*" => "index.docker.io/*/*",
            "*" => "index.docker.io/library/*",
            other => other,
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_:/*.@".contains(c);
        if text.is_empty() || !text.chars().all(valid) {
            return Err(format!("invalid glob {glob:?}"));
        }
        let pattern = text.replace('.', r"\.").replace("**", "#").replace('*', "[^/]*").replace('#', ".*");
        let re = Regex::new(&format!("^{pattern}$")).map_err(|e| format!("invalid glob {glob:?}: {e}"))?;
        Ok(Glob { text: glob.to_string(), re })
    }

    /// Does the glob match `image` (a name as a pod spec would write it)?
    pub fn matches(&self, image: &str) -> bool {
        let Some(full) = crane_name(image) else { return false };
        self.re.is_match(&full) || (full != image && self.re.is_match(image))
    }
}

/// go-containerregistry's `ParseReference(image, WeakValidation).Name()`: `index.docker.io` for Docker Hub
/// (and `library/` for a one-part repository), `:latest` when neither tag nor digest is given. `None` for a
/// name it would refuse.
pub fn crane_name(image: &str) -> Option<String> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let (repo_part, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    let (registry, repo) = match repo_part.split_once('/') {
        Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => (first, path),
        _ => ("index.docker.io", repo_part),
    };
    let registry = if registry == "docker.io" { "index.docker.io" } else { registry };
    let repo =
        if registry == "index.docker.io" && !repo.contains('/') { format!("library/{repo}") } else { repo.into() };
    let component = |c: &str| {
        !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    };
    if !repo.split('/').all(component) || tag.is_some_and(|t| t.is_empty() || t.len() > 128) {
        return None;
    }
    Some(match (tag, digest) {
        (_, Some(d)) => format!("{registry}/{repo}@{d}"),
        (Some(t), None) => format!("{registry}/{repo}:{t}"),
        (None, None) => format!("{registry}/{repo}:latest"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// policy-controller's own table (`pkg/apis/glob/glob_test.go`, TestGlobMatch), row for row.
    #[test]
    fn policy_controller_glob_table() {
        let digest = "ghcr.io/foo@sha256:5504f2a95018e3d8a52d80d9e1a128c6ea337581808ff9fe96f5628ce2336350";
        let rows: &[(&str, &str, bool)] = &[
            ("foo", "index.docker.io/library/foo:latest", true),
            ("foo", "index.docker.io/library/foo:*", true),
            ("foo", "index.docker.io/library/*", true),
            ("foo", "index.docker.io/library/*:latest", true),
            ("foo", "index.docker.io/*/*", true),
            ("foo", "index.docker.io/**", true),
            ("foo", "index.docker.**", true),
            ("foo", "inde**", true),
            ("foo", "**", true),
            ("foo", "foo", true),
            ("foo", "foo*", true),
            ("foo", "foo**", true),
            ("myuser/myapp", "index.docker.io/myuser/myapp:latest", true),
            ("myuser/myapp", "index.docker.io/myuser/myapp:*", true),
            ("myuser/myapp", "index.docker.io/myuser/*", true),
            ("myuser/myapp", "index.docker.io/myuser/*:latest", true),
            ("myuser/myapp", "index.docker.io/*/*", true),
            ("myuser/myapp", "index.docker.io/**", true),
            ("myuser/myapp", "index.docker.**", true),
            ("myuser/myapp", "inde**", true),
            ("myuser/myapp", "**", true),
            ("myuser/myapp", "myuser/myapp", true),
            ("myuser/myapp", "myuser/myapp*", true),
            ("myuser/myapp", "myuser/myapp**", true),
            ("ghcr.io/foo/bar", "ghcr.io/*/*", true),
            ("ghcr.io/foo/bar", "ghcr.io/**", true),
            ("ghcr.io/foo", "ghcr.io/*/*", false),
            ("ghcr.io/foo", "ghcr.io/**", true),
            ("ghcr.io/foo", "ghc**", true),
            ("ghcr.io/foo", "**", true),
            ("ghcr.io/foo", "*/**", true),
            ("ghcr.io/foo", "ghcr.io/foo*", true),
            ("ghcr.io/foo", "ghcr.io/foo**", true),
            ("prefix-ghcr.io/foo", "ghcr.io/foo", false),
            ("ghcr.io/foo-suffix", "ghcr.io/foo", false),
            ("ghcrxio/foo", "ghcr.io/**", false),
            ("invalid&name", "**", false),
            ("foo", "*", true),
            ("myuser/myapp", "*/*", true),
            (digest, digest, true),
        ];
        for (image, glob, want) in rows {
            let g = Glob::compile(glob).unwrap();
            assert_eq!(g.matches(image), *want, "glob {glob} on {image}");
        }
        for bad in [".+", "[a-z]*", ""] {
            assert!(Glob::compile(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tagged_name_needs_a_glob_that_reaches_the_tag() {
        let g = Glob::compile("registry.example.com/rancher/*").unwrap();
        assert!(g.matches("registry.example.com/rancher/rancher"), "bare: :latest is one path segment");
        assert!(g.matches("registry.example.com/rancher/rancher:v2.9"));
        assert!(!g.matches("registry.example.com/rancher/sub/rancher:v2.9"));
        let exact = Glob::compile("registry.example.com/rancher/rancher").unwrap();
        assert!(!exact.matches("registry.example.com/rancher/rancher:v2.9"), "no wildcard: only the bare name");
        assert_eq!(crane_name("docker.io/rancher/rancher:v2").unwrap(), "index.docker.io/rancher/rancher:v2");
        assert_eq!(crane_name("busybox").unwrap(), "index.docker.io/library/busybox:latest");
        assert_eq!(crane_name("localhost:5000/a").unwrap(), "localhost:5000/a:latest");
    }
}
