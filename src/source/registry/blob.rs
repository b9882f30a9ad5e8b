//! Blobs: small ones read whole (configs, signature payloads), layers HEADed (`exist`: the size must be
//! given and right) or streamed through the verifying reader (`verify`).

use super::Registry;
use super::client::{Body, Want};
use super::errors::status_error;
use crate::digest::{Mismatch, VerifyingReader, check_bytes};
use crate::oci::{Desc, METADATA_LIMIT};
use crate::reference::DockerRef;
use crate::source::SourceError;

impl Registry {
    /// A small blob's exact bytes (at most `METADATA_LIMIT`), checked against its descriptor.
    pub(super) fn read_blob(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if desc.size > METADATA_LIMIT {
            return Err(SourceError::Malformed(format!(
                "{}: {} bytes is over the {METADATA_LIMIT}-byte limit for metadata",
                desc.digest, desc.size
            )));
        }
        let what = format!("blob {}", desc.digest);
        let (r, path) = Self::repo_path(repo)?;
        let host = self.host(r);
        let url_path = format!("/v2/{path}/blobs/{}", desc.digest);
        let resp = host.request(false, &url_path, "*/*", &path, Want::Bytes(desc.size + 1))?;
        match resp.status {
            200 => {}
            404 => return Err(SourceError::Missing(what)),
            _ => return Err(status_error(&format!("{}{url_path}", host.name), &resp)),
        }
        let Body::Bytes(bytes) = resp.body else { return Err(SourceError::Io(format!("{what}: no body"))) };
        check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(what, m))?;
        Ok(bytes)
    }

    /// `hash`: stream and hash the blob; otherwise HEAD it, which must carry the descriptor's size.
    pub(super) fn check_blob_at(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        let (r, path) = Self::repo_path(repo)?;
        let host = self.host(r);
        let what = format!("blob {}", desc.digest);
        let url_path = format!("/v2/{path}/blobs/{}", desc.digest);
        let resp = host.request(!hash, &url_path, "*/*", &path, if hash { Want::Stream } else { Want::Head })?;
        match resp.status {
            200 => {}
            404 => return Err(SourceError::Missing(what)),
            _ => return Err(status_error(&format!("{}{url_path}", host.name), &resp)),
        }
        if !hash && resp.content_length.is_none() {
            // Existence alone would pass any blob: the size is what `exist` mode checks (SPEC §5.3).
            return Err(SourceError::Io(format!(
                "{}{url_path}: HEAD answered without Content-Length, so the size cannot be checked (--blobs verify hashes it)",
                host.name
            )));
        }
        if let Some(len) = resp.content_length.filter(|l| *l != desc.size) {
            return Err(SourceError::Corrupt(what, Mismatch::size(desc.size, len)));
        }
        match resp.body {
            Body::Stream(reader) => VerifyingReader::new(reader, &desc.digest, desc.size)
                .finish()
                .map_err(|e| SourceError::from_read(&what, e)),
            _ => Ok(()),
        }
    }
}
