//! The command line: clap definitions, turning flags into engine options, and printing. Exit status:
//! 0 every selected image verified, 1 something failed or nothing was verified, 2 airlock could not run.

use crate::imagelist::{self, ListLine};
use crate::listing;
use crate::oci::platform::PlatformFilter;
use crate::reference::DockerRef;
use crate::report::{self, Context, Format};
use crate::signature::blob as blob_signature;
use crate::signature::cert::{self, CertTrust, Matcher, Mode};
use crate::signature::check::Trust;
use crate::signature::identity::IdentityPolicy;
use crate::signature::keys::TrustedKey;
use crate::signature::policy::Policy;
use crate::source::archive::ArchiveOptions;
use crate::source::registry::Registry;
use crate::source::registry::auth::CredentialSources;
use crate::source::registry::client::{self, HttpConfig};
use crate::source::{self, Source};
use crate::verify::{self, BlobMode, Options, Scope, Verification};
use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(name = "airlock", version = crate::VERSION, about = "Verify container image bundles and their sigstore signatures, offline first")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify OCI layouts, skopeo dir: directories and image archives, offline.
    VerifyArchive(VerifyArchive),
    /// hangar `sign validate` compatible: verify the images of a list (against --source PATH).
    Validate(Validate),
    /// hangar compatibility: `airlock sign validate` is `airlock validate`.
    Sign {
        #[command(subcommand)]
        command: SignCommand,
    },
    /// List what a source holds: images, platforms, signatures.
    List(ListArgs),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Print the man page.
    Man,
}

#[derive(Subcommand, Debug)]
enum SignCommand {
    /// Same as `airlock validate`.
    Validate(Validate),
}

#[derive(Args, Debug)]
struct VerifyArchive {
    /// Layouts, dir: directories or archives; several PATHs are one source for signature lookup.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Image list (hangar format): verify exactly these images and report those missing.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Failed-image list (hangar format); written only when something failed.
    #[arg(short = 'o', long = "failed")]
    failed: Option<PathBuf>,
    /// Config and layers: hash them, only check they exist, or not at all.
    #[arg(long, value_enum, default_value = "verify")]
    blobs: BlobMode,
}

#[derive(Args, Debug)]
struct Validate {
    /// Image list (hangar format).
    #[arg(short = 'f', long = "file", required = true)]
    file: PathBuf,
    /// Use a layout or archive instead of a registry.
    #[arg(long)]
    source: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Failed-image list (hangar format); written only when something failed [default: sign-failed.txt].
    #[arg(short = 'o', long = "failed")]
    failed: Option<PathBuf>,
    /// Config and layers: hash them, only check they exist, or not at all [default: verify with
    /// --source, exist for a registry].
    #[arg(long, value_enum)]
    blobs: Option<BlobMode>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// hangar compatibility; no effect (airlock never prompts).
    #[arg(short = 'y', long = "auto-yes")]
    auto_yes: bool,
    /// hangar compatibility; no effect (airlock builds its own policy from the flags).
    #[arg(long)]
    insecure_policy: bool,
    /// hangar compatibility; no effect (no transparency log is required unless --rekor-pubkey is given).
    #[arg(long)]
    insecure_ignore_tlog: bool,
    /// hangar compatibility; no effect (airlock never contacts Rekor).
    #[arg(long)]
    rekor_url: Option<String>,
    /// hangar compatibility; no effect (airlock is always offline towards sigstore services).
    #[arg(long)]
    offline: bool,
    /// hangar compatibility; no effect.
    #[arg(long)]
    hide_log_time: bool,
    /// hangar compatibility: `false` means --signature-scope platform.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    validate_manifest_index: Option<bool>,
}

/// How to reach a registry.
#[derive(Args, Debug)]
struct RegistryArgs {
    /// Verify TLS certificates; `false` also allows self-signed certificates and plain HTTP.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    tls_verify: bool,
    /// Extra CA certificates (`*.crt`), as containers' certs.d.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Auth file (containers auth.json or docker config.json format).
    #[arg(long)]
    authfile: Option<PathBuf>,
    /// Credentials USER:PASS for the registry.
    #[arg(long)]
    creds: Option<String>,
}

