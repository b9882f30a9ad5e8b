//! Manifests: by tag (resolved once), by digest (pinned), `.sig` attachments; the digest is always the
//! sha256 of the exact bytes received, never `Docker-Content-Digest`.

use super::Registry;
use super::client::{Body, Want};
use super::errors::{is_not_found, status_error};
use crate::digest::{Digest, Mismatch, check_bytes};
use crate::oci::manifest;
use crate::oci::{
    DOCKER_LIST, DOCKER_MANIFEST, Desc, METADATA_LIMIT, OCI_INDEX, OCI_MANIFEST, is_index_type, is_manifest_type,
};
use crate::reference::DockerRef;
use crate::source::SourceError;
use std::sync::Arc;

fn accept_all() -> String {
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ")
}

/// `text/plain`, `application/json`, `application/octet-stream`: registries that do not know the type.
fn is_generic_type(t: &str) -> bool {
    matches!(t, "text/plain" | "application/json" | "application/octet-stream" | "")
}

impl Registry {
    /// GET a manifest by tag or digest: its descriptor (the digest of the bytes), the bytes kept for the run.
    pub(super) fn get_manifest(
        &self,
        repo: &DockerRef,
        path: &str,
        reference: &str,
    ) -> Result<Option<Desc>, SourceError> {
        let host = self.host(repo);
        let url_path = format!("/v2/{path}/manifests/{reference}");
        let resp = host.request(false, &url_path, &accept_all(), path, Want::Bytes(METADATA_LIMIT))?;
        if resp.status != 200 {
            if is_not_found(&resp) {
                return Ok(None);
            }
            return Err(status_error(&format!("{}{url_path}", host.name), &resp));
        }
        let Body::Bytes(bytes) = resp.body else { return Err(SourceError::Io(format!("{url_path}: no body"))) };
        let media_type = match resp.content_type.as_deref() {
            Some(t) if is_index_type(t) || is_manifest_type(t) => t.to_string(),
            other => match manifest::sniff_media_type(&bytes).filter(|_| other.is_none_or(is_generic_type)) {
                Some(t) => t,
                None => {
                    return Err(SourceError::Malformed(format!(
                        "{}{url_path}: unexpected Content-Type {:?} for a manifest",
                        host.name,
                        other.unwrap_or("")
                    )));
                }
            },
        };
        let digest = Digest::sha256_of(&bytes);
        let desc = Desc::new(&media_type, digest.clone(), bytes.len() as u64);
        self.keep(digest, bytes);
        Ok(Some(desc))
    }

    fn keep(&self, digest: Digest, bytes: Vec<u8>) {
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).insert(digest, Arc::new(bytes));
    }

    pub(super) fn cached(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }

    /// The bytes a GET just kept.
    pub(super) fn fetched(&self, digest: &Digest, what: &str) -> Result<Arc<Vec<u8>>, SourceError> {
        self.cached(digest).ok_or_else(|| SourceError::Io(format!("{what}: fetched, then lost from the run's cache")))
    }

    /// A reference → its top descriptor. A tag or digest the registry does not have is `Ok(None)`: the
    /// caller tries the line's other reading, or reports it missing.
    pub(super) fn resolve_manifest(&self, reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        let (_, path) = Self::repo_path(Some(reference))?;
        let wanted = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let Some(desc) = self.get_manifest(reference, &path, &wanted)? else { return Ok(None) };
        if let Some(pinned) = reference.digest()
            && &desc.digest != pinned
        {
            let m = Mismatch::Digest { expected: pinned.clone(), actual: desc.digest };
            return Err(SourceError::Corrupt(reference.to_string(), m));
        }
        Ok(Some(desc))
    }

    /// A manifest by digest, fetched once per run, checked against its descriptor.
    pub(super) fn read_manifest(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if desc.size > METADATA_LIMIT {
            return Err(SourceError::Malformed(format!(
                "{}: {} bytes is over the {METADATA_LIMIT}-byte limit for metadata",
                desc.digest, desc.size
            )));
        }
        let what = format!("manifest {}", desc.digest);
        let bytes = match self.cached(&desc.digest) {
            Some(bytes) => bytes,
            None => {
                let (r, path) = Self::repo_path(repo)?;
                let got = self.get_manifest(r, &path, &desc.digest.to_string())?;
                let got = got.ok_or_else(|| SourceError::Missing(what.clone()))?;
                self.fetched(&got.digest, &what)?
            }
        };
        check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(what, m))?;
        Ok(bytes.as_ref().clone())
    }

    /// The `sha256-<hex>.sig` attachment of `digest`, if the registry has one.
    pub(super) fn signature_manifest(
        &self,
        repo: Option<&DockerRef>,
        digest: &Digest,
    ) -> Result<Vec<Desc>, SourceError> {
        let (r, path) = Self::repo_path(repo)?;
        let host = self.host(r);
        let url_path = format!("/v2/{path}/manifests/{}", digest.sig_tag());
        let resp = host.request(false, &url_path, &accept_all(), &path, Want::Bytes(METADATA_LIMIT))?;
        if is_not_found(&resp) {
            return Ok(Vec::new());
        }
        if resp.status != 200 {
            return Err(status_error(&format!("{}{url_path}", host.name), &resp));
        }
        let Body::Bytes(bytes) = resp.body else { return Err(SourceError::Io(format!("{url_path}: no body"))) };
        let media_type = resp.content_type.unwrap_or_default();
        let sig_digest = Digest::sha256_of(&bytes);
        let desc = Desc::new(&media_type, sig_digest.clone(), bytes.len() as u64);
        self.keep(sig_digest, bytes);
        Ok(vec![desc])
    }
}
