//! Writes, for `airlock import` (distribution API v2 push): a blob is HEADed first (an interrupted import
//! resumes where it stopped), mounted from another repository of the same registry when one is known to
//! hold it, else uploaded whole (small blobs: `POST` then `PUT ?digest=`) or in chunks (`PATCH` with
//! `Content-Range`, then `PUT ?digest=`). What is uploaded is hashed as it is sent and the upload is
//! committed only when the bytes are the descriptor's: a source that changed since it was verified never
//! reaches the registry. Manifests are put by digest, tags last (the caller's order).

use super::Registry;
use super::client::{Body, Call, Host, Method, Response, Want};
use super::errors::status_error;
use crate::digest::{Hasher, Mismatch};
use crate::oci::{Desc, METADATA_LIMIT};
use crate::source::SourceError;
use std::io::Read;
use std::sync::Arc;

/// Blobs up to this size are uploaded in one request; larger ones in chunks of this size. One buffer of
/// it per push job bounds memory (`-j 8`: 64 MiB).
pub const CHUNK: usize = 8 << 20;

/// One repository of the target registry, with push access.
pub struct Repository {
    host: Arc<Host>,
    pub path: String,
}

/// How a blob got into the repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placed {
    /// It was there already (an earlier, interrupted import, or another image).
    Present,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded; its bytes sent.
    Uploaded,
}

impl Registry {
    /// `path` on the registry `domain`, for pushing.
    pub fn repository(&self, domain: &str, path: &str) -> Result<Repository, SourceError> {
        if !crate::reference::valid_repository_path(path) {
            return Err(SourceError::Malformed(format!("{path:?} is not a valid repository name")));
        }
        Ok(Repository { host: self.host_named(domain), path: path.to_string() })
    }
}

impl Repository {
    fn call<'a>(&self, method: Method, target: &'a str, body: &'a [u8], scope: &str) -> Call<'a> {
        Call {
            method,
            target,
            accept: "*/*",
            headers: Vec::new(),
            body,
            scope: scope.to_string(),
            want: if method == Method::Head { Want::Head } else { Want::Bytes(METADATA_LIMIT) },
        }
    }

    fn push_scope(&self) -> String {
        format!("repository:{}:pull,push", self.path)
    }

    fn failed(&self, what: &str, resp: &Response) -> SourceError {
        status_error(&format!("{}/v2/{} ({what})", self.host.name, self.path), resp)
    }

    /// Whether the blob is already in the repository with the descriptor's size.
    pub fn has_blob(&self, desc: &Desc) -> Result<bool, SourceError> {
        let path = format!("/v2/{}/blobs/{}", self.path, desc.digest);
        let resp = self.host.call(&self.call(Method::Head, &path, &[], &self.push_scope()))?;
        match resp.status {
            200 => match resp.content_length {
                Some(len) if len != desc.size => Err(SourceError::Corrupt(
                    format!("blob {} in {}/{}", desc.digest, self.host.name, self.path),
                    Mismatch::size(desc.size, len),
                )),
                _ => Ok(true),
            },
            404 => Ok(false),
            _ => Err(self.failed(&format!("HEAD blob {}", desc.digest), &resp)),
        }
    }

    /// Starts an upload, mounting the blob from `from` (a repository of this registry that holds it)
    /// when given: `None` when the mount placed it, else the upload's URL.
    fn start(&self, desc: &Desc, from: Option<&str>) -> Result<Option<String>, SourceError> {
        let mut path = format!("/v2/{}/blobs/uploads/", self.path);
        let mut scope = self.push_scope();
        if let Some(from) = from {
            path.push_str(&format!("?mount={}&from={from}", desc.digest));
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        let resp = self.host.call(&self.call(Method::Post, &path, &[], &scope))?;
        match resp.status {
            201 if from.is_some() => Ok(None),
            202 => resp.location.map(Some).ok_or_else(|| {
                SourceError::Io(format!("{}/v2/{}: upload started without a Location", self.host.name, self.path))
            }),
            _ => Err(self.failed(&format!("start upload of {}", desc.digest), &resp)),
        }
    }

    /// Places one blob: present already, mounted from `from`, or uploaded from what `open` gives (opened
    /// only when an upload is needed), whose bytes must be exactly the descriptor's: hashed as they are
    /// sent, and nothing is committed otherwise. `sent` is
    /// told each chunk's size as it goes out.
    pub fn put_blob<'r>(
        &self,
        desc: &Desc,
        open: &mut dyn FnMut() -> Result<Box<dyn Read + Send + 'r>, SourceError>,
        from: Option<&str>,
        buf: &mut Vec<u8>,
        sent: &dyn Fn(u64),
    ) -> Result<Placed, SourceError> {
        if self.has_blob(desc)? {
            return Ok(Placed::Present);
        }
        let Some(mut location) = self.start(desc, from)? else { return Ok(Placed::Mounted) };
        let mut reader = open()?;
        let mut hasher = Hasher::new(desc.digest.algorithm());
        let mut offset = 0u64;
        let whole = desc.size <= CHUNK as u64;
        loop {
            let n = fill(&mut reader, buf, CHUNK).map_err(|e| SourceError::Io(format!("blob {}: {e}", desc.digest)))?;
            hasher.update(&buf[..n]);
            offset += n as u64;
            if offset > desc.size {
                return Err(self.abandon(&location, desc, Mismatch::size(desc.size, offset)));
            }
            let last = n < CHUNK || offset == desc.size;
            if whole && last {
                // small blob, or the last bytes of a large one: sent with the commit below
                break;
            }
            location = self.patch(&location, &buf[..n], offset - n as u64, desc)?;
            sent(n as u64);
            if last {
                break;
            }
        }
        let mut extra = [0u8; 1];
        if offset == desc.size
            && reader.read(&mut extra).map_err(|e| SourceError::Io(format!("blob {}: {e}", desc.digest)))? > 0
        {
            offset += 1;
        }
        let actual = hasher.finish();
        if offset != desc.size {
            return Err(self.abandon(&location, desc, Mismatch::size(desc.size, offset)));
        }
        if actual != desc.digest {
            return Err(self.abandon(&location, desc, Mismatch::Digest { expected: desc.digest.clone(), actual }));
        }
        let body: &[u8] = if whole { buf } else { &[] };
        self.commit(&location, body, desc)?;
        sent(body.len() as u64);
        Ok(Placed::Uploaded)
    }

