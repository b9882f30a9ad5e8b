//! One run, from a [`Request`] (what the command line asked, already parsed into values) to a [`Run`]
//! (everything found, as data): open the sources, load the trust, read the list, plan and shard the
//! targets, verify, and check the archive's own SHA-256 and signature. The binary renders the `Run`.

use crate::digest::Digest;
use crate::finding::{Kind, Mismatch};
use crate::imagelist::{self, ListLine};
use crate::oci::platform::PlatformFilter;
use crate::reference::DockerRef;
use crate::report::{Context, Mode, RegistryMode};
use crate::signature::blob as blob_signature;
use crate::signature::check::Trust;
use crate::source::archive::ArchiveOptions;
use crate::source::registry::Registry;
use crate::source::registry::auth::CredentialSources;
use crate::source::registry::client::HttpConfig;
use crate::source::registry::tls as airlock_tls;
use crate::source::{self, Source};
use crate::verify::result::{ImageResult, SourceDamage};
use crate::verify::{self, BlobMode, ImageHook, Options, Scope, Verification};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What to verify, and how.
pub struct Request {
    pub sources: Sources,
    /// The image list (`-f`), with `--registry`/`--project` overrides.
    pub list: Option<PathBuf>,
    pub registry_override: Option<String>,
    pub project_override: Option<String>,
    /// `--reference`: names an entry that carries no name.
    pub reference: Option<String>,
    pub trust: TrustRequest,
    pub arch: String,
    pub os: String,
    pub require_platforms: bool,
    pub scope: Scope,
    pub blobs: BlobMode,
    pub jobs: usize,
    pub timeout: Duration,
    pub shard: Option<(usize, usize)>,
    pub archive_sha256: Option<String>,
    pub archive_signature: Option<PathBuf>,
    /// `--digests FILE`.
    pub digests: Option<PathBuf>,
    pub archive_options: ArchiveOptions,
    /// Files the run will write (`--failed`, `--report`), by flag: never inside a source.
    pub outputs: Vec<(&'static str, PathBuf)>,
    pub command_line: Vec<String>,
    /// Called with each image's result as soon as it and every image before it in the plan are decided
    /// (SPEC §7: lines as they happen, in a stable order), with the facts a line is written from.
    pub on_result: Option<ResultHook>,
    /// Warnings and notes for the operator, as they arise.
    pub on_message: Box<dyn Fn(Message) + Send + Sync>,
    /// `airlock import`: where the images that pass are pushed after the verification.
    pub import: Option<crate::import::ImportRequest>,
}

/// What the operator is told besides the results.
/// See [`Request::on_result`].
/// Called with one image's result, the facts its line is written from, and the number of targets in the plan.
pub type ResultHook = Box<dyn Fn(&ImageResult, &Context, usize) + Send + Sync>;

/// Results that arrive out of plan order wait here until those before them are in.
struct InOrder {
    next: usize,
    ready: std::collections::BTreeMap<usize, Vec<ImageResult>>,
}

/// The engine's hook: hands results to `on_result` in plan order, each as soon as it can be.
fn in_order(on_result: ResultHook, facts: Context, planned: usize) -> ImageHook {
    let state = std::sync::Mutex::new(InOrder { next: 0, ready: Default::default() });
    Box::new(move |i, results| {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.ready.insert(i, results.to_vec());
        while let Some(done) = {
            let next = s.next;
            s.ready.remove(&next)
        } {
            done.iter().for_each(|r| on_result(r, &facts, planned));
            s.next += 1;
        }
    })
}

pub enum Message {
    Warning(String),
    Note(String),
    Debug(String),
}

pub enum Sources {
    /// Layouts and archives; several PATHs are one source for signature lookup.
    Paths(Vec<PathBuf>),
    Registry(RegistryRequest),
}

/// How to reach a registry.
pub struct RegistryRequest {
    pub tls_verify: bool,
    pub cert_dir: Option<PathBuf>,
    pub authfile: Option<PathBuf>,
    pub creds: Option<(String, String)>,
    /// `--debug`: each request traced here, credentials redacted.
    pub trace: Option<crate::source::registry::trace::Trace>,
}

/// Where signatures are trusted from.
#[derive(Default)]
pub struct TrustRequest {
    pub keys: Vec<PathBuf>,
    pub rekor_keys: Vec<PathBuf>,
    pub policy: Option<PathBuf>,
    /// `--cluster-policy` files, and the `--trusted-root` their keyless authorities are checked against.
    pub cluster_policies: Vec<PathBuf>,
    pub cluster_trusted_root: Option<PathBuf>,
    pub keyless: Option<Keyless>,
    /// `--signed-identity` or `--exact-repository` (as `exact-repository:REPO`).
    pub signed_identity: Option<String>,
}

impl TrustRequest {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.policy.is_none() && self.keyless.is_none()
    }
}