impl RegistryArgs {
    fn registry(&self) -> Result<Registry> {
        let explicit = match &self.creds {
            Some(c) => {
                let (u, p) = c.split_once(':').ok_or_else(|| anyhow!("--creds: expected USER:PASS"))?;
                Some((u.to_string(), p.to_string()))
            }
            None => None,
        };
        if let Some(f) = &self.authfile {
            std::fs::metadata(f).with_context(|| format!("--authfile {}", f.display()))?;
        }
        let credentials = CredentialSources { explicit, authfile: self.authfile.clone() };
        let cert_dir = match &self.cert_dir {
            Some(d) => client::cert_dir(d).map_err(|e| anyhow!(e))?,
            None => Vec::new(),
        };
        if !self.tls_verify {
            eprintln!(
                "airlock: warning: --tls-verify=false: registry certificates are not checked and plain HTTP is allowed"
            );
        }
        Ok(Registry::new(HttpConfig {
            tls_verify: self.tls_verify,
            system_roots: std::sync::Arc::new(client::system_roots()),
            cert_dir: std::sync::Arc::new(cert_dir),
            credentials,
        }))
    }
}

#[derive(Args, Debug)]
struct ListArgs {
    /// Layouts, dir: directories, archives, or `docker://REGISTRY/REPO:TAG`.
    #[arg(required = true)]
    paths: Vec<String>,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    /// Time limit for each `docker://` image (`10m`, `30s`).
    #[arg(long, default_value = "10m", value_parser = crate::deadline::parse_duration)]
    timeout: std::time::Duration,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

/// Options both verifying commands share.
#[derive(Args, Debug)]
struct Common {
    /// Trusted public key (PEM); repeatable; any one key may accept a signature.
    #[arg(short = 'p', long = "sigstore-pubkey", visible_short_alias = 'k', visible_alias = "key")]
    keys: Vec<PathBuf>,
    /// containers-policy.json(5): sigstoreSigned (keys), insecureAcceptAnything, reject, by scope.
    #[arg(long, conflicts_with_all = ["keys", "signed_identity", "exact_repository", "rekor_keys"])]
    policy: Option<PathBuf>,
    /// Keyless: a sigstore trusted_root.json (Fulcio CAs and Rekor keys), used offline.
    #[arg(long, conflicts_with_all = ["keys", "policy", "rekor_keys"], requires = "certificate_oidc_issuer_any")]
    trusted_root: Option<PathBuf>,
    /// Keyless: the certificate's identity (SAN email or URI).
    #[arg(long, group = "certificate_identity_any", requires = "trusted_root")]
    certificate_identity: Option<String>,
    /// Keyless: the certificate's identity, as a regular expression.
    #[arg(long, group = "certificate_identity_any", requires = "trusted_root")]
    certificate_identity_regexp: Option<String>,
    /// Keyless: the certificate's OIDC issuer.
    #[arg(long, group = "certificate_oidc_issuer_any", requires = "certificate_identity_any")]
    certificate_oidc_issuer: Option<String>,
    /// Keyless: the certificate's OIDC issuer, as a regular expression.
    #[arg(long, group = "certificate_oidc_issuer_any", requires = "certificate_identity_any")]
    certificate_oidc_issuer_regexp: Option<String>,
    /// Trusted Rekor key: each accepted signature must then carry a Rekor SET bound to it.
    #[arg(long = "rekor-pubkey")]
    rekor_keys: Vec<PathBuf>,
    /// Platforms to check, comma separated (`arm/v7` selects a variant).
    #[arg(short = 'a', long, default_value = "amd64,arm64")]
    arch: String,
    #[arg(long, default_value = "linux")]
    os: String,
    /// Every platform named by --arch/--os must be present in each image.
    #[arg(long)]
    require_platforms: bool,
    /// Replace the registry of every list line (hangar rules).
    #[arg(long)]
    registry: Option<String>,
    /// Replace the project of every list line (hangar rules).
    #[arg(long)]
    project: Option<String>,
    /// Signed identity `exactRepository` (signatures copied from another registry).
    #[arg(long)]
    exact_repository: Option<String>,
    /// match-repo-digest-or-exact, match-exact, match-repository, exact-reference:REF,
    /// exact-repository:REPO, remap:PREFIX=SIGNEDPREFIX.
    #[arg(long)]
    signed_identity: Option<String>,
    /// Names the image of a source entry that carries no name.
    #[arg(long)]
    reference: Option<String>,
    /// Which digests must be signed [default: auto; platform with --policy, as containers-image checks
    /// each instance it copies].
    #[arg(long, value_enum)]
    signature_scope: Option<Scope>,
    /// Parallel images and blobs.
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Structured per-image results; `-` is stdout.
    #[arg(short = 'r', long)]
    report: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Per-image time limit (`10m`, `30s`).
    #[arg(long, default_value = "10m", value_parser = crate::deadline::parse_duration)]
    timeout: std::time::Duration,
    /// Largest zstd window accepted (log2): a memory bound for compressed archives.
    #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u32).range(10..=31))]
    zstd_window_log_max: u32,
    /// A cosign `sign-blob` signature (base64) or bundle over the archive, checked with the -p keys
    /// against the SHA-256 computed in the same pass.
    #[arg(long, value_name = "FILE", requires = "keys")]
    archive_signature: Option<PathBuf>,
    /// The archive's expected SHA-256: hex, or a file in `sha256sum` format (computed in the same pass).
    #[arg(long, value_name = "HEX|FILE")]
    archive_sha256: Option<String>,
    /// Verify a deterministic 1/N of the list (K/N, K from 1).
    #[arg(long)]
    shard: Option<String>,
    /// Verify shard JOB_COMPLETION_INDEX+1 of N (a Kubernetes indexed Job).
    #[arg(long, value_name = "N", conflicts_with = "shard")]
    shard_count: Option<usize>,
    /// Only the summary and failures.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Timing and counts on stderr.
    #[arg(long)]
    debug: bool,
}

impl Common {
    /// `--signature-scope`, or its default: `platform` under `--policy` (an index-only signature is "no
    /// signature" to skopeo and podman), `auto` otherwise.
    fn scope(&self) -> Scope {
        self.signature_scope.unwrap_or(if self.policy.is_some() { Scope::Platform } else { Scope::Auto })
    }

