//! Signature candidates from the descriptors a source lists for a digest: the `.sig` manifests
//! containers-image reads and the sigstore bundles among the referrers. Discovery is liberal; acceptance
//! (in `signature::check`) is strict. Every backend gathers through here, reading with its own `read`.

use super::{Candidate, Found, Source, SourceError};
use crate::digest::Digest;
use crate::oci::manifest::{self, Document};
use crate::oci::{BUNDLE_MEDIA_PREFIX, Desc, MAX_SIGNATURES, METADATA_LIMIT, OCI_MANIFEST, SIMPLE_SIGNING};
use crate::reference::DockerRef;

/// Adds the simple-signing layers of each `.sig` manifest to `found`.
pub fn from_signature_manifests<S: Source + ?Sized>(
    source: &S,
    repo: Option<&DockerRef>,
    manifests: &[Desc],
    found: &mut Found,
) -> Result<(), SourceError> {
    for desc in manifests {
        let what = format!("signature manifest {}", desc.digest);
        let bytes = source.read(repo, desc)?;
        if desc.media_type != OCI_MANIFEST {
            return Err(SourceError::Malformed(format!(
                "{what}: unexpected MIME type for sigstore attachment manifest: {:?}",
                desc.media_type
            )));
        }
        let doc = manifest::parse(&bytes, OCI_MANIFEST).map_err(|e| SourceError::Malformed(format!("{what}: {e}")))?;
        let Document::Manifest(m) = doc else { continue };
        found.attached.push(super::Attachment::SignatureTag(desc.clone()));
        if m.layers.len() > MAX_SIGNATURES {
            return Err(SourceError::Malformed(format!(
                "{what}: {} signature layers is over the limit of {MAX_SIGNATURES}",
                m.layers.len()
            )));
        }
        for layer in m.layers {
            if layer.media_type != SIMPLE_SIGNING {
                found.non_signature_attachments += 1;
                continue;
            }
            if layer.size > METADATA_LIMIT {
                return Err(SourceError::Malformed(format!("{what}: a {}-byte payload is over the limit", layer.size)));
            }
            let payload = source.read(repo, &layer)?;
            found.candidates.push(Candidate::Simple {
                payload,
                annotations: layer.annotations.clone(),
                origin: format!("{what} layer {}", layer.digest),
            });
        }
    }
    Ok(())
}

/// The sigstore bundles among the referrers of `digest`.
pub fn from_referrers<S: Source + ?Sized>(
    source: &S,
    repo: Option<&DockerRef>,
    digest: &Digest,
    referrers: &[Desc],
) -> Result<Found, SourceError> {
    if referrers.len() > MAX_SIGNATURES {
        return Err(SourceError::Malformed(format!(
            "{} referrers of {digest} is over the limit of {MAX_SIGNATURES}",
            referrers.len()
        )));
    }
    let mut found = Found::default();
    for desc in referrers {
        let what = format!("referrer {}", desc.digest);
        let bytes = source.read(repo, desc)?;
        let Ok(Document::Manifest(m)) = manifest::parse(&bytes, &desc.media_type) else { continue };
        let is_bundle = m.artifact_type.as_deref().is_some_and(|t| t.starts_with(BUNDLE_MEDIA_PREFIX))
            || m.layers.iter().any(|l| l.media_type.starts_with(BUNDLE_MEDIA_PREFIX));
        if !is_bundle {
            continue;
        }
        found.attached.push(super::Attachment::Referrer(desc.clone()));
        for layer in m.layers.iter().filter(|l| l.media_type.starts_with(BUNDLE_MEDIA_PREFIX)) {
            if layer.size > METADATA_LIMIT {
                return Err(SourceError::Malformed(format!("{what}: a {}-byte bundle is over the limit", layer.size)));
            }
            let bytes = source.read(repo, layer)?;
            found.candidates.push(Candidate::Bundle { bytes, origin: what.clone() });
        }
    }
    Ok(found)
}

impl Found {
    /// Adds `other`, leaving out candidates already held (the same attachment found in two PATHs). Two
    /// layers of one `.sig` manifest may share a payload blob and differ in their signature annotation:
    /// only a candidate equal in every part is the same.
    pub fn merge(&mut self, other: Found) {
        for c in other.candidates {
            if !self.candidates.contains(&c) {
                self.candidates.push(c);
            }
        }
        for a in other.attached {
            if !self.attached.contains(&a) {
                self.attached.push(a);
            }
        }
        self.non_sigstore += other.non_sigstore;
        self.non_signature_attachments += other.non_signature_attachments;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn simple(signature: &str) -> Candidate {
        let annotations = BTreeMap::from([("dev.cosignproject.cosign/signature".to_string(), signature.to_string())]);
        Candidate::Simple { payload: b"{}".to_vec(), annotations, origin: "signature manifest m layer l".into() }
    }

    #[test]
    fn merging_keeps_each_distinct_candidate_once() {
        let mut all = Found { candidates: vec![simple("a")], ..Found::default() };
        all.merge(Found {
            candidates: vec![simple("a"), simple("b")],
            non_sigstore: 1,
            non_signature_attachments: 2,
            ..Found::default()
        });
        assert_eq!(all.candidates, vec![simple("a"), simple("b")], "the copy from a second PATH is left out");
        assert_eq!((all.non_sigstore, all.non_signature_attachments), (1, 2));
    }
}
