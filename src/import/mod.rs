//! `airlock import PATH… --to REGISTRY[/PROJECT]` (SPEC §1): after the full verification, push exactly the
//! images that passed, by digest, with their signatures. For each image, in this order:
//! - its blobs (HEAD first, so an interrupted import resumes; mounted from another repository of the
//!   target when this run placed them there; else uploaded, hashed as they are sent and committed only
//!   when they are the descriptor's bytes);
//! - its manifests and indexes by digest, children first;
//! - its signatures: `.sig` manifests under their tags, referrers with their `subject` (and cosign's
//!   `sha256-<hex>` tag when the registry keeps no referrers itself);
//! - its tags last, so a tag never points at a partial image.
//!
//! A failed image is never pushed; an image whose push fails is failed (kind `error`, or `corrupt` when
//! the source no longer holds what was verified).

pub mod graph;

use crate::digest::Digest;
use crate::finding::{Finding, Kind};
use crate::imagelist;
use crate::reference::DockerRef;
use crate::session::Message;
use crate::source::registry::Registry;
use crate::source::registry::push::{CHUNK, Placed, Repository};
use crate::source::{Source, SourceError};
use crate::verify::result::ImageResult;
use graph::{Graph, Link};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where to import, and how.
pub struct Import {
    /// `--to REGISTRY[/PROJECT]`, split.
    pub registry: String,
    pub project: Option<String>,
    pub dry_run: bool,
}

impl Import {
    /// `--to REGISTRY[/PROJECT]`: a registry host (with its port), and at most one project segment.
    pub fn parse_to(to: &str, dry_run: bool) -> Result<Import, String> {
        let (registry, project) = match to.split_once('/') {
            Some((r, p)) => (r, Some(p)),
            None => (to, None),
        };
        if !crate::reference::valid_domain(registry) {
            return Err(format!("--to {to}: {registry:?} is not a registry host (REGISTRY[:PORT][/PROJECT])"));
        }
        if let Some(p) = project.filter(|p| p.contains('/') || !crate::reference::valid_repository_path(p)) {
            return Err(format!("--to {to}: {p:?} is not one project name (REGISTRY[:PORT][/PROJECT])"));
        }
        Ok(Import { registry: registry.to_string(), project: project.map(str::to_string), dry_run })
    }

    /// An image's name on the target: hangar's `--registry`/`--project` rules applied to its reference.
    pub fn target(&self, reference: &str) -> Result<DockerRef, String> {
        let (lines, warnings) = imagelist::parse_list(reference);
        let line = lines.into_iter().next().ok_or_else(|| match warnings.first() {
            Some(w) => format!("{reference}: no name to import it under: {}", w.message),
            None => format!("{reference}: no name to import it under"),
        })?;
        let moved = line.with_overrides(Some(&self.registry), self.project.as_deref());
        moved.hangar_docker_ref().map_err(|e| format!("{reference}: {e}"))
    }
}

/// What was pushed of one image (the report's `pushed`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Pushed {
    /// The name on the target registry.
    pub reference: String,
    /// Manifests and indexes put by digest, the top one last.
    pub digests: Vec<String>,
    /// Tags put (the image's, after every digest).
    pub tags: Vec<String>,
    /// Signature manifests put: `.sig` tags and referrer digests.
    pub signatures: Vec<String>,
    pub blobs_uploaded: usize,
    pub blobs_present: usize,
    pub blobs_mounted: usize,
    /// Bytes sent.
    pub bytes: u64,
    /// `--dry-run`: nothing was sent; this is what would be.
    pub dry_run: bool,
}

/// `airlock import`'s target: the registry, how it is reached, and the push's progress in bytes.
pub struct ImportRequest {
    pub to: Import,
    pub registry: crate::session::RegistryRequest,
    pub progress: Option<Progress>,
}

/// Progress of the push in bytes: (sent, planned).
pub type Progress = std::sync::Arc<dyn Fn(u64, u64) + Send + Sync>;

/// A passed image's target name and top digest, or why it cannot be imported.
type Targeted = Result<(DockerRef, Digest), Finding>;

/// State shared by the push jobs.
struct Shared<'a> {
    /// Every PATH: signature blobs are read from any of them, an image's own from its PATH.
    source: &'a dyn Source,
    registry: &'a Registry,
    /// Blobs this run placed, by digest: the repository that holds them (for cross-repository mounts).
    placed: Mutex<HashMap<Digest, String>>,
    sent: AtomicU64,
    planned: u64,
    progress: Option<Progress>,
}

