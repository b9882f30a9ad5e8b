//! The verification engine (SPEC §3): resolve each target to a descriptor, walk index → manifests →
//! blobs → signatures through the `Source` trait, and return results as data.

pub mod manifest;
pub mod platform;
pub mod result;
mod targets;

use crate::digest::Digest;
use crate::reference::DockerRef;
use crate::signature::check::{self, Outcome, Trust};
use crate::source::{Desc, Source, is_index_type};
use manifest::Document;
use platform::{PlatformFilter, is_attestation};
use rayon::prelude::*;
use result::{Finding, ImageResult, Kind, PlatformResult, SignatureReport};
use std::collections::HashSet;
use std::sync::Mutex;
pub use targets::{Target, plan};

/// Index nesting deeper than this is refused (SPEC §8).
pub const MAX_DEPTH: usize = 8;

const IMAGE_CONFIG_TYPES: [&str; 2] =
    ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// `--blobs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BlobMode {
    /// Hash every config and layer.
    Verify,
    /// Only check that they exist with the right size.
    Exist,
    /// Manifests and signatures only.
    Skip,
}

/// `--signature-scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Each platform signed itself or through a signed index that lists it.
    Auto,
    /// Each platform manifest signed itself.
    Platform,
    /// The index and every platform each signed.
    All,
}

/// A callback run after each image.
pub type ImageHook = Box<dyn Fn(&ImageResult) + Send + Sync>;

/// What signatures must satisfy: keys from the command line, or a containers policy.
pub enum Verification {
    Keys(Trust),
    Policy(crate::signature::policy::Policy),
}

pub struct Options {
    pub verification: Option<Verification>,
    pub platforms: PlatformFilter,
    pub require_platforms: bool,
    pub scope: Scope,
    pub blobs: BlobMode,
    pub jobs: usize,
    /// Per-image time limit (`--timeout`): network requests for the image stop when it is up.
    pub timeout: Option<std::time::Duration>,
    /// Called after each image, from the worker threads (the CLI's progress bar).
    pub on_image: Option<ImageHook>,
}

/// Everything one run found.
pub struct Run {
    pub results: Vec<ImageResult>,
    pub blobs: u64,
    pub bytes: u64,
}

impl Run {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }
}

/// Verifies every target, then reports source damage no image accounted for.
pub fn run(source: &dyn Source, targets: Vec<Target>, opts: &Options) -> Run {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build();
    let work = || {
        let hashed = if opts.blobs == BlobMode::Verify { source.hash_all() } else { Vec::new() };
        let seen = Mutex::new(HashSet::new());
        let mut results: Vec<ImageResult> = targets
            .par_iter()
            .with_max_len(1)
            .map(|t| {
                let r = crate::deadline::scope(opts.timeout, || verify_target(source, t, opts, &seen));
                if let Some(hook) = &opts.on_image {
                    hook(&r);
                }
                r
            })
            .collect();
        let seen = seen.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut damage = source.damage();
        damage.extend(hashed.into_iter().filter(|(name, _)| !seen.iter().any(|d: &Digest| name.contains(d.hex()))));
        if !damage.is_empty() {
            let mut r = ImageResult::new(format!("source {}", source.location()), None, None);
            r.is_source = true;
            for (_, e) in damage {
                r.fail(Finding::new(Kind::of(&e), e.to_string()));
            }
            results.push(r);
        }
        results
    };
    let results = match pool {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    };
    let (blobs, bytes) = if opts.blobs == BlobMode::Verify { source.blob_totals() } else { (0, 0) };
    Run { results, blobs, bytes }
}

/// Per-image state of the walk.
struct Walk<'a> {
    /// Where the image's content is read: its own PATH only.
    source: &'a dyn Source,
    /// Where signatures are looked up: every PATH of the run.
    sig_source: &'a dyn Source,
    opts: &'a Options,
    repo: Option<&'a DockerRef>,
    result: ImageResult,
    seen: &'a Mutex<HashSet<Digest>>,
    /// Selected platform manifests with the indexes above them.
    selected: Vec<(Desc, Vec<Digest>)>,
    indexes: Vec<Desc>,
}

