//! `airlock man [SUBCOMMAND]`: a man page for the tool or for one subcommand, with the sections an operator
//! looks for (EXIT STATUS, EXAMPLES, ENVIRONMENT, FILES); the same examples end each subcommand's `--help`.

use anyhow::{Result, bail};
use clap::CommandFactory;
use std::io::Write;

use super::args::Cli;

pub const VERIFY_ARCHIVE_EXAMPLES: &str = "\
Examples:
  airlock verify-archive haul.tar.zst -p sigstore.pub
  airlock verify-archive bundle/ -p sigstore.pub -f images.txt -o failed.txt --report report.json
  airlock verify-archive saved-images.zip signatures/ -p sigstore.pub
  airlock verify-archive haul.tar.zst --trusted-root trusted_root.json \\
      --certificate-identity-regexp 'https://github.com/rancher/.*' \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com";

pub const IMPORT_EXAMPLES: &str = "\
Examples:
  airlock import haul.tar.zst -p sigstore.pub --to registry.local:5000
  airlock import saved-images.zip signatures/ -p sigstore.pub --to registry.local:5000/mirror -f images.txt
  airlock import bundle/ -p sigstore.pub --to registry.local:5000 --dry-run";

pub const VALIDATE_EXAMPLES: &str = "\
Examples:
  airlock validate -f images.txt -p sigstore.pub --registry harbor.example.com --project mirror
  airlock validate -f images.txt -p sigstore.pub --registry harbor.example.com --cert-dir /etc/harbor-ca
  airlock sign validate -f images.txt -p sigstore.pub --source saved-images.zip";

pub const VERIFY_BLOB_EXAMPLES: &str = "\
Examples:
  airlock verify-blob release.tar.gz --bundle release.tar.gz.sigstore.json --trusted-root trusted_root.json \\
      --certificate-identity https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.0 \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com
  airlock verify-blob sha256:0fa3… --bundle b.sigstore.json --key cosign.pub";

pub const LIST_EXAMPLES: &str = "\
Examples:
  airlock list haul.tar.zst
  airlock list saved-images.zip --format json
  airlock list docker://registry.example.com/library/nginx:1.27";

const EXIT_STATUS: &str = "0 every selected image verified; 1 at least one image failed, nothing was verified, or a source \
is damaged; 2 airlock could not run (bad arguments, an unreadable key, list or policy, a PATH of no recognised kind, \
a registry that cannot be reached); 130 interrupted (Ctrl-C or SIGTERM): the report and failed list hold what was \
decided.";

const ENVIRONMENT: &str = "REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, DOCKER_CONFIG, HOME: where registry \
credentials are looked for (containers auth.json, docker config.json). HTTPS_PROXY, HTTP_PROXY, NO_PROXY: proxies for \
registry requests. JOB_COMPLETION_INDEX: the shard of a Kubernetes Indexed Job (with --shard-count).";

const FILES: &str = "sign-failed.txt: validate's default failed list (hangar's). /etc/containers/certs.d/HOST/, \
/etc/docker/certs.d/HOST/: per-registry CAs and client certificates. $REGISTRY_AUTH_FILE, \
$XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json, ~/.docker/config.json: credentials, in \
that order. Reports and failed lists are written to a temporary file beside them, then renamed.";

/// Renders the page for `subcommand` (the whole tool when none).
pub fn run(subcommand: Option<&str>) -> Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => sub.clone().display_name(format!("airlock-{name}")).bin_name(format!("airlock {name}")),
            None => bail!("man {name}: no such subcommand (verify-archive, validate, verify-blob, list)"),
        },
    };
    let examples = match subcommand {
        Some("verify-archive") => VERIFY_ARCHIVE_EXAMPLES,
        Some("validate") => VALIDATE_EXAMPLES,
        Some("import") => IMPORT_EXAMPLES,
        Some("verify-blob" | "verify-bundle") => VERIFY_BLOB_EXAMPLES,
        Some("list") => LIST_EXAMPLES,
        _ => VERIFY_ARCHIVE_EXAMPLES,
    };
    let man = clap_mangen::Man::new(page.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if page.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if page.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    for (title, text) in [("EXIT STATUS", EXIT_STATUS), ("ENVIRONMENT", ENVIRONMENT), ("FILES", FILES)] {
        section(&mut out, title, &[text]);
    }
    let lines: Vec<&str> = examples.lines().skip(1).map(str::trim_start).collect();
    section(&mut out, "EXAMPLES", &lines);
    if page.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    std::io::stdout().lock().write_all(&out)?;
    Ok(0)
}

/// One roff section; each text a paragraph, a leading `.` or `'` escaped so no line is read as a request.
fn section(out: &mut Vec<u8>, title: &str, texts: &[&str]) {
    out.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
    for text in texts {
        let text = text.replace('\\', "\\e");
        let text = if text.starts_with(['.', '\'']) { format!("\\&{text}") } else { text };
        out.extend_from_slice(format!("{text}\n.br\n").as_bytes());
    }
}