    fn archive_options(&self) -> ArchiveOptions {
        let progress = (!self.quiet && !self.no_progress).then(bytes_progress).flatten();
        ArchiveOptions { zstd_window_log_max: self.zstd_window_log_max, progress }
    }
}

/// Runs airlock with the process arguments; returns the exit status.
pub fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return std::process::ExitCode::from(0);
            }
            eprintln!("airlock: error: {}", report::escape(&format!("{e:#}")));
            std::process::ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::VerifyArchive(v) => {
            let sources = open_all(&v.paths, v.common.archive_options())?;
            let failed = v.failed.map(FailedList::Explicit);
            execute(sources, &v.paths, v.common, v.file.as_deref(), v.blobs, failed, None)
        }
        Command::Validate(v) | Command::Sign { command: SignCommand::Validate(v) } => validate(v),
        Command::List(l) => list(l),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "airlock", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(0)
        }
    }
}

fn validate(mut v: Validate) -> Result<u8> {
    for (given, flag) in [
        (v.auto_yes, "--auto-yes"),
        (v.insecure_policy, "--insecure-policy"),
        (v.insecure_ignore_tlog, "--insecure-ignore-tlog"),
        (v.rekor_url.is_some(), "--rekor-url"),
        (v.offline, "--offline"),
        (v.hide_log_time, "--hide-log-time"),
    ] {
        if given {
            eprintln!("airlock: note: {flag} is accepted for hangar compatibility and has no effect");
        }
    }
    if v.validate_manifest_index == Some(false) {
        eprintln!("airlock: note: --validate-manifest-index=false means --signature-scope platform");
        v.common.signature_scope = Some(Scope::Platform);
    }
    if v.common.keys.is_empty() && v.common.policy.is_none() && v.common.trusted_root.is_none() {
        bail!(
            "sign validate checks signatures: give -p KEY (or --policy FILE, or --trusted-root with \
             --certificate-identity/--certificate-oidc-issuer); for an integrity check alone use \
             airlock verify-archive"
        );
    }
    if let Some(path) = v.source.clone() {
        // A local source is always hashed unless asked otherwise (SPEC §3.4): existence alone would pass a
        // bundle with a corrupt layer.
        let blobs = v.blobs.unwrap_or(BlobMode::Verify);
        let paths = vec![path];
        let sources = open_all(&paths, v.common.archive_options())?;
        let failed = v.failed_list();
        return execute(sources, &paths, v.common, Some(&v.file), blobs, Some(failed), None);
    }
    let blobs = v.blobs.unwrap_or(BlobMode::Exist);
    let registry = v.registry.registry()?;
    let hosts = list_hosts(&v.file, &v.common)?;
    registry.reach(&hosts).map_err(|e| anyhow!(e))?;
    let mode = report::RegistryMode {
        hosts,
        tls_verify: v.registry.tls_verify,
        cert_dir: v.registry.cert_dir.as_ref().map(|d| d.display().to_string()),
    };
    if v.common.jobs.is_none() {
        v.common.jobs = Some(8);
    }
    let sources: Vec<Box<dyn Source>> = vec![Box::new(registry)];
    let failed = v.failed_list();
    execute(sources, &[], v.common, Some(&v.file), blobs, Some(failed), Some(mode))
}

