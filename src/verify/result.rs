//! Results as data: per-image outcomes with every reason found, each with its kind (SPEC §3.6).
//! Rendered by `report`, never printed from here.

use crate::digest::Digest;
pub use crate::finding::{Finding, Kind, Mismatch};
use serde::Serialize;

/// How one manifest's signature requirement ended.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SignatureReport {
    /// `verified`, `covered-by-index`, `unsigned`, `rejected`, `not-required`.
    pub status: String,
    pub scheme: Option<String>,
    pub key_sha256: Option<String>,
    /// The signed identity (`docker-reference`), when one was accepted.
    pub identity: Option<String>,
    pub identity_bound: bool,
    pub rekor: bool,
    /// A keyless sigstore bundle's evidence: the certificate's identity and issuer, the log indexes and the
    /// verified times the certificate was checked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<crate::signature::check::Evidence>,
}

/// One manifest of an image (the index itself has no platform).
#[derive(Clone, Debug, Serialize)]
pub struct PlatformResult {
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub platform: Option<String>,
    /// Config and layer bytes the manifest names (0 for an index).
    pub bytes: u64,
    pub signature: Option<SignatureReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
}

/// Everything airlock found about one image (or artifact).
#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    pub reference: String,
    /// Every name the image is known by, each one an identity its signatures were checked against.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// The original image-list line, when a list was given.
    pub line: Option<String>,
    /// The PATH the image came from (a registry run has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip)]
    pub line_no: Option<usize>,
    pub status: Status,
    pub artifact: bool,
    pub platforms: Vec<PlatformResult>,
    pub errors: Vec<Finding>,
    pub notes: Vec<String>,
    /// `--cluster-policy`: each policy (and its authority, or Kyverno rule and attestor) that admitted it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub admitted_by: Vec<String>,
    /// Key files whose signatures were accepted.
    #[serde(skip)]
    pub signed_by: Vec<String>,
    /// The image's top manifest or index, when it was located.
    #[serde(skip)]
    pub top: Option<crate::oci::Desc>,
    /// What `import` pushed of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<crate::import::Pushed>,
}

/// Damage of a source itself, not of one image (SPEC §7: its own `DAMAGED` line and count): the PATH,
/// the entry inside it, the digest it is about, and what is wrong.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SourceDamage {
    pub path: String,
    pub entry: String,
    pub digest: Option<Digest>,
    pub kind: Kind,
    pub message: String,
    /// The expected and actual size or digest, for `corrupt` damage.
    pub mismatch: Option<Mismatch>,
}

impl ImageResult {
    pub fn new(reference: String, line: Option<String>, line_no: Option<usize>) -> ImageResult {
        ImageResult {
            reference,
            names: Vec::new(),
            line,
            path: None,
            line_no,
            status: Status::Pass,
            artifact: false,
            platforms: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            signed_by: Vec::new(),
            admitted_by: Vec::new(),
            top: None,
            pushed: None,
        }
    }

    pub fn fail(&mut self, finding: Finding) {
        if !self.errors.contains(&finding) {
            self.errors.push(finding);
        }
        self.status = Status::Fail;
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    /// Platform manifests (not indexes).
    pub fn platform_count(&self) -> usize {
        self.platforms.iter().filter(|p| p.platform.is_some()).count()
    }
}
