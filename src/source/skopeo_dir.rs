//! skopeo / containers-image `dir:` directories: `manifest.json`, blobs named by hex digest,
//! per-instance `<hex>.manifest.json`, and signatures in `signature-N` / `<hex>.signature-N` files.

use super::store::{BlobEntry, Blobs, Dir, Files};
use super::{Attached, Candidate, Entry, Found, Info, Scan, Source, SourceError};
use crate::digest::Digest;
use crate::oci::manifest;
use crate::oci::{Desc, METADATA_LIMIT, SIMPLE_SIGNING};
use crate::reference::DockerRef;
use std::collections::BTreeMap;
use std::path::Path;

/// At most this many `signature-N` files per manifest are read.
const MAX_SIGNATURE_FILES: usize = 1000;
const SIGSTORE_PREFIX: &[u8] = b"\x00sigstore-json\n";

pub struct SkopeoDir {
    blobs: Blobs<Dir>,
    top: Result<Desc, SourceError>,
    damage: Vec<(String, SourceError)>,
}

/// True when `dir` looks like a `dir:` image: a manifest, a version file or a first signature.
pub fn looks_like(dir: &Path) -> bool {
    ["manifest.json", "version", "signature-1"].iter().any(|f| dir.join(f).symlink_metadata().is_ok())
}

impl SkopeoDir {
    pub fn open(root: &Path) -> SkopeoDir {
        let files = Dir::new(root);
        // manifest.json is the image's top manifest, named by no digest: its own digest is its bytes'
        let (top, extra) = match files.read_small("manifest.json", METADATA_LIMIT) {
            Ok(Some(bytes)) => {
                let digest = Digest::sha256_of(&bytes);
                let entry =
                    BlobEntry { digest: digest.clone(), size: bytes.len() as u64, name: "manifest.json".into() };
                let top = match manifest::sniff_media_type(&bytes) {
                    Some(t) => Ok(Desc::new(&t, digest, bytes.len() as u64)),
                    None => Err(SourceError::Malformed("manifest.json: not an image manifest or index".into())),
                };
                (top, vec![entry])
            }
            Ok(None) => (Err(SourceError::Missing("manifest.json".to_string())), Vec::new()),
            Err(e) => (Err(e), Vec::new()),
        };
        let blobs = Blobs::new(files, dir_blob, extra);
        let damage = blobs.damage();
        SkopeoDir { blobs, top, damage }
    }

    fn signature_files(&self, digest: &Digest) -> Result<Found, SourceError> {
        let prefix = match &self.top {
            Ok(top) if &top.digest == digest => String::new(),
            _ => format!("{}.", digest.hex()),
        };
        let mut found = Found::default();
        for n in 1..=MAX_SIGNATURE_FILES + 1 {
            let name = format!("{prefix}signature-{n}");
            let Some(bytes) = self.blobs.files.read_small(&name, METADATA_LIMIT)? else { break };
            if n > MAX_SIGNATURE_FILES {
                return Err(SourceError::Malformed(format!("more than {MAX_SIGNATURE_FILES} signature files")));
            }
            let Some(body) = bytes.strip_prefix(SIGSTORE_PREFIX) else {
                found.non_sigstore += 1;
                continue;
            };
            let (mime, payload, annotations) =
                parse_sigstore_file(body).map_err(|e| SourceError::Malformed(format!("{name}: {e}")))?;
            if mime != SIMPLE_SIGNING {
                found.non_signature_attachments += 1;
                continue;
            }
            found.candidates.push(Candidate::Simple { payload, annotations, origin: name });
        }
        Ok(found)
    }
}

/// A `dir:` blob: `<hex>` (or `<alg>-<hex>`) at the top, and `<hex>.manifest.json` per instance.
fn dir_blob(name: &str) -> Option<Result<Digest, String>> {
    if name.contains('/') {
        return None;
    }
    name.strip_suffix(".manifest.json").and_then(blob_name_digest).or_else(|| blob_name_digest(name)).map(Ok)
}

/// `<64 hex>` names a sha256 blob; `<alg>-<hex>` other algorithms.
fn blob_name_digest(name: &str) -> Option<Digest> {
    if name.len() == 64 {
        return Digest::parse(&format!("sha256:{name}")).ok();
    }
    let (alg, hex) = name.split_once('-')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

pub type SigstoreFile = (String, Vec<u8>, BTreeMap<String, String>);

/// `{"mimeType": …, "payload": base64, "annotations": {…} | null}`.
pub fn parse_sigstore_file(body: &[u8]) -> Result<SigstoreFile, String> {
    use base64::Engine as _;
    crate::oci::json::check(body, crate::oci::json::fields::SKOPEO_SIGNATURE)
        .map_err(|e| format!("invalid sigstore signature JSON: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid sigstore signature JSON: {e}"))?;
    let mime = v.get("mimeType").and_then(|m| m.as_str()).ok_or("sigstore signature without mimeType")?;
    let payload = v.get("payload").and_then(|p| p.as_str()).ok_or("sigstore signature without payload")?;
    let payload =
        base64::engine::general_purpose::STANDARD.decode(payload).map_err(|e| format!("payload is not base64: {e}"))?;
    let mut annotations = BTreeMap::new();
    match v.get("annotations") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(map)) => {
            for (k, val) in map {
                let s = val.as_str().ok_or_else(|| format!("annotation {k:?} is not a string"))?;
                annotations.insert(k.clone(), s.to_string());
            }
        }
        Some(_) => return Err("annotations is not an object".into()),
    }
    Ok((mime.to_string(), payload, annotations))
}

impl Source for SkopeoDir {
    fn info(&self) -> Info {
        self.blobs.info()
    }

    fn entries(&self) -> Vec<Entry> {
        vec![Entry::new(self.blobs.files.location(), self.top.clone())]
    }

    fn read(&self, _repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        self.blobs.read(&desc.digest, desc.size)
    }

    fn check_blob(&self, _repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        self.blobs.check(&desc.digest, desc.size, hash)
    }

    fn open_blob(
        &self,
        _repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        self.blobs.stream(&desc.digest, desc.size)
    }

    fn attachments(&self, _repo: Option<&DockerRef>, digest: &Digest, which: Attached) -> Result<Found, SourceError> {
        match which {
            Attached::Signatures => self.signature_files(digest),
            Attached::Referrers => Ok(Found::default()),
        }
    }

    fn scan(&self, hash: bool) -> Scan {
        self.blobs.scan(&self.damage, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_names() {
        let hex = "a".repeat(64);
        assert!(blob_name_digest(&hex).is_some());
        assert!(blob_name_digest(&format!("sha512-{}", "b".repeat(128))).is_some());
        assert!(blob_name_digest("manifest.json").is_none());
        assert!(blob_name_digest("signature-1").is_none());
        // the rule: blobs and per-instance manifests at the top, nothing else
        assert_eq!(dir_blob(&hex).unwrap().unwrap().hex(), hex);
        assert_eq!(dir_blob(&format!("{hex}.manifest.json")).unwrap().unwrap().hex(), hex);
        assert!(dir_blob(&format!("sub/{hex}")).is_none());
        assert!(dir_blob("manifest.json").is_none() && dir_blob("version").is_none());
    }

    #[test]
    fn sigstore_files() {
        let (mime, payload, ann) =
            parse_sigstore_file(br#"{"mimeType":"text/plain","payload":"aGk=","annotations":null}"#).unwrap();
        assert_eq!((mime.as_str(), payload.as_slice(), ann.len()), ("text/plain", &b"hi"[..], 0));
        assert!(parse_sigstore_file(b"{}").is_err());
    }
}
