//! What one verified image is made of, read again from its source for pushing: every manifest and index
//! of its graph (children before parents, each read through the source's digest check), the blobs each
//! names, and the signature manifests attached to any of its digests. Bounded as verification is: nesting
//! depth, descriptors per image, each document once.

use crate::digest::Digest;
use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, MAX_SIGNATURES, OCI_INDEX};
use crate::reference::DockerRef;
use crate::source::{Attached, Attachment, Source, SourceError};
use std::collections::HashSet;

/// Index nesting accepted (SPEC §8).
const MAX_DEPTH: usize = 8;
/// Descriptors one image may name (SPEC §8).
const MAX_DESCRIPTORS: usize = 100_000;

/// One manifest or index, its exact bytes, and the blobs it names (config and layers).
pub struct Node {
    pub desc: Desc,
    pub bytes: Vec<u8>,
    pub blobs: Vec<Desc>,
}

/// How a signature manifest is attached to its subject.
pub enum Link {
    /// Under the tag `sha256-<hex>.sig`.
    Tag(String),
    /// A referrer of the subject (the registry, or cosign's `sha256-<hex>` tag, lists it).
    Referrer(Digest),
}

/// The pieces of one image, in push order.
pub struct Graph {
    /// Children before parents; the top manifest or index last.
    pub nodes: Vec<Node>,
    /// Signature manifests, each with how it is attached.
    pub signatures: Vec<(Node, Link)>,
    /// Platform manifests the index lists that verification did not select (`--arch`/`--os`).
    pub unselected: Vec<String>,
    /// The image's PATH (its own blobs are read there), when the run has several.
    pub origin: Option<String>,
}

impl Graph {
    /// Every blob to push, each once: the image's (`false`), then its signatures' (`true`).
    pub fn blobs(&self) -> Vec<(&Desc, bool)> {
        let mut seen = HashSet::new();
        let image = self.nodes.iter().flat_map(|n| &n.blobs).map(|d| (d, false));
        let signatures = self.signatures.iter().flat_map(|(n, _)| &n.blobs).map(|d| (d, true));
        image.chain(signatures).filter(|(d, _)| seen.insert(&d.digest)).collect()
    }

    /// Bytes of every blob to push.
    pub fn bytes(&self) -> u64 {
        self.blobs().iter().map(|(d, _)| d.size).sum()
    }
}

/// Reads the graph of the image whose top is `top`: content from `own` (the image's PATH), signatures
/// from `all` (every PATH, as verification looked them up). `verified` are the manifest digests
/// verification checked.
pub fn collect(
    own: &dyn Source,
    all: &dyn Source,
    repo: Option<&DockerRef>,
    top: &Desc,
    verified: &HashSet<Digest>,
) -> Result<Graph, SourceError> {
    let mut walk =
        Walk { source: own, repo, nodes: Vec::new(), seen: HashSet::new(), descriptors: 0, unselected: Vec::new() };
    walk.node(top, 0, verified)?;
    let origin = None;
    let mut graph = Graph { nodes: walk.nodes, signatures: Vec::new(), unselected: walk.unselected, origin };
    let digests: Vec<Digest> = graph.nodes.iter().map(|n| n.desc.digest.clone()).collect();
    let mut attached = HashSet::new();
    for digest in digests.iter().rev() {
        for which in [Attached::Signatures, Attached::Referrers] {
            let found = all.attachments(repo, digest, which)?;
            for a in found.attached {
                let (desc, link) = match a {
                    Attachment::SignatureTag(d) => (d, Link::Tag(digest.sig_tag())),
                    Attachment::Referrer(d) => (d, Link::Referrer(digest.clone())),
                };
                if !attached.insert(desc.digest.clone()) {
                    continue;
                }
                if attached.len() > MAX_SIGNATURES {
                    return Err(SourceError::Malformed(format!("more than {MAX_SIGNATURES} signature manifests")));
                }
                let bytes = all.read(repo, &desc)?;
                let blobs = match manifest::parse(&bytes, &desc.media_type) {
                    Ok(Document::Manifest(m)) => std::iter::once(m.config).chain(m.layers).collect(),
                    Ok(Document::Index(_)) | Err(_) => {
                        return Err(SourceError::Malformed(format!(
                            "signature manifest {} is not a manifest",
                            desc.digest
                        )));
                    }
                };
                graph.signatures.push((Node { desc, bytes, blobs }, link));
            }
        }
    }
    Ok(graph)
}

