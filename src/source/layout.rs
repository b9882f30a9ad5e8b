//! OCI image layouts (`oci-layout` + `index.json` + `blobs/`), over any blob store: a directory here,
//! an archive's entries elsewhere. Names entries the way skopeo, hauler and `cosign save` write them.

use super::store::{Blobs, Files, layout_blob};
use super::{Attached, Entry, Found, Info, Scan, Source, SourceError, attach};
use crate::digest::Digest;
use crate::oci::manifest::{self, Document};
use crate::oci::{Desc, METADATA_LIMIT, TOC_LIMIT, is_index_type, is_manifest_type};
use crate::reference::DockerRef;
use std::collections::HashMap;
use std::sync::OnceLock;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
pub const KIND: &str = "kind";
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// Which annotations name a layout's entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `ref.name` and containerd's name (skopeo, hauler, `cosign save`, containerd).
    Oci,
    /// zarf's `images/`: also `base.name` where `ref.name` is absent — what zarf itself pushes the image as
    /// (zarf-dev/zarf src/pkg/images/push.go: "Crane sets AnnotationBaseImageName instead of
    /// AnnotationRefName", and ref.name is set from base.name when empty). Anywhere else base.name names the
    /// image an image was built from, never the image itself.
    Zarf,
}

/// What an `index.json` entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Image,
    /// A `.sig` manifest: its repository (when known) and the digest it signs (when known).
    Signature {
        repo: Option<DockerRef>,
        tag: Option<String>,
    },
    /// Attestations, SBOMs, referrers, anything with a `subject`.
    Other,
}

/// Indexes into a layout's signatures, in order: by tag, and those with no tag.
type SignatureTags = (HashMap<String, Vec<usize>>, Vec<usize>);

pub struct Layout<F> {
    blobs: Blobs<F>,
    entries: Vec<Entry>,
    signatures: Vec<(Option<DockerRef>, Option<String>, Desc)>,
    /// `signatures` by tag: built at the first lookup.
    signature_tags: OnceLock<SignatureTags>,
    damage: Vec<(String, SourceError)>,
    subjects: OnceLock<HashMap<Digest, Vec<Desc>>>,
}

impl<F: Files> Layout<F> {
    /// Opens a layout. `Err` only when the files are not a layout at all; damage inside is recorded and
    /// reported with the results.
    pub fn open(files: F) -> Result<Layout<F>, SourceError> {
        Layout::open_named(files, Naming::Oci)
    }

    /// [`Layout::open`], its entries named by `naming`.
    pub fn open_named(files: F, naming: Naming) -> Result<Layout<F>, SourceError> {
        let location = files.location();
        let blobs = Blobs::new(files, layout_blob, Vec::new());
        let mut damage = blobs.damage();
        let store = &blobs.files;
        match store.read_small("oci-layout", METADATA_LIMIT) {
            Ok(Some(bytes)) => {
                #[derive(serde::Deserialize)]
                struct OciLayout {
                    #[serde(rename = "imageLayoutVersion")]
                    _version: String,
                }
                if crate::oci::json::parse::<OciLayout>(&bytes, crate::oci::json::fields::LAYOUT).is_err() {
                    damage.push((
                        "oci-layout".into(),
                        SourceError::Malformed("oci-layout: not a JSON object with imageLayoutVersion".into()),
                    ));
                }
            }
            Ok(None) => return Err(SourceError::Missing(format!("{location}/oci-layout"))),
            Err(e) => damage.push(("oci-layout".into(), e)),
        }
        let index_bytes = match store.read_small("index.json", TOC_LIMIT)? {
            Some(b) => b,
            None => return Err(SourceError::Missing(format!("{location}/index.json"))),
        };
        let mut layout = Layout {
            blobs,
            entries: Vec::new(),
            signatures: Vec::new(),
            signature_tags: OnceLock::new(),
            damage,
            subjects: OnceLock::new(),
        };
        match manifest::parse_toc(&index_bytes) {
            Ok(index) => {
                for desc in index.manifests {
                    layout.add_entry(desc, &location, naming);
                }
            }
            Err(e) => layout.damage.push(("index.json".into(), SourceError::Malformed(format!("index.json: {e}")))),
        }
        layout.check_docker_manifest();
        Ok(layout)
    }

