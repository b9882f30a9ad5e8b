//! Opening a PATH: detection by content (marker files, magic bytes), never by file name.

use super::archive::{self, ArchiveOptions, ArchiveTree, Kind, Shared};
use super::docker_archive::DockerArchive;
use super::hangar_zip::HangarZip;
use super::layout::Layout;
use super::skopeo_dir::{self, SkopeoDir};
use super::store::Dir;
use super::zarf::{self, Zarf};
use super::{Entry, Info, Scan, Source, SourceError};
use crate::oci::Desc;
use crate::reference::DockerRef;
use std::path::{Path, PathBuf};

/// Why a path could not be opened as a source at all (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error(
        "{0}: a registry reference, not a PATH: check a registry with `airlock validate -f LIST --registry HOST`, \
         or look inside one image with `airlock list {0}`"
    )]
    RegistryReference(String),
    #[error(
        "{path}: not a recognised source (expected an OCI layout, a skopeo dir: directory or an image archive){hint}",
        path = .0,
        hint = hint(.0)
    )]
    Unrecognised(String),
    #[error("{0}: a later part of a split archive, whose first part {1} is not there: give the first part")]
    MissingFirstPart(String, String),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// What an unrecognised file looks like, when it looks like another input of the command line: a key file
/// given as PATH belongs to `-p`, an image list to `-f`.
fn hint(shown: &str) -> &'static str {
    let mut head = Vec::with_capacity(4096);
    let read = std::fs::File::open(shown)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head));
    let text = match (read, std::str::from_utf8(&head)) {
        (Ok(_), Ok(text)) => text,
        _ => return "",
    };
    if text.contains("-----BEGIN ") {
        return "; it looks like a PEM file: give a public key with -p FILE";
    }
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let references = lines.iter().filter(|l| l.split_whitespace().next().is_some_and(|r| DockerRef::parse(r).is_ok()));
    if !lines.is_empty() && references.count() == lines.len() {
        return "; it looks like an image list: give it with -f FILE";
    }
    ""
}

/// Opens `path` as whatever source its content says it is.
pub fn open(path: &Path, opts: ArchiveOptions) -> Result<Box<dyn Source>, OpenError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound if shown.starts_with("docker://") => OpenError::RegistryReference(shown.clone()),
        std::io::ErrorKind::NotFound => OpenError::NotFound(shown.clone()),
        _ => OpenError::Io(shown.clone(), e),
    })?;
    if meta.is_dir() {
        let layout_marker = ["oci-layout", "index.json"].iter().any(|f| path.join(f).symlink_metadata().is_ok());
        if layout_marker {
            return Ok(match Layout::open(Dir::new(path).with_progress(opts.progress.clone())) {
                Ok(layout) => Box::new(layout),
                Err(e) => Box::new(Broken { location: shown, damage: vec![e] }),
            });
        }
        if manifest_is_array(&path.join("manifest.json")) {
            return match DockerArchive::open(Dir::new(path).with_progress(opts.progress.clone())) {
                Ok(Some(d)) => Ok(Box::new(d)),
                Ok(None) => Err(OpenError::Unrecognised(shown)),
                Err(e) => Ok(Box::new(Broken { location: shown, damage: vec![e] })),
            };
        }
        if skopeo_dir::looks_like(path) {
            return Ok(Box::new(SkopeoDir::open(path)));
        }
        return Err(OpenError::Unrecognised(shown));
    }
    if let Some(header) = zarf::split::missing_header(path) {
        return Err(OpenError::MissingFirstPart(shown, header.display().to_string()));
    }
    if let Some(split) = zarf::split::open(path) {
        return open_split_zarf(path, split, opts);
    }
    let kind = archive::sniff(path).map_err(|e| OpenError::Io(shown.clone(), e))?;
    if let (Some(Kind::Tar | Kind::Gzip | Kind::Zstd) | None, Some(first)) = (kind, archive::missing_first_part(path)) {
        return Err(OpenError::MissingFirstPart(shown, first.display().to_string()));
    }
    match kind {
        Some(kind @ (Kind::Tar | Kind::Gzip | Kind::Zstd)) => open_tar(path, kind, opts),
        Some(Kind::Zip) => match HangarZip::open(path) {
            Ok(Some(zip)) => Ok(Box::new(zip)),
            Ok(None) => Err(OpenError::Unrecognised(shown)),
            Err(e) => Ok(Box::new(Broken { location: shown, damage: vec![e] })),
        },
        None => Err(OpenError::Unrecognised(shown)),
    }
}

