//! Platform selection (SPEC §3.3): `--arch`/`--os` filters, platforms compared as containerd normalises
//! them (`containerd/platforms` `Normalize`, `database.go` `normalizeArch`/`normalizeOS`), and the one
//! kind of index child that is not a platform at all (BuildKit's attestation manifests).

use super::{Desc, Platform};
use std::fmt;

/// GOARCH values (Go's `go/build` `syslist.go`): what OCI's `architecture` names.
const ARCHITECTURES: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// GOOS values (Go's `go/build` `syslist.go`): what OCI's `os` names.
const SYSTEMS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

/// A platform in containerd's normal form: OS and architecture lower-cased, the architecture's aliases
/// folded (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`, …) and default variants made
/// explicit (`arm` → `arm/v7`, `arm64` → `arm64/v8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normal {
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

/// containerd's `platforms.Normalize`, with SPEC §3.3's additions (`i686` → `386`, `arm64` → `arm64/v8`).
pub fn normalize(os: &str, architecture: &str, variant: Option<&str>) -> Normal {
    let os = match os.to_lowercase().as_str() {
        "macos" => "darwin".to_string(),
        other => other.to_string(),
    };
    let architecture = architecture.to_lowercase();
    let variant = variant.unwrap_or_default().to_lowercase();
    let (architecture, variant) = match architecture.as_str() {
        "i386" | "i686" | "386" => ("386".to_string(), String::new()),
        "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), if variant == "v1" { String::new() } else { variant }),
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "" | "8" | "v8" | "v8.0" => "v8".to_string(),
                "9" | "9.0" | "v9.0" => "v9".to_string(),
                _ => variant,
            };
            ("arm64".to_string(), v)
        }
        "armhf" => ("arm".to_string(), "v7".to_string()),
        "armel" => ("arm".to_string(), "v6".to_string()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".to_string(), v)
        }
        _ => (architecture, variant),
    };
    Normal { os, architecture, variant }
}

impl Platform {
    pub fn normal(&self) -> Normal {
        normalize(&self.os, &self.architecture, self.variant.as_deref())
    }
}

/// One `--arch` item crossed with one `--os` item; a variant only when the user named one (`arm/v7`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub platform: Platform,
    normal: Normal,
}

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.platform.fmt(f)
    }
}

impl Wanted {
    /// A platform as a runtime compares it: normalised on both sides; without a variant named, any variant of
    /// the architecture is selected (so every child a runtime might pull is verified).
    pub fn matches(&self, p: &Platform) -> bool {
        let n = p.normal();
        n.os == self.normal.os
            && n.architecture == self.normal.architecture
            && (self.platform.variant.is_none() || n.variant == self.normal.variant)
    }
}

#[derive(Clone, Debug)]
pub struct PlatformFilter {
    pub wanted: Vec<Wanted>,
    /// Every platform is selected (`airlock list`); `wanted` is empty.
    every: bool,
}

impl PlatformFilter {
    /// `arch` like `amd64,arm64,arm/v7`; `os` like `linux,windows`. Values must be OCI (Go) names:
    /// `x86_64` or `Linux` are refused with the OCI spelling.
    pub fn parse(arch: &str, os: &str) -> Result<PlatformFilter, String> {
        let mut wanted = Vec::new();
        for o in os.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            check_os(o)?;
            for a in arch.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (architecture, variant) = match a.split_once('/') {
                    Some((a, v)) if !a.is_empty() && !v.is_empty() && !v.contains('/') => (a, Some(v.to_string())),
                    Some(_) => return Err(format!("invalid architecture {a:?} (expected ARCH or ARCH/VARIANT)")),
                    None => (a, None),
                };
                check_arch(architecture)?;
                if let Some(v) = &variant
                    && !valid_variant(v)
                {
                    return Err(format!("--arch {a}: invalid variant {v:?} (expected v5, v6, v7, v8 …)"));
                }
                let platform = Platform { os: o.to_string(), architecture: architecture.to_string(), variant };
                let normal = platform.normal();
                wanted.push(Wanted { platform, normal });
            }
        }
        if wanted.is_empty() {
            return Err("no platform selected: --arch and --os must each name at least one value".into());
        }
        Ok(PlatformFilter { wanted, every: false })
    }

    /// Selects every platform an index lists (attestations aside): what a source holds, not a choice.
    pub fn every() -> PlatformFilter {
        PlatformFilter { wanted: Vec::new(), every: true }
    }

    pub fn matches(&self, p: &Platform) -> bool {
        self.every || self.wanted.iter().any(|w| w.matches(p))
    }

    /// The wanted platforms none of `present` satisfies.
    pub fn absent<'a>(&'a self, present: &[Platform]) -> Vec<&'a Wanted> {
        self.wanted.iter().filter(|w| !present.iter().any(|p| w.matches(p))).collect()
    }
}