/// `--trusted-root` with the certificate's identity and issuer.
pub struct Keyless {
    pub trusted_root: PathBuf,
    pub identity: Pattern,
    pub issuer: Pattern,
}

/// An exact string, or a regular expression that must match the whole value.
pub enum Pattern {
    Exact(String),
    Regexp(String),
}

/// Everything a run found, and the facts the report records.
pub struct Run {
    /// The images' results and the sources' damage.
    pub found: verify::Run,
    pub facts: Context,
    /// No target at all: the run verified nothing.
    pub nothing: bool,
}

impl Run {
    /// 0 every selected image verified, 1 something failed, a source is damaged, or nothing was verified.
    pub fn exit_code(&self) -> u8 {
        if self.facts.incomplete {
            return 130;
        }
        if self.found.failed() > 0 || !self.found.damage.is_empty() || self.nothing { 1 } else { 0 }
    }
}

/// Runs the request. `Err`: airlock could not run (exit 2), with the message.
pub fn run(req: Request) -> Result<Run, String> {
    let started = std::time::Instant::now();
    let trust = crate::trust::load(&req.trust)?;
    let platforms = PlatformFilter::parse(&req.arch, &req.os)?;
    let reference = req.reference.as_deref().map(|r| DockerRef::parse(r).map_err(|e| format!("--reference {r}: {e}")));
    let reference = reference.transpose()?;
    let (list, list_lines_skipped, list_record) = match &req.list {
        Some(p) => read_list(p, &req)?,
        None => (None, 0, None),
    };
    let (source, paths, registry) = open(&req, list.as_deref())?;
    let target = req.import.as_ref().map(|i| crate::import::reach(i, &req.on_message)).transpose()?;
    check_reference(&req, list.is_some(), source.as_ref())?;
    check_outputs(&req, source.as_ref())?;
    warn_self_vouching(&req, source.as_ref());
    let expected_sha256 = expected_archive_sha256(&req, &paths, source.as_ref())?;
    let read_signature =
        |f: &PathBuf| std::fs::read(f).map_err(|e| format!("--archive-signature {}: {e}", f.display()));
    let archive_signature = req.archive_signature.as_ref().map(read_signature).transpose()?;
    let digests = req.digests.as_deref().map(crate::digests::Digests::load).transpose()?.map(Arc::new);
    let (targets, empty_shard) = plan(&req, source.as_ref(), list.as_deref(), reference.as_ref(), digests.as_deref());
    let mut facts =
        context(&req, source.as_ref(), &trust, &platforms, &paths, registry, (list_lines_skipped, list_record));
    let nothing = targets.is_empty() && !empty_shard;
    let planned = targets.len();
    let (location, jobs) = (source.info().location, req.jobs);
    (req.on_message)(Message::Debug(format!("{planned} image(s) to verify in {location}, {jobs} job(s)")));
    // an import decides each image after its push: its line waits for that
    let (on_image, after_push) = match &target {
        None => (req.on_result.map(|f| in_order(f, facts.clone(), planned)), None),
        Some(_) => (None, req.on_result),
    };
    let opts = Options {
        verification: trust.verification,
        platforms,
        require_platforms: req.require_platforms,
        scope: req.scope,
        blobs: req.blobs,
        jobs: req.jobs,
        timeout: Some(req.timeout),
        on_image,
        digests,
    };
    let mut run = verify::run(source.as_ref(), targets, &opts);
    if let Some(note) = crate::hints::identity(&run.results) {
        (req.on_message)(Message::Note(note));
    }
    facts.mode.duration_seconds = started.elapsed().as_secs_f64();
    facts.incomplete = crate::interrupt::interrupted();
    if let Some(Verification::Policy(p)) = &opts.verification {
        // Policy keys are read when a requirement is evaluated: report the ones that were.
        facts.keys = p.keys().iter().map(|k| (k.file.display().to_string(), k.fingerprint())).collect();
    }
    let checks = Checks { expected_sha256, archive_signature, verification: opts.verification.as_ref() };
    finish(&req.on_message, source.as_ref(), &checks, &mut facts, &mut run);
    if let (Some(import), Some(registry)) = (&req.import, &target) {
        crate::import::push_passed(source.as_ref(), registry, import, &mut run, req.jobs, &req.on_message);
        facts.incomplete = crate::interrupt::interrupted();
        facts.mode.duration_seconds = started.elapsed().as_secs_f64();
        if let Some(hook) = &after_push {
            run.results.iter().for_each(|r| hook(r, &facts, planned));
        }
    }
    let (secs, blobs, bytes) = (started.elapsed().as_secs_f64(), run.blobs, run.bytes);
    (req.on_message)(Message::Debug(format!("verified in {secs:.3}s; {blobs} blobs, {bytes} bytes hashed")));
    Ok(Run { found: run, facts, nothing })
}

