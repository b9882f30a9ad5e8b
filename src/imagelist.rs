//! hangar image lists (SPEC §4): one reference per line, normalised hangar's way to `REGISTRY/PROJECT/NAME`,
//! with containers-image's reading of the same line kept beside it for matching archive entries.
//!
//! Beyond hangar: `NAME@sha256:…` lines carry a digest and no tag; `NAME:TAG@sha256:…` keeps both (the digest
//! pins the manifest, the tag is the identity it was signed under). Lines hangar would misread — bad digests,
//! upper-case repositories, empty or invalid tags — are skipped with a warning instead.

use crate::digest::Digest;
use crate::reference::{DockerRef, RefError, valid_tag};
use std::fmt;

const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
const DEFAULT_PROJECT: &str = "library";
const DEFAULT_TAG: &str = "latest";

/// One image list line, normalised hangar's way. `tag` is `latest` when the line names neither a tag nor a
/// digest, and `None` only on a digest-only line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListLine {
    /// 1-based line number in the list file.
    pub line_no: usize,
    /// The trimmed line as written (what the failed list records).
    pub original: String,
    pub registry: String,
    pub project: String,
    /// The rest of the repository path after the project (may contain `/`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
    /// containers-image's reading of the same segments, kept in step by [`ListLine::with_overrides`].
    ci: CiParts,
}

/// containers-image's split of a line: registry host, first path component if any, rest of the path.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CiParts {
    registry: String,
    project: Option<String>,
    name: String,
}

/// A line that was skipped. Displays as `line N: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListWarning {
    pub line_no: usize,
    pub message: String,
}

impl fmt::Display for ListWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line_no, self.message)
    }
}

/// Parses a list file: lines are trimmed; blank lines and lines starting with `#` or `//` are skipped silently;
/// mirror-format and other malformed lines are skipped with a warning.
pub fn parse_list(text: &str) -> (Vec<ListLine>, Vec<ListWarning>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        match parse_line(line_no, line) {
            Ok(l) => lines.push(l),
            Err(message) => warnings.push(ListWarning { line_no, message }),
        }
    }
    (lines, warnings)
}

fn looks_like_registry(s: &str) -> bool {
    s.contains(['.', ':']) || s == "localhost"
}

fn parse_line(line_no: usize, line: &str) -> Result<ListLine, String> {
    match line.split_whitespace().count() {
        1 => {}
        3 => return Err(format!("ignored mirror-format line {line:?} (SOURCE DEST TAG is for `hangar mirror` only)")),
        _ => return Err(format!("ignored line {line:?}: invalid format (expected one image reference)")),
    }
    let invalid = |why: String| format!("ignored line {line:?}: {why}");
    let (name_tag, digest) = match line.split_once('@') {
        Some((nt, d)) => (nt, Some(Digest::parse(d).map_err(|e| invalid(e.to_string()))?)),
        None => (line, None),
    };
    let mut segs: Vec<&str> = name_tag.split('/').filter(|s| !s.is_empty()).collect();
    let Some(last) = segs.pop() else {
        return Err(invalid("no image name".to_string()));
    };
    let (last, tag) = match last.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (last, None),
    };
    if let Some(t) = tag
        && !valid_tag(t)
    {
        return Err(invalid(format!("invalid tag {t:?}")));
    }
    segs.push(last);

    let same = |registry: &str, project: &str, name: String| {
        let ci = CiParts { registry: registry.to_string(), project: Some(project.to_string()), name: name.clone() };
        (registry.to_string(), project.to_string(), name, ci)
    };
    let (registry, project, name, ci) = match segs.as_slice() {
        [] => return Err(invalid("no image name".to_string())),
        [name] => same(DEFAULT_REGISTRY, DEFAULT_PROJECT, name.to_string()),
        [reg, name] if looks_like_registry(reg) => {
            // hangar adds `library/`; containers-image does so only on Docker Hub.
            let hub = *reg == DEFAULT_REGISTRY || *reg == LEGACY_DEFAULT_REGISTRY;
            let ci = CiParts {
                registry: reg.to_string(),
                project: hub.then(|| DEFAULT_PROJECT.to_string()),
                name: name.to_string(),
            };
            (reg.to_string(), DEFAULT_PROJECT.to_string(), name.to_string(), ci)
        }
        [project, name] => same(DEFAULT_REGISTRY, project, name.to_string()),
        [reg, project, name] if looks_like_registry(reg) => same(reg, project, name.to_string()),
        [reg, project, name] => {
            // hangar: the first of three segments is always the registry; containers-image: a Docker Hub path.
            let ci = CiParts {
                registry: DEFAULT_REGISTRY.to_string(),
                project: Some(reg.to_string()),
                name: format!("{project}/{name}"),
            };
            (reg.to_string(), project.to_string(), name.to_string(), ci)
        }
        [reg, project, rest @ ..] if looks_like_registry(reg) => same(reg, project, rest.join("/")),
        [project, rest @ ..] => same(DEFAULT_REGISTRY, project, rest.join("/")),
    };
    let tag = match (tag, &digest) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_TAG.to_string()),
    };
    let parsed = ListLine { line_no, original: line.to_string(), registry, project, name, tag, digest, ci };
    parsed.hangar_docker_ref().map_err(|e| invalid(e.to_string()))?;
    Ok(parsed)
}

