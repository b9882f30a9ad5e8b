//! Flags → one library `Request`: defaults that depend on the command, hangar's spellings, and the
//! checks that need no I/O (shards, credentials). Pure but for reading the environment.

use super::args::{Blobs, Common, Import, RegistryArgs, ReportFormat, SignatureScope, Validate, VerifyArchive};
use super::output;
use airlock::import::ImportRequest;
use airlock::session::{Keyless, Message, Pattern, RegistryRequest, Request, Sources, TrustRequest};
use airlock::source::archive::ArchiveOptions;
use airlock::verify::{BlobMode, Scope};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::ValueEnum as _;
use std::path::{Path, PathBuf};

/// Where the failed list goes: a path the user gave (checked before work starts), or `validate`'s
/// default `sign-failed.txt` (a warning when it cannot be written).
pub enum FailedList {
    Explicit(PathBuf),
    Default(PathBuf),
}

/// What the command line asks beyond the library's `Request`: how to show and write the results.
pub struct Presentation {
    pub failed: Option<FailedList>,
    pub report: Option<PathBuf>,
    pub format: airlock::report::Format,
    pub quiet: bool,
    /// A progress bar (on a TTY only).
    pub progress: bool,
}

pub fn blob_mode(b: Blobs) -> BlobMode {
    match b {
        Blobs::Verify => BlobMode::Verify,
        Blobs::Exist => BlobMode::Exist,
        Blobs::Skip => BlobMode::Skip,
    }
}

pub fn verify_archive(v: VerifyArchive, debug: bool) -> Result<(Request, Presentation)> {
    let failed = v.failed.clone().map(FailedList::Explicit);
    let jobs = default_jobs();
    request(v.common, Sources::Paths(v.paths), v.file, blob_mode(v.blobs), jobs, failed, debug)
}

/// `import`: verify-archive's request (every blob hashed), with the target registry to push what passes.
pub fn import(i: Import, debug: bool) -> Result<(Request, Presentation)> {
    let to = airlock::import::Import::parse_to(&i.to, i.dry_run).map_err(|e| anyhow!(e))?;
    let registry = registry_request(&i.registry, debug)?;
    let failed = i.failed.clone().map(FailedList::Explicit);
    let spool = if i.dry_run { None } else { Some(spool(&i)?) };
    let (mut req, presentation) =
        request(i.common, Sources::Paths(i.paths), i.file, BlobMode::Verify, default_jobs(), failed, debug)?;
    req.archive_options.spool = spool;
    let progress = presentation.progress.then(|| output::bytes_progress("pushing")).flatten();
    req.import = Some(ImportRequest { to, registry, progress });
    Ok((req, presentation))
}

/// The private folder a compressed archive's blobs are kept in between their hashing and their push: under
/// `--spool-dir` (never inside a PATH: the bundle would hold it), at most `--spool-max` bytes.
fn spool(i: &Import) -> Result<std::sync::Arc<airlock::source::archive::Spool>> {
    let parent = i.spool_dir.clone().unwrap_or_else(std::env::temp_dir);
    let canonical = parent.canonicalize().with_context(|| format!("--spool-dir {}", parent.display()))?;
    for p in &i.paths {
        if p.is_dir() && p.canonicalize().is_ok_and(|p| canonical.starts_with(p)) {
            bail!("--spool-dir {}: inside {}, a PATH being imported", parent.display(), p.display());
        }
    }
    let spool = airlock::source::archive::Spool::new(&parent, i.spool_max)
        .with_context(|| format!("--spool-dir {}", parent.display()))?;
    Ok(std::sync::Arc::new(spool))
}