/// The facts the report records about the run, before its results.
fn context(
    req: &Request,
    source: &dyn Source,
    trust: &crate::trust::LoadedTrust,
    platforms: &PlatformFilter,
    paths: &[PathBuf],
    registry: Option<RegistryMode>,
    list: (usize, Option<(String, String)>),
) -> Context {
    Context {
        paths: paths.iter().map(|p| p.display().to_string()).collect(),
        file_sha256: source.info().files,
        keys: trust.keys.iter().map(|k| (k.file.display().to_string(), k.fingerprint())).collect(),
        signatures_checked: trust.verification.is_some(),
        archive_signature: None,
        incomplete: false,
        list_lines_skipped: list.0,
        blobs_checked: req.blobs == BlobMode::Verify,
        list: list.1,
        mode: Mode {
            command_line: req.command_line.clone(),
            blobs: format!("{:?}", req.blobs).to_lowercase(),
            signature_scope: format!("{:?}", req.scope).to_lowercase(),
            identity: trust.identity.clone(),
            platforms: platforms.wanted.iter().map(|w| w.to_string()).collect(),
            registry,
            duration_seconds: 0.0,
        },
    }
}

/// The checks of the source as a whole, after its images.
struct Checks<'a> {
    expected_sha256: Option<String>,
    archive_signature: Option<Vec<u8>>,
    verification: Option<&'a Verification>,
}

/// The archive's own SHA-256 and signature, and the packages' signatures over their manifests.
fn finish(
    on_message: &(dyn Fn(Message) + Send + Sync),
    source: &dyn Source,
    checks: &Checks,
    facts: &mut Context,
    run: &mut verify::Run,
) {
    if let Some(expected) = &checks.expected_sha256 {
        check_archive_sha256(source, expected, run);
    }
    if let (Some(signature), Some(Verification::Keys(trust))) = (&checks.archive_signature, checks.verification) {
        facts.archive_signature = check_archive_signature(source, signature, trust, run);
    }
    crate::packages::check_signatures(source, checks.verification, run, on_message);
}

/// `--reference` names the image of an entry that carries no name: when there is none, it names nothing.
fn check_reference(req: &Request, listed: bool, source: &dyn Source) -> Result<(), String> {
    match &req.reference {
        Some(r) if !listed && source.entries().iter().all(|e| !e.identities().is_empty()) => Err(format!(
            "--reference {r} names nothing: every image in {} already carries a name; drop --reference",
            source.info().location
        )),
        _ => Ok(()),
    }
}

/// `--shard K/N`: every N-th target from the K-th; whether this shard is empty while the run is not (more
/// pods than images: nothing to do, which is not a failure of the Job).
fn shard(targets: Vec<verify::Target>, req: &Request) -> (Vec<verify::Target>, bool) {
    let Some((k, n)) = req.shard else { return (targets, false) };
    let all = targets.len();
    let mine: Vec<_> = targets.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, t)| t).collect();
    let empty = mine.is_empty() && all > 0;
    if empty {
        (req.on_message)(Message::Note(format!("nothing to verify in shard {k}/{n} ({all} image(s) in {n} shards)")));
    }
    (mine, empty)
}

/// The run's targets (with a failing one for each `--digests` image the source lacks, when no list
/// decides), then this shard's share; `true` when the shard has none of them.
fn plan(
    req: &Request,
    source: &dyn Source,
    list: Option<&[ListLine]>,
    reference: Option<&DockerRef>,
    digests: Option<&crate::digests::Digests>,
) -> (Vec<verify::Target>, bool) {
    let mut targets = verify::plan(source, list, reference);
    if let (Some(d), None) = (digests, list) {
        targets.extend(d.missing_targets(&targets));
    }
    shard(targets, req)
}

