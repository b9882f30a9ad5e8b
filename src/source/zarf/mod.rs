//! zarf packages (`zarf-package-*.tar[.zst]`, split `.part000…`): a tar whose root holds `zarf.yaml` and
//! `checksums.txt`. `images/` is an OCI layout, verified as any layout (signatures included, which zarf
//! itself never checks); every other file is checked through `checksums.txt`, and `checksums.txt` through
//! `zarf.yaml`'s aggregate checksum; the package's own signature (`zarf.bundle.sig`, a sigstore bundle over
//! `zarf.yaml`) is handed to the run, which checks it with its trust ([`Source::package_signatures`]).

mod package;
pub mod split;

use super::archive::Shared;
use super::layout::{Layout, Naming};
use super::store::Files;
use super::{Attached, Damage, Entry, Found, Info, PackageSignature, Scan, Source, SourceError};
use crate::digest::{Digest, Mismatch};
use crate::oci::{Desc, METADATA_LIMIT, TOC_LIMIT};
use crate::reference::DockerRef;
use package::Listed;
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::PathBuf;

/// The signature files zarf writes beside `zarf.yaml` (`zarf.yaml.sig` is its legacy cosign signature).
const SIGNATURES: [&str; 2] = ["zarf.bundle.sig", "zarf.yaml.sig"];

/// Whether the archive's files are a zarf package (detection by content).
pub fn looks_like(tree: &Shared) -> bool {
    tree.0.has("zarf.yaml") && tree.0.has("checksums.txt")
}

pub struct Zarf {
    files: Shared,
    /// Where the package is: the PATH given (a split package's `.part000`).
    location: String,
    /// The header of a split package, a file the source reads too.
    header: Option<PathBuf>,
    layout: Option<Layout<Images>>,
    /// Files whose SHA-256 the one pass compares with `checksums.txt`.
    listed: Vec<Listed>,
    damage: Vec<(String, SourceError)>,
    signature: Option<PackageSignature>,
}

impl Zarf {
    /// Opens the package in `files`; `header` is a split package's `.part000` and the damage its parts
    /// showed. Damage is recorded, never an error: a zarf package is recognised by its two files.
    pub fn open(files: Shared, header: Option<(PathBuf, Vec<SourceError>)>) -> Zarf {
        let location = header.as_ref().map(|(h, _)| h.display().to_string()).unwrap_or_else(|| files.location());
        let mut damage: Vec<(String, SourceError)> = files.damage();
        let (header, split_damage) = header.unzip();
        damage.extend(split_damage.into_iter().flatten().map(|e| (location.clone(), e)));
        let mut zarf = Zarf { files, location, header, layout: None, listed: Vec::new(), damage, signature: None };
        let definition = zarf.definition();
        zarf.read_checksums(definition.as_ref());
        zarf.signature = definition.map(|d| zarf.signature(&d));
        zarf.open_images();
        zarf
    }

    fn malformed(&mut self, entry: &str, message: String) {
        self.damage.push((entry.to_string(), SourceError::Malformed(message)));
    }

    /// `zarf.yaml`, read by zarf's rules; `None` (and damage) when it cannot be.
    fn definition(&mut self) -> Option<package::Definition> {
        let read = self.files.read_small("zarf.yaml", crate::yaml::LIMIT as u64);
        match read.and_then(|b| b.ok_or_else(|| SourceError::Missing("zarf.yaml".into()))) {
            Ok(bytes) => match package::definition(&bytes) {
                Ok(d) => Some(d),
                Err(e) => {
                    self.malformed("zarf.yaml", format!("zarf.yaml: {e}"));
                    None
                }
            },
            Err(e) => {
                self.damage.push(("zarf.yaml".into(), e));
                None
            }
        }
    }