pub fn validate(mut v: Validate, debug: bool) -> Result<(Request, Presentation)> {
    let h = &v.hangar;
    for (given, flag) in [
        (h.auto_yes, "--auto-yes"),
        (h.insecure_policy, "--insecure-policy"),
        (h.insecure_ignore_tlog, "--insecure-ignore-tlog"),
        (h.rekor_url.is_some(), "--rekor-url"),
        (h.offline, "--offline"),
        (h.hide_log_time, "--hide-log-time"),
    ] {
        if given {
            output::message(&Message::Note(format!("{flag} is accepted for hangar compatibility and has no effect")));
        }
    }
    if h.validate_manifest_index == Some(false) {
        output::message(&Message::Note("--validate-manifest-index=false means --signature-scope platform".into()));
        v.common.signature_scope = Some(SignatureScope::Platform);
    }
    let c = &v.common;
    if c.keys.is_empty() && c.policy.is_none() && c.trusted_root.is_none() && c.cluster_policy.is_empty() {
        bail!(
            "sign validate checks signatures: give -p KEY (or --policy FILE, or --trusted-root with \
             --certificate-identity/--certificate-oidc-issuer); for an integrity check alone use \
             airlock verify-archive"
        );
    }
    let failed = Some(match &v.failed {
        Some(p) => FailedList::Explicit(p.clone()),
        None => FailedList::Default(PathBuf::from("sign-failed.txt")),
    });
    match v.source {
        // A local source is always hashed unless asked otherwise (SPEC §3.4): existence alone would pass
        // a bundle with a corrupt layer.
        Some(path) => {
            let blobs = blob_mode(v.blobs.unwrap_or(Blobs::Verify));
            request(v.common, Sources::Paths(vec![path]), Some(v.file), blobs, default_jobs(), failed, debug)
        }
        None => {
            let registry = registry_request(&v.registry, debug)?;
            let blobs = blob_mode(v.blobs.unwrap_or(Blobs::Exist));
            request(v.common, Sources::Registry(registry), Some(v.file), blobs, 8, failed, debug)
        }
    }
}

/// How to reach a registry, from `--tls-verify`, `--cert-dir`, `--authfile` and `--creds`/`--creds-file`;
/// with `--debug`, each request is traced on stderr.
pub fn registry_request(r: &RegistryArgs, debug: bool) -> Result<RegistryRequest> {
    let trace: Option<airlock::source::registry::trace::Trace> =
        debug.then(|| std::sync::Arc::new(|line: String| output::message(&Message::Debug(line))) as _);
    Ok(RegistryRequest {
        tls_verify: r.tls_verify,
        cert_dir: r.cert_dir.clone(),
        authfile: r.authfile.clone(),
        creds: credentials(r)?,
        trace,
    })
}