/// The list's lines (after `--registry`/`--project`), how many were skipped, and the list file with its
/// SHA-256 as read.
type ListRead = (Option<Vec<ListLine>>, usize, Option<(String, String)>);

/// Reads `-f`, warning about each line it skips.
fn read_list(path: &Path, req: &Request) -> Result<ListRead, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("image list {}: {e}", path.display()))?;
    let mut hasher = crate::digest::Hasher::new(crate::digest::Algorithm::Sha256);
    hasher.update(text.as_bytes());
    let (lines, warnings) = imagelist::parse_list(&text);
    for w in &warnings {
        (req.on_message)(Message::Warning(format!("{}:{}: {}", path.display(), w.line_no, w.message)));
    }
    let lines = lines
        .iter()
        .map(|l| l.with_overrides(req.registry_override.as_deref(), req.project_override.as_deref()))
        .collect();
    let record = (path.display().to_string(), hasher.finish().hex().to_string());
    Ok((Some(lines), warnings.len(), Some(record)))
}

/// The opened source, its PATHs (none for a registry), and how a registry is reached.
type Opened = (Box<dyn Source>, Vec<PathBuf>, Option<RegistryMode>);

/// Opens the sources: every PATH (later parts of a split archive folded into the first), or the
/// registry, each of whose hosts is reached once before any image is checked.
fn open(req: &Request, list: Option<&[ListLine]>) -> Result<Opened, String> {
    match &req.sources {
        Sources::Paths(paths) => {
            let sources = open_paths(paths, &req.archive_options)?;
            Ok((one_source(sources), paths.clone(), None))
        }
        Sources::Registry(r) => {
            if !r.tls_verify {
                (req.on_message)(Message::Warning(
                    "--tls-verify=false: registry certificates are not checked and plain HTTP is allowed".into(),
                ));
            }
            let registry = registry(r)?;
            let hosts = list_hosts(list.unwrap_or_default());
            registry.reach(&hosts)?;
            let mode = RegistryMode {
                hosts,
                tls_verify: r.tls_verify,
                cert_dir: r.cert_dir.as_ref().map(|d| d.display().to_string()),
            };
            Ok((Box::new(registry), Vec::new(), Some(mode)))
        }
    }
}

/// Every PATH opened by content; later parts of a split archive named too are folded into the first.
pub fn open_paths(paths: &[PathBuf], opts: &ArchiveOptions) -> Result<Vec<Box<dyn Source>>, String> {
    paths
        .iter()
        .filter(|p| !source::archive::is_later_part(p) && !source::zarf::split::is_later_part(p))
        .map(|p| source::detect::open(p, opts.clone()).map_err(|e| e.to_string()))
        .collect()
}

/// One source, or several as one for signature lookup.
pub fn one_source(sources: Vec<Box<dyn Source>>) -> Box<dyn Source> {
    match <[Box<dyn Source>; 1]>::try_from(sources) {
        Ok([one]) => one,
        Err(many) => Box::new(source::multi::Multi::new(many)),
    }
}

/// The registry client for a request.
pub fn registry(r: &RegistryRequest) -> Result<Registry, String> {
    if let Some(f) = &r.authfile {
        std::fs::metadata(f).map_err(|e| format!("--authfile {}: {e}", f.display()))?;
    }
    let credentials = CredentialSources { explicit: r.creds.clone(), authfile: r.authfile.clone() };
    let cert_dir = match &r.cert_dir {
        Some(d) => airlock_tls::cert_dir(d)?,
        None => Vec::new(),
    };
    Ok(Registry::new(HttpConfig {
        tls_verify: r.tls_verify,
        system_roots: std::sync::Arc::new(airlock_tls::system_roots()),
        cert_dir: std::sync::Arc::new(cert_dir),
        credentials,
        trace: r.trace.clone(),
    }))
}

/// The registry hosts a list names (every reading of every line), each once.
fn list_hosts(lines: &[ListLine]) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for c in lines.iter().flat_map(ListLine::candidates) {
        if !hosts.iter().any(|h| h == c.domain()) {
            hosts.push(c.domain().to_string());
        }
    }
    hosts
}

/// An output file inside a source would change what is being verified (SPEC §8).
fn check_outputs(req: &Request, source: &dyn Source) -> Result<(), String> {
    let info = source.info();
    for (flag, p) in &req.outputs {
        if info.contains(p) {
            return Err(format!(
                "{flag} {}: the file is inside a source being verified; write it elsewhere",
                p.display()
            ));
        }
    }
    Ok(())
}

