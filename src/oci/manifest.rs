//! Strict parsing of manifests and indexes (SPEC §3.2): schemaVersion 2, the body's mediaType agrees
//! with the descriptor, no manifest/index ambiguity (CVE-2021-41190), validated digests, bounded sizes.

use super::json;
use super::{DOCKER_LIST, DOCKER_MANIFEST, Desc, OCI_INDEX, OCI_MANIFEST, Platform, is_index_type};
use crate::digest::Digest;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::collections::BTreeMap;

/// At most this many descriptors in one index or manifest (SPEC §8).
pub const MAX_DESCRIPTORS: usize = 10_000;
/// At most this many entries in a bundle's own table of contents (SPEC §8).
pub const MAX_TOC_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct IndexDoc {
    pub manifests: Vec<Desc>,
    pub subject: Option<Desc>,
}

#[derive(Debug, Clone)]
pub struct ManifestDoc {
    pub config: Desc,
    pub layers: Vec<Desc>,
    pub subject: Option<Desc>,
    pub artifact_type: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Document {
    Index(Box<IndexDoc>),
    Manifest(Box<ManifestDoc>),
}

impl Document {
    pub fn subject(&self) -> Option<&Desc> {
        match self {
            Document::Index(i) => i.subject.as_ref(),
            Document::Manifest(m) => m.subject.as_ref(),
        }
    }
}

/// The top-level members every check of SPEC §3.2 looks at, read without building a tree.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "mediaType")]
    media_type: Option<serde_json::Value>,
    manifests: Option<IgnoredAny>,
    config: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
}

/// Parses `bytes` as the document `media_type` announces, applying every check of SPEC §3.2, through the
/// strict reader of SPEC §8.
pub fn parse(bytes: &[u8], media_type: &str) -> Result<Document, String> {
    parse_limited(bytes, media_type, MAX_DESCRIPTORS)
}

/// A bundle's own table of contents (a layout's top-level `index.json`): up to [`MAX_TOC_ENTRIES`].
pub fn parse_toc(bytes: &[u8]) -> Result<IndexDoc, String> {
    match parse_limited(bytes, OCI_INDEX, MAX_TOC_ENTRIES)? {
        Document::Index(index) => Ok(*index),
        Document::Manifest(_) => Err("not an image index".into()),
    }
}

fn parse_limited(bytes: &[u8], media_type: &str, max_descriptors: usize) -> Result<Document, String> {
    json::check(bytes, json::fields::MANIFEST).map_err(|e| e.to_string())?;
    let head: Head = serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"))?;
    match &head.schema_version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(2) => {}
        Some(v) => return Err(format!("schemaVersion is {v}, only 2 is supported")),
        None => return Err("schemaVersion is missing".to_string()),
    }
    if let Some(body_type) = &head.media_type {
        let body_type = body_type.as_str().ok_or("mediaType is not a string")?;
        if body_type != media_type {
            return Err(format!("the document says mediaType {body_type:?} but its descriptor says {media_type:?}"));
        }
    }
    let has_manifests = head.manifests.is_some();
    if has_manifests && (head.config.is_some() || head.layers.is_some()) {
        return Err("ambiguous document: it has both \"manifests\" and \"config\"/\"layers\" (CVE-2021-41190)".into());
    }
    if is_index_type(media_type) {
        if !has_manifests {
            return Err("an index without \"manifests\"".to_string());
        }
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(|e| format!("invalid index: {e}"))?;
        if index.manifests().len() > max_descriptors {
            return Err(format!("{} descriptors is over the limit of {max_descriptors}", index.manifests().len()));
        }
        let manifests = index.manifests().iter().map(convert).collect::<Result<Vec<_>, _>>()?;
        let subject = index.subject().as_ref().map(convert).transpose()?;
        Ok(Document::Index(Box::new(IndexDoc { manifests, subject })))
    } else if media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST {
        if has_manifests {
            return Err("a manifest with \"manifests\"".to_string());
        }
        let manifest: ImageManifest = serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))?;
        if manifest.layers().len() > MAX_DESCRIPTORS {
            return Err(format!("{} layers is over the limit of {MAX_DESCRIPTORS}", manifest.layers().len()));
        }
        Ok(Document::Manifest(Box::new(ManifestDoc {
            config: convert(manifest.config())?,
            layers: manifest.layers().iter().map(convert).collect::<Result<Vec<_>, _>>()?,
            subject: manifest.subject().as_ref().map(convert).transpose()?,
            artifact_type: manifest.artifact_type().as_ref().map(|t| t.to_string()),
        })))
    } else {
        Err(format!(
            "unsupported manifest media type {media_type:?} (expected {OCI_MANIFEST}, {OCI_INDEX}, {DOCKER_MANIFEST} or {DOCKER_LIST})"
        ))
    }
}

