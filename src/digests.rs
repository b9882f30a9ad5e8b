//! `--digests FILE` (SPEC §1): the digests a publisher lists for its images — Rancher's
//! `rancher-images-digests-<os>-<arch>.txt`, one `<registry>/<repo>:<tag> <sha256:…>` a line, or
//! `REF@DIGEST` lines. Each image the run verifies under a listed name must have exactly that top digest
//! (`digest-mismatch` otherwise), and without `-f` every listed image must be in the bundle (`missing`).
//!
//! The file is a trust input, so it is read strictly: a line that is neither form, a digest that is not
//! `sha256:<64 hex>`, or one name listed with two digests stops the run (exit 2) naming the line; nothing
//! is skipped.

use crate::digest::{Digest, Mismatch};
use crate::finding::{Finding, Kind};
use crate::reference::DockerRef;
use crate::verify::result::ImageResult;
use crate::verify::{Subject, Target};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The expected digests, by normalized name (`docker.io/library/…` form).
pub struct Digests {
    /// Shown in reasons: the file as given.
    file: String,
    /// `name:tag` → digest, in file order.
    by_name: HashMap<String, (Digest, usize)>,
    /// Lines in file order: (the reference as normalized, its digest).
    lines: Vec<(DockerRef, Digest)>,
}

impl Digests {
    /// Reads `path`; `Err` names the file and line.
    pub fn load(path: &Path) -> Result<Digests, String> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("--digests {file}: {e}"))?;
        Digests::parse(&file, &text)
    }

    fn parse(file: &str, text: &str) -> Result<Digests, String> {
        let mut digests = Digests { file: file.to_string(), by_name: HashMap::new(), lines: Vec::new() };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |why: String| format!("--digests {file}:{}: {why}", i + 1);
            let (name, digest) = split(line).map_err(at)?;
            let reference = DockerRef::parse(name).map_err(|e| at(format!("{name}: {e}")))?;
            let digest = Digest::parse(digest)
                .ok()
                .filter(|d| d.to_string().starts_with("sha256:"))
                .ok_or_else(|| at(format!("{digest}: not a sha256:<64 hex> digest")))?;
            if reference.tag().is_none() {
                return Err(at(format!("{name}: names no tag (give REPO:TAG DIGEST or REPO:TAG@DIGEST)")));
            }
            let key = tagged(&reference);
            if let Some((other, first)) = digests.by_name.get(&key).filter(|(d, _)| *d != digest) {
                return Err(at(format!("{key} is also listed on line {first} as {other}")));
            }
            digests.by_name.entry(key).or_insert((digest.clone(), i + 1));
            digests.lines.push((reference, digest));
        }
        Ok(digests)
    }

    /// The listed references none of `names` answers (the images a bundle must hold but does not).
    fn unlisted_in<'a>(&'a self, names: &HashSet<String>) -> Vec<&'a DockerRef> {
        let mut seen = HashSet::new();
        self.lines.iter().map(|(r, _)| r).filter(|r| !names.contains(&tagged(r)) && seen.insert(tagged(r))).collect()
    }

    /// A failing target for each listed image no planned target names: the bundle lacks it.
    pub fn missing_targets(&self, targets: &[Target]) -> Vec<Target> {
        let names: HashSet<String> =
            targets.iter().flat_map(|t| &t.subjects).flat_map(|s| &s.identities).map(tagged).collect();
        let missing = self.unlisted_in(&names).into_iter().map(|r| Target {
            line: None,
            line_no: None,
            display: r.to_string(),
            subjects: vec![Subject {
                display: r.to_string(),
                identities: vec![r.clone()],
                identity_missing_hint: false,
                descriptor: Err(self.missing(r)),
                notes: Vec::new(),
                origin: None,
            }],
            unresolved: Vec::new(),
        });
        missing.collect()
    }

    /// The finding for a listed image the bundle lacks.
    fn missing(&self, reference: &DockerRef) -> Finding {
        let key = tagged(reference);
        let line = self.by_name.get(&key).map_or(0, |(_, l)| *l);
        Finding::new(Kind::Missing, format!("{key}: listed in --digests {}:{line}, not in the source", self.file))
    }

    /// Fails `result` when a name it carries is listed with another digest than its top digest.
    pub fn check(&self, result: &mut ImageResult) {
        let Some(top) = result.platforms.first().map(|p| p.digest.clone()) else { return };
        let names = std::iter::once(&result.reference).chain(result.names.iter());
        let mut expected = None;
        for name in names {
            let Ok(r) = DockerRef::parse(name) else { continue };
            if let Some((d, line)) = self.by_name.get(&tagged(&r)) {
                expected = Some((tagged(&r), d.clone(), *line));
                if d != &top {
                    break;
                }
            }
        }
        let Some((name, want, line)) = expected else {
            result.note(format!("not listed in --digests {}", self.file));
            return;
        };
        if want != top {
            let message = format!(
                "{name}: top digest {top}, but --digests {}:{line} lists {want} (another build under the same name)",
                self.file
            );
            let mismatch = Mismatch::Digest { expected: want, actual: top };
            result.fail(Finding { kind: Kind::DigestMismatch, message, subject: Some(name), mismatch: Some(mismatch) });
        }
    }
}

/// `REF DIGEST` (whitespace between) or `REF@DIGEST`.
fn split(line: &str) -> Result<(&str, &str), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    match fields.as_slice() {
        [name, digest] => Ok((name, digest)),
        [one] => one.rsplit_once('@').ok_or_else(|| format!("{one}: expected REF DIGEST or REF@DIGEST")),
        _ => Err(format!("{} fields; expected REF DIGEST or REF@DIGEST", fields.len())),
    }
}

/// The name and tag of `r`, normalized, without a digest.
pub fn tagged(r: &DockerRef) -> String {
    format!("{}:{}", r.name(), r.tag().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn both_forms_normalized_and_comments() {
        let text = format!("# rancher\nrancher/rancher:v2.9.0 {A}\n\ndocker.io/rancher/fleet:v0.10.0@{B}\n");
        let d = Digests::parse("d.txt", &text).unwrap();
        assert_eq!(d.lines.len(), 2);
        assert_eq!(d.by_name["docker.io/rancher/rancher:v2.9.0"].0.to_string(), A);
        assert_eq!(d.by_name["docker.io/rancher/fleet:v0.10.0"].1, 4);
    }

    #[test]
    fn bad_lines_stop_the_run_naming_the_line() {
        let bad = |text: &str, needle: &str| {
            let e = Digests::parse("d.txt", text).err().unwrap_or_default();
            assert!(e.contains(needle), "{text:?}: {e}");
        };
        bad(&format!("a:1 {A} extra\n"), "d.txt:1: 3 fields");
        bad("a:1 sha256:abc\n", "d.txt:1: sha256:abc: not a sha256");
        bad(&format!("a:1 md5:{}\n", "a".repeat(32)), "not a sha256");
        bad(&format!("a {A}\n"), "names no tag");
        bad(
            &format!("a:1 {A}\nb:1 {A}\ndocker.io/library/a:1 {B}\n"),
            "d.txt:3: docker.io/library/a:1 is also listed on line 1",
        );
        bad("justaname\n", "expected REF DIGEST or REF@DIGEST");
    }

    #[test]
    fn the_same_digest_twice_is_one_line() {
        let d = Digests::parse("d.txt", &format!("a:1 {A}\na:1 {A}\n")).unwrap();
        assert!(d.unlisted_in(&Default::default()).len() == 1);
    }
}