fn verify_target(source: &dyn Source, target: &Target, opts: &Options, seen: &Mutex<HashSet<Digest>>) -> ImageResult {
    let resolved;
    let target = if target.unresolved.is_empty() {
        target
    } else {
        resolved = target.resolve(source);
        &resolved
    };
    let mut result = ImageResult::new(target.display.clone(), target.line.clone(), target.line_no);
    result.notes.extend(target.notes.iter().cloned());
    let desc = match &target.descriptor {
        Ok(d) => d.clone(),
        Err(f) => {
            result.fail(f.clone());
            return result;
        }
    };
    let own = target.origin.as_deref().and_then(|o| source.for_origin(o)).unwrap_or(source);
    let mut walk = Walk {
        source: own,
        sig_source: source,
        opts,
        repo: target.identity.as_ref(),
        result,
        seen,
        selected: Vec::new(),
        indexes: Vec::new(),
    };
    walk.node(&desc, 0, &[], true);
    let identity = target.identity.as_ref();
    match &opts.verification {
        Some(Verification::Keys(trust)) => walk.signatures(trust, identity, target.identity_missing_hint),
        Some(Verification::Policy(policy)) => {
            use crate::signature::policy::Requirement;
            let (scope, requirements) = policy.requirements_for(identity);
            for requirement in requirements {
                match requirement {
                    Requirement::Accept => walk.result.note(format!("policy scope {scope:?} accepts anything")),
                    Requirement::Reject => walk.result.fail(Finding::new(
                        Kind::BadSignature,
                        format!("the policy rejects every image in scope {scope:?}"),
                    )),
                    Requirement::Sigstore(trust) => walk.signatures(trust, identity, target.identity_missing_hint),
                }
            }
        }
        None => {}
    }
    walk.result
}