    fn add_entry(&mut self, desc: Desc, location: &str, naming: Naming) {
        let ref_name = match (desc.annotation(REF_NAME), naming) {
            (None, Naming::Zarf) => desc.annotation(BASE_NAME),
            (name, _) => name,
        };
        let ref_name = ref_name.map(str::to_string);
        let containerd = desc.annotation(CONTAINERD_NAME).map(str::to_string);
        let class = classify(&desc, ref_name.as_deref(), containerd.as_deref(), || self.has_subject(&desc));
        if class == Class::Image && is_signature_kind(&desc) {
            // A signature stored under a plain name is an image to importers, and still a candidate here.
            let (repo, tag) = match containerd.as_deref().filter(|n| is_attachment_name(n)).map(split_tag) {
                Some((repo, tag)) => (repo.and_then(|r| DockerRef::parse(r).ok()), Some(tag.to_string())),
                None => (None, None),
            };
            self.signatures.push((repo, tag, desc.clone()));
        }
        match class {
            Class::Image => {
                let mut entry = Entry::new(location.to_string(), Ok(desc));
                for name in [containerd.as_deref(), ref_name.as_deref()].into_iter().flatten() {
                    match name_kind(name) {
                        NameKind::Full(r) => entry.full_names.push(r),
                        NameKind::Partial(r) => entry.partial_names.push(r),
                        NameKind::BareTag => {}
                    }
                }
                entry.stored_name = containerd.or(ref_name);
                self.entries.push(entry);
            }
            Class::Signature { repo, tag } => self.signatures.push((repo, tag, desc)),
            Class::Other => {}
        }
    }

    /// A haul's `manifest.json` (what `docker load` reads) must name only the layout's images.
    fn check_docker_manifest(&mut self) {
        let bytes = match self.blobs.files.read_small("manifest.json", TOC_LIMIT) {
            Ok(Some(b)) if b.trim_ascii_start().starts_with(b"[") => b,
            Ok(_) => return,
            Err(e) => {
                self.damage.push(("manifest.json".into(), e));
                return;
            }
        };
        let problems = super::haul::check(&bytes, &self.entries, |d| self.blobs.read(&d.digest, d.size));
        self.damage.extend(problems.into_iter().map(|e| ("manifest.json".to_string(), e)));
    }

    fn has_subject(&self, desc: &Desc) -> bool {
        self.blobs
            .read(&desc.digest, desc.size)
            .ok()
            .and_then(|b| manifest::parse(&b, &desc.media_type).ok())
            .is_some_and(|d| d.subject().is_some())
    }

    /// Every manifest blob with a `subject`, by subject digest (cosign v3 leaves them unreferenced).
    fn subjects(&self) -> &HashMap<Digest, Vec<Desc>> {
        self.subjects.get_or_init(|| {
            let mut map: HashMap<Digest, Vec<Desc>> = HashMap::new();
            for blob in self.blobs.all() {
                // a manifest is JSON: layers are passed over after one byte, never read whole
                if blob.size > METADATA_LIMIT || self.blobs.first_byte(blob) != Some(b'{') {
                    continue;
                }
                let Ok(bytes) = self.blobs.read(&blob.digest, blob.size) else { continue };
                if bytes.first() != Some(&b'{') {
                    continue;
                }
                let Some(media_type) = manifest::sniff_media_type(&bytes) else { continue };
                let Ok(doc) = manifest::parse(&bytes, &media_type) else { continue };
                if let Some(subject) = doc.subject() {
                    let mut desc = Desc::new(&media_type, blob.digest.clone(), blob.size);
                    if let Document::Manifest(m) = &doc {
                        desc.artifact_type = m.artifact_type.clone();
                    }
                    map.entry(subject.digest.clone()).or_default().push(desc);
                }
            }
            map
        })
    }
}

enum NameKind {
    Full(DockerRef),
    Partial(DockerRef),
    BareTag,
}

/// A stored name is full when its first component is a registry host, partial when it is a path
/// without registry (`library/busybox:latest`), and a bare tag (`v1`, `3.20`) otherwise.
fn name_kind(name: &str) -> NameKind {
    if !name.contains('/') && !name.contains(':') && !name.contains('@') {
        return NameKind::BareTag;
    }
    let Ok(parsed) = DockerRef::parse(name) else { return NameKind::BareTag };
    let first = name.split('/').next().unwrap_or_default();
    let has_host = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_host { NameKind::Full(parsed) } else { NameKind::Partial(parsed) }
}

/// `sha256-<64 hex>` followed by `suffix`.
fn digest_tag(tag: &str, suffix: &str) -> bool {
    tag.strip_suffix(suffix)
        .and_then(|t| t.strip_prefix("sha256-"))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Splits `repo:tag` at the tag separator (not a registry port).
fn split_tag(name: &str) -> (Option<&str>, &str) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (Some(&name[..last_slash + i]), &name[last_slash + i + 1..]),
        None => (None, name),
    }
}

fn is_signature_kind(desc: &Desc) -> bool {
    matches!(desc.annotation(KIND), Some("dev.hauler/sigs" | "dev.cosignproject.cosign/sigs"))
}

/// Is `name` an attachment tag (`…:sha256-<hex>.sig|.att|.sbom`, the `sha256-<hex>` referrers tag)?
fn is_attachment_name(name: &str) -> bool {
    let (_, tag) = split_tag(name);
    [".sig", ".att", ".sbom", ""].iter().any(|suffix| digest_tag(tag, suffix))
}

