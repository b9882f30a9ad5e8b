//! The walk of one image (SPEC §3.2–3.4): index → platform manifests → config and layers, each manifest
//! read from the image's own PATH and checked once per run, bounded in depth, descriptors and time.

use super::result::{ImageResult, PlatformResult};
use super::targets::{Subject, Target};
use super::{BlobMode, MAX_DEPTH, MAX_WALK, Options, Shared, Verification};
use crate::digest::Digest;
use crate::finding::{Finding, Kind};
use crate::oci::manifest::{self, Document, ManifestDoc};
use crate::oci::platform::is_attestation;
use crate::oci::{Desc, Platform, is_index_type, is_manifest_type};
use crate::reference::DockerRef;
use crate::source::Source;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

const IMAGE_CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// Documents kept for the run at most (a bound on memory; past it a document is checked again).
const MEMO_LIMIT: usize = 1 << 12;

/// A document read and checked, or why it could not be.
type Checked = Arc<Result<Document, Finding>>;

/// Manifests and indexes already read and checked in this run, by PATH and digest.
#[derive(Default)]
pub(crate) struct Memo {
    map: Mutex<HashMap<(String, Digest), Checked>>,
}

impl Memo {
    fn get(&self, origin: &str, d: &Digest) -> Option<Checked> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&(origin.to_string(), d.clone())).cloned()
    }

    fn put(&self, origin: &str, d: &Digest, doc: Result<Document, Finding>) -> Checked {
        let doc = Arc::new(doc);
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MEMO_LIMIT {
            map.clear();
        }
        map.insert((origin.to_string(), d.clone()), doc.clone());
        doc
    }
}

/// Walks one image as verification would — bounded, each document checked once — for every platform,
/// checking that its blobs exist but reading none, and checking no signature: what `airlock list` shows of it. The caller's
/// `--timeout` deadline (`deadline::scope`) bounds it.
pub fn survey(source: &dyn Source, subject: Subject) -> ImageResult {
    let target = Target {
        line: None,
        line_no: None,
        display: subject.display.clone(),
        subjects: vec![subject],
        unresolved: Vec::new(),
    };
    let opts = Options {
        verification: None,
        platforms: crate::oci::platform::PlatformFilter::every(),
        require_platforms: false,
        scope: super::Scope::Platform,
        blobs: BlobMode::Exist,
        jobs: 1,
        timeout: None,
        on_image: None,
        digests: None,
    };
    let results = verify_target(source, &target, &opts, &Shared::default());
    results.into_iter().next().unwrap_or_else(|| ImageResult::new(target.display, None, None))
}

/// Verifies every image a target names: the entry, or each reading of a list line that exists.
pub(super) fn verify_target(source: &dyn Source, target: &Target, opts: &Options, shared: &Shared) -> Vec<ImageResult> {
    let subjects = if target.unresolved.is_empty() { target.subjects.clone() } else { target.resolve(source) };
    if subjects.is_empty() {
        let mut r = ImageResult::new(target.display.clone(), target.line.clone(), target.line_no);
        r.fail(Target::missing());
        return vec![r];
    }
    subjects.iter().map(|s| verify_subject(source, target, s, opts, shared)).collect()
}

fn verify_subject(
    source: &dyn Source,
    target: &Target,
    subject: &Subject,
    opts: &Options,
    shared: &Shared,
) -> ImageResult {
    let mut result = ImageResult::new(subject.display.clone(), target.line.clone(), target.line_no);
    result.names = subject.identities.iter().map(|r| r.to_string()).collect();
    result.path = subject.origin.clone();
    for n in &subject.notes {
        result.note(n.clone());
    }
    let desc = match &subject.descriptor {
        Ok(d) => d.clone(),
        Err(f) => {
            result.fail(f.clone());
            return result;
        }
    };
    result.top = Some(desc.clone());
    let origin = subject.origin.clone().unwrap_or_else(|| source.info().location);
    let own = subject.origin.as_deref().and_then(|o| source.for_origin(o)).unwrap_or(source);
    let mut walk = Walk {
        source: own,
        origin: &origin,
        shared,
        opts,
        repo: subject.identities.first(),
        result,
        selected: Vec::new(),
        indexes: Vec::new(),
        visited: HashSet::new(),
        descriptors: 0,
        stopped: false,
        present: Vec::new(),
        matched: 0,
    };
    walk.node(&desc, 0, &[], true);
    if walk.stopped {
        return walk.result;
    }
    let identities = &subject.identities;
    match &opts.verification {
        Some(Verification::Keys(trust)) => walk.signatures(source, trust, identities, subject.identity_missing_hint),
        Some(Verification::Policy(policy)) => walk.policy(source, policy, identities, subject.identity_missing_hint),
        Some(Verification::Cluster(policies)) => walk.cluster(source, policies, identities, &desc.digest),
        None => {}
    }
    walk.result
}