/// Pushes every passed result of `results` (read from `source`) to the target, recording in each what was
/// pushed or why it failed.
pub fn run(
    source: &dyn Source,
    registry: &Registry,
    import: &Import,
    results: &mut [ImageResult],
    jobs: usize,
    progress: Option<Progress>,
) {
    // names first, for every image (cheap); each graph is read by the job that pushes it, so memory holds
    // one graph per job, not one per image
    let mut targets: Vec<Option<Targeted>> = results.iter().map(|r| r.passed().then(|| target(import, r))).collect();
    refuse_collisions(&mut targets);
    // the bar's total: the verified config and layer bytes (an index's other platforms and the signatures
    // come on top)
    let passed = results.iter().zip(&targets).filter(|(_, t)| matches!(t, Some(Ok(_))));
    let planned = passed.flat_map(|(r, _)| &r.platforms).map(|p| p.bytes).sum();
    let shared =
        Shared { source, registry, placed: Mutex::new(HashMap::new()), sent: AtomicU64::new(0), planned, progress };
    let work = |(result, target): (&mut ImageResult, Option<Targeted>)| {
        let outcome = match target {
            None => return,
            Some(Err(f)) => Err(f),
            Some(Ok(_)) if crate::interrupt::interrupted() => {
                Err(Finding::new(Kind::Error, "not imported: interrupted"))
            }
            Some(Ok((target, _))) => graph_of(source, result).and_then(|graph| match import.dry_run {
                true => Ok((dry_run(&target, &graph), graph.unselected)),
                false => push(&shared, &target, &graph).map(|p| (p, graph.unselected)),
            }),
        };
        match outcome {
            Ok((pushed, unselected)) => {
                if !unselected.is_empty() {
                    result.note(format!(
                        "the index lists {} outside --arch/--os: pushed with it, their bytes checked, their own \
                         signatures not (give --arch to check them)",
                        unselected.join(", ")
                    ));
                }
                result.pushed = Some(pushed);
            }
            Err(f) => result.fail(f),
        }
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build();
    let pairs = results.iter_mut().zip(targets);
    match pool {
        Ok(pool) => pool.install(|| pairs.collect::<Vec<_>>().into_par_iter().for_each(work)),
        Err(_) => pairs.for_each(work),
    }
}

/// The import's registry client, its host reached once before any work (exit 2 when it cannot be); a dry
/// run sends nothing, so it reaches nothing.
pub fn reach(import: &ImportRequest, on_message: &(dyn Fn(Message) + Send + Sync)) -> Result<Registry, String> {
    let registry = crate::session::registry(&import.registry)?;
    if import.to.dry_run {
        return Ok(registry);
    }
    if !import.registry.tls_verify {
        on_message(Message::Warning(
            "--tls-verify=false: registry certificates are not checked and plain HTTP is allowed".into(),
        ));
    }
    registry.reach(std::slice::from_ref(&import.to.registry))?;
    Ok(registry)
}

/// Pushes what passed; a damaged source pushes nothing (its damage may be in what an image is read from).
pub fn push_passed(
    source: &dyn Source,
    registry: &Registry,
    import: &ImportRequest,
    found: &mut crate::verify::Run,
    jobs: usize,
    on_message: &(dyn Fn(Message) + Send + Sync),
) {
    if !found.damage.is_empty() {
        on_message(Message::Warning(format!(
            "nothing imported: {} is damaged (see the DAMAGED lines)",
            source.info().location
        )));
        for r in found.results.iter_mut().filter(|r| r.passed()) {
            r.fail(crate::finding::Finding::new(Kind::Error, "not imported: the source is damaged"));
        }
        return;
    }
    let progress = import.progress.clone();
    run(source, registry, &import.to, &mut found.results, jobs, progress);
}

/// Two different images that the renaming sends to one name (`a.io/x/app:v1` and `b.io/y/app:v1` with
/// `--to REG/P`) would leave the tag to whichever is pushed last: neither is imported.
fn refuse_collisions(targets: &mut [Option<Targeted>]) {
    let mut by_name: HashMap<String, Vec<(usize, Digest)>> = HashMap::new();
    for (i, t) in targets.iter().enumerate() {
        if let Some(Ok((target, top))) = t {
            by_name.entry(target.to_string()).or_default().push((i, top.clone()));
        }
    }
    for (name, images) in by_name {
        let first = &images[0].1;
        if images.iter().all(|(_, d)| d == first) {
            continue;
        }
        let digests: Vec<String> = images.iter().map(|(_, d)| d.to_string()).collect();
        for (i, _) in &images {
            let why = format!(
                "ambiguous: not imported: {} different images would be imported as {name} ({})",
                images.len(),
                digests.join(", ")
            );
            targets[*i] = Some(Err(Finding::new(Kind::Malformed, why)));
        }
    }
}

/// A passed image's name on the target and its top digest.
fn target(import: &Import, r: &ImageResult) -> Targeted {
    let fail = |e: String| Finding::new(Kind::Error, format!("not imported: {e}"));
    let target = import.target(&r.reference).map_err(fail)?;
    let top = r.top.as_ref().ok_or_else(|| fail("its top manifest was not located".into()))?;
    Ok((target, top.digest.clone()))
}

/// The graph of one passed image, read again from its source.
fn graph_of(source: &dyn Source, r: &ImageResult) -> Result<Graph, Finding> {
    let top = r.top.as_ref().ok_or_else(|| Finding::new(Kind::Error, "not imported: no top manifest"))?;
    let own = r.path.as_deref().and_then(|p| source.for_origin(p)).unwrap_or(source);
    let repo = r.names.first().and_then(|n| DockerRef::parse(n).ok());
    let verified: HashSet<Digest> = r.platforms.iter().map(|p| p.digest.clone()).collect();
    let mut graph = graph::collect(own, source, repo.as_ref(), top, &verified)
        .map_err(|e| e.finding(&format!("not imported: reading it again from {}", own.info().location)))?;
    graph.origin = r.path.clone();
    Ok(graph)
}

fn dry_run(target: &DockerRef, graph: &Graph) -> Pushed {
    let mut pushed = Pushed { reference: target.to_string(), dry_run: true, ..Pushed::default() };
    pushed.digests = graph.nodes.iter().map(|n| n.desc.digest.to_string()).collect();
    pushed.signatures = graph.signatures.iter().map(|(n, l)| shown(n, l)).collect();
    pushed.tags = target.tag().map(str::to_string).into_iter().collect();
    pushed.bytes = graph.bytes();
    pushed.blobs_uploaded = graph.blobs().len();
    pushed
}

fn shown(node: &graph::Node, link: &Link) -> String {
    match link {
        Link::Tag(tag) => tag.clone(),
        Link::Referrer(_) => node.desc.digest.to_string(),
    }
}

/// Pushes one image in the order of the module's rules.
fn push(shared: &Shared, target: &DockerRef, graph: &Graph) -> Result<Pushed, Finding> {
    let at = format!("import to {}", target.name());
    let fail = |e: SourceError| e.finding(&at);
    let repo = shared.registry.repository(target.domain(), target.path()).map_err(fail)?;
    let mut pushed = Pushed { reference: target.to_string(), ..Pushed::default() };
    let mut buf = Vec::with_capacity(CHUNK);
    let own = graph.origin.as_deref().and_then(|o| shared.source.for_origin(o)).unwrap_or(shared.source);
    for (desc, signature) in graph.blobs() {
        let from = if signature { shared.source } else { own };
        let placed = place_blob(shared, from, &repo, desc, &mut buf).map_err(fail)?;
        match placed {
            Placed::Present => pushed.blobs_present += 1,
            Placed::Mounted => pushed.blobs_mounted += 1,
            Placed::Uploaded => {
                pushed.blobs_uploaded += 1;
                pushed.bytes += desc.size;
            }
        }
    }
    for node in &graph.nodes {
        repo.put_manifest(&node.desc.digest.to_string(), &node.desc.media_type, &node.bytes).map_err(fail)?;
        pushed.digests.push(node.desc.digest.to_string());
    }
    for (node, link) in &graph.signatures {
        push_signature(&repo, node, link).map_err(fail)?;
        pushed.signatures.push(shown(node, link));
    }
    if let (Some(tag), Some(top)) = (target.tag(), graph.nodes.last()) {
        repo.put_manifest(tag, &top.desc.media_type, &top.bytes).map_err(fail)?;
        pushed.tags.push(tag.to_string());
    }
    Ok(pushed)
}

/// One blob into `repo`, from the source through the digest check, or mounted from the repository this
/// run placed it in.
fn place_blob(
    shared: &Shared,
    source: &dyn Source,
    repo: &Repository,
    desc: &crate::oci::Desc,
    buf: &mut Vec<u8>,
) -> Result<Placed, SourceError> {
    let mount = lock(&shared.placed).get(&desc.digest).filter(|r| **r != repo.path).cloned();
    let tick = |n: u64| {
        let sent = shared.sent.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(p) = &shared.progress {
            p(sent, shared.planned);
        }
    };
    let mut open = || source.open_blob(None, desc);
    let placed = repo.put_blob(desc, &mut open, mount.as_deref(), buf, &tick)?;
    lock(&shared.placed).entry(desc.digest.clone()).or_insert_with(|| repo.path.clone());
    Ok(placed)
}

/// A signature manifest under its tag, or as a referrer (with cosign's tag when the registry keeps no
/// referrers of its own).
fn push_signature(repo: &Repository, node: &graph::Node, link: &Link) -> Result<(), SourceError> {
    let digest = node.desc.digest.to_string();
    let kept = repo.put_manifest(&digest, &node.desc.media_type, &node.bytes)?;
    match link {
        Link::Tag(tag) => {
            // a `.sig` tag the registry already holds (signatures made at the site) keeps its signatures:
            // ours are added to its layers, as `cosign sign` adds one
            let bytes = match repo.get_manifest(tag, &node.desc.media_type)? {
                Some((_, existing)) if existing != node.bytes => graph::merged_signatures(&existing, node)
                    .map_err(|e| SourceError::Malformed(format!("{}:{tag} on the registry: {e}", repo.path)))?,
                _ => node.bytes.clone(),
            };
            repo.put_manifest(tag, &node.desc.media_type, &bytes)?;
        }
        Link::Referrer(_) if kept => {}
        Link::Referrer(subject) => {
            let tag = subject.referrers_tag();
            let existing = repo.get_manifest(&tag, crate::oci::OCI_INDEX)?.map(|(_, b)| b);
            let index = graph::referrers_index(existing.as_deref(), node)
                .map_err(|e| SourceError::Malformed(format!("{}/{tag}: {e}", repo.path)))?;
            repo.put_manifest(&tag, crate::oci::OCI_INDEX, &index)?;
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