/// What an entry is (SPEC §2 "What counts as an image"). An importer decides by name: an entry that
/// carries any plain name is an image, whatever its `kind` or `subject` say (skopeo's `oci:` transport
/// takes the first `ref.name` match, containerd the last `io.containerd.image.name`). Only an entry
/// whose every name is an attachment tag, or absent, may be a signature or another attachment.
fn classify(desc: &Desc, ref_name: Option<&str>, containerd: Option<&str>, has_subject: impl Fn() -> bool) -> Class {
    let names: Vec<&str> = [containerd, ref_name].into_iter().flatten().filter(|n| !n.is_empty()).collect();
    if names.iter().any(|n| !is_attachment_name(n)) {
        return Class::Image;
    }
    let sig_from = |name: Option<&str>| -> Option<(Option<DockerRef>, String)> {
        let name = name?;
        let (repo, tag) = split_tag(name);
        digest_tag(tag, ".sig").then(|| (repo.and_then(|r| DockerRef::parse(r).ok()), tag.to_string()))
    };
    if let Some((repo, tag)) = sig_from(containerd).or_else(|| sig_from(ref_name)) {
        return Class::Signature { repo, tag: Some(tag) };
    }
    if !names.is_empty() {
        return Class::Other;
    }
    match desc.annotation(KIND) {
        Some(
            "dev.hauler/image"
            | "dev.hauler/imageIndex"
            | "dev.cosignproject.cosign/image"
            | "dev.cosignproject.cosign/imageIndex",
        ) => Class::Image,
        Some("dev.hauler/sigs" | "dev.cosignproject.cosign/sigs") => Class::Signature { repo: None, tag: None },
        Some(_) => Class::Other,
        None if !is_index_type(&desc.media_type) && !is_manifest_type(&desc.media_type) => Class::Other,
        None if has_subject() => Class::Other,
        None => Class::Image,
    }
}

/// Same repository, comparing full names, or paths when either side was stored without a registry.
fn same_repo(a: &DockerRef, b: &DockerRef) -> bool {
    a.name() == b.name() || a.path() == b.path()
}

impl<F: Files> Layout<F> {
    /// The `.sig` manifests stored for `digest`: by tag in `repo` (or any repository when either side
    /// has none), and those whose name alone says which digest they sign.
    fn signature_manifests(&self, repo: Option<&DockerRef>, digest: &Digest) -> Vec<Desc> {
        let (by_tag, untagged) = self.signature_tags.get_or_init(|| {
            let (mut by_tag, mut untagged) = (HashMap::<String, Vec<usize>>::new(), Vec::new());
            for (i, (_, tag, _)) in self.signatures.iter().enumerate() {
                match tag {
                    Some(t) => by_tag.entry(t.clone()).or_default().push(i),
                    None => untagged.push(i),
                }
            }
            (by_tag, untagged)
        });
        let tagged = by_tag.get(&digest.sig_tag()).map(Vec::as_slice).unwrap_or_default();
        let mut found: Vec<usize> = tagged
            .iter()
            .copied()
            .filter(|&i| match (&self.signatures[i].0, repo) {
                (Some(s), Some(r)) => same_repo(s, r),
                _ => true,
            })
            .chain(untagged.iter().copied())
            .collect();
        found.sort_unstable();
        found.into_iter().map(|i| self.signatures[i].2.clone()).collect()
    }
}

impl<F: Files> Source for Layout<F> {
    fn info(&self) -> Info {
        self.blobs.info()
    }

    fn entries(&self) -> Vec<Entry> {
        self.entries.clone()
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

    fn attachments(&self, repo: Option<&DockerRef>, digest: &Digest, which: Attached) -> Result<Found, SourceError> {
        match which {
            Attached::Signatures => {
                let mut found = Found::default();
                attach::from_signature_manifests(self, repo, &self.signature_manifests(repo, digest), &mut found)?;
                Ok(found)
            }
            Attached::Referrers => {
                let referrers = self.subjects().get(digest).cloned().unwrap_or_default();
                attach::from_referrers(self, repo, digest, &referrers)
            }
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
    fn splits_tags_not_ports() {
        assert_eq!(split_tag("reg:5000/a/b:v1"), (Some("reg:5000/a/b"), "v1"));
        assert_eq!(split_tag("reg:5000/a/b"), (None, "reg:5000/a/b"));
        assert_eq!(split_tag("v1"), (None, "v1"));
    }

    #[test]
    fn recognises_digest_tags() {
        let hex = "a".repeat(64);
        assert!(digest_tag(&format!("sha256-{hex}.sig"), ".sig"));
        assert!(!digest_tag(&format!("sha256-{hex}.sig"), ""));
        assert!(digest_tag(&format!("sha256-{hex}"), ""));
        assert!(!digest_tag("sha256-abc.sig", ".sig"));
    }

    #[test]
    fn names_full_partial_and_bare() {
        assert!(matches!(name_kind("registry.example/app:v1"), NameKind::Full(_)));
        assert!(matches!(name_kind("localhost/app:v1"), NameKind::Full(_)));
        assert!(matches!(name_kind("library/busybox:latest"), NameKind::Partial(_)));
        assert!(matches!(name_kind("3.20"), NameKind::BareTag));
        assert!(matches!(name_kind("v1"), NameKind::BareTag));
    }
}