/// Per-image state of the walk.
pub(super) struct Walk<'a> {
    /// Where the image's content is read: its own PATH only.
    pub(super) source: &'a dyn Source,
    origin: &'a str,
    shared: &'a Shared,
    pub(super) opts: &'a Options,
    pub(super) repo: Option<&'a DockerRef>,
    pub(super) result: ImageResult,
    /// Selected platform manifests with the indexes above them.
    pub(super) selected: Vec<(Desc, Vec<Digest>)>,
    pub(super) indexes: Vec<Desc>,
    /// Manifests and indexes already walked for this image.
    visited: HashSet<Digest>,
    descriptors: usize,
    /// The walk hit a bound (descriptors, time): the image fails and nothing more is checked.
    stopped: bool,
    /// Platforms the image's indexes list, at any depth, and how many children were selected.
    present: Vec<Platform>,
    matched: usize,
}

impl Walk<'_> {
    fn mark(&self, d: &Digest) {
        self.shared.mark(self.origin, d);
    }

    /// Counts `n` descriptors against the walk's bounds; false once a bound is hit.
    fn budget(&mut self, n: usize) -> bool {
        if self.stopped {
            return false;
        }
        self.descriptors += n;
        if self.descriptors > MAX_WALK {
            self.stop(Kind::Malformed, format!("the walk stopped after {MAX_WALK} descriptors (SPEC §8 limit)"));
        } else if crate::deadline::expired() {
            self.stop(Kind::Error, "timed out (--timeout) while walking the image".to_string());
        }
        !self.stopped
    }

    fn stop(&mut self, kind: Kind, message: String) {
        self.stopped = true;
        self.result.fail(Finding::new(kind, message));
    }

    /// The checked document behind `desc`, read once per run.
    fn document(&mut self, desc: &Desc) -> Option<Checked> {
        self.mark(&desc.digest);
        let doc = match self.shared.documents.get(self.origin, &desc.digest) {
            Some(doc) => doc,
            None => {
                let what = format!("manifest {}", desc.digest);
                let parsed = match self.source.read(self.repo, desc) {
                    Ok(bytes) => manifest::parse(&bytes, &desc.media_type)
                        .map_err(|e| Finding::new(Kind::Malformed, format!("{what}: {e}"))),
                    Err(e) => Err(e.finding(&what)),
                };
                self.shared.documents.put(self.origin, &desc.digest, parsed)
            }
        };
        if let Err(f) = doc.as_ref() {
            self.result.fail(f.clone());
            return None;
        }
        Some(doc)
    }

    /// Walks one manifest or index. `top` is true for the entry itself (not reached through an index).
    fn node(&mut self, desc: &Desc, depth: usize, ancestors: &[Digest], top: bool) {
        if self.stopped || (top && !self.budget(1)) {
            return;
        }
        if depth > MAX_DEPTH {
            let message = format!("index nesting deeper than {MAX_DEPTH} at {}", desc.digest);
            self.result.fail(Finding::new(Kind::Malformed, message));
            return;
        }
        if ancestors.contains(&desc.digest) {
            self.result.fail(Finding::new(Kind::Malformed, format!("index cycle through {}", desc.digest)));
            return;
        }
        if !self.visited.insert(desc.digest.clone()) {
            return;
        }
        let Some(doc) = self.document(desc) else { return };
        match doc.as_ref() {
            Ok(Document::Index(index)) => {
                self.index(desc, &index.manifests, depth, ancestors);
                if top && !self.stopped {
                    self.platform_coverage();
                }
            }
            Ok(Document::Manifest(m)) if top => self.manifest(desc, m, None, ancestors),
            Ok(Document::Manifest(_)) => self.result.fail(Finding::new(
                Kind::Malformed,
                format!("{}: a manifest where an index was expected", desc.digest),
            )),
            Err(_) => {}
        }
    }

    /// An index: every child a runtime could pull for a selected platform is verified (SPEC §3.3).
    fn index(&mut self, desc: &Desc, children: &[Desc], depth: usize, ancestors: &[Digest]) {
        self.indexes.push(desc.clone());
        self.result.platforms.push(PlatformResult {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            platform: None,
            bytes: 0,
            signature: None,
        });
        if !self.budget(children.len()) {
            return;
        }
        let mut chain = ancestors.to_vec();
        chain.push(desc.digest.clone());
        for child in children {
            if self.stopped {
                return;
            }
            if is_attestation(child) {
                continue;
            }
            if is_index_type(&child.media_type) {
                self.node(child, depth + 1, &chain, false);
                continue;
            }
            if let Some(p) = child.platform.as_ref().filter(|p| !self.present.contains(p)) {
                self.present.push(p.clone());
            }
            let selected = child.platform.as_ref().is_none_or(|p| self.opts.platforms.matches(p));
            if !selected {
                continue;
            }
            self.matched += 1;
            let shown = child.platform.as_ref().map(Platform::to_string);
            if !is_manifest_type(&child.media_type) {
                // Docker and containerd pull the first platform match whatever its media type says.
                self.result.fail(Finding::new(
                    Kind::Malformed,
                    format!(
                        "index entry {} for {} has media type {:?}, not a manifest or index: a runtime would pull it",
                        child.digest,
                        shown.as_deref().unwrap_or("every platform"),
                        child.media_type
                    ),
                ));
                continue;
            }
            self.child(child, shown, &chain);
        }
    }

    /// Fails or notes the wanted platforms the image's indexes do not have.
    fn platform_coverage(&mut self) {
        let present = &self.present;
        let absent: Vec<String> = self.opts.platforms.absent(present).iter().map(|w| w.to_string()).collect();
        if self.matched == 0 && self.selected.is_empty() {
            let have: Vec<String> = present.iter().map(|p| p.to_string()).collect();
            let have = if have.is_empty() { "no platforms".to_string() } else { have.join(", ") };
            let message = format!("no platform matches {} (the image has {have})", self.wanted());
            self.result.fail(Finding::new(Kind::PlatformMissing, message));
        } else if !absent.is_empty() {
            let message = format!("platform {} not in the image", absent.join(", "));
            if self.opts.require_platforms {
                self.result.fail(Finding::new(Kind::PlatformMissing, message));
            } else {
                self.result.note(message);
            }
        }
    }

    fn wanted(&self) -> String {
        self.opts.platforms.wanted.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// A platform manifest listed by an index.
    fn child(&mut self, desc: &Desc, platform: Option<String>, ancestors: &[Digest]) {
        if self.stopped || !self.visited.insert(desc.digest.clone()) {
            return;
        }
        let Some(doc) = self.document(desc) else { return };
        match doc.as_ref() {
            Ok(Document::Manifest(m)) => self.manifest(desc, m, platform, ancestors),
            Ok(Document::Index(_)) => self.result.fail(Finding::new(
                Kind::Malformed,
                format!("manifest {}: an index where a manifest was expected", desc.digest),
            )),
            Err(_) => {}
        }
    }

    /// One platform manifest: its config and layers; `platform` from the index, or from the config for
    /// a single-platform image.
    fn manifest(&mut self, desc: &Desc, m: &ManifestDoc, platform: Option<String>, ancestors: &[Digest]) {
        if !self.budget(1 + m.layers.len()) {
            return;
        }
        let is_image = IMAGE_CONFIG_TYPES.contains(&m.config.media_type.as_str());
        if !is_image && ancestors.is_empty() {
            self.result.artifact = true;
        }
        let mode = self.opts.blobs;
        self.mark(&m.config.digest);
        let config = match self.source.read(self.repo, &m.config) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                if mode != BlobMode::Skip {
                    self.result.fail(e.finding(&format!("config {}", m.config.digest)));
                }
                None
            }
        };
        let mut shown = platform;
        if shown.is_none() && is_image {
            shown = self.config_platform(&m.config.digest, config.as_deref());
        }
        if mode != BlobMode::Skip {
            self.layers(&m.layers);
        }
        self.result.platforms.push(PlatformResult {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            platform: Some(shown.unwrap_or_else(|| if is_image { "unknown".into() } else { "artifact".into() })),
            bytes: m.config.size.saturating_add(m.layers.iter().fold(0u64, |sum, l| sum.saturating_add(l.size))),
            signature: None,
        });
        self.selected.push((desc.clone(), ancestors.to_vec()));
    }

    /// A single-platform image is checked against the filter through its config.
    fn config_platform(&mut self, digest: &Digest, config: Option<&[u8]>) -> Option<String> {
        let Some(bytes) = config else {
            self.result.note("platform filter not applied: the config is not available");
            return None;
        };
        match manifest::config_platform(bytes) {
            Ok(Some(p)) => {
                if !self.opts.platforms.matches(&p) {
                    let message = format!("no platform matches {} (the image is {p})", self.wanted());
                    self.result.fail(Finding::new(Kind::PlatformMissing, message));
                }
                Some(p.to_string())
            }
            Ok(None) => {
                self.result.fail(Finding::new(Kind::Malformed, format!("config {digest}: no os/architecture")));
                None
            }
            Err(e) => {
                self.result.fail(Finding::new(Kind::Malformed, format!("config {digest}: {e}")));
                None
            }
        }
    }

    fn layers(&mut self, layers: &[Desc]) {
        let hash = self.opts.blobs == BlobMode::Verify;
        for layer in layers {
            if !layer.urls.is_empty()
                || layer.media_type.contains("nondistributable")
                || layer.media_type.contains("foreign")
            {
                self.result.note(format!("foreign layer {} not fetched", layer.digest));
                continue;
            }
            self.mark(&layer.digest);
            if let Err(e) = self.source.check_blob(self.repo, layer, hash) {
                self.result.fail(e.finding(&format!("layer {}", layer.digest)));
            }
        }
    }
}
