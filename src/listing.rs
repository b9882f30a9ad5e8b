//! `airlock list`: what a source holds — images, platforms, signatures, sizes — walked by the same
//! engine as verification (nothing is checked beyond what reading requires).

use crate::oci::Desc;
use crate::reference::DockerRef;
use crate::source::{Attached, Source};
use crate::verify::{self, Subject};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Row {
    pub reference: String,
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platforms: Vec<String>,
    /// Config and layer bytes of every platform.
    pub bytes: u64,
    /// Signature candidates found (`.sig` layers, referrer bundles, `signature-N` files), for the top digest
    /// and every platform manifest together.
    pub signatures: usize,
    /// Of those, the ones on the top digest (an index, or the one manifest).
    pub signatures_top: usize,
    /// The PATH holding the image (none for a registry).
    pub path: Option<String>,
    /// Why the entry could not be read fully, or a blob it names is missing, if so.
    pub problem: Option<String>,
}

/// One row per image: `repo` names it for sources that need a repository (registries), `origin` is the
/// PATH that holds it (several PATHs). The image is walked by the verification engine (bounded, each
/// document checked once), reading no layer and checking no signature; the caller's `--timeout`
/// (`deadline::scope`) bounds it.
pub fn row(source: &dyn Source, name: String, repo: Option<&DockerRef>, desc: &Desc, origin: Option<String>) -> Row {
    let count = |digest| {
        let one = |which| source.attachments(repo, digest, which).map(|f| f.candidates.len()).unwrap_or(0);
        one(Attached::Signatures) + one(Attached::Referrers)
    };
    let path = origin.clone();
    let subject = Subject {
        display: name.clone(),
        identities: repo.cloned().into_iter().collect(),
        identity_missing_hint: false,
        descriptor: Ok(desc.clone()),
        notes: Vec::new(),
        origin,
    };
    let result = verify::survey(source, subject);
    let problems: Vec<String> = result.errors.iter().map(|e| format!("{}: {}", e.kind, e.message)).collect();
    let signatures_top = count(&desc.digest);
    let below: usize = result.platforms.iter().filter(|p| p.digest != desc.digest).map(|p| count(&p.digest)).sum();
    Row {
        reference: name,
        digest: desc.digest.to_string(),
        media_type: desc.media_type.clone(),
        platforms: result.platforms.iter().filter_map(|p| p.platform.clone()).collect(),
        bytes: result.platforms.iter().fold(0u64, |sum, p| sum.saturating_add(p.bytes)),
        signatures: signatures_top + below,
        signatures_top,
        path,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

/// A row for an entry whose manifest cannot be located.
pub fn broken(name: String, e: &crate::source::SourceError, path: Option<String>) -> Row {
    Row {
        reference: name,
        digest: String::new(),
        media_type: String::new(),
        platforms: Vec::new(),
        bytes: 0,
        signatures: 0,
        signatures_top: 0,
        path,
        problem: Some(e.to_string()),
    }
}