    /// `checksums.txt`: its SHA-256 against each definition's aggregate checksum, its lines, and the
    /// package's files against its lines (each listed file there, no file unlisted but the exempt ones).
    fn read_checksums(&mut self, definition: Option<&package::Definition>) {
        let bytes = match self.files.read_small("checksums.txt", TOC_LIMIT) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return self.damage.push(("checksums.txt".into(), SourceError::Missing("checksums.txt".into())));
            }
            Err(e) => return self.damage.push(("checksums.txt".into(), e)),
        };
        let actual = Digest::sha256_of(&bytes);
        for (version, expected) in definition.map(|d| d.aggregate.as_slice()).unwrap_or_default() {
            match expected {
                None => self.malformed(
                    "zarf.yaml",
                    format!("zarf.yaml ({version}): no aggregateChecksum, but the package has a checksums.txt"),
                ),
                Some(hex) if *hex == actual.hex() => {}
                Some(hex) => self.malformed(
                    "checksums.txt",
                    format!(
                        "checksums.txt: SHA-256 is {}, zarf.yaml ({version}) says aggregateChecksum {hex}",
                        actual.hex()
                    ),
                ),
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return self.malformed("checksums.txt", "checksums.txt: not UTF-8 text".into());
        };
        let (listed, problems) = package::checksums(text);
        for p in problems {
            self.malformed("checksums.txt", format!("checksums.txt {p}"));
        }
        let present: HashSet<String> = self.files.files().into_iter().map(|(name, _)| name).collect();
        let names: HashSet<&str> = listed.iter().map(|l| l.path.as_str()).collect();
        for l in &listed {
            if package::EXEMPT.contains(&l.path.as_str()) {
                let e = format!("checksums.txt lists {}, which zarf never lists (zarf refuses the package)", l.path);
                self.damage.push((l.path.clone(), SourceError::Malformed(e)));
            } else if !present.contains(&l.path) {
                let e = SourceError::Missing(format!("{} (listed in checksums.txt)", l.path));
                self.damage.push((l.path.clone(), e));
            }
        }
        let mut unlisted: Vec<&String> =
            present.iter().filter(|f| !names.contains(f.as_str()) && !package::EXEMPT.contains(&f.as_str())).collect();
        unlisted.sort();
        for f in unlisted {
            let e = format!("{f}: not listed in checksums.txt (zarf refuses files the checksums do not cover)");
            self.damage.push((f.clone(), SourceError::Malformed(e)));
        }
        self.listed = listed.into_iter().filter(|l| present.contains(&l.path)).collect();
    }

    /// The package's signature files over `zarf.yaml`, for the run to check.
    fn signature(&mut self, definition: &package::Definition) -> PackageSignature {
        let mut signatures = Vec::new();
        for name in SIGNATURES {
            match self.files.read_small(name, METADATA_LIMIT) {
                Ok(Some(bytes)) => signatures.push((name.to_string(), bytes)),
                Ok(None) => {}
                Err(e) => self.damage.push((name.to_string(), e)),
            }
        }
        let sha256_hex = match self.files.sha256("zarf.yaml") {
            Ok(d) => d.hex().to_string(),
            Err(e) => {
                self.damage.push(("zarf.yaml".into(), e));
                String::new()
            }
        };
        let package = format!("zarf package {} (zarf.yaml)", definition.name);
        PackageSignature { origin: self.location.clone(), package, sha256_hex, signatures }
    }

    /// `images/`, an OCI layout named as zarf names its images.
    fn open_images(&mut self) {
        if !self.files.files().iter().any(|(name, _)| name.starts_with("images/")) {
            return;
        }
        let images = Images { files: self.files.clone(), location: self.location.clone() };
        match Layout::open_named(images, Naming::Zarf) {
            Ok(layout) => self.layout = Some(layout),
            Err(SourceError::Missing(what)) => {
                let file = what.rsplit('/').next().unwrap_or_default();
                self.damage.push((format!("images/{file}"), SourceError::Missing(format!("images/{file}"))));
            }
            Err(e) => self.damage.push(("images/".into(), under_images(e))),
        }
    }

    fn layout(&self) -> Result<&Layout<Images>, SourceError> {
        self.layout.as_ref().ok_or_else(|| SourceError::Missing(format!("{}: images/ (an OCI layout)", self.location)))
    }

    /// Each listed file's SHA-256 against its line, in parallel, largest first. Blobs under
    /// `images/blobs/sha256/` listed with their own name's digest are left to the layout, which hashes
    /// every blob against its name; without `hash`, only digests the one pass already computed are compared.
    fn check_listed(&self, hash: bool) -> Vec<Damage> {
        let sizes: std::collections::HashMap<String, u64> = self.files.files().into_iter().collect();
        let mut todo: Vec<&Listed> = self
            .listed
            .iter()
            .filter(|l| l.path.strip_prefix("images/blobs/sha256/") != Some(l.digest.hex()))
            .filter(|l| hash || self.files.prehashed(&l.path).is_some())
            .collect();
        todo.sort_by_key(|l| std::cmp::Reverse(sizes.get(&l.path).copied().unwrap_or(0)));
        let mut found: Vec<Damage> = todo
            .par_iter()
            .with_max_len(1)
            .filter_map(|l| {
                let error = match self.files.sha256(&l.path) {
                    Ok(actual) if actual == l.digest => return None,
                    Ok(actual) => SourceError::Corrupt(
                        format!("{} (checksums.txt)", l.path),
                        Mismatch::Digest { expected: l.digest.clone(), actual },
                    ),
                    Err(e) => e,
                };
                Some(Damage { origin: self.location.clone(), entry: l.path.clone(), digest: None, error })
            })
            .collect();
        found.sort_by(|a, b| a.entry.cmp(&b.entry));
        found
    }
}