struct Walk<'a> {
    source: &'a dyn Source,
    repo: Option<&'a DockerRef>,
    nodes: Vec<Node>,
    seen: HashSet<Digest>,
    descriptors: usize,
    unselected: Vec<String>,
}

impl Walk<'_> {
    fn node(&mut self, desc: &Desc, depth: usize, verified: &HashSet<Digest>) -> Result<(), SourceError> {
        if depth > MAX_DEPTH {
            return Err(SourceError::Malformed(format!("index nesting deeper than {MAX_DEPTH} at {}", desc.digest)));
        }
        if !self.seen.insert(desc.digest.clone()) {
            return Ok(());
        }
        let bytes = self.source.read(self.repo, desc)?;
        let doc = manifest::parse(&bytes, &desc.media_type)
            .map_err(|e| SourceError::Malformed(format!("{}: {e}", desc.digest)))?;
        let blobs = match doc {
            Document::Index(index) => {
                self.count(index.manifests.len())?;
                for child in &index.manifests {
                    if !verified.contains(&child.digest) {
                        let shown = child.platform.as_ref().map_or_else(|| child.digest.to_string(), |p| p.to_string());
                        self.unselected.push(shown);
                    }
                    self.node(child, depth + 1, verified)?;
                }
                Vec::new()
            }
            Document::Manifest(m) => {
                self.count(m.layers.len() + 1)?;
                std::iter::once(m.config).chain(m.layers).collect()
            }
        };
        self.nodes.push(Node { desc: desc.clone(), bytes, blobs });
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), SourceError> {
        self.descriptors += n;
        if self.descriptors > MAX_DESCRIPTORS {
            return Err(SourceError::Malformed(format!("more than {MAX_DESCRIPTORS} descriptors in one image")));
        }
        Ok(())
    }
}

/// The `.sig` manifest `existing` (on the registry) with the signature layers of `ours` it lacks appended.
pub fn merged_signatures(existing: &[u8], ours: &Node) -> Result<Vec<u8>, String> {
    let mut manifest: serde_json::Value = serde_json::from_slice(existing).map_err(|e| e.to_string())?;
    let doc: serde_json::Value = serde_json::from_slice(&ours.bytes).map_err(|e| e.to_string())?;
    let layers = manifest.get_mut("layers").and_then(|l| l.as_array_mut()).ok_or("not a signature manifest")?;
    for layer in doc["layers"].as_array().into_iter().flatten() {
        if !layers.contains(layer) {
            layers.push(layer.clone());
        }
    }
    if layers.len() > MAX_SIGNATURES {
        return Err(format!("more than {MAX_SIGNATURES} signatures once ours are added"));
    }
    serde_json::to_vec(&manifest).map_err(|e| e.to_string())
}

/// The index cosign's referrers tag holds: `existing` (the tag's current index, when there is one) with
/// `referrer` added once.
pub fn referrers_index(existing: Option<&[u8]>, referrer: &Node) -> Result<Vec<u8>, String> {
    let mut index: serde_json::Value = match existing {
        Some(bytes) => serde_json::from_slice(bytes).map_err(|e| format!("the referrers tag's index: {e}"))?,
        None => serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(|m| m.as_array_mut())
        .ok_or("the referrers tag's index has no manifests")?;
    let digest = referrer.desc.digest.to_string();
    if manifests.iter().any(|m| m["digest"] == digest.as_str()) {
        return serde_json::to_vec(&index).map_err(|e| e.to_string());
    }
    let doc: serde_json::Value = serde_json::from_slice(&referrer.bytes).map_err(|e| e.to_string())?;
    let mut entry = serde_json::json!({
        "mediaType": referrer.desc.media_type,
        "digest": digest,
        "size": referrer.desc.size,
    });
    let artifact_type = doc.get("artifactType").or_else(|| doc.pointer("/config/mediaType"));
    if let Some(t) = artifact_type {
        entry["artifactType"] = t.clone();
    }
    if let Some(a) = doc.get("annotations") {
        entry["annotations"] = a.clone();
    }
    manifests.push(entry);
    serde_json::to_vec(&index).map_err(|e| e.to_string())
}