impl Walk<'_> {
    fn mark(&self, d: &Digest) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert(d.clone());
    }

    fn read_doc(&mut self, desc: &Desc) -> Option<Document> {
        self.mark(&desc.digest);
        let what = format!("manifest {}", desc.digest);
        let bytes = match self.source.read(self.repo, desc) {
            Ok(b) => b,
            Err(e) => {
                self.result.fail(Finding::from_source(&what, &e));
                return None;
            }
        };
        match manifest::parse(&bytes, &desc.media_type) {
            Ok(doc) => Some(doc),
            Err(e) => {
                self.result.fail(Finding::new(Kind::Malformed, format!("{what}: {e}")));
                None
            }
        }
    }

    /// Walks one manifest or index. `top` is true for the entry itself (not reached through an index).
    fn node(&mut self, desc: &Desc, depth: usize, ancestors: &[Digest], top: bool) {
        if depth > MAX_DEPTH {
            self.result.fail(Finding::new(
                Kind::Malformed,
                format!("index nesting deeper than {MAX_DEPTH} at {}", desc.digest),
            ));
            return;
        }
        if ancestors.contains(&desc.digest) {
            self.result.fail(Finding::new(Kind::Malformed, format!("index cycle through {}", desc.digest)));
            return;
        }
        let Some(doc) = self.read_doc(desc) else { return };
        match doc {
            Document::Index(index) => {
                self.indexes.push(desc.clone());
                self.result.platforms.push(PlatformResult {
                    digest: desc.digest.clone(),
                    media_type: desc.media_type.clone(),
                    platform: None,
                    signature: None,
                });
                let mut chain = ancestors.to_vec();
                chain.push(desc.digest.clone());
                let mut present = Vec::new();
                let mut matched = 0;
                for child in &index.manifests {
                    if is_attestation(child) {
                        continue;
                    }
                    if is_index_type(&child.media_type) {
                        self.node(child, depth + 1, &chain, false);
                        continue;
                    }
                    if !crate::source::is_manifest_type(&child.media_type) {
                        self.result
                            .note(format!("skipped index entry {} of media type {}", child.digest, child.media_type));
                        continue;
                    }
                    match &child.platform {
                        Some(p) => {
                            present.push(p.clone());
                            if self.opts.platforms.matches(p) {
                                matched += 1;
                                self.child(child, Some(p.to_string()), &chain);
                            }
                        }
                        None => {
                            matched += 1;
                            self.child(child, None, &chain);
                        }
                    }
                }
                self.platform_coverage(&present, matched, top);
            }
            Document::Manifest(m) => {
                if top {
                    self.manifest(desc, *m, None, ancestors);
                } else {
                    self.result.fail(Finding::new(
                        Kind::Malformed,
                        format!("{}: a manifest where an index was expected", desc.digest),
                    ));
                }
            }
        }
    }

    /// Fails or notes the wanted platforms an index does not have.
    fn platform_coverage(&mut self, present: &[crate::source::Platform], matched: usize, top: bool) {
        if !top {
            return;
        }
        let absent: Vec<String> = self.opts.platforms.absent(present).iter().map(|w| w.to_string()).collect();
        if matched == 0 && self.selected.is_empty() {
            let have: Vec<String> = present.iter().map(|p| p.to_string()).collect();
            self.result.fail(Finding::new(
                Kind::PlatformMissing,
                format!("no platform matches {} (the image has {})", self.wanted(), list_or_none(&have)),
            ));
        } else if !absent.is_empty() {
            if self.opts.require_platforms {
                self.result.fail(Finding::new(
                    Kind::PlatformMissing,
                    format!("platform {} not in the image", absent.join(", ")),
                ));
            } else {
                self.result.note(format!("platform {} not in the image", absent.join(", ")));
            }
        }
    }

    fn wanted(&self) -> String {
        self.opts.platforms.wanted.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// A platform manifest listed by an index.
    fn child(&mut self, desc: &Desc, platform: Option<String>, ancestors: &[Digest]) {
        match self.read_doc(desc) {
            Some(Document::Manifest(m)) => self.manifest(desc, *m, platform, ancestors),
            Some(Document::Index(_)) => self.result.fail(Finding::new(
                Kind::Malformed,
                format!("manifest {}: an index where a manifest was expected", desc.digest),
            )),
            None => {}
        }
    }

    /// One platform manifest: its config and layers; `platform` from the index, or from the config for
    /// a single-platform image.
    fn manifest(&mut self, desc: &Desc, m: manifest::ManifestDoc, platform: Option<String>, ancestors: &[Digest]) {
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
                    self.result.fail(Finding::from_source(&format!("config {}", m.config.digest), &e));
                }
                None
            }
        };
        let mut shown = platform;
        if shown.is_none() && is_image {
            match config.as_deref().and_then(manifest::config_platform) {
                Some(p) => {
                    if !self.opts.platforms.matches(&p) {
                        self.result.fail(Finding::new(
                            Kind::PlatformMissing,
                            format!("no platform matches {} (the image is {p})", self.wanted()),
                        ));
                    }
                    shown = Some(p.to_string());
                }
                None if config.is_none() => {
                    self.result.note("platform filter not applied: the config is not available")
                }
                None => self
                    .result
                    .fail(Finding::new(Kind::Malformed, format!("config {}: no os/architecture", m.config.digest))),
            }
        }
        if mode != BlobMode::Skip {
            for layer in &m.layers {
                if !layer.urls.is_empty()
                    || layer.media_type.contains("nondistributable")
                    || layer.media_type.contains("foreign")
                {
                    self.result.note(format!("foreign layer {} not fetched", layer.digest));
                    continue;
                }
                self.mark(&layer.digest);
                if let Err(e) = self.source.check_blob(self.repo, layer, mode == BlobMode::Verify) {
                    self.result.fail(Finding::from_source(&format!("layer {}", layer.digest), &e));
                }
            }
        }
        self.result.platforms.push(PlatformResult {
            digest: desc.digest.clone(),
            media_type: desc.media_type.clone(),
            platform: Some(shown.unwrap_or_else(|| if is_image { "unknown".into() } else { "artifact".into() })),
            signature: None,
        });
        self.selected.push((desc.clone(), ancestors.to_vec()));
    }

    /// Applies the signature scope (SPEC §6.3) over the selected manifests and the indexes above them.
    fn signatures(&mut self, trust: &Trust, identity: Option<&DockerRef>, hint: bool) {
        if self.selected.is_empty() && self.indexes.is_empty() {
            return;
        }
        if identity.is_none() && hint {
            self.result.fail(Finding::new(
                Kind::IdentityMismatch,
                "the image has no usable name to check signed identities against; name it with --reference REF",
            ));
        }
        let mut outcomes: Vec<(Digest, Outcome)> = Vec::new();
        let mut outcome = |d: &Digest, source: &dyn Source, repo| -> Outcome {
            if let Some((_, o)) = outcomes.iter().find(|(x, _)| x == d) {
                return o.clone();
            }
            let o = check::check(source, repo, identity, d, trust);
            outcomes.push((d.clone(), o.clone()));
            o
        };
        let scope = self.opts.scope;
        let mut reports: Vec<(Digest, SignatureReport)> = Vec::new();
        let mut failures: Vec<Finding> = Vec::new();
        let mut accepted_keys: Vec<String> = Vec::new();
        if scope == Scope::All || (scope == Scope::Auto && !self.indexes.is_empty()) {
            for index in self.indexes.clone() {
                let o = outcome(&index.digest, self.sig_source, self.repo);
                if let Outcome::Accepted(a) = &o {
                    accepted_keys.push(a.signer.clone());
                }
                if let (Scope::All, Outcome::Rejected { kind, message }) = (scope, &o) {
                    failures.push(Finding::new(*kind, format!("index {}: {message}", index.digest)));
                }
                reports.push((index.digest.clone(), report_of(&o)));
            }
        }
        for (desc, ancestors) in self.selected.clone() {
            let own = outcome(&desc.digest, self.sig_source, self.repo);
            let covered = scope == Scope::Auto
                && ancestors.iter().any(|a| matches!(outcome(a, self.sig_source, self.repo), Outcome::Accepted(_)));
            let mut report = report_of(&own);
            match &own {
                Outcome::Accepted(a) => accepted_keys.push(a.signer.clone()),
                Outcome::Rejected { .. } if covered => report.status = "covered-by-index".into(),
                Outcome::Rejected { kind, message } => {
                    let label = self.label(&desc.digest);
                    failures.push(Finding::new(*kind, format!("{label}: {message}")));
                }
            }
            reports.push((desc.digest.clone(), report));
        }
        for p in &mut self.result.platforms {
            if let Some((_, r)) = reports.iter().find(|(d, _)| *d == p.digest) {
                p.signature = Some(r.clone());
            }
        }
        for f in failures {
            self.result.fail(f);
        }
        accepted_keys.sort_unstable();
        accepted_keys.dedup();
        for signer in accepted_keys {
            if !self.result.signed_by.contains(&signer) {
                self.result.signed_by.push(signer);
            }
        }
    }

    fn label(&self, digest: &Digest) -> String {
        match self.result.platforms.iter().find(|p| &p.digest == digest).and_then(|p| p.platform.clone()) {
            Some(p) => format!("{p} {digest}"),
            None => digest.to_string(),
        }
    }
}

fn report_of(o: &Outcome) -> SignatureReport {
    match o {
        Outcome::Accepted(a) => SignatureReport {
            status: "verified".into(),
            scheme: Some(a.scheme.clone()),
            key_sha256: Some(a.signer_sha256.clone()),
            identity: a.identity.clone(),
            identity_bound: a.identity.is_some(),
            rekor: a.rekor,
        },
        Outcome::Rejected { kind, .. } => SignatureReport {
            status: if *kind == Kind::Unsigned { "unsigned".into() } else { "rejected".into() },
            scheme: None,
            key_sha256: None,
            identity: None,
            identity_bound: false,
            rekor: false,
        },
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "no platforms".to_string() } else { items.join(", ") }
}
