//! A remote registry as a `Source` (SPEC §5): distribution API v2 reads, every digest computed from
//! the exact bytes received, each manifest fetched once per run, names, tags and digests validated
//! before they enter a URL, and only "not found" taken as "no signature".

pub mod auth;
pub mod client;
mod tls;

use crate::digest::{Digest, VerifyingReader, check_bytes};
use crate::oci::manifest::{self, Document};
use crate::oci::{
    DOCKER_LIST, DOCKER_MANIFEST, Desc, METADATA_LIMIT, OCI_INDEX, OCI_MANIFEST, is_index_type, is_manifest_type,
};
use crate::reference::{DockerRef, valid_repository_path};
use crate::source::{Entry, Source, SourceError};
use client::{Body, Host, HttpConfig, Want, is_not_found, status_error};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this many referrers are listed for one digest (SPEC §8), over at most this many pages.
const MAX_REFERRERS: usize = 1000;
const MAX_PAGES: usize = 20;

fn accept_all() -> String {
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ")
}

pub struct Registry {
    config: HttpConfig,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    /// Manifests by digest, as fetched: each is fetched once per run.
    manifests: Mutex<HashMap<Digest, Arc<Vec<u8>>>>,
}

impl Registry {
    pub fn new(config: HttpConfig) -> Registry {
        Registry { config, hosts: Mutex::new(HashMap::new()), manifests: Mutex::new(HashMap::new()) }
    }

    fn host(&self, reference: &DockerRef) -> Arc<Host> {
        self.host_named(reference.domain())
    }

    fn host_named(&self, domain: &str) -> Arc<Host> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.entry(domain.to_string()).or_insert_with(|| Arc::new(Host::new(domain, self.config.clone()))).clone()
    }

    /// Reaches every host once before any image is checked; the first that cannot be reached ends the run
    /// with its one message.
    pub fn reach(&self, domains: &[String]) -> Result<(), String> {
        domains.iter().try_for_each(|d| self.host_named(d).ping())
    }

    /// The repository path of `repo`, validated for use in a URL.
    fn repo_path(repo: Option<&DockerRef>) -> Result<(&DockerRef, String), SourceError> {
        let r = repo.ok_or_else(|| SourceError::Io("a registry read needs the image's repository".into()))?;
        let path = r.path().to_string();
        if !valid_repository_path(&path) {
            return Err(SourceError::Malformed(format!("{path:?} is not a valid repository name")));
        }
        Ok((r, path))
    }

    /// GET a manifest by tag or digest; returns (media type, bytes, digest of the bytes).
    fn get_manifest(&self, repo: &DockerRef, path: &str, reference: &str) -> Result<Option<Desc>, SourceError> {
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
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).insert(digest, Arc::new(bytes));
        Ok(Some(desc))
    }

    fn cached(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).get(digest).cloned()
    }

    /// Descriptors of an index body (referrers API answer or fallback tag).
    fn index_manifests(bytes: &[u8], what: &str) -> Result<Vec<Desc>, SourceError> {
        match manifest::parse(bytes, OCI_INDEX) {
            Ok(Document::Index(i)) => Ok(i.manifests),
            Ok(Document::Manifest(_)) => Err(SourceError::Malformed(format!("{what}: not an index"))),
            Err(e) => Err(SourceError::Malformed(format!("{what}: {e}"))),
        }
    }
}

/// `text/plain`, `application/json`, `application/octet-stream`: registries that do not know the type.
fn is_generic_type(t: &str) -> bool {
    matches!(t, "text/plain" | "application/json" | "application/octet-stream" | "")
}

impl Source for Registry {
    fn location(&self) -> String {
        "registry".to_string()
    }

    fn entries(&self) -> Vec<Entry> {
        Vec::new()
    }

    fn resolve(&self, reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        let (_, path) = Self::repo_path(Some(reference))?;
        let wanted = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        // Not there: the caller tries the line's other reading, or reports it missing.
        let Some(desc) = self.get_manifest(reference, &path, &wanted)? else { return Ok(None) };
        if let Some(pinned) = reference.digest()
            && &desc.digest != pinned
        {
            return Err(SourceError::Corrupt(
                reference.to_string(),
                crate::digest::Mismatch::Digest { expected: pinned.clone(), actual: desc.digest },
            ));
        }
        Ok(Some(desc))
    }

