//! A package's own signature (zarf's `zarf.bundle.sig` over `zarf.yaml`), checked by the run with its trust
//! (SPEC §2 zarf row, §6.6): the source hands over the signed file's SHA-256 and the signature files
//! ([`Source::package_signatures`]); the one verifier of `--archive-signature` checks them.

use crate::finding::Kind;
use crate::session::Message;
use crate::signature::blob as blob_signature;
use crate::source::Source;
use crate::verify::result::SourceDamage;
use crate::verify::{self, Verification};

/// A package's own signature (zarf's `zarf.bundle.sig` over `zarf.yaml`), checked with the run's keys or
/// keyless trust by the one bundle verifier: verified is a note naming the signer, failing is damage of the
/// source; an unsigned package is a note (its images' signatures are checked all the same).
pub fn check_signatures(
    source: &dyn Source,
    verification: Option<&Verification>,
    run: &mut verify::Run,
    say: &(dyn Fn(Message) + Send + Sync),
) {
    for p in source.package_signatures() {
        if p.signatures.is_empty() {
            say(Message::Note(format!(
                "{}: {} is unsigned (no zarf.bundle.sig): the package itself is not signed; its images' signatures \
                 are checked as for any layout",
                p.origin, p.package
            )));
        }
        for (file, bytes) in &p.signatures {
            let trust = match verification {
                Some(Verification::Keys(trust)) => trust,
                other => {
                    let why =
                        if other.is_some() { "--policy has no rule for it" } else { "no key or trusted root given" };
                    say(Message::Note(format!("{}: {file} over {} not checked: {why}", p.origin, p.package)));
                    continue;
                }
            };
            match blob_signature::verify(bytes, &p.sha256_hex, trust) {
                Ok(signer) => {
                    say(Message::Note(format!("{}: {file} verified: {} signed by {signer}", p.origin, p.package)))
                }
                Err(e) => run.damage.push(SourceDamage {
                    path: p.origin.clone(),
                    entry: file.clone(),
                    digest: None,
                    kind: Kind::BadSignature,
                    message: format!("{file}: the package signature over {} does not verify: {e}", p.package),
                    mismatch: None,
                }),
            }
        }
    }
}