/// `--arch` must be a Go name; an alias gets the OCI spelling (`x86_64` → `amd64`, `armhf` → `arm/v7`).
fn check_arch(value: &str) -> Result<(), String> {
    if ARCHITECTURES.contains(&value) {
        return Ok(());
    }
    let n = normalize("linux", value, None);
    if !ARCHITECTURES.contains(&n.architecture.as_str()) {
        return Err(format!("--arch {value}: not an OCI name (one of: {})", ARCHITECTURES.join(", ")));
    }
    let oci = match value.to_lowercase().as_str() {
        "armhf" | "armel" => format!("{}/{}", n.architecture, n.variant),
        _ => n.architecture,
    };
    Err(format!("--arch {value}: not an OCI name; use --arch {oci}"))
}

/// `--os` must be a Go name; `Linux` gets `linux`.
fn check_os(value: &str) -> Result<(), String> {
    if SYSTEMS.contains(&value) {
        return Ok(());
    }
    let n = normalize(value, "", None);
    if SYSTEMS.contains(&n.os.as_str()) {
        return Err(format!("--os {value}: not an OCI name; use --os {}", n.os));
    }
    Err(format!("--os {value}: not an OCI name (one of: {})", SYSTEMS.join(", ")))
}

fn valid_variant(v: &str) -> bool {
    !v.is_empty() && v.len() <= 16 && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
}

/// BuildKit attestation manifests are not platforms: only a child that says so both ways (`unknown/unknown`
/// and `vnd.docker.reference.type: attestation-manifest`) is one. Anything else is a platform a runtime
/// might pull.
pub fn is_attestation(d: &Desc) -> bool {
    d.annotation("vnd.docker.reference.type") == Some("attestation-manifest")
        && d.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
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
    fn platforms_compare_as_containerd_normalises_them() {
        let f = PlatformFilter::parse("amd64,arm64,arm/v7,arm/v6,386", "linux").unwrap();
        for (os, arch, variant) in [
            ("linux", "x86_64", None),
            ("Linux", "amd64", None),
            ("LINUX", "X86-64", None),
            ("linux", "amd64", Some("v1")),
            ("linux", "aarch64", None),
            ("linux", "arm64", Some("v8")),
            ("linux", "arm64", Some("8")),
            ("linux", "arm", None),
            ("linux", "arm", Some("7")),
            ("linux", "armhf", None),
            ("linux", "armel", None),
            ("linux", "i386", None),
            ("linux", "i686", None),
        ] {
            assert!(f.matches(&p(os, arch, variant)), "{os}/{arch}/{variant:?}");
        }
        let v7 = PlatformFilter::parse("arm/v7", "linux").unwrap();
        assert!(v7.matches(&p("linux", "arm", None)), "arm without a variant is arm/v7");
        assert!(!v7.matches(&p("linux", "armel", None)));
        let v8 = PlatformFilter::parse("arm64/v8", "linux").unwrap();
        assert!(v8.matches(&p("linux", "arm64", None)), "arm64 without a variant is arm64/v8");
        assert!(!v8.matches(&p("linux", "arm64", Some("v9"))));
    }

    #[test]
    fn reports_absent_platforms() {
        let f = PlatformFilter::parse("amd64,arm64", "linux").unwrap();
        let absent = f.absent(&[p("linux", "x86_64", None)]);
        assert_eq!(absent.len(), 1);
        assert_eq!(absent[0].to_string(), "linux/arm64");
    }

    #[test]
    fn rejects_bad_filters_and_names_the_oci_spelling() {
        assert!(PlatformFilter::parse("", "linux").is_err());
        assert!(PlatformFilter::parse("arm/v7/x", "linux").is_err());
        let e = PlatformFilter::parse("x86_64", "linux").unwrap_err();
        assert!(e.contains("use --arch amd64"), "{e}");
        let e = PlatformFilter::parse("aarch64", "linux").unwrap_err();
        assert!(e.contains("use --arch arm64"), "{e}");
        let e = PlatformFilter::parse("armhf", "linux").unwrap_err();
        assert!(e.contains("use --arch arm/v7"), "{e}");
        let e = PlatformFilter::parse("amd64", "Linux").unwrap_err();
        assert!(e.contains("use --os linux"), "{e}");
        let e = PlatformFilter::parse("pdp11", "linux").unwrap_err();
        assert!(e.contains("not an OCI name (one of: 386, amd64"), "{e}");
        assert!(PlatformFilter::parse("s390x,riscv64,ppc64le", "linux,windows").is_ok());
    }

    #[test]
    fn attestations_need_both_markers() {
        let mut d = Desc::new(super::super::OCI_MANIFEST, crate::digest::Digest::sha256_of(b""), 0);
        d.platform = Some(p("unknown", "unknown", None));
        assert!(!is_attestation(&d), "unknown/unknown alone is a platform");
        d.annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
        assert!(is_attestation(&d));
        d.platform = Some(p("linux", "amd64", None));
        assert!(!is_attestation(&d), "an annotation on a real platform does not hide it");
    }
}