    /// One chunk at `start`; the upload's next URL.
    fn patch(&self, location: &str, chunk: &[u8], start: u64, desc: &Desc) -> Result<String, SourceError> {
        let mut call = self.call(Method::Patch, location, chunk, &self.push_scope());
        let end = (start + chunk.len() as u64).saturating_sub(1);
        call.headers.push(("Content-Type", "application/octet-stream".into()));
        call.headers.push(("Content-Range", format!("{start}-{end}")));
        let resp = self.host.call(&call)?;
        match resp.status {
            202 | 204 => Ok(resp.location.unwrap_or_else(|| location.to_string())),
            _ => Err(self.failed(&format!("upload chunk of {} at {start}", desc.digest), &resp)),
        }
    }

    /// `PUT ?digest=`: the registry checks the digest too.
    fn commit(&self, location: &str, body: &[u8], desc: &Desc) -> Result<(), SourceError> {
        let sep = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{sep}digest={}", desc.digest);
        let mut call = self.call(Method::Put, &target, body, &self.push_scope());
        call.headers.push(("Content-Type", "application/octet-stream".into()));
        let resp = self.host.call(&call)?;
        match resp.status {
            201 | 204 => Ok(()),
            _ => Err(self.failed(&format!("commit blob {}", desc.digest), &resp)),
        }
    }

    /// Cancels an upload whose bytes are not the descriptor's (best effort: an upload never committed is
    /// dropped by the registry anyway); the error names what the source held.
    fn abandon(&self, location: &str, desc: &Desc, m: Mismatch) -> SourceError {
        let _ = self.host.call(&self.call(Method::Delete, location, &[], &self.push_scope()));
        SourceError::Corrupt(format!("blob {} (read again to push it)", desc.digest), m)
    }

    /// Puts a manifest or index under `reference` (its digest, or a tag): its exact bytes. `true` when the
    /// registry answered with `OCI-Subject` (it keeps referrers itself).
    pub fn put_manifest(&self, reference: &str, media_type: &str, bytes: &[u8]) -> Result<bool, SourceError> {
        let path = format!("/v2/{}/manifests/{reference}", self.path);
        let mut call = self.call(Method::Put, &path, bytes, &self.push_scope());
        call.headers.push(("Content-Type", media_type.to_string()));
        let resp = self.host.call(&call)?;
        match resp.status {
            201 | 200 | 204 => Ok(resp.subject),
            _ => Err(self.failed(&format!("put manifest {reference}"), &resp)),
        }
    }

    /// The manifest under a tag, with its media type; `None` when there is none.
    pub fn get_manifest(&self, tag: &str, accept: &str) -> Result<Option<(String, Vec<u8>)>, SourceError> {
        let path = format!("/v2/{}/manifests/{tag}", self.path);
        let mut call = self.call(Method::Get, &path, &[], &self.push_scope());
        call.accept = accept;
        let resp = self.host.call(&call)?;
        match (resp.status, resp.body) {
            (404, _) => Ok(None),
            (200, Body::Bytes(b)) => Ok(Some((resp.content_type.unwrap_or_default(), b))),
            (status, body) => {
                let resp = Response { status, body, ..resp };
                Err(self.failed(&format!("get manifest {tag}"), &resp))
            }
        }
    }
}

/// Reads until `buf` holds `want` bytes or the reader ends; the count read.
fn fill(reader: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    buf.clear();
    let n = (&mut *reader).take(want as u64).read_to_end(buf)?;
    Ok(n)
}