    fn read(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if desc.size > METADATA_LIMIT {
            return Err(SourceError::Malformed(format!(
                "{}: {} bytes is over the {METADATA_LIMIT}-byte limit for metadata",
                desc.digest, desc.size
            )));
        }
        let what = format!(
            "{} {}",
            if is_manifest_type(&desc.media_type) || is_index_type(&desc.media_type) { "manifest" } else { "blob" },
            desc.digest
        );
        if let Some(bytes) = self.cached(&desc.digest) {
            check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(what.clone(), m))?;
            return Ok(bytes.as_ref().clone());
        }
        let (r, path) = Self::repo_path(repo)?;
        if is_manifest_type(&desc.media_type) || is_index_type(&desc.media_type) {
            let Some(got) = self.get_manifest(r, &path, &desc.digest.to_string())? else {
                return Err(SourceError::Missing(what));
            };
            let bytes = self.cached(&got.digest).unwrap_or_default();
            check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(what, m))?;
            return Ok(bytes.as_ref().clone());
        }
        let host = self.host(r);
        let url_path = format!("/v2/{path}/blobs/{}", desc.digest);
        let resp = host.request(false, &url_path, "*/*", &path, Want::Bytes(desc.size + 1))?;
        if resp.status != 200 {
            if resp.status == 404 {
                return Err(SourceError::Missing(what));
            }
            return Err(status_error(&format!("{}{url_path}", host.name), &resp));
        }
        let Body::Bytes(bytes) = resp.body else { return Err(SourceError::Io(format!("{what}: no body"))) };
        check_bytes(&bytes, &desc.digest, desc.size).map_err(|m| SourceError::Corrupt(what, m))?;
        Ok(bytes)
    }

    fn check_blob(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
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
            let m = if len > desc.size {
                crate::digest::Mismatch::TooLong { expected: desc.size }
            } else {
                crate::digest::Mismatch::TooShort { expected: desc.size, actual: len }
            };
            return Err(SourceError::Corrupt(what, m));
        }
        match resp.body {
            Body::Stream(reader) => VerifyingReader::new(reader, &desc.digest, desc.size)
                .finish()
                .map_err(|e| SourceError::from_read(&what, e)),
            _ => Ok(()),
        }
    }

    fn signature_manifests(&self, repo: Option<&DockerRef>, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
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
        self.manifests.lock().unwrap_or_else(|p| p.into_inner()).insert(sig_digest, Arc::new(bytes));
        Ok(vec![desc])
    }

    fn referrers(&self, repo: Option<&DockerRef>, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        let (r, path) = Self::repo_path(repo)?;
        let host = self.host(r);
        let url_path = format!("/v2/{path}/referrers/{digest}");
        let known = *host.referrers_api.lock().unwrap_or_else(|p| p.into_inner());
        if known == Some(false) {
            return self.referrers_by_tag(r, &path, digest);
        }
        let resp = host.request(false, &url_path, OCI_INDEX, &path, Want::Bytes(METADATA_LIMIT))?;
        let api = resp.status == 200 && resp.content_type.as_deref() == Some(OCI_INDEX);
        if known.is_none() && (api || matches!(resp.status, 404 | 400 | 406)) {
            *host.referrers_api.lock().unwrap_or_else(|p| p.into_inner()) = Some(api);
        }
        if api {
            let mut found = Vec::new();
            let mut page = resp;
            for pages in 1.. {
                let Body::Bytes(bytes) = page.body else { break };
                found.extend(Self::index_manifests(&bytes, &url_path)?);
                if found.len() > MAX_REFERRERS {
                    return Err(SourceError::Malformed(format!("{url_path}: more than {MAX_REFERRERS} referrers")));
                }
                let Some(next) = page.next else { break };
                if pages >= MAX_PAGES || !next.starts_with("/v2/") {
                    return Err(SourceError::Malformed(format!(
                        "{url_path}: referrers pagination beyond {MAX_PAGES} pages or to another host ({next})"
                    )));
                }
                page = host.request(false, &next, OCI_INDEX, &path, Want::Bytes(METADATA_LIMIT))?;
                if page.status != 200 {
                    return Err(status_error(&format!("{}{next}", host.name), &page));
                }
            }
            return Ok(found);
        }
        if !(is_not_found(&resp) || matches!(resp.status, 400 | 406) || resp.status == 200) {
            return Err(status_error(&format!("{}{url_path}", host.name), &resp));
        }
        self.referrers_by_tag(r, &path, digest)
    }
}

impl Registry {
    /// No referrers API: the `sha256-<hex>` fallback tag.
    fn referrers_by_tag(&self, r: &DockerRef, path: &str, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        let Some(desc) = self.get_manifest(r, path, &digest.referrers_tag())? else { return Ok(Vec::new()) };
        let bytes = self.cached(&desc.digest).unwrap_or_default();
        let found = Self::index_manifests(&bytes, &format!("{r}:{}", digest.referrers_tag()))?;
        if found.len() > MAX_REFERRERS {
            return Err(SourceError::Malformed(format!(
                "{}: more than {MAX_REFERRERS} referrers",
                digest.referrers_tag()
            )));
        }
        Ok(found)
    }
}