/// A tar (plain, gzip, zstd; whole or split) holding an OCI layout at its root or under one folder.
fn open_tar(path: &Path, kind: Kind, opts: ArchiveOptions) -> Result<Box<dyn Source>, OpenError> {
    let shown = path.display().to_string();
    let tree = ArchiveTree::open(archive::parts(path), kind, opts).map_err(|e| OpenError::Io(shown.clone(), e))?;
    let shared = Shared(std::sync::Arc::new(tree));
    if zarf::looks_like(&shared) {
        return Ok(Box::new(Zarf::open(shared, None)));
    }
    if shared.0.has("oci-layout") || shared.0.has("index.json") {
        return Ok(match Layout::open(shared.clone()) {
            Ok(layout) => Box::new(layout),
            Err(e) => {
                let mut damage: Vec<SourceError> = shared.0.damage_list();
                damage.push(e);
                Box::new(Broken { location: shown, damage })
            }
        });
    }
    if shared.0.has("manifest.json") {
        match DockerArchive::open(shared.clone()) {
            Ok(Some(d)) => return Ok(Box::new(d)),
            Ok(None) => {}
            Err(e) => {
                let mut damage = shared.0.damage_list();
                damage.push(e);
                return Ok(Box::new(Broken { location: shown, damage }));
            }
        }
    }
    broken_or_unrecognised(shared.0.damage_list(), shown)
}

/// A split zarf package (`.part000` header, `.part001`… data): the parts read as one archive, whose SHA-256
/// must be the header's. Whatever the parts hold, the header made it a zarf package.
fn open_split_zarf(path: &Path, split: zarf::split::Split, opts: ArchiveOptions) -> Result<Box<dyn Source>, OpenError> {
    let shown = path.display().to_string();
    let mut damage = split.damage;
    let Some(first) = split.parts.first() else {
        return Ok(Box::new(Broken { location: shown, damage }));
    };
    let kind = archive::sniff(first).map_err(|e| OpenError::Io(first.display().to_string(), e))?;
    let Some(kind @ (Kind::Tar | Kind::Gzip | Kind::Zstd)) = kind else {
        damage.push(SourceError::Malformed(format!("{}: not a tar, tar.gz or tar.zst part", first.display())));
        return Ok(Box::new(Broken { location: shown, damage }));
    };
    let tree = ArchiveTree::open(split.parts.clone(), kind, opts).map_err(|e| OpenError::Io(shown.clone(), e))?;
    match tree.archive_sha256() {
        Some(actual) if actual == split.sha256 => {}
        Some(actual) => damage.push(SourceError::Malformed(format!(
            "{shown}: the parts' SHA-256 is {actual}, the header says {}",
            split.sha256
        ))),
        None => damage.push(SourceError::Io(format!("{shown}: the parts could not be read to their end"))),
    }
    let shared = Shared(std::sync::Arc::new(tree));
    if !zarf::looks_like(&shared) {
        damage.push(SourceError::Malformed(format!("{shown}: the parts hold no zarf.yaml and checksums.txt")));
        damage.extend(shared.0.damage_list());
        return Ok(Box::new(Broken { location: shown, damage }));
    }
    Ok(Box::new(Zarf::open(shared, Some((path.to_path_buf(), damage)))))
}

/// A damaged archive with nothing recognisable in it is still a damaged source (exit 1); an intact one
/// that holds neither a layout nor a docker-archive is not a source at all (exit 2).
fn broken_or_unrecognised(mut damage: Vec<SourceError>, shown: String) -> Result<Box<dyn Source>, OpenError> {
    if damage.is_empty() {
        return Err(OpenError::Unrecognised(shown));
    }
    damage.push(SourceError::Malformed(format!("{shown}: no readable OCI layout in the damaged archive")));
    Ok(Box::new(Broken { location: shown, damage }))
}

/// A docker-archive's `manifest.json` is a JSON array (a skopeo `dir:` one is an object).
fn manifest_is_array(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if !meta.is_file() || meta.len() > crate::oci::METADATA_LIMIT {
        return false;
    }
    std::fs::read(path).ok().is_some_and(|b| b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'['))
}

/// A recognised source too damaged to list anything (a layout without `index.json`).
pub struct Broken {
    location: String,
    damage: Vec<SourceError>,
}

impl Source for Broken {
    fn info(&self) -> Info {
        Info::at(self.location.clone(), vec![PathBuf::from(&self.location)])
    }

    fn entries(&self) -> Vec<Entry> {
        Vec::new()
    }

    fn read(&self, _repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::Missing(format!("blob {}", desc.digest)))
    }

    fn check_blob(&self, _repo: Option<&DockerRef>, desc: &Desc, _hash: bool) -> Result<(), SourceError> {
        Err(SourceError::Missing(format!("blob {}", desc.digest)))
    }

    fn scan(&self, _hash: bool) -> Scan {
        let entries: Vec<(String, SourceError)> =
            self.damage.iter().map(|e| (self.location.clone(), e.clone())).collect();
        Scan::opened(&self.location, &entries)
    }
}
