//! Platform selection (SPEC §3.3): `--arch`/`--os` filters, variants, and attestation manifests that
//! are not platforms at all.

use crate::source::{Desc, Platform};

/// One `--arch` item crossed with one `--os` item; a variant only when the user named one (`arm/v7`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct PlatformFilter {
    pub wanted: Vec<Wanted>,
}

impl PlatformFilter {
    /// `arch` like `amd64,arm64,arm/v7`; `os` like `linux,windows`.
    pub fn parse(arch: &str, os: &str) -> Result<PlatformFilter, String> {
        let mut wanted = Vec::new();
        for o in os.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            for a in arch.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (architecture, variant) = match a.split_once('/') {
                    Some((a, v)) if !a.is_empty() && !v.is_empty() && !v.contains('/') => (a, Some(v.to_string())),
                    Some(_) => return Err(format!("invalid architecture {a:?} (expected ARCH or ARCH/VARIANT)")),
                    None => (a, None),
                };
                wanted.push(Wanted { os: o.to_string(), architecture: architecture.to_string(), variant });
            }
        }
        if wanted.is_empty() {
            return Err("no platform selected: --arch and --os must each name at least one value".into());
        }
        Ok(PlatformFilter { wanted })
    }

    pub fn matches(&self, p: &Platform) -> bool {
        self.wanted.iter().any(|w| wanted_matches(w, p))
    }

    /// The wanted platforms none of `present` satisfies.
    pub fn absent<'a>(&'a self, present: &[Platform]) -> Vec<&'a Wanted> {
        self.wanted.iter().filter(|w| !present.iter().any(|p| wanted_matches(w, p))).collect()
    }
}

fn wanted_matches(w: &Wanted, p: &Platform) -> bool {
    w.os == p.os && w.architecture == p.architecture && w.variant.as_ref().is_none_or(|v| p.variant.as_ref() == Some(v))
}

/// BuildKit attestation manifests (`unknown/unknown`, `vnd.docker.reference.type`) are not platforms.
pub fn is_attestation(d: &Desc) -> bool {
    d.annotation("vnd.docker.reference.type").is_some()
        || d.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, a: &str, v: Option<&str>) -> Platform {
        Platform { os: os.into(), architecture: a.into(), variant: v.map(Into::into) }
    }

    #[test]
    fn variants_only_when_asked() {
        let f = PlatformFilter::parse("amd64,arm/v7", "linux").unwrap();
        assert!(f.matches(&p("linux", "amd64", None)));
        assert!(f.matches(&p("linux", "arm", Some("v7"))));
        assert!(!f.matches(&p("linux", "arm", Some("v6"))));
        assert!(!f.matches(&p("windows", "amd64", None)));
        let any_arm = PlatformFilter::parse("arm", "linux").unwrap();
        assert!(any_arm.matches(&p("linux", "arm", Some("v6"))));
    }

    #[test]
    fn reports_absent_platforms() {
        let f = PlatformFilter::parse("amd64,arm64", "linux").unwrap();
        let absent = f.absent(&[p("linux", "amd64", None)]);
        assert_eq!(absent.len(), 1);
        assert_eq!(absent[0].to_string(), "linux/arm64");
    }

    #[test]
    fn rejects_bad_filters() {
        assert!(PlatformFilter::parse("", "linux").is_err());
        assert!(PlatformFilter::parse("arm/v7/x", "linux").is_err());
    }
}