/// Opens every PATH; later parts of a split archive named too are folded into the first.
fn open_all(paths: &[PathBuf], opts: ArchiveOptions) -> Result<Vec<Box<dyn Source>>> {
    paths
        .iter()
        .filter(|p| !source::archive::is_later_part(p))
        .map(|p| source::detect::open(p, opts.clone()).map_err(|e| anyhow!(e)))
        .collect()
}

/// A bytes progress bar for the one pass over a compressed archive, only when stderr is a terminal.
fn bytes_progress() -> Option<source::archive::Progress> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "reading {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec}, ETA {eta}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(std::sync::Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    }))
}

fn load_keys(files: &[PathBuf]) -> Result<Vec<TrustedKey>> {
    files.iter().map(|f| TrustedKey::load(f).with_context(|| format!("key {}", f.display()))).collect()
}

fn identity_policy(common: &Common) -> Result<IdentityPolicy> {
    match (&common.signed_identity, &common.exact_repository) {
        (Some(_), Some(_)) => bail!("--signed-identity and --exact-repository cannot be combined"),
        (Some(spec), None) => IdentityPolicy::parse_cli(spec).map_err(|e| anyhow!("--signed-identity: {e}")),
        (None, Some(repo)) => IdentityPolicy::parse_cli(&format!("exact-repository:{repo}"))
            .map_err(|e| anyhow!("--exact-repository: {e}")),
        (None, None) => Ok(IdentityPolicy::Default),
    }
}

/// access(2) with W_OK: the kernel's answer for this process (root and read-only file systems included),
/// without creating anything in the folder.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call; access(2) only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Checks an explicitly given output path before any work starts.
fn check_writable(path: &Path, flag: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let meta =
        std::fs::metadata(&dir).with_context(|| format!("{flag} {}: folder {}", path.display(), dir.display()))?;
    if !meta.is_dir() || !writable(&dir) {
        bail!("{flag} {}: folder {} is not writable", path.display(), dir.display());
    }
    Ok(())
}

/// `--trusted-root` with `--certificate-identity[-regexp]` and `--certificate-oidc-issuer[-regexp]`.
fn keyless_trust(common: &Common, path: &Path) -> Result<CertTrust> {
    let root = cert::load_trusted_root(path).map_err(|e| anyhow!("--trusted-root {e}"))?;
    let matcher = |exact: &Option<String>, regexp: &Option<String>, flag: &str| -> Result<Matcher> {
        match (exact, regexp) {
            (Some(e), _) => Ok(Matcher::Exact(e.clone())),
            (None, Some(r)) => Matcher::regex(r).map_err(|e| anyhow!("--{flag}-regexp: {e}")),
            (None, None) => bail!("--trusted-root needs --{flag} or --{flag}-regexp"),
        }
    };
    let identity = matcher(&common.certificate_identity, &common.certificate_identity_regexp, "certificate-identity")?;
    let issuer =
        matcher(&common.certificate_oidc_issuer, &common.certificate_oidc_issuer_regexp, "certificate-oidc-issuer")?;
    Ok(CertTrust {
        roots: root.fulcio_roots,
        intermediates: root.fulcio_intermediates,
        rekor_keys: root.rekor_keys,
        mode: Mode::Fulcio { issuer, identity },
    })
}