/// Guesses a manifest's media type from its bytes, for sources that do not record it (skopeo `dir:`,
/// unreferenced blobs). `None` when the bytes are not a document the strict reader accepts.
pub fn sniff_media_type(bytes: &[u8]) -> Option<String> {
    json::check(bytes, json::fields::MANIFEST).ok()?;
    let head: Head = serde_json::from_slice(bytes).ok()?;
    if let Some(t) = head.media_type.as_ref().and_then(|t| t.as_str()) {
        return Some(t.to_string());
    }
    if head.manifests.is_some() {
        Some(OCI_INDEX.to_string())
    } else if head.config.is_some() {
        Some(OCI_MANIFEST.to_string())
    } else {
        None
    }
}

/// Converts an oci-spec descriptor, validating its digest.
pub fn convert(d: &Descriptor) -> Result<Desc, String> {
    let digest = Digest::parse(d.digest().as_ref()).map_err(|e| format!("descriptor: {e}"))?;
    let platform = d.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone().filter(|v| !v.is_empty()),
    });
    let annotations: BTreeMap<String, String> =
        d.annotations().as_ref().map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    Ok(Desc {
        media_type: d.media_type().to_string(),
        digest,
        size: d.size(),
        platform,
        annotations,
        artifact_type: d.artifact_type().as_ref().map(|t| t.to_string()),
        urls: d.urls().clone().unwrap_or_default(),
    })
}

/// The platform an image config declares (`architecture`, `os`, `variant`), read through the strict
/// reader. `Ok(None)` when the config names no OS or architecture.
pub fn config_platform(bytes: &[u8]) -> Result<Option<Platform>, String> {
    #[derive(Deserialize)]
    struct ConfigHead {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let head: ConfigHead = json::parse(bytes, json::fields::CONFIG).map_err(|e| e.to_string())?;
    Ok(match (head.os, head.architecture) {
        (Some(os), Some(architecture)) if !os.is_empty() && !architecture.is_empty() => {
            Some(Platform { os, architecture, variant: head.variant.filter(|v| !v.is_empty()) })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2{extra},"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":0}},"layers":[]}}"#
        )
    }

    #[test]
    fn accepts_a_plain_manifest_with_or_without_media_type() {
        assert!(parse(manifest("").as_bytes(), OCI_MANIFEST).is_ok());
        assert!(parse(manifest(&format!(r#","mediaType":"{OCI_MANIFEST}""#)).as_bytes(), OCI_MANIFEST).is_ok());
    }

    #[test]
    fn rejects_media_type_disagreement() {
        let e = parse(manifest(&format!(r#","mediaType":"{DOCKER_MANIFEST}""#)).as_bytes(), OCI_MANIFEST).unwrap_err();
        assert!(e.contains("mediaType"), "{e}");
    }

    #[test]
    fn rejects_schema_versions_other_than_2() {
        let m = manifest("").replace("\"schemaVersion\":2", "\"schemaVersion\":1");
        assert!(parse(m.as_bytes(), OCI_MANIFEST).unwrap_err().contains("schemaVersion"));
        let m = manifest("").replace("\"schemaVersion\":2,", "");
        assert!(parse(m.as_bytes(), OCI_MANIFEST).unwrap_err().contains("schemaVersion"));
    }

    #[test]
    fn rejects_ambiguous_documents() {
        let m = manifest(r#","manifests":[]"#);
        assert!(parse(m.as_bytes(), OCI_MANIFEST).unwrap_err().contains("CVE-2021-41190"));
        assert!(parse(m.as_bytes(), OCI_INDEX).unwrap_err().contains("CVE-2021-41190"));
    }

    #[test]
    fn rejects_bad_digests_and_negative_sizes() {
        let m = manifest("").replace(D, "md5:abcd");
        assert!(parse(m.as_bytes(), OCI_MANIFEST).is_err());
        let m = manifest("").replace(D, &D.to_uppercase().replace("SHA256", "sha256"));
        assert!(parse(m.as_bytes(), OCI_MANIFEST).is_err());
        let m = manifest("").replace("\"size\":0", "\"size\":-1");
        assert!(parse(m.as_bytes(), OCI_MANIFEST).is_err());
    }

    #[test]
    fn parses_index_platforms() {
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#
        );
        let Document::Index(doc) = parse(i.as_bytes(), OCI_INDEX).unwrap() else { panic!("not an index") };
        assert_eq!(doc.manifests[0].platform.as_ref().unwrap().to_string(), "linux/arm/v7");
    }
}
