//! A remote registry as a `Source` (SPEC §5): distribution API v2 reads, every digest computed from
//! the exact bytes received, each manifest fetched once per run, names, tags and digests validated
//! before they enter a URL, and only "not found" taken as "no signature". Files by concern, as
//! regclient names them: `manifest`, `blob`, `referrer`, `auth`, `client` (one host), `tls`, `errors`.

pub mod auth;
mod blob;
pub mod client;
mod errors;
mod manifest;
pub mod push;
mod referrer;
pub mod tls;
pub mod trace;

use crate::digest::Digest;
use crate::oci::{Desc, is_index_type, is_manifest_type};
use crate::reference::{DockerRef, valid_repository_path};
use crate::source::{Attached, Entry, Found, Info, Scan, Source, SourceError, attach};
use client::{Host, HttpConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

impl Source for Registry {
    fn info(&self) -> Info {
        Info::at("registry".to_string(), Vec::new())
    }

    fn entries(&self) -> Vec<Entry> {
        Vec::new()
    }

    fn resolve(&self, reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        self.resolve_manifest(reference)
    }

    fn read(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        if is_manifest_type(&desc.media_type) || is_index_type(&desc.media_type) {
            self.read_manifest(repo, desc)
        } else {
            self.read_blob(repo, desc)
        }
    }

    fn check_blob(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        self.check_blob_at(repo, desc, hash)
    }

    fn attachments(&self, repo: Option<&DockerRef>, digest: &Digest, which: Attached) -> Result<Found, SourceError> {
        match which {
            Attached::Signatures => {
                let mut found = Found::default();
                attach::from_signature_manifests(self, repo, &self.signature_manifest(repo, digest)?, &mut found)?;
                Ok(found)
            }
            Attached::Referrers => attach::from_referrers(self, repo, digest, &self.referrers_of(repo, digest)?),
        }
    }

    /// A registry is asked per image; it has no pass of its own.
    fn scan(&self, _hash: bool) -> Scan {
        Scan::default()
    }
}