/// `--archive-sha256`: 64 hex characters, or a `sha256sum`-style file with a line for the archive.
fn expected_archive_sha256(spec: &str, archive: &Path) -> Result<String> {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex(spec) {
        return Ok(spec.to_ascii_lowercase());
    }
    let text = std::fs::read_to_string(spec).with_context(|| format!("--archive-sha256 {spec}"))?;
    let name = archive.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut candidates = text.lines().filter_map(|l| {
        let mut parts = l.split_whitespace();
        let hex = parts.next().filter(|h| is_hex(h))?;
        let file = parts.next().map(|f| f.trim_start_matches('*'));
        Some((
            hex.to_ascii_lowercase(),
            file.map(|f| Path::new(f).file_name().map(|n| n.to_string_lossy().into_owned())),
        ))
    });
    let all: Vec<_> = candidates.by_ref().collect();
    if let Some((hex, _)) = all.iter().find(|(_, f)| f.as_ref().and_then(|f| f.as_deref()) == Some(name.as_str())) {
        return Ok(hex.clone());
    }
    match all.as_slice() {
        [(hex, _)] => Ok(hex.clone()),
        _ => bail!("--archive-sha256 {spec}: no SHA-256 for {name}"),
    }
}

/// Compares the archive's SHA-256 (computed in the verification pass) with the expected one.
fn check_archive_sha256(source: &dyn Source, expected: &str, run: &mut verify::Run) {
    use crate::verify::result::{Finding, ImageResult, Kind};
    let found = source.file_sha256();
    let problem = match found.first() {
        None => Some(format!("{}: no SHA-256 was computed", source.location())),
        Some((path, actual)) if actual != expected => {
            Some(format!("{path}: archive SHA-256 is {actual}, expected {expected}"))
        }
        Some(_) => None,
    };
    if let Some(message) = problem {
        let mut r = ImageResult::new(format!("source {}", source.location()), None, None);
        r.is_source = true;
        r.fail(Finding::new(Kind::Corrupt, message));
        run.results.push(r);
    }
}

fn parse_shard(spec: &str) -> Result<(usize, usize)> {
    let (k, n) = spec.split_once('/').ok_or_else(|| anyhow!("--shard {spec}: expected K/N"))?;
    let (k, n): (usize, usize) = (k.parse()?, n.parse()?);
    if n == 0 || k == 0 || k > n {
        bail!("--shard {spec}: need 1 <= K <= N");
    }
    Ok((k, n))
}

/// The registry hosts a list names (every reading of every line, after `--registry`), each once.
fn list_hosts(path: &Path, common: &Common) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("image list {}", path.display()))?;
    let (lines, _) = imagelist::parse_list(&text);
    let mut hosts: Vec<String> = Vec::new();
    for l in lines.iter().map(|l| l.with_overrides(common.registry.as_deref(), common.project.as_deref())) {
        for c in l.candidates() {
            if !hosts.iter().any(|h| h == c.domain()) {
                hosts.push(c.domain().to_string());
            }
        }
    }
    Ok(hosts)
}

fn read_list(path: &Path, common: &Common) -> Result<Vec<ListLine>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("image list {}", path.display()))?;
    let (lines, warnings) = imagelist::parse_list(&text);
    for w in warnings {
        let warning = format!("{}:{}: {}", path.display(), w.line_no, w.message);
        eprintln!("airlock: warning: {}", report::escape(&warning));
    }
    Ok(lines.iter().map(|l| l.with_overrides(common.registry.as_deref(), common.project.as_deref())).collect())
}

