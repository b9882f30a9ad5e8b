//! `airlock verify-blob FILE|sha256:HEX --bundle B`: one artifact against one sigstore bundle, offline, by the
//! same verifier as image referrers (sigstore-conformance's verify-bundle protocol, `docs/cli_protocol.md`).

use airlock::report::escape;
use airlock::signature::bundle::root::TrustRoot;
use airlock::signature::bundle::{self, Artifact, Identity, Policy, Purpose, Signer};
use airlock::signature::cert::Matcher;
use airlock::signature::keys::TrustedKey;
use anyhow::{Context, Result, anyhow, bail};
use std::path::Path;

use super::args::VerifyBlob;

/// Above this an artifact is hashed, not held: its message signature is then checked over the digest.
const MAX_HELD_BYTES: u64 = 64 << 20;

/// Exit status 0 verified, 1 not verified, 2 could not run (unreadable bundle, key or root, bad flags).
pub fn run(args: &VerifyBlob) -> Result<u8> {
    if args.staging && args.trusted_root.is_none() {
        bail!("--staging: airlock has no built-in trust roots; give the staging trusted_root.json as --trusted-root");
    }
    let keys: Vec<TrustedKey> =
        args.keys.iter().map(|k| TrustedKey::load_one(k).map_err(|e| anyhow!("--key: {e}"))).collect::<Result<_>>()?;
    let root =
        args.trusted_root.as_deref().map(TrustRoot::load).transpose().map_err(|e| anyhow!("--trusted-root {e}"))?;
    let identity = identity(args)?;
    if keys.is_empty() && identity.is_none() {
        bail!(
            "verify-blob needs a trust source: --key, or --trusted-root with --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"
        );
    }
    let bundle_bytes = read_bounded(&args.bundle, bundle::MAX_BUNDLE_BYTES as u64)
        .with_context(|| format!("--bundle {}", args.bundle.display()))?;
    let held;
    let artifact = match artifact(&args.file_or_digest)? {
        Input::Bytes(bytes) => {
            held = bytes;
            Artifact::Bytes(&held)
        }
        Input::Digest(d) => Artifact::Digest(d),
    };
    let policy = Policy {
        keys: &keys,
        root: root.as_ref(),
        identity: identity.as_ref(),
        purpose: Purpose::Blob,
        now: bundle::now(),
    };
    let name = escape(&args.file_or_digest);
    match bundle::verify(&bundle_bytes, &artifact, &policy) {
        Ok(ok) => {
            let signer = match &ok.signer {
                Signer::Key { index, scheme } => format!("key {} ({scheme})", args.keys[*index].display()),
                Signer::Certificate { identity, .. } => format!("{} ({})", identity.subject, identity.issuer),
            };
            let times: Vec<String> = ok.times.iter().map(|(from, t)| format!("{from} at {t}")).collect();
            let logs: Vec<String> = ok.log_indexes.iter().map(|i| i.to_string()).collect();
            println!(
                "PASS {name}: signed by {}; log index {}; times {}",
                escape(&signer),
                if logs.is_empty() { "-".into() } else { logs.join(",") },
                if times.is_empty() { "-".into() } else { escape(&times.join(", ")).into_owned() }
            );
            Ok(0)
        }
        Err(e) => {
            eprintln!("FAIL {name}: {}", escape(&e.to_string()));
            Ok(1)
        }
    }
}

fn identity(args: &VerifyBlob) -> Result<Option<Identity>> {
    let matcher = |exact: &Option<String>, regexp: &Option<String>, flag: &str| -> Result<Option<Matcher>> {
        match (exact, regexp) {
            (Some(e), _) => Ok(Some(Matcher::Exact(e.clone()))),
            (None, Some(r)) => Matcher::regex(r).map(Some).map_err(|e| anyhow!("--{flag}-regexp: {e}")),
            (None, None) => Ok(None),
        }
    };
    let subject = matcher(&args.certificate_identity, &args.certificate_identity_regexp, "certificate-identity")?;
    let issuer =
        matcher(&args.certificate_oidc_issuer, &args.certificate_oidc_issuer_regexp, "certificate-oidc-issuer")?;
    match (subject, issuer) {
        (Some(subject), Some(issuer)) => {
            if args.trusted_root.is_none() {
                bail!("--certificate-identity needs --trusted-root (airlock has no built-in trust roots)");
            }
            Ok(Some(Identity { subject, issuer }))
        }
        (None, None) => Ok(None),
        _ => bail!("give both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]"),
    }
}

enum Input {
    Bytes(Vec<u8>),
    Digest([u8; 32]),
}

/// A path, or `sha256:<64 hex>` when no such path exists (the protocol's rule).
fn artifact(arg: &str) -> Result<Input> {
    let path = Path::new(arg);
    if let Some(hex) = arg.strip_prefix("sha256:").filter(|_| !path.exists()) {
        let bytes = hex::decode(hex).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
        return bytes
            .map(Input::Digest)
            .ok_or_else(|| anyhow!("{}: not a sha256 digest of 64 hex digits", escape(arg)));
    }
    let size = std::fs::metadata(path).with_context(|| escape(arg).into_owned())?.len();
    if size > MAX_HELD_BYTES {
        let file = std::fs::File::open(path).with_context(|| escape(arg).into_owned())?;
        let digest = airlock::digest::Hasher::of_reader(airlock::digest::Algorithm::Sha256, file)
            .with_context(|| escape(arg).into_owned())?;
        let bytes = hex::decode(digest.hex()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
        return bytes.map(Input::Digest).ok_or_else(|| anyhow!("{}: hashing failed", escape(arg)));
    }
    Ok(Input::Bytes(std::fs::read(path).with_context(|| escape(arg).into_owned())?))
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)?.len();
    if size > max {
        bail!("larger than {max} bytes: not a sigstore bundle");
    }
    Ok(std::fs::read(path)?)
}
