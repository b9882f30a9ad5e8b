//! Several PATHs as one source (SPEC §2): entries from all of them, and signatures found in any of
//! them count for images in any of them.

use super::{Damage, Entry, Found, Source, SourceError};
use crate::digest::Digest;
use crate::oci::Desc;
use crate::reference::DockerRef;
use std::path::Path;

pub struct Multi {
    sources: Vec<Box<dyn Source>>,
}

impl Multi {
    pub fn new(sources: Vec<Box<dyn Source>>) -> Multi {
        Multi { sources }
    }

    /// The first answer that is not "missing", or the first "missing".
    fn first<T>(&self, f: impl Fn(&dyn Source) -> Result<T, SourceError>) -> Result<T, SourceError> {
        let mut missing = None;
        for s in &self.sources {
            match f(s.as_ref()) {
                Err(e @ SourceError::Missing(_)) => missing = missing.or(Some(e)),
                other => return other,
            }
        }
        Err(missing.unwrap_or_else(|| SourceError::Missing("content".into())))
    }

    fn union(&self, f: impl Fn(&dyn Source) -> Result<Vec<Desc>, SourceError>) -> Result<Vec<Desc>, SourceError> {
        let mut out: Vec<Desc> = Vec::new();
        for s in &self.sources {
            for d in f(s.as_ref())? {
                if !out.iter().any(|o| o.digest == d.digest) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

impl Source for Multi {
    fn location(&self) -> String {
        self.sources.iter().map(|s| s.location()).collect::<Vec<_>>().join(", ")
    }

    fn entries(&self) -> Vec<Entry> {
        self.sources.iter().flat_map(|s| s.entries()).collect()
    }

    fn resolve(&self, reference: &DockerRef) -> Result<Option<Desc>, SourceError> {
        for s in &self.sources {
            if let Some(d) = s.resolve(reference)? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    fn read(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        self.first(|s| s.read(repo, desc))
    }

    fn check_blob(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        self.first(|s| s.check_blob(repo, desc, hash))
    }

    fn hash_all(&self) -> Vec<Damage> {
        self.sources.iter().flat_map(|s| s.hash_all()).collect()
    }

    fn blob_totals(&self) -> (u64, u64) {
        self.sources.iter().map(|s| s.blob_totals()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    fn damage(&self) -> Vec<Damage> {
        self.sources.iter().flat_map(|s| s.damage()).collect()
    }

    fn signature_manifests(&self, repo: Option<&DockerRef>, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        self.union(|s| s.signature_manifests(repo, digest))
    }

    fn referrers(&self, repo: Option<&DockerRef>, digest: &Digest) -> Result<Vec<Desc>, SourceError> {
        self.union(|s| s.referrers(repo, digest))
    }

    fn raw_signatures(&self, digest: &Digest) -> Result<Found, SourceError> {
        let mut all = Found::default();
        for s in &self.sources {
            let f = s.raw_signatures(digest)?;
            all.candidates.extend(f.candidates);
            all.non_sigstore += f.non_sigstore;
            all.non_signature_attachments += f.non_signature_attachments;
        }
        Ok(all)
    }

    fn for_origin(&self, origin: &str) -> Option<&dyn Source> {
        self.sources.iter().find(|s| s.location() == origin).map(|s| s.as_ref())
    }

    fn file_sha256(&self) -> Vec<(String, String)> {
        self.sources.iter().flat_map(|s| s.file_sha256()).collect()
    }

    fn no_signature_hint(&self) -> Option<String> {
        self.sources.iter().find_map(|s| s.no_signature_hint())
    }

    fn contains_path(&self, path: &Path) -> bool {
        self.sources.iter().any(|s| s.contains_path(path))
    }
}