/// Where the failed list goes: a path the user gave (checked before work starts), or `validate`'s
/// default `sign-failed.txt` (a warning when it cannot be written).
enum FailedList {
    Explicit(PathBuf),
    Default(PathBuf),
}

impl Validate {
    fn failed_list(&self) -> FailedList {
        match &self.failed {
            Some(p) => FailedList::Explicit(p.clone()),
            None => FailedList::Default(PathBuf::from("sign-failed.txt")),
        }
    }
}

fn execute(
    sources: Vec<Box<dyn Source>>,
    paths: &[PathBuf],
    common: Common,
    list_file: Option<&Path>,
    blobs: BlobMode,
    failed_list: Option<FailedList>,
    registry: Option<report::RegistryMode>,
) -> Result<u8> {
    let failed_is_default = matches!(failed_list, Some(FailedList::Default(_)));
    let failed = failed_list.map(|f| match f {
        FailedList::Explicit(p) | FailedList::Default(p) => p,
    });
    let keys = load_keys(&common.keys)?;
    let rekor_keys = load_keys(&common.rekor_keys)?;
    if !rekor_keys.is_empty() && keys.is_empty() {
        bail!("--rekor-pubkey needs at least one --sigstore-pubkey");
    }
    let identity = identity_policy(&common)?;
    let platforms = PlatformFilter::parse(&common.arch, &common.os).map_err(|e| anyhow!(e))?;
    let reference = match &common.reference {
        Some(r) => Some(DockerRef::parse(r).map_err(|e| anyhow!("--reference {r}: {e}"))?),
        None => None,
    };
    let list = match list_file {
        Some(p) => Some(read_list(p, &common)?),
        None => None,
    };
    let shard = match (&common.shard, common.shard_count) {
        (Some(spec), _) => Some(parse_shard(spec)?),
        (None, Some(n)) => {
            let index = std::env::var("JOB_COMPLETION_INDEX")
                .context("--shard-count needs JOB_COMPLETION_INDEX (set by a Kubernetes indexed Job)")?;
            let index: usize = index.trim().parse().context("JOB_COMPLETION_INDEX is not a number")?;
            Some(parse_shard(&format!("{}/{n}", index + 1))?)
        }
        (None, None) => None,
    };
    let expected_sha256 = match &common.archive_sha256 {
        Some(spec) => {
            let [path] = paths else { bail!("--archive-sha256 needs exactly one archive PATH") };
            Some(expected_archive_sha256(spec, path)?)
        }
        None => None,
    };
    if let Some(p) = failed.as_ref().filter(|_| !failed_is_default) {
        check_writable(p, "--failed")?;
    }
    if let Some(p) = common.report.as_ref().filter(|p| p.as_os_str() != "-") {
        check_writable(p, "--report")?;
    }
    let source: Box<dyn Source> = if sources.len() == 1 {
        sources.into_iter().next().expect("one")
    } else {
        Box::new(source::multi::Multi::new(sources))
    };
    for (flag, out) in [("--failed", failed.as_ref()), ("--report", common.report.as_ref())] {
        if let Some(p) = out.filter(|p| p.as_os_str() != "-")
            && source::canonical(p).is_some_and(|c| source.contains_path(&c))
        {
            bail!("{flag} {}: the file is inside a source being verified; write it elsewhere", p.display());
        }
    }
    for key in common.keys.iter().chain(&common.rekor_keys) {
        if key.canonicalize().is_ok_and(|k| source.contains_path(&k)) {
            eprintln!(
                "airlock: WARNING: trusted key {} lives inside the source being verified: the bundle would be vouching for itself",
                key.display()
            );
        }
    }
    if (expected_sha256.is_some() || common.archive_signature.is_some()) && source.file_sha256().is_empty() {
        bail!("--archive-sha256 / --archive-signature: {} is not one archive file", source.location());
    }
    if common.archive_signature.is_some() && paths.len() != 1 {
        bail!("--archive-signature needs exactly one archive PATH");
    }
    let archive_signature = match &common.archive_signature {
        Some(f) => Some(std::fs::read(f).with_context(|| format!("--archive-signature {}", f.display()))?),
        None => None,
    };
    let mut targets = verify::plan(source.as_ref(), list.as_deref(), reference.as_ref());
    if let Some((k, n)) = shard {
        targets = targets.into_iter().enumerate().filter(|(i, _)| i % n == k - 1).map(|(_, t)| t).collect();
    }
    let mut ctx = Context {
        paths: paths.iter().map(|p| p.display().to_string()).collect(),
        file_sha256: if common.report.is_some() { source.file_sha256() } else { Vec::new() },
        keys: keys.iter().map(|k| (k.file.display().to_string(), k.fingerprint())).collect(),
        signatures_checked: !keys.is_empty(),
        blobs_checked: blobs != BlobMode::Skip,
        mode: report::Mode {
            command_line: std::env::args().collect(),
            blobs: format!("{blobs:?}").to_lowercase(),
            signature_scope: format!("{:?}", common.scope()).to_lowercase(),
            identity: if common.policy.is_some() { "per --policy requirement".into() } else { identity.to_string() },
            platforms: platforms.wanted.iter().map(|w| w.to_string()).collect(),
            registry,
            duration_seconds: 0.0,
        },
    };
    let policy = match &common.policy {
        Some(p) => Some(Policy::load(p).map_err(|e| anyhow!(e))?),
        None => None,
    };
    if let Some(p) = &policy {
        ctx.signatures_checked = true;
        if source.contains_path(&p.file) {
            eprintln!(
                "airlock: WARNING: policy {} lives inside the source being verified: the bundle would be vouching for itself",
                p.file.display()
            );
        }
    }
    let keyless = match &common.trusted_root {
        Some(path) => Some(keyless_trust(&common, path)?),
        None => None,
    };
    if keyless.is_some() {
        ctx.signatures_checked = true;
    }
    let verification = match (policy, keyless) {
        (Some(p), _) => Some(Verification::Policy(p)),
        (None, Some(certificate)) => Some(Verification::Keys(Trust {
            keys: Vec::new(),
            rekor_keys: Vec::new(),
            identity,
            certificate: Some(Box::new(certificate)),
        })),
        (None, None) => {
            (!keys.is_empty()).then_some(Verification::Keys(Trust { keys, rekor_keys, identity, certificate: None }))
        }
    };
    let mut opts = Options {
        verification,
        platforms,
        require_platforms: common.require_platforms,
        scope: common.scope(),
        blobs,
        jobs: common.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        timeout: Some(common.timeout),
        on_image: None,
    };
    let nothing = targets.is_empty();
    let bar = progress_bar(targets.len(), common.quiet || common.no_progress);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        opts.on_image = Some(Box::new(move |r| {
            bar.set_message(r.reference.clone());
            bar.inc(1);
        }));
    }
    let started = std::time::Instant::now();
    if common.debug {
        eprintln!(
            "airlock: debug: {} image(s) to verify in {}, {} job(s)",
            targets.len(),
            source.location(),
            opts.jobs
        );
    }
    let mut run = verify::run(source.as_ref(), targets, &opts);
    ctx.mode.duration_seconds = started.elapsed().as_secs_f64();
    if let Some(Verification::Policy(p)) = &opts.verification {
        // Policy keys are read when a requirement is evaluated: report the ones that were.
        ctx.keys = p.keys().iter().map(|k| (k.file.display().to_string(), k.fingerprint())).collect();
    }
    if let Some(expected) = &expected_sha256 {
        check_archive_sha256(source.as_ref(), expected, &mut run);
    }
    if let (Some(signature), Some(Verification::Keys(trust))) = (&archive_signature, &opts.verification) {
        let outcome = source
            .file_sha256()
            .first()
            .ok_or_else(|| "no SHA-256 was computed for the archive".to_string())
            .and_then(|(_, hex)| blob_signature::verify(signature, hex, &trust.keys));
        match outcome {
            Ok(signer) => eprintln!("airlock: archive signature verified with {signer}"),
            Err(message) => {
                use crate::verify::result::{Finding, ImageResult, Kind};
                let mut r = ImageResult::new(format!("source {}", source.location()), None, None);
                r.is_source = true;
                r.fail(Finding::new(Kind::BadSignature, format!("archive signature: {message}")));
                run.results.push(r);
            }
        }
    }
    if common.debug {
        eprintln!(
            "airlock: debug: verified in {:.3}s; {} blobs, {} bytes hashed",
            started.elapsed().as_secs_f64(),
            run.blobs,
            run.bytes
        );
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in &run.results {
        if !(common.quiet && r.passed()) {
            writeln!(out, "{}", report::line(r, &ctx))?;
        }
        if !common.quiet {
            for n in &r.notes {
                eprintln!("airlock: note: {}", report::escape(&format!("{}: {n}", r.reference)));
            }
        }
    }
    writeln!(out, "{}", report::summary(&run, &ctx))?;
    if nothing {
        writeln!(out, "nothing verified")?;
    }
    if let Some(path) = &common.report {
        let text = report::render(&run, &ctx, common.format);
        if path.as_os_str() == "-" {
            out.write_all(text.as_bytes())?;
        } else {
            report::write_atomic(path, text.as_bytes()).with_context(|| format!("--report {}", path.display()))?;
        }
    }
    drop(out);
    if let Some(path) = &failed {
        match report::write_failed(path, &run) {
            Ok(true) => eprintln!("airlock: failed images written to {}", path.display()),
            Ok(false) if path.exists() => {
                eprintln!("airlock: warning: {} is from an earlier run (nothing failed this time)", path.display())
            }
            Ok(false) => {}
            Err(e) if failed_is_default => eprintln!("airlock: warning: could not write {}: {e}", path.display()),
            Err(e) => return Err(anyhow!(e).context(format!("--failed {}", path.display()))),
        }
    }
    Ok(if run.failed() > 0 || nothing { 1 } else { 0 })
}