impl ListLine {
    /// hangar's `--registry` / `--project`: replace the registry and/or project (on one- and two-segment lines
    /// the implied one). An empty value means no override, as in hangar. `original` is kept.
    pub fn with_overrides(&self, registry: Option<&str>, project: Option<&str>) -> ListLine {
        let mut l = self.clone();
        if let Some(r) = registry.filter(|r| !r.is_empty()) {
            l.registry = r.to_string();
            l.ci.registry = r.to_string();
        }
        if let Some(p) = project.filter(|p| !p.is_empty()) {
            l.project = p.to_string();
            l.ci.project = Some(p.to_string());
        }
        l
    }

    /// The tag to use: the line's, or `latest` when the line has neither tag nor digest.
    fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG),
        }
    }

    fn suffix(&self) -> String {
        let mut s = String::new();
        if let Some(t) = self.effective_tag() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }

    /// `REGISTRY/PROJECT/NAME:TAG`, `REGISTRY/PROJECT/NAME@sha256:…`, or both suffixes, spelt as hangar does
    /// (the registry as written, e.g. `index.docker.io` is kept).
    pub fn hangar_ref(&self) -> String {
        format!("{}/{}/{}{}", self.registry, self.project, self.name, self.suffix())
    }

    /// hangar's normalisation as a reference (the registry taken as a host even when containers-image would
    /// not read it as one; `index.docker.io` becomes `docker.io`).
    pub fn hangar_docker_ref(&self) -> Result<DockerRef, RefError> {
        let path = format!("{}/{}", self.project, self.name);
        DockerRef::from_parts(&self.registry, &path, self.effective_tag(), self.digest.as_ref())
    }

    /// containers-image's normalisation of the same line (after overrides): `reg:5000/app` stays that, and
    /// `a/b/c` is a Docker Hub repository. Tag `latest` when the line has neither tag nor digest.
    pub fn docker_ref(&self) -> Result<DockerRef, RefError> {
        let path = match &self.ci.project {
            Some(p) => format!("{p}/{}", self.ci.name),
            None => self.ci.name.clone(),
        };
        DockerRef::from_parts(&self.ci.registry, &path, self.effective_tag(), self.digest.as_ref())
    }

    /// The references an archive entry may match: hangar's first, then containers-image's if it differs.
    pub fn candidates(&self) -> Vec<DockerRef> {
        let mut out = Vec::with_capacity(2);
        if let Ok(h) = self.hangar_docker_ref() {
            out.push(h);
        }
        if let Ok(c) = self.docker_ref()
            && !out.contains(&c)
        {
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn one(line: &str) -> ListLine {
        let (mut lines, warnings) = parse_list(line);
        assert!(warnings.is_empty(), "{line}: {warnings:?}");
        assert_eq!(lines.len(), 1);
        lines.remove(0)
    }

    fn refs(l: &ListLine) -> (String, String, String) {
        (
            l.hangar_ref(),
            l.hangar_docker_ref().map(|r| r.to_string()).unwrap_or_else(|e| e.to_string()),
            l.docker_ref().map(|r| r.to_string()).unwrap_or_else(|e| e.to_string()),
        )
    }

    fn check(line: &str, hangar: &str, hangar_docker: &str, ci: &str) {
        let l = one(line);
        assert_eq!(refs(&l), (hangar.to_string(), hangar_docker.to_string(), ci.to_string()), "{line}");
    }

    #[test]
    fn normalisation_per_segment_count() {
        check(
            "nginx",
            "docker.io/library/nginx:latest",
            "docker.io/library/nginx:latest",
            "docker.io/library/nginx:latest",
        );
        check(
            "nginx:1.25",
            "docker.io/library/nginx:1.25",
            "docker.io/library/nginx:1.25",
            "docker.io/library/nginx:1.25",
        );
        check(
            "rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
        );
        // Two segments with a registry host: hangar adds library/, containers-image does not.
        check("reg:5000/app", "reg:5000/library/app:latest", "reg:5000/library/app:latest", "reg:5000/app:latest");
        check("localhost/app:v1", "localhost/library/app:v1", "localhost/library/app:v1", "localhost/app:v1");
        check(
            "192.168.64.2:5000/app",
            "192.168.64.2:5000/library/app:latest",
            "192.168.64.2:5000/library/app:latest",
            "192.168.64.2:5000/app:latest",
        );
        check(
            "docker.io/nginx",
            "docker.io/library/nginx:latest",
            "docker.io/library/nginx:latest",
            "docker.io/library/nginx:latest",
        );
        check(
            "index.docker.io/nginx:1",
            "index.docker.io/library/nginx:1",
            "docker.io/library/nginx:1",
            "docker.io/library/nginx:1",
        );
        // Three segments: the first is the registry for hangar, unconditionally.
        check(
            "docker.io/rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
            "docker.io/rancher/rancher:v2.8.0",
        );
        check("a/b/c", "a/b/c:latest", "a/b/c:latest", "docker.io/a/b/c:latest");
        // Four or more: the rest of the path is the name.
        check("reg.io/a/b/c/name:v1", "reg.io/a/b/c/name:v1", "reg.io/a/b/c/name:v1", "reg.io/a/b/c/name:v1");
        check(
            "a/b/c/name",
            "docker.io/a/b/c/name:latest",
            "docker.io/a/b/c/name:latest",
            "docker.io/a/b/c/name:latest",
        );
        // Empty segments are dropped.
        check(
            "docker.io//rancher///rancher",
            "docker.io/rancher/rancher:latest",
            "docker.io/rancher/rancher:latest",
            "docker.io/rancher/rancher:latest",
        );

        let l = one("reg.io/a/b/c/name:v1");
        assert_eq!((l.registry.as_str(), l.project.as_str(), l.name.as_str()), ("reg.io", "a", "b/c/name"));
        assert_eq!(l.tag.as_deref(), Some("v1"));
        let l = one("nginx");
        assert_eq!(l.tag.as_deref(), Some("latest"));
        assert!(l.digest.is_none());
    }

    #[test]
    fn digest_lines() {
        let d = format!("sha256:{HEX}");
        let l = one(&format!("nginx@{d}"));
        assert_eq!(l.tag, None);
        assert_eq!(l.digest.as_ref().map(|x| x.to_string()), Some(d.clone()));
        assert_eq!(l.name, "nginx");
        assert_eq!(l.hangar_ref(), format!("docker.io/library/nginx@{d}"));
        assert_eq!(l.docker_ref().unwrap().to_string(), format!("docker.io/library/nginx@{d}"));
        // Tag and digest: both kept.
        let l = one(&format!("reg.io/proj/app:v1@{d}"));
        assert_eq!(l.tag.as_deref(), Some("v1"));
        assert!(l.digest.is_some());
        assert_eq!(l.hangar_ref(), format!("reg.io/proj/app:v1@{d}"));
        assert_eq!(l.hangar_docker_ref().unwrap().to_string(), format!("reg.io/proj/app:v1@{d}"));
        let l = one(&format!("reg:5000/app@{d}"));
        assert_eq!(refs(&l).1, format!("reg:5000/library/app@{d}"));
        assert_eq!(refs(&l).2, format!("reg:5000/app@{d}"));
    }

    #[test]
    fn hangar_style_list_with_comments_and_bad_lines() {
        let text = format!(
            "\u{feff}# Rancher images\n\
             // another comment\n\
             \n\
             \x20 nginx:1.25  \r\n\
             docker.io/library/nginx:1.25 reg.io/library/nginx:1.25 1.25\n\
             two fields\n\
             Nginx:1\n\
             nginx@sha256:abc\n\
             nginx@md5:{HEX}\n\
             nginx:\n\
             nginx:a:b\n\
             reg_x/a/b\n\
             nginx # not an inline comment\n\
             reg:5000/app\n\
             \t#indented comment\n\
             a/b/c/name@sha256:{HEX}\n\
             /:v1\n"
        );
        let (lines, warnings) = parse_list(&text);
        let got: Vec<(usize, String)> = lines.iter().map(|l| (l.line_no, l.hangar_ref())).collect();
        assert_eq!(
            got,
            vec![
                (4, "docker.io/library/nginx:1.25".to_string()),
                (14, "reg:5000/library/app:latest".to_string()),
                (16, format!("docker.io/a/b/c/name@sha256:{HEX}")),
            ]
        );
        assert_eq!(lines[0].original, "nginx:1.25");
        let warned: Vec<usize> = warnings.iter().map(|w| w.line_no).collect();
        assert_eq!(warned, vec![5, 6, 7, 8, 9, 10, 11, 12, 13, 17]);
        assert!(warnings[0].message.contains("mirror-format"), "{}", warnings[0]);
        assert!(warnings[0].to_string().starts_with("line 5: "));
        assert!(warnings[1].message.contains("invalid format"));
        assert!(warnings[2].message.contains("lowercase"), "{}", warnings[2]);
        assert!(warnings[4].message.contains("unsupported digest algorithm"), "{}", warnings[4]);
        assert!(warnings[5].message.contains("invalid tag"), "{}", warnings[5]);
    }

    #[test]
    fn overrides() {
        let (lines, _) =
            parse_list("nginx\nrancher/rancher:v1\nreg:5000/app\nreg.io/proj/app:v1\na/b/c\nreg.io/a/b/c/name\n");
        let over = |l: &ListLine, r, p| {
            let o = l.with_overrides(r, p);
            (o.hangar_ref(), o.docker_ref().map(|r| r.to_string()).unwrap_or_default())
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let r = Some("my.reg:443");
        assert_eq!(
            over(&lines[0], r, None),
            pair("my.reg:443/library/nginx:latest", "my.reg:443/library/nginx:latest")
        );
        assert_eq!(over(&lines[1], r, None), pair("my.reg:443/rancher/rancher:v1", "my.reg:443/rancher/rancher:v1"));
        assert_eq!(over(&lines[2], r, None), pair("my.reg:443/library/app:latest", "my.reg:443/app:latest"));
        assert_eq!(over(&lines[3], r, None), pair("my.reg:443/proj/app:v1", "my.reg:443/proj/app:v1"));
        assert_eq!(over(&lines[4], r, None), pair("my.reg:443/b/c:latest", "my.reg:443/a/b/c:latest"));
        let p = Some("team");
        assert_eq!(over(&lines[0], None, p), pair("docker.io/team/nginx:latest", "docker.io/team/nginx:latest"));
        assert_eq!(over(&lines[1], None, p), pair("docker.io/team/rancher:v1", "docker.io/team/rancher:v1"));
        assert_eq!(over(&lines[2], None, p), pair("reg:5000/team/app:latest", "reg:5000/team/app:latest"));
        assert_eq!(over(&lines[3], None, p), pair("reg.io/team/app:v1", "reg.io/team/app:v1"));
        assert_eq!(over(&lines[5], None, p), pair("reg.io/team/b/c/name:latest", "reg.io/team/b/c/name:latest"));
        assert_eq!(over(&lines[3], r, p), pair("my.reg:443/team/app:v1", "my.reg:443/team/app:v1"));
        // The original line is kept; empty overrides change nothing.
        let o = lines[3].with_overrides(r, p);
        assert_eq!(o.original, "reg.io/proj/app:v1");
        assert_eq!((o.registry.as_str(), o.project.as_str()), ("my.reg:443", "team"));
        assert_eq!(lines[3].with_overrides(Some(""), Some("")), lines[3]);
        // An invalid override shows up as an error, not a panic.
        assert!(lines[0].with_overrides(Some("bad_host"), None).hangar_docker_ref().is_err());
    }

    #[test]
    fn candidates_hangar_first() {
        let (lines, _) = parse_list("reg:5000/app\nnginx\na/b/c\nA/b/c\n");
        let c = |l: &ListLine| l.candidates().iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(c(&lines[0]), ["reg:5000/library/app:latest", "reg:5000/app:latest"]);
        assert_eq!(c(&lines[1]), ["docker.io/library/nginx:latest"]);
        assert_eq!(c(&lines[2]), ["a/b/c:latest", "docker.io/a/b/c:latest"]);
        // The host "A" is valid for hangar, the path "A/b/c" is not for containers-image.
        assert_eq!(c(&lines[3]), ["A/b/c:latest"]);
    }
}
