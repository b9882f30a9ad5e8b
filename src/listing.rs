//! `airlock list`: what a source holds — images, platforms, signatures, sizes — read through the same
//! `Source` trait as verification (nothing is checked here beyond what reading requires).

use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, is_index_type};
use crate::reference::DockerRef;
use crate::source::{Attached, Source};
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
    /// Signature candidates found for the top digest (`.sig` layers, referrer bundles, `signature-N` files).
    pub signatures: usize,
    /// Why the entry could not be read fully, if it could not.
    pub problem: Option<String>,
}

/// One row per image: `repo` names it for sources that need a repository (registries).
pub fn row(source: &dyn Source, name: String, repo: Option<&DockerRef>, desc: &Desc) -> Row {
    let count = |which| source.attachments(repo, &desc.digest, which).map(|f| f.candidates.len()).unwrap_or(0);
    let signatures = count(Attached::Signatures) + count(Attached::Referrers);
    let mut row = Row {
        reference: name,
        digest: desc.digest.to_string(),
        media_type: desc.media_type.clone(),
        platforms: Vec::new(),
        bytes: 0,
        signatures,
        problem: None,
    };
    if let Err(e) = walk(source, repo, desc, &mut row, 0) {
        row.problem = Some(e);
    }
    row
}

/// A row for an entry whose manifest cannot be located.
pub fn broken(name: String, e: &crate::source::SourceError) -> Row {
    Row {
        reference: name,
        digest: String::new(),
        media_type: String::new(),
        platforms: Vec::new(),
        bytes: 0,
        signatures: 0,
        problem: Some(e.to_string()),
    }
}

fn walk(source: &dyn Source, repo: Option<&DockerRef>, desc: &Desc, row: &mut Row, depth: usize) -> Result<(), String> {
    if depth > crate::verify::MAX_DEPTH {
        return Err("index nesting too deep".into());
    }
    let bytes = source.read(repo, desc).map_err(|e| e.to_string())?;
    match manifest::parse(&bytes, &desc.media_type)? {
        Document::Index(index) => {
            for child in &index.manifests {
                if is_index_type(&child.media_type) {
                    walk(source, repo, child, row, depth + 1)?;
                } else if let Some(p) = &child.platform {
                    row.platforms.push(p.to_string());
                    if let Ok(b) = source.read(repo, child)
                        && let Ok(Document::Manifest(m)) = manifest::parse(&b, &child.media_type)
                    {
                        row.bytes += m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>();
                    }
                }
            }
        }
        Document::Manifest(m) => {
            row.bytes += m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>();
            let platform = source.read(repo, &m.config).ok().and_then(|b| manifest::config_platform(&b).ok().flatten());
            row.platforms.push(platform.map_or_else(|| "unknown".into(), |p| p.to_string()));
        }
    }
    Ok(())
}