/// A progress bar on stderr, only when stderr is a terminal (indicatif hides it otherwise).
fn progress_bar(images: usize, off: bool) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if off || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(images as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} images, ETA {eta} {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}

fn list(args: ListArgs) -> Result<u8> {
    let mut rows = Vec::new();
    let (remote, local): (Vec<&String>, Vec<&String>) = args.paths.iter().partition(|p| p.starts_with("docker://"));
    if !remote.is_empty() {
        let registry = args.registry.registry()?;
        for r in remote {
            let reference = DockerRef::parse(&r["docker://".len()..]).map_err(|e| anyhow!("{r}: {e}"))?;
            let row = crate::deadline::scope(Some(args.timeout), || -> Result<listing::Row> {
                let desc = registry.resolve(&reference).map_err(|e| anyhow!("{reference}: {e}"))?;
                let desc = desc.ok_or_else(|| anyhow!("{reference}: not found"))?;
                Ok(listing::row(&registry, reference.to_string(), Some(&reference), &desc))
            })?;
            rows.push(row);
        }
    }
    if !local.is_empty() {
        let paths: Vec<PathBuf> = local.iter().map(PathBuf::from).collect();
        let sources = open_all(&paths, ArchiveOptions::default())?;
        let source: Box<dyn Source> = if sources.len() == 1 {
            sources.into_iter().next().expect("one")
        } else {
            Box::new(source::multi::Multi::new(sources))
        };
        for e in source.entries() {
            let name = e
                .full_names
                .first()
                .map(|r| r.to_string())
                .or(e.stored_name.clone())
                .unwrap_or_else(|| "(unnamed)".into());
            let own = source.for_origin(&e.origin).unwrap_or(source.as_ref());
            match &e.descriptor {
                Ok(desc) => rows.push(listing::row(own, name, e.identity(), desc)),
                Err(err) => rows.push(listing::broken(name, err)),
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Table => {
            for r in &rows {
                let problem = r.problem.as_deref().map(|p| format!("  ({p})")).unwrap_or_default();
                let platforms = if r.platforms.is_empty() { "-".to_string() } else { r.platforms.join(",") };
                let row = format!(
                    "{}\t{}\t{platforms}\t{} bytes\t{} signature(s){problem}",
                    r.reference, r.digest, r.bytes, r.signatures
                );
                writeln!(out, "{}", report::escape(&row))?;
            }
        }
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    Ok(0)
}
