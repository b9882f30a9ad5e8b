//! The two files a zarf package is checked by: `zarf.yaml` (only the fields airlock needs) and
//! `checksums.txt`, read by zarf's own rules (zarf-dev/zarf src/pkg/packager/layout/package.go,
//! `validatePackageIntegrity`, and src/internal/pkgcfg/pkgcfg.go for multi-document definitions).

use crate::digest::Digest;
use serde::Deserialize;
use std::collections::HashMap;

/// Files at the package root that `checksums.txt` never lists (zarf deletes them from the file set before
/// comparing: zarf.yaml is the root of trust; the others are made after the checksums).
pub const EXEMPT: [&str; 4] = ["zarf.yaml", "checksums.txt", "zarf.bundle.sig", "zarf.yaml.sig"];
/// The most lines a `checksums.txt` may have (SPEC §8: a bundle's table of contents).
pub const MAX_LINES: usize = 1_000_000;

const V1ALPHA1: &str = "zarf.dev/v1alpha1";
const V1BETA1: &str = "zarf.dev/v1beta1";

/// What airlock reads of one `zarf.yaml` document: `apiVersion`, `kind`, `metadata.name`, and the aggregate
/// checksum (`metadata.aggregateChecksum` in v1alpha1, `build.aggregateChecksum` in v1beta1). Every other
/// field is ignored (components, actions and values are zarf's to run, not airlock's to check).
#[derive(Deserialize)]
struct Document {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    build: Option<Build>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "aggregateChecksum", default)]
    aggregate_checksum: Option<String>,
}

#[derive(Deserialize)]
struct Build {
    #[serde(rename = "aggregateChecksum", default)]
    aggregate_checksum: Option<String>,
}

/// A package definition as airlock needs it.
#[derive(Debug, PartialEq, Eq)]
pub struct Definition {
    /// `metadata.name`, for messages.
    pub name: String,
    /// The aggregate checksum of each document zarf knows (one per apiVersion), as written.
    pub aggregate: Vec<(String, Option<String>)>,
}

/// Reads `zarf.yaml`: every document of a known apiVersion (an absent one is v1alpha1, as in zarf) must be a
/// `ZarfPackageConfig` or `ZarfInitConfig`; unknown apiVersions are skipped, as zarf skips them; at least one
/// known document, and one per apiVersion.
pub fn definition(bytes: &[u8]) -> Result<Definition, String> {
    let docs: Vec<Document> = crate::yaml::documents(bytes)?;
    let mut aggregate: Vec<(String, Option<String>)> = Vec::new();
    let mut name = None;
    for doc in docs {
        let version = doc.api_version.unwrap_or_else(|| V1ALPHA1.to_string());
        let checksum = match version.as_str() {
            V1ALPHA1 => doc.metadata.as_ref().and_then(|m| m.aggregate_checksum.clone()),
            V1BETA1 => doc.build.and_then(|b| b.aggregate_checksum),
            _ => continue,
        };
        match doc.kind.as_deref() {
            Some("ZarfPackageConfig" | "ZarfInitConfig") => {}
            other => return Err(format!("a {version} document of kind {other:?}, not a zarf package definition")),
        }
        if aggregate.iter().any(|(v, _)| *v == version) {
            return Err(format!("two {version} documents (zarf refuses a duplicate apiVersion)"));
        }
        name = name.or(doc.metadata.and_then(|m| m.name));
        aggregate.push((version, checksum));
    }
    if aggregate.is_empty() {
        return Err(format!("no {V1ALPHA1} or {V1BETA1} package definition"));
    }
    Ok(Definition { name: name.unwrap_or_default(), aggregate })
}

/// One `checksums.txt` line: the path and the SHA-256 it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub digest: Digest,
}