impl Source for Zarf {
    fn info(&self) -> Info {
        let mut info = Info::at(self.location.clone(), self.files.paths());
        info.paths.extend(self.header.iter().cloned());
        info.files = self.files.file_sha256().into_iter().collect();
        info
    }

    fn entries(&self) -> Vec<Entry> {
        self.layout.as_ref().map(|l| l.entries()).unwrap_or_default()
    }

    fn read(&self, repo: Option<&DockerRef>, desc: &Desc) -> Result<Vec<u8>, SourceError> {
        self.layout()?.read(repo, desc).map_err(under_images)
    }

    fn check_blob(&self, repo: Option<&DockerRef>, desc: &Desc, hash: bool) -> Result<(), SourceError> {
        self.layout()?.check_blob(repo, desc, hash).map_err(under_images)
    }

    fn open_blob(
        &self,
        repo: Option<&DockerRef>,
        desc: &Desc,
    ) -> Result<Box<dyn std::io::Read + Send + '_>, SourceError> {
        self.layout()?.open_blob(repo, desc).map_err(under_images)
    }

    fn attachments(&self, repo: Option<&DockerRef>, digest: &Digest, which: Attached) -> Result<Found, SourceError> {
        match &self.layout {
            Some(layout) => layout.attachments(repo, digest, which).map_err(under_images),
            None => Ok(Found::default()),
        }
    }

    fn scan(&self, hash: bool) -> Scan {
        let mut scan = Scan::opened(&self.location, &self.damage);
        if let Some(layout) = &self.layout {
            let mut images = layout.scan(hash);
            for d in &mut images.damage {
                d.entry = format!("images/{}", d.entry);
                d.error = under_images(d.error.clone());
            }
            scan.add(images);
        }
        scan.damage.extend(self.check_listed(hash));
        scan
    }

    fn package_signatures(&self) -> Vec<PackageSignature> {
        self.signature.iter().cloned().collect()
    }
}

/// An error about a file of the layout, named as the package names it (`images/blobs/…`).
fn under_images(e: SourceError) -> SourceError {
    let prefixed = |what: String| if what.starts_with("blobs/") { format!("images/{what}") } else { what };
    match e {
        SourceError::Corrupt(what, m) => SourceError::Corrupt(prefixed(what), m),
        SourceError::Missing(what) => SourceError::Missing(prefixed(what)),
        other => other,
    }
}

/// The package's `images/` folder as a layout's files. The archive's own damage is the package's, reported
/// once by [`Zarf`].
struct Images {
    files: Shared,
    location: String,
}

impl Images {
    fn inner(name: &str) -> String {
        format!("images/{name}")
    }
}

impl Files for Images {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn files(&self) -> Vec<(String, u64)> {
        let inside = |(name, size): (String, u64)| name.strip_prefix("images/").map(|n| (n.to_string(), size));
        self.files.files().into_iter().filter_map(inside).collect()
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn std::io::Read + Send + '_>>, SourceError> {
        self.files.open(&Images::inner(name))
    }

    fn damage(&self) -> Vec<(String, SourceError)> {
        Vec::new()
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.files.paths()
    }

    fn prehashed(&self, name: &str) -> Option<&Digest> {
        self.files.prehashed(&Images::inner(name))
    }

    fn file_sha256(&self) -> Option<(String, String)> {
        self.files.file_sha256()
    }

    fn progress(&self) -> Option<super::archive::Progress> {
        self.files.progress()
    }

    fn read_small(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, SourceError> {
        self.files.read_small(&Images::inner(name), limit)
    }

    fn sha256(&self, name: &str) -> Result<Digest, SourceError> {
        self.files.sha256(&Images::inner(name))
    }
}
