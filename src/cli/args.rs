//! The command line as clap sees it: commands, flags grouped under help headings, their defaults.
//! Nothing here decides anything; `request.rs` turns these values into a library `Request`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "airlock",
    version = airlock::VERSION,
    about = "Verify container image bundles and their sigstore signatures, offline first"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Timing and counts on stderr; accepted before the subcommand (hangar's placement) or after it
    /// [default: off].
    #[arg(long, global = true, help_heading = "Output")]
    pub debug: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify OCI layouts, skopeo dir: directories and image archives, offline.
    #[command(after_help = super::man::VERIFY_ARCHIVE_EXAMPLES)]
    VerifyArchive(Box<VerifyArchive>),
    /// hangar `sign validate` compatible: verify the images of a list (against --source PATH).
    #[command(after_help = super::man::VALIDATE_EXAMPLES)]
    Validate(Box<Validate>),
    /// hangar compatibility: `airlock sign validate` is `airlock validate`.
    Sign {
        #[command(subcommand)]
        command: SignCommand,
    },
    /// Verify one file (or `sha256:HEX`) against a sigstore bundle, offline (the sigstore-conformance
    /// verify-bundle protocol).
    #[command(visible_alias = "verify-bundle", after_help = super::man::VERIFY_BLOB_EXAMPLES)]
    VerifyBlob(Box<VerifyBlob>),
    /// Verify PATHs as verify-archive does, then push exactly the images that passed to a registry, by
    /// digest, with their signatures; tags last.
    #[command(after_help = super::man::IMPORT_EXAMPLES)]
    Import(Box<Import>),
    /// List what a source holds: images, platforms, signatures.
    #[command(after_help = super::man::LIST_EXAMPLES)]
    List(ListArgs),
    /// Work with reports: `airlock report merge r1.json r2.json … -o all.json` joins the shards of one run.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
    /// Print the man page: the tool's, or one subcommand's (`airlock man verify-archive`).
    Man {
        /// verify-archive, validate, verify-blob or list.
        subcommand: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct VerifyBlob {
    /// The signed file, or `sha256:<64 hex>` (when that is not a path); for a DSSE bundle, its in-toto subject.
    pub file_or_digest: String,
    /// The sigstore bundle (v0.1, v0.2 or v0.3).
    #[arg(long, help_heading = "Input")]
    pub bundle: PathBuf,
    /// A trusted public key, for a bundle signed with a key (repeatable: any one may verify it).
    #[arg(long, short = 'k', visible_alias = "key", help_heading = "Trust")]
    pub keys: Vec<PathBuf>,
    /// A sigstore trusted_root.json: Fulcio CAs, transparency logs, CT logs and timestamp authorities.
    #[arg(long, help_heading = "Trust")]
    pub trusted_root: Option<PathBuf>,
    /// The certificate's identity (SAN email or URI), exactly.
    #[arg(long, conflicts_with = "certificate_identity_regexp", help_heading = "Identity")]
    pub certificate_identity: Option<String>,
    /// The certificate's identity, as a regular expression matching the whole value.
    #[arg(long, help_heading = "Identity")]
    pub certificate_identity_regexp: Option<String>,
    /// The certificate's OIDC issuer, exactly.
    #[arg(long, conflicts_with = "certificate_oidc_issuer_regexp", help_heading = "Identity")]
    pub certificate_oidc_issuer: Option<String>,
    /// The certificate's OIDC issuer, as a regular expression matching the whole value.
    #[arg(long, help_heading = "Identity")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// sigstore-conformance's staging switch: airlock has no built-in roots, so give --trusted-root instead.
    #[arg(long, hide = true)]
    pub staging: bool,
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Join the JSON reports of one run's shards (`--shard K/N`) into one audit record; reports of different
    /// runs (version, keys, sources, options), overlapping shards or a missing shard are refused.
    Merge {
        /// The shards' JSON reports.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The merged report (`-` for stdout).
        #[arg(short = 'o', long = "output", required = true)]
        output: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum SignCommand {
    /// Same as `airlock validate`.
    Validate(Box<Validate>),
}

#[derive(Args, Debug)]
pub struct VerifyArchive {
    /// Layouts, dir: directories or archives; several PATHs are one source for signature lookup.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Image list (hangar format): verify exactly these images and report those missing.
    #[arg(short = 'f', long = "file", help_heading = "Input")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Failed-image list (hangar format); written only when something failed.
    #[arg(short = 'o', long = "failed", help_heading = "Output")]
    pub failed: Option<PathBuf>,
    /// Config and layers: hash them, only check they exist, or not at all.
    #[arg(long, value_enum, default_value = "verify", help_heading = "Input")]
    pub blobs: Blobs,
}

#[derive(Args, Debug)]
pub struct Import {
    /// Layouts, dir: directories or archives; several PATHs are one source for signature lookup.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The registry to push to, and the project that replaces each image's (hangar's --registry and
    /// --project rules): `registry.local:5000` or `registry.local:5000/mirror`.
    #[arg(long, value_name = "REGISTRY[/PROJECT]", help_heading = "Import")]
    pub to: String,
    /// Verify, then print what would be pushed; nothing is sent.
    #[arg(long, help_heading = "Import")]
    pub dry_run: bool,
    /// Where a compressed archive's blobs wait, in a private folder removed at the end, between their
    /// hashing and their push [default: $TMPDIR, or /tmp].
    #[arg(long, value_name = "DIR", help_heading = "Import")]
    pub spool_dir: Option<PathBuf>,
    /// At most this much is spooled, with a unit (`K`, `M`, `G`, `T`: powers of 1024); a blob that does not
    /// fit is not imported, and says so.
    #[arg(long, value_name = "SIZE", default_value = "64G", value_parser = parse_size, help_heading = "Import")]
    pub spool_max: u64,
    /// Image list (hangar format): verify and import exactly these images and report those missing.
    #[arg(short = 'f', long = "file", help_heading = "Input")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Failed-image list (hangar format); written only when something failed or was not imported.
    #[arg(short = 'o', long = "failed", help_heading = "Output")]
    pub failed: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct Validate {
    /// Image list (hangar format).
    #[arg(short = 'f', long = "file", required = true, help_heading = "Input")]
    pub file: PathBuf,
    /// Use a layout or archive instead of a registry.
    #[arg(long, help_heading = "Input")]
    pub source: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Failed-image list (hangar format); written only when something failed [default: sign-failed.txt].
    #[arg(short = 'o', long = "failed", help_heading = "Output")]
    pub failed: Option<PathBuf>,
    /// Config and layers: hash them, only check they exist, or not at all [default: verify with
    /// --source, exist for a registry].
    #[arg(long, value_enum, help_heading = "Input")]
    pub blobs: Option<Blobs>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub hangar: HangarFlags,
}

/// hangar v2 flags accepted so its command lines run unchanged.
#[derive(Args, Debug)]
#[command(next_help_heading = "hangar compatibility")]
pub struct HangarFlags {
    /// No effect (airlock never prompts).
    #[arg(short = 'y', long = "auto-yes")]
    pub auto_yes: bool,
    /// No effect (airlock builds its own policy from the flags).
    #[arg(long)]
    pub insecure_policy: bool,
    /// No effect (no transparency log is required unless --rekor-pubkey is given).
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// No effect (airlock never contacts Rekor).
    #[arg(long)]
    pub rekor_url: Option<String>,
    /// No effect (airlock is always offline towards sigstore services).
    #[arg(long)]
    pub offline: bool,
    /// No effect.
    #[arg(long)]
    pub hide_log_time: bool,
    /// `false` means --signature-scope platform.
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub validate_manifest_index: Option<bool>,
}

/// How to reach a registry.
#[derive(Args, Debug)]
#[command(next_help_heading = "Registry")]
pub struct RegistryArgs {
    /// Verify TLS certificates; `false` also allows self-signed certificates and plain HTTP.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Extra CA certificates (`*.crt`), as containers' certs.d.
    #[arg(long)]
    pub cert_dir: Option<PathBuf>,
    /// Auth file (containers auth.json or docker config.json format).
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// Credentials USER:PASS for the registry [default: from the auth files].
    #[arg(long)]
    pub creds: Option<String>,
    /// Credentials from a file whose first line is USER:PASSWORD (`-` reads it from stdin), so the
    /// password stays out of the process list [default: from the auth files].
    #[arg(long, value_name = "FILE", conflicts_with = "creds")]
    pub creds_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Layouts, dir: directories, archives, or `docker://REGISTRY/REPO:TAG`.
    #[arg(required = true)]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[arg(long, value_enum, default_value = "table", help_heading = "Output")]
    pub format: ListFormat,
    /// Time limit for each `docker://` image, with a unit: `ms`, `s`, `m` or `h` (`10m`, `30s`) [default: 10m].
    #[arg(long, default_value = "10m", value_parser = parse_timeout, hide_default_value = true, help_heading = "Limits")]
    pub timeout: std::time::Duration,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// `--blobs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Blobs {
    /// Hash every config and layer.
    Verify,
    /// Only check that they exist with the right size.
    Exist,
    /// Manifests and signatures only.
    Skip,
}

/// `--signature-scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SignatureScope {
    /// Each platform signed itself or through a signed index that lists it.
    Auto,
    /// Each platform manifest signed itself.
    Platform,
    /// The index and every platform each signed.
    All,
}

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// The audit record as JSON (`.json`).
    Json,
    /// The same shape as YAML (`.yaml`, `.yml`).
    Yaml,
    /// One row per platform, hangar v2's columns first (`.csv`).
    Csv,
    /// JUnit XML for CI systems, one test case per image (`.xml`).
    Junit,
}

/// Options both verifying commands share.
#[derive(Args, Debug)]
pub struct Common {
    /// Trusted public key (PEM); repeatable; any one key may accept a signature.
    #[arg(
        short = 'p',
        long = "sigstore-pubkey",
        visible_short_alias = 'k',
        visible_alias = "key",
        help_heading = "Trust"
    )]
    pub keys: Vec<PathBuf>,
    /// containers-policy.json(5): sigstoreSigned (keys), insecureAcceptAnything, reject, by scope.
    #[arg(long, conflicts_with_all = ["keys", "signed_identity", "exact_repository", "rekor_keys"], help_heading = "Trust")]
    pub policy: Option<PathBuf>,
    /// The cluster's admission policy (YAML, several documents): sigstore policy-controller
    /// ClusterImagePolicy with key, keyless (with --trusted-root) and static authorities, and its
    /// config-policy-controller ConfigMap; Kyverno ClusterPolicy/Policy verifyImages rules (keys, keyless);
    /// what cannot be decided offline fails the images it governs. Repeatable.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["keys", "policy", "signed_identity", "exact_repository", "rekor_keys", "certificate_identity_any", "certificate_oidc_issuer_any"], help_heading = "Trust")]
    pub cluster_policy: Vec<PathBuf>,
    /// Keyless: a sigstore trusted_root.json (Fulcio CAs and Rekor keys), used offline.
    /// With --cluster-policy: the roots its keyless authorities are checked against (no identity flags).
    #[arg(long, conflicts_with_all = ["keys", "policy", "rekor_keys"], help_heading = "Trust")]
    pub trusted_root: Option<PathBuf>,
    /// Keyless: the certificate's identity (SAN email or URI).
    #[arg(long, group = "certificate_identity_any", requires = "trusted_root", help_heading = "Identity")]
    pub certificate_identity: Option<String>,
    /// Keyless: the certificate's identity, as a regular expression.
    #[arg(long, group = "certificate_identity_any", requires = "trusted_root", help_heading = "Identity")]
    pub certificate_identity_regexp: Option<String>,
    /// Keyless: the certificate's OIDC issuer.
    #[arg(
        long,
        group = "certificate_oidc_issuer_any",
        requires = "certificate_identity_any",
        help_heading = "Identity"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// Keyless: the certificate's OIDC issuer, as a regular expression.
    #[arg(
        long,
        group = "certificate_oidc_issuer_any",
        requires = "certificate_identity_any",
        help_heading = "Identity"
    )]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// Trusted Rekor key: each accepted signature must then carry a Rekor SET bound to it.
    #[arg(long = "rekor-pubkey", help_heading = "Trust")]
    pub rekor_keys: Vec<PathBuf>,
    /// Platforms to check, comma separated (`arm/v7` selects a variant).
    #[arg(short = 'a', long, default_value = "amd64,arm64", help_heading = "Platforms")]
    pub arch: String,
    /// Operating systems to check, comma separated.
    #[arg(long, default_value = "linux", help_heading = "Platforms")]
    pub os: String,
    /// Every platform named by --arch/--os must be present in each image.
    #[arg(long, help_heading = "Platforms")]
    pub require_platforms: bool,
    /// Replace the registry of every list line (hangar rules).
    #[arg(long, help_heading = "Input")]
    pub registry: Option<String>,
    /// Replace the project of every list line (hangar rules).
    #[arg(long, help_heading = "Input")]
    pub project: Option<String>,
    /// Any -f LIST line that would be skipped (mirror format, invalid) is an error (exit 2, naming the
    /// line) [default: off: such a line is skipped with a warning and counted in the summary].
    #[arg(long, requires = "file", help_heading = "Input")]
    pub strict_list: bool,
    /// Signed identity `exactRepository` (signatures copied from another registry).
    #[arg(long, help_heading = "Identity")]
    pub exact_repository: Option<String>,
    /// match-repo-digest-or-exact, match-exact, match-repository, exact-reference:REF,
    /// exact-repository:REPO, remap:PREFIX=SIGNEDPREFIX.
    #[arg(long, help_heading = "Identity")]
    pub signed_identity: Option<String>,
    /// Names the image of a source entry that carries no name (a skopeo dir:, a `cosign save` layout, a
    /// bare-tag entry); an error when no entry needs it, or with -f LIST [default: none].
    #[arg(long, help_heading = "Identity")]
    pub reference: Option<String>,
    /// Which digests must be signed [default: auto; platform with --policy, as containers-image checks
    /// each instance it copies].
    #[arg(long, value_enum, help_heading = "Trust")]
    pub signature_scope: Option<SignatureScope>,
    /// Parallel images and blobs [default: the number of CPUs; 8 for a registry].
    #[arg(short = 'j', long, help_heading = "Limits")]
    pub jobs: Option<usize>,
    /// Structured per-image results; `-` is stdout (the human lines then go to stderr) [default: none].
    #[arg(short = 'r', long, help_heading = "Output")]
    pub report: Option<PathBuf>,
    /// The report's format; needs --report [default: from the --report extension (`.json`, `.yaml`/`.yml`,
    /// `.csv`); json for `--report -`; any other extension must name it].
    #[arg(long, value_enum, help_heading = "Output")]
    pub format: Option<ReportFormat>,
    /// Per-image time limit, with a unit: `ms`, `s`, `m` or `h` (`10m`, `30s`) [default: 10m].
    #[arg(long, default_value = "10m", value_parser = parse_timeout, hide_default_value = true, help_heading = "Limits")]
    pub timeout: std::time::Duration,
    /// Largest zstd window accepted (log2): a memory bound for compressed archives.
    #[arg(long, default_value_t = 27, value_parser = clap::value_parser!(u32).range(10..=31), help_heading = "Limits")]
    pub zstd_window_log_max: u32,
    /// A cosign `sign-blob` signature (base64) or bundle over the archive, checked with the -p keys
    /// against the SHA-256 computed in the same pass.
    #[arg(long, value_name = "FILE", requires = "keys", help_heading = "Input")]
    pub archive_signature: Option<PathBuf>,
    /// Expected top digests, `REF DIGEST` or `REF@DIGEST` a line (Rancher's rancher-images-digests-*.txt):
    /// an image under a listed name with another digest fails, and without -f every listed image must be
    /// in the source [default: none].
    #[arg(long, value_name = "FILE", help_heading = "Trust")]
    pub digests: Option<PathBuf>,
    /// The archive's expected SHA-256: hex, or a file in `sha256sum` format (computed in the same pass).
    #[arg(long, value_name = "HEX|FILE", help_heading = "Input")]
    pub archive_sha256: Option<String>,
    /// Verify a deterministic 1/N of the list (K/N, K from 1).
    #[arg(long, help_heading = "Limits")]
    pub shard: Option<String>,
    /// Verify shard JOB_COMPLETION_INDEX+1 of N (a Kubernetes indexed Job).
    #[arg(long, value_name = "N", conflicts_with = "shard", help_heading = "Limits")]
    pub shard_count: Option<usize>,
    /// Only the summary and failures.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    /// No progress bar.
    #[arg(long, help_heading = "Output")]
    pub no_progress: bool,
}

/// `--timeout`: a duration with its unit. A bare number is refused rather than read as seconds, since
/// `--timeout 10` may as well have meant minutes.
fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("give a unit: {t}s, {t}m"));
    }
    airlock::deadline::parse_duration(t)
}

/// `--spool-max`: a size with its unit (`512M`, `64G`); a bare number is refused, as for `--timeout`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "" => return Err(format!("give a unit: {t}M, {t}G")),
        other => return Err(format!("unknown unit {other:?} (K, M, G or T)")),
    };
    let n: u64 = number.parse().map_err(|_| format!("{t:?} is not a size (512M, 64G)"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("{t} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_need_a_unit() {
        assert_eq!(parse_size("64G"), Ok(64 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10").unwrap_err(), "give a unit: 10M, 10G");
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn timeout_needs_a_unit() {
        assert_eq!(parse_timeout("10").unwrap_err(), "give a unit: 10s, 10m");
        assert_eq!(parse_timeout("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timeout("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_timeout("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_timeout("1ms").unwrap(), Duration::from_millis(1));
        assert!(parse_timeout("10x").is_err());
    }
}