/// Reads `checksums.txt` as zarf does: lines split at `\n`, empty ones skipped, each exactly
/// `<sha256> <path>` split at single spaces. Stricter than zarf where zarf would fail later or silently
/// clean: the hash must be 64 lower-case hex digits (zarf compares the text), the path relative and clean
/// (zarf's `filepath.Join` would fold `..` and `./`), and a path listed twice is refused (zarf fails it
/// as missing, having deleted it at its first line). Returns the lines, and what is wrong with the others.
pub fn checksums(text: &str) -> (Vec<Listed>, Vec<String>) {
    let (mut listed, mut problems) = (Vec::new(), Vec::new());
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, line) in text.split('\n').enumerate().filter(|(_, l)| !l.is_empty()) {
        let n = i + 1;
        if listed.len() + problems.len() >= MAX_LINES {
            problems.push(format!("more than {MAX_LINES} lines"));
            break;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let [hex, path] = fields.as_slice() else {
            problems.push(format!("line {n}: not `<sha256> <path>`"));
            continue;
        };
        let digest = match valid_hex(hex).then(|| Digest::parse(&format!("sha256:{hex}"))) {
            Some(Ok(d)) => d,
            _ => {
                problems.push(format!("line {n}: {hex:?} is not a SHA-256 in lower-case hex"));
                continue;
            }
        };
        if let Err(why) = clean_path(path) {
            problems.push(format!("line {n}: {path:?}: {why}"));
            continue;
        }
        if let Some(first) = seen.insert(path, n) {
            problems.push(format!("line {n}: {path} is listed again (first on line {first})"));
            continue;
        }
        listed.push(Listed { path: path.to_string(), digest });
    }
    (listed, problems)
}

fn valid_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path inside the package, as the archive names its files: relative, no `.`, `..` or empty component.
fn clean_path(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("an absolute path");
    }
    if path.split('/').any(|c| c == "..") {
        return Err("a path with \"..\"");
    }
    if path.split('/').any(|c| c.is_empty() || c == ".") || path.contains('\\') || path.contains('\r') {
        return Err("not a clean relative path");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "971098987c657c3fef3913777fb9ea8dee9d7f18ba9aeaae3a3a182378cee6f7";

    #[test]
    fn reads_the_fields_it_needs_from_each_known_document() {
        let one =
            format!("kind: ZarfPackageConfig\nmetadata:\n  name: test\n  aggregateChecksum: {HEX}\ncomponents: []\n");
        let d = definition(one.as_bytes()).unwrap();
        assert_eq!(d.name, "test");
        assert_eq!(d.aggregate, [(V1ALPHA1.to_string(), Some(HEX.to_string()))]);
        let two = format!(
            "{one}---\napiVersion: zarf.dev/v1beta1\nkind: ZarfPackageConfig\nmetadata:\n  name: test\nbuild:\n  aggregateChecksum: {HEX}\n---\napiVersion: zarf.dev/v9\nkind: Other\n"
        );
        let d = definition(two.as_bytes()).unwrap();
        assert_eq!(d.aggregate.len(), 2, "the unknown apiVersion is skipped, as zarf skips it");
        assert_eq!(d.aggregate[1], (V1BETA1.to_string(), Some(HEX.to_string())));
    }

    #[test]
    fn refuses_what_is_not_one_package_definition() {
        assert!(definition(b"kind: ZarfPackageConfig\nkind: ZarfInitConfig\n").unwrap_err().contains("uplicate"));
        assert!(definition(b"kind: Deployment\n").unwrap_err().contains("not a zarf package definition"));
        assert!(definition(b"apiVersion: other/v1\nkind: X\n").unwrap_err().contains("no zarf.dev/v1alpha1"));
        let twice = b"kind: ZarfPackageConfig\n---\nkind: ZarfPackageConfig\n";
        assert!(definition(twice).unwrap_err().contains("duplicate apiVersion"));
        assert!(definition(b"metadata: [").is_err());
    }

    #[test]
    fn reads_checksum_lines_by_zarfs_rules() {
        let text = format!("{HEX} components/a.tar\n\n{HEX} images/index.json\n");
        let (listed, problems) = checksums(&text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            listed.iter().map(|l| l.path.as_str()).collect::<Vec<_>>(),
            ["components/a.tar", "images/index.json"]
        );
    }

    #[test]
    fn malformed_duplicate_and_escaping_lines_are_problems() {
        let upper = HEX.to_uppercase();
        let text = format!(
            "{HEX}  two-spaces\n{upper} a\nnothex a\n{HEX} ../up\n{HEX} /abs\n{HEX} ./dot\n{HEX} a\n{HEX} a\n{HEX}\n"
        );
        let (listed, problems) = checksums(&text);
        assert_eq!(listed.len(), 1, "only the first `a`");
        let expect = [
            "line 1: not",
            "line 2:",
            "line 3:",
            "line 4: \"../up\": a path with",
            "line 5: \"/abs\": an absolute",
            "line 6:",
            "line 8: a is listed again (first on line 7)",
            "line 9: not",
        ];
        assert_eq!(problems.len(), expect.len(), "{problems:?}");
        for (p, e) in problems.iter().zip(expect) {
            assert!(p.starts_with(e), "{p} / {e}");
        }
    }
}