/// A trusted key or policy inside the source: the bundle would be vouching for itself.
fn warn_self_vouching(req: &Request, source: &dyn Source) {
    let t = &req.trust;
    let info = source.info();
    for (what, file) in
        t.keys.iter().chain(&t.rekor_keys).map(|k| ("trusted key", k)).chain(t.policy.iter().map(|p| ("policy", p)))
    {
        if file.canonicalize().is_ok_and(|k| info.contains(&k)) {
            (req.on_message)(Message::Warning(format!(
                "{what} {} lives inside the source being verified: the bundle would be vouching for itself",
                file.display()
            )));
        }
    }
}

/// `--archive-sha256`: 64 hex characters, or a `sha256sum`-style file with a line for the archive.
fn expected_archive_sha256(req: &Request, paths: &[PathBuf], source: &dyn Source) -> Result<Option<String>, String> {
    let info = source.info();
    if (req.archive_sha256.is_some() || req.archive_signature.is_some()) && info.files.is_empty() {
        return Err(format!("--archive-sha256 / --archive-signature: {} is not one archive file", info.location));
    }
    if req.archive_signature.is_some() && paths.len() != 1 {
        return Err("--archive-signature needs exactly one archive PATH".into());
    }
    let Some(spec) = &req.archive_sha256 else { return Ok(None) };
    let [archive] = paths else { return Err("--archive-sha256 needs exactly one archive PATH".into()) };
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex(spec) {
        return Ok(Some(spec.to_ascii_lowercase()));
    }
    let text = std::fs::read_to_string(spec).map_err(|e| format!("--archive-sha256 {spec}: {e}"))?;
    let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let all: Vec<(String, Option<String>)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let hex = parts.next().filter(|h| is_hex(h))?;
            let file = parts.next().map(|f| f.trim_start_matches('*'));
            let file = file.and_then(|f| Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned()));
            Some((hex.to_ascii_lowercase(), file))
        })
        .collect();
    if let Some((hex, _)) = all.iter().find(|(_, f)| f.as_deref() == Some(name.as_str())) {
        return Ok(Some(hex.clone()));
    }
    // A file of one bare hash (`NAME.sha256` holding only the hex) is about the archive; a line naming
    // another file never is (`sha256sum -c` would not use it either).
    match all.as_slice() {
        [(hex, None)] => Ok(Some(hex.clone())),
        _ => Err(format!("--archive-sha256 {spec}: no line for {name} (the file names {} other file(s))", all.len())),
    }
}

/// A failure of the archive file itself, as damage of the source.
fn archive_failure(source: &dyn Source, kind: Kind, message: String, mismatch: Option<Mismatch>) -> SourceDamage {
    let path = source.info().location;
    SourceDamage { entry: path.clone(), path, digest: None, kind, message, mismatch }
}

/// Compares the archive's SHA-256 (computed in the verification pass) with the expected one.
fn check_archive_sha256(source: &dyn Source, expected: &str, run: &mut verify::Run) {
    let info = source.info();
    let sha256 = |hex: &str| Digest::parse(&format!("sha256:{hex}")).ok();
    let damage = match info.files.first() {
        None => Some(archive_failure(source, Kind::Error, format!("{}: no SHA-256 was computed", info.location), None)),
        Some((path, actual)) if actual != expected => {
            let mismatch =
                sha256(expected).zip(sha256(actual)).map(|(expected, actual)| Mismatch::Digest { expected, actual });
            let message = format!("{path}: archive SHA-256 is {actual}, expected {expected}");
            Some(archive_failure(source, Kind::Corrupt, message, mismatch))
        }
        Some(_) => None,
    };
    run.damage.extend(damage);
}

/// `--archive-signature`: a cosign `sign-blob` signature over the archive, checked against the digest
/// of the one pass; returns who signed it (key file or certificate identity), for the audit record.
fn check_archive_signature(
    source: &dyn Source,
    signature: &[u8],
    trust: &Trust,
    run: &mut verify::Run,
) -> Option<String> {
    let outcome = source
        .info()
        .files
        .first()
        .ok_or_else(|| "no SHA-256 was computed for the archive".to_string())
        .and_then(|(_, hex)| blob_signature::verify(signature, hex, trust));
    match outcome {
        Ok(signer) => Some(signer),
        Err(message) => {
            run.damage.push(archive_failure(source, Kind::BadSignature, format!("archive signature: {message}"), None));
            None
        }
    }
}
