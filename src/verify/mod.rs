//! The verification engine (SPEC §3): resolve each target to a descriptor, walk index → manifests →
//! blobs → signatures through the `Source` trait, and return results as data.

pub mod result;
mod scope;
mod targets;
mod walk;
pub use walk::survey;

use crate::digest::Digest;
use crate::oci::platform::PlatformFilter;
use crate::signature::check::Trust;
use crate::source::{Damage, Source};
use rayon::prelude::*;
use result::{ImageResult, SourceDamage};
use std::collections::HashSet;
use std::sync::Mutex;
pub use targets::{Subject, Target, plan};

/// Index nesting deeper than this is refused (SPEC §8).
pub const MAX_DEPTH: usize = 8;
/// The walk of one image stops after this many descriptors (SPEC §8).
pub const MAX_WALK: usize = 100_000;

/// `--blobs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobMode {
    /// Hash every config and layer.
    Verify,
    /// Only check that they exist with the right size.
    Exist,
    /// Manifests and signatures only.
    Skip,
}

/// `--signature-scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each platform signed itself or through a signed index that lists it.
    Auto,
    /// Each platform manifest signed itself.
    Platform,
    /// The index and every platform each signed.
    All,
}

/// A callback run after each image.
/// Called as each target is decided, with its place in the plan and its results (from the worker threads).
pub type ImageHook = Box<dyn Fn(usize, &[ImageResult]) + Send + Sync>;

/// What signatures must satisfy: keys from the command line, or a containers policy.
pub enum Verification {
    Keys(Trust),
    Policy(crate::signature::policy::Policy),
    /// `--cluster-policy`: what the cluster's admission controller would admit.
    Cluster(crate::admission::ClusterPolicies),
}

pub struct Options {
    pub verification: Option<Verification>,
    pub platforms: PlatformFilter,
    pub require_platforms: bool,
    pub scope: Scope,
    pub blobs: BlobMode,
    pub jobs: usize,
    /// Per-image time limit (`--timeout`): the walk and every network request for the image stop when
    /// it is up.
    pub timeout: Option<std::time::Duration>,
    /// Called after each image, from the worker threads (the CLI's progress bar).
    pub on_image: Option<ImageHook>,
    /// `--digests`: each image's top digest must be the one listed for its name.
    pub digests: Option<std::sync::Arc<crate::digests::Digests>>,
}

/// Everything one run found.
pub struct Run {
    pub results: Vec<ImageResult>,
    /// Damage of the sources that no image reported, in every PATH.
    pub damage: Vec<SourceDamage>,
    pub blobs: u64,
    pub bytes: u64,
}

impl Run {
    pub fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.passed()).count()
    }

    /// How many PATHs are damaged.
    pub fn damaged_sources(&self) -> usize {
        let mut paths: Vec<&str> = self.damage.iter().map(|d| d.path.as_str()).collect();
        paths.sort_unstable();
        paths.dedup();
        paths.len()
    }
}

/// What every image of a run shares: manifests checked once per run, and the (PATH, digest) pairs an
/// image has read, so its damage is not reported twice.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) documents: walk::Memo,
    seen: Mutex<HashSet<(String, Digest)>>,
}

impl Shared {
    pub(crate) fn mark(&self, origin: &str, d: &Digest) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).insert((origin.to_string(), d.clone()));
    }

    fn has_seen(&self, damage: &Damage) -> bool {
        let Some(d) = &damage.digest else { return false };
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).contains(&(damage.origin.clone(), d.clone()))
    }
}

/// Verifies every target, then reports source damage no image accounted for: in every PATH, even
/// where another PATH holds a good copy of the same blob.
pub fn run(source: &dyn Source, targets: Vec<Target>, opts: &Options) -> Run {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.jobs.max(1)).build();
    let work = || {
        let scan = source.scan(opts.blobs == BlobMode::Verify);
        let shared = Shared::default();
        let per_target: Vec<Vec<ImageResult>> = targets
            .par_iter()
            .enumerate()
            .with_max_len(1)
            .map(|(i, t)| {
                // after Ctrl-C no new image starts; the report says the run is incomplete
                if crate::interrupt::interrupted() {
                    return Vec::new();
                }
                let mut results =
                    crate::deadline::scope(opts.timeout, || walk::verify_target(source, t, opts, &shared));
                if let Some(digests) = &opts.digests {
                    results.iter_mut().for_each(|r| digests.check(r));
                }
                if let Some(hook) = &opts.on_image {
                    hook(i, &results);
                }
                results
            })
            .collect();
        let results: Vec<ImageResult> = per_target.into_iter().flatten().collect();
        let damage = scan.damage.into_iter().filter(|d| !shared.has_seen(d)).map(as_record).collect();
        Run { results, damage, blobs: scan.blobs, bytes: scan.bytes }
    };
    match pool {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

fn as_record(d: Damage) -> SourceDamage {
    SourceDamage {
        path: d.origin,
        entry: d.entry,
        digest: d.digest,
        kind: d.error.kind(),
        message: d.error.to_string(),
        mismatch: d.error.mismatch().cloned(),
    }
}
