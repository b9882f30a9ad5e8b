//! Messages that teach (SPEC §7): after a run, one note per kind of fixable failure, naming the flag that
//! accepts it. Only airlock's own words and escaped input.

use crate::finding::Kind;
use crate::reference::DockerRef;
use crate::report::escape;
use crate::verify::result::ImageResult;

/// containers-image's wording for a signed identity the policy refused.
const NOT_ACCEPTED: (&str, &str) = ("Signature for identity \"", "\" is not accepted");

/// For the first identity mismatch of a run: what the signature names, and the two flags that accept it —
/// `--exact-repository` for one repository, `--signed-identity remap:` for a mirror of many.
pub fn identity(results: &[ImageResult]) -> Option<String> {
    let (image, signed) = results.iter().find_map(|r| {
        let finding = r.errors.iter().find(|f| f.kind == Kind::IdentityMismatch)?;
        let (_, rest) = finding.message.split_once(NOT_ACCEPTED.0)?;
        let (signed, _) = rest.split_once(NOT_ACCEPTED.1)?;
        Some((DockerRef::parse(&r.reference).ok()?, DockerRef::parse(signed).ok()?))
    })?;
    let (image_repo, signed_repo) = (image.name(), signed.name());
    let mut note = format!(
        "{} is signed for {}: if it was copied from there, accept that repository with --exact-repository {}",
        escape(&image.to_string()),
        escape(&signed.to_string()),
        escape(&signed_repo),
    );
    if let Some((from, to)) = remap(&image_repo, &signed_repo) {
        note.push_str(&format!(", or a whole mirror with --signed-identity remap:{}={}", escape(&from), escape(&to)));
    }
    Some(note)
}

/// The prefixes that differ once the common trailing path components are removed: `reg/mirror/app` and
/// `reg/team/app` → (`reg/mirror`, `reg/team`). None when nothing trails in common or the names are equal.
fn remap(image: &str, signed: &str) -> Option<(String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (image.split('/').collect(), signed.split('/').collect());
    let common = a.iter().rev().zip(b.iter().rev()).take_while(|(x, y)| x == y).count();
    if common == 0 || common == a.len() || common == b.len() {
        return None;
    }
    Some((a[..a.len() - common].join("/"), b[..b.len() - common].join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_strips_the_common_tail() {
        let got = remap("registry.example/mirror/library/nginx", "docker.io/library/nginx");
        assert_eq!(got, Some(("registry.example/mirror".into(), "docker.io".into())));
        assert_eq!(remap("a/x", "b/y"), None);
        assert_eq!(remap("a/x", "a/x"), None);
    }
}
