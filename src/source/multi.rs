//! Several PATHs as one source (SPEC §2): entries from all of them, and signatures found in any of
//! them count for images in any of them.

use super::{Attached, Entry, Found, Info, Scan, Source, SourceError};
use crate::digest::Digest;
use crate::oci::Desc;
use crate::reference::DockerRef;

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
}

impl Source for Multi {
    fn info(&self) -> Info {
        let infos: Vec<Info> = self.sources.iter().map(|s| s.info()).collect();
        Info {
            location: infos.iter().map(|i| i.location.as_str()).collect::<Vec<_>>().join(", "),
            files: infos.iter().flat_map(|i| i.files.clone()).collect(),
            paths: infos.iter().flat_map(|i| i.paths.clone()).collect(),
            no_signatures: infos.iter().find_map(|i| i.no_signatures.clone()),
        }
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

    fn open_blob(
        &self,
        repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        let mut missing = None;
        for s in &self.sources {
            match s.open_blob(repo, desc) {
                Err(e @ SourceError::Missing(_)) => missing = missing.or(Some(e)),
                other => return other,
            }
        }
        Err(missing.unwrap_or_else(|| SourceError::Missing(format!("blob {}", desc.digest))))
    }

    fn attachments(&self, repo: Option<&DockerRef>, digest: &Digest, which: Attached) -> Result<Found, SourceError> {
        let mut all = Found::default();
        for s in &self.sources {
            all.merge(s.attachments(repo, digest, which)?);
        }
        Ok(all)
    }

    fn scan(&self, hash: bool) -> Scan {
        let mut all = Scan::default();
        for s in &self.sources {
            all.add(s.scan(hash));
        }
        all
    }

    fn package_signatures(&self) -> Vec<super::PackageSignature> {
        self.sources.iter().flat_map(|s| s.package_signatures()).collect()
    }

    fn for_origin(&self, origin: &str) -> Option<&dyn Source> {
        self.sources.iter().find(|s| s.info().location == origin).map(|s| s.as_ref())
    }
}