/// `--creds USER:PASS`, or the first line of `--creds-file FILE` (`-`: stdin). No error repeats what was
/// given: it may hold the password.
fn credentials(r: &RegistryArgs) -> Result<Option<(String, String)>> {
    let (line, flag) = match (&r.creds, &r.creds_file) {
        (Some(c), _) => (c.clone(), "--creds".to_string()),
        (None, Some(f)) => {
            let flag = format!("--creds-file {}", f.display());
            let mut line = String::new();
            if f.as_os_str() == "-" {
                std::io::stdin().read_line(&mut line).with_context(|| format!("{flag}: reading stdin"))?;
            } else {
                let text = std::fs::read_to_string(f).with_context(|| flag.clone())?;
                line = text.lines().next().unwrap_or_default().to_string();
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            (line.strip_suffix('\r').unwrap_or(line).to_string(), flag)
        }
        (None, None) => return Ok(None),
    };
    match line.split_once(':') {
        Some((u, p)) => Ok(Some((u.to_string(), p.to_string()))),
        None if flag == "--creds" => bail!("--creds: expected USER:PASS (no ':' in the value)"),
        None if line.is_empty() => bail!("{flag}: the first line is empty; expected USER:PASSWORD"),
        None => bail!("{flag}: the first line is not USER:PASSWORD (no ':' in it)"),
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn request(
    c: Common,
    sources: Sources,
    list: Option<PathBuf>,
    blobs: BlobMode,
    default_jobs: usize,
    failed: Option<FailedList>,
    debug: bool,
) -> Result<(Request, Presentation)> {
    report_format(c.report.as_deref(), c.format)?;
    if let (Some(r), Some(_)) = (&c.reference, &list) {
        // The plan names images by the list's lines alone: --reference would be ignored.
        bail!(
            "--reference {r} names nothing: with -f LIST the list lines name the images (a one-line list \
             names an unnamed image itself); drop --reference"
        );
    }
    if let (true, Some(list)) = (c.strict_list, &list) {
        strict_list(list)?;
    }
    if let Some(FailedList::Explicit(p)) = &failed {
        output::check_writable(p, "--failed")?;
    }
    if let Some(p) = c.report.as_ref().filter(|p| p.as_os_str() != "-") {
        output::check_writable(p, "--report")?;
    }
    let mut outputs = Vec::new();
    if let Some(FailedList::Explicit(p) | FailedList::Default(p)) = &failed {
        outputs.push(("--failed", p.clone()));
    }
    if let Some(p) = c.report.as_ref().filter(|p| p.as_os_str() != "-") {
        outputs.push(("--report", p.clone()));
    }
    let show_progress = !c.quiet && !c.no_progress;
    let scope = match c.signature_scope {
        Some(SignatureScope::Auto) => Scope::Auto,
        Some(SignatureScope::Platform) => Scope::Platform,
        Some(SignatureScope::All) => Scope::All,
        // containers-image checks each instance it copies: an index-only signature is "no signature"
        None if c.policy.is_some() => Scope::Platform,
        None => Scope::Auto,
    };
    let request = Request {
        sources,
        list,
        registry_override: c.registry.clone(),
        project_override: c.project.clone(),
        reference: c.reference.clone(),
        trust: trust(&c)?,
        arch: c.arch.clone(),
        os: c.os.clone(),
        require_platforms: c.require_platforms,
        scope,
        blobs,
        jobs: c.jobs.unwrap_or(default_jobs),
        timeout: c.timeout,
        shard: shard(&c)?,
        archive_sha256: c.archive_sha256.clone(),
        archive_signature: c.archive_signature.clone(),
        digests: c.digests.clone(),
        archive_options: ArchiveOptions {
            zstd_window_log_max: c.zstd_window_log_max,
            progress: show_progress.then(|| output::bytes_progress("hashing")).flatten(),
            spool: None,
        },
        outputs,
        command_line: std::env::args().collect(),
        on_result: None,
        import: None,
        on_message: Box::new(move |m| {
            if debug || !matches!(m, Message::Debug(_)) {
                output::message(&m)
            }
        }),
    };
    let format = report_format(c.report.as_deref(), c.format)?;
    let presentation = Presentation { failed, report: c.report, format, quiet: c.quiet, progress: show_progress };
    Ok((request, presentation))
}

/// `--strict-list`: a list line the run would skip is an error, before any work starts.
fn strict_list(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("image list {}", path.display()))?;
    let (_, warnings) = airlock::imagelist::parse_list(&text);
    let Some(first) = warnings.first() else { return Ok(()) };
    let at = format!("{}:{}: {}", path.display(), first.line_no, first.message);
    if warnings.len() == 1 {
        bail!("--strict-list: {at}");
    }
    let numbers: Vec<String> = warnings.iter().map(|w| w.line_no.to_string()).collect();
    bail!("--strict-list: {} lines would be skipped (lines {}); the first: {at}", warnings.len(), numbers.join(", "))
}

/// `--format`, or the format `--report`'s extension names; never a guess: an extension that names no
/// format, or `--format` without `--report`, is an error.
fn report_format(report: Option<&Path>, format: Option<ReportFormat>) -> Result<airlock::report::Format> {
    use airlock::report::Format;
    let chosen = match (report, format) {
        (None, Some(f)) => {
            let name = f.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
            bail!("--format {name} needs --report FILE (or --report - for stdout)")
        }
        (None, None) => ReportFormat::Json,
        (Some(_), Some(f)) => f,
        (Some(p), None) if p.as_os_str() == "-" => ReportFormat::Json,
        (Some(p), None) => {
            let ext = p.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            match ext.as_deref() {
                Some("json") => ReportFormat::Json,
                Some("yaml" | "yml") => ReportFormat::Yaml,
                Some("csv") => ReportFormat::Csv,
                Some("xml") => ReportFormat::Junit,
                Some(e) => bail!(
                    "--report {}: the extension \".{e}\" names no report format; give --format json|yaml|csv|junit",
                    p.display()
                ),
                None => {
                    bail!(
                        "--report {}: no extension to take the format from; give --format json|yaml|csv|junit",
                        p.display()
                    )
                }
            }
        }
    };
    Ok(match chosen {
        ReportFormat::Json => Format::Json,
        ReportFormat::Yaml => Format::Yaml,
        ReportFormat::Csv => Format::Csv,
        ReportFormat::Junit => Format::Junit,
    })
}

fn trust(c: &Common) -> Result<TrustRequest> {
    let signed_identity = match (&c.signed_identity, &c.exact_repository) {
        (Some(_), Some(_)) => bail!("--signed-identity and --exact-repository cannot be combined"),
        (Some(spec), None) => Some(spec.clone()),
        (None, Some(repo)) => Some(format!("exact-repository:{repo}")),
        (None, None) => None,
    };
    let pattern = |exact: &Option<String>, regexp: &Option<String>, flag: &str| -> Result<Pattern> {
        match (exact, regexp) {
            (Some(e), _) => Ok(Pattern::Exact(e.clone())),
            (None, Some(r)) => Ok(Pattern::Regexp(r.clone())),
            (None, None) => bail!("--trusted-root needs --{flag} or --{flag}-regexp"),
        }
    };
    let keyless = match &c.trusted_root {
        Some(_) if !c.cluster_policy.is_empty() => None,
        Some(root) => Some(Keyless {
            trusted_root: root.clone(),
            identity: pattern(&c.certificate_identity, &c.certificate_identity_regexp, "certificate-identity")?,
            issuer: pattern(&c.certificate_oidc_issuer, &c.certificate_oidc_issuer_regexp, "certificate-oidc-issuer")?,
        }),
        None => None,
    };
    Ok(TrustRequest {
        keys: c.keys.clone(),
        rekor_keys: c.rekor_keys.clone(),
        policy: c.policy.clone(),
        cluster_policies: c.cluster_policy.clone(),
        cluster_trusted_root: c.trusted_root.clone().filter(|_| !c.cluster_policy.is_empty()),
        keyless,
        signed_identity,
    })
}

/// `--shard K/N`, or `--shard-count N` with `JOB_COMPLETION_INDEX` (a Kubernetes indexed Job).
fn shard(c: &Common) -> Result<Option<(usize, usize)>> {
    let parse = |spec: &str| -> Result<(usize, usize)> {
        let (k, n) = spec.split_once('/').ok_or_else(|| anyhow!("--shard {spec}: expected K/N"))?;
        let (k, n): (usize, usize) = (k.parse()?, n.parse()?);
        if n == 0 || k == 0 || k > n {
            bail!("--shard {spec}: need 1 <= K <= N");
        }
        Ok((k, n))
    };
    match (&c.shard, c.shard_count) {
        (Some(spec), _) => Ok(Some(parse(spec)?)),
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX")
                .context("--shard-count needs JOB_COMPLETION_INDEX (set by a Kubernetes indexed Job)")?;
            let index: usize = index.trim().parse().context("JOB_COMPLETION_INDEX is not a number")?;
            Ok(Some(parse(&format!("{}/{n}", index + 1))?))
        }
        (None, None) => Ok(None),
    }
}
