//! Deciding whether one manifest digest is signed: gather every candidate the source holds (`.sig`
//! manifests, referrer bundles, `signature-N` files), accept the first that passes every rule of
//! SPEC §6.2, and otherwise report each candidate's reason in containers-image's words.

use super::cert::{self, CertTrust};
use super::identity::IdentityPolicy;
use super::keys::{TrustedKey, decode_signature_base64, verify_with_any};
use super::{bundle, payload, rekor};
use crate::digest::Digest;
use crate::finding::Kind;
use crate::reference::DockerRef;
use crate::source::{Attached, Candidate, Source, SourceError};
use std::collections::BTreeMap;

pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// What a signature must be checked against.
pub struct Trust {
    pub keys: Vec<TrustedKey>,
    pub rekor_keys: Vec<TrustedKey>,
    pub identity: IdentityPolicy,
    /// Keyless: certificates chaining to these CAs instead of `keys`.
    pub certificate: Option<Box<CertTrust>>,
}

/// An accepted signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The key file, or the certificate's subject for keyless signatures.
    pub signer: String,
    /// sha256 of the signer's DER SubjectPublicKeyInfo.
    pub signer_sha256: String,
    pub scheme: String,
    /// The signed `docker-reference`, or `None` for a bundle (no identity bound).
    pub identity: Option<String>,
    pub rekor: bool,
}

/// The outcome for one digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Accepted),
    Rejected { kind: Kind, message: String },
}

/// Checks the signatures stored for `digest`. `image` is the image's reference I (SPEC §6.3).
pub fn check(
    source: &dyn Source,
    repo: Option<&DockerRef>,
    image: Option<&DockerRef>,
    digest: &Digest,
    trust: &Trust,
) -> Outcome {
    let read_error =
        |e: SourceError| Outcome::Rejected { kind: e.kind(), message: format!("reading signatures for {digest}: {e}") };
    // `.sig` attachments and `signature-N` files first (what containers-image reads); referrers only when
    // none of them is accepted: one accepted signature suffices, and a registry is asked less.
    let mut found = match source.attachments(repo, digest, Attached::Signatures) {
        Ok(f) => f,
        Err(e) => return read_error(e),
    };
    let mut reasons: Vec<(Kind, String)> = Vec::new();
    for candidate in &found.candidates {
        match evaluate(candidate, image, digest, trust) {
            Ok(accepted) => return Outcome::Accepted(accepted),
            Err(reason) => reasons.push(reason),
        }
    }
    let referrers = match source.attachments(repo, digest, Attached::Referrers) {
        Ok(r) => r.candidates,
        Err(e) => return read_error(e),
    };
    for candidate in &referrers {
        match evaluate(candidate, image, digest, trust) {
            Ok(accepted) => return Outcome::Accepted(accepted),
            Err(reason) => reasons.push(reason),
        }
    }
    found.candidates.extend(referrers);
    if found.candidates.is_empty() {
        let mut message = "A signature was required, but no signature exists".to_string();
        if found.non_sigstore + found.non_signature_attachments > 0 {
            message.push_str(&format!(
                " ({} non-sigstore signatures, {} sigstore non-signature attachments)",
                found.non_sigstore, found.non_signature_attachments
            ));
        }
        if let Some(hint) = source.info().no_signatures {
            message.push_str(": ");
            message.push_str(&hint);
        }
        return Outcome::Rejected { kind: Kind::Unsigned, message };
    }
    let kind = if reasons.iter().any(|(k, _)| *k == Kind::IdentityMismatch) {
        Kind::IdentityMismatch
    } else if reasons.iter().all(|(k, _)| *k == Kind::Error) {
        Kind::Error
    } else {
        Kind::BadSignature
    };
    let message = if reasons.len() == 1 {
        reasons.remove(0).1
    } else {
        let all: Vec<String> = reasons.into_iter().map(|(_, m)| m).collect();
        format!("None of the signatures were accepted, reasons: {}", all.join("; "))
    };
    Outcome::Rejected { kind, message }
}

/// Applies SPEC §6.2 to one candidate, in containers-image's order: crypto first, then parse, digest,
/// identity.
fn evaluate(
    candidate: &Candidate,
    image: Option<&DockerRef>,
    digest: &Digest,
    trust: &Trust,
) -> Result<Accepted, (Kind, String)> {
    match candidate {
        Candidate::Simple { payload, annotations, .. } => evaluate_simple(payload, annotations, image, digest, trust),
        Candidate::Bundle { bytes, .. } => {
            if trust.certificate.is_some() {
                return Err((Kind::BadSignature, "keyless sigstore bundles are not supported yet".into()));
            }
            let ok =
                bundle::verify_bundle(bytes, &trust.keys, digest).map_err(|e| (Kind::BadSignature, e.to_string()))?;
            if trust.identity.binds_identity_explicitly() {
                return Err((
                    Kind::IdentityMismatch,
                    "a sigstore bundle binds no identity, so it cannot satisfy an explicit --signed-identity".into(),
                ));
            }
            if !trust.rekor_keys.is_empty() {
                return Err((
                    Kind::BadSignature,
                    "a sigstore bundle without a verifiable Rekor entry (--rekor-pubkey given)".into(),
                ));
            }
            let key = &trust.keys[ok.key_index];
            Ok(Accepted {
                signer: key.file.display().to_string(),
                signer_sha256: key.fingerprint(),
                scheme: ok.scheme.to_string(),
                identity: None,
                rekor: false,
            })
        }
    }
}

fn evaluate_simple(
    payload_bytes: &[u8],
    annotations: &BTreeMap<String, String>,
    image: Option<&DockerRef>,
    digest: &Digest,
    trust: &Trust,
) -> Result<Accepted, (Kind, String)> {
    let bad = |m: String| (Kind::BadSignature, m);
    let encoded = annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| bad(format!("missing {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = decode_signature_base64(encoded).map_err(|e| bad(e.to_string()))?;
    let (signer, signer_sha256, scheme, with_rekor) = match &trust.certificate {
        Some(ct) => {
            let ok = cert::verify(annotations, payload_bytes, &signature, ct).map_err(bad)?;
            (format!("certificate {}", ok.subject), ok.spki_sha256, ok.scheme, ok.rekor)
        }
        None => {
            let (key, scheme) =
                verify_with_any(&trust.keys, payload_bytes, &signature).map_err(|e| bad(e.to_string()))?;
            let key = &trust.keys[key];
            let mut with_rekor = false;
            if !trust.rekor_keys.is_empty() {
                let set = annotations
                    .get(BUNDLE_ANNOTATION)
                    .ok_or_else(|| bad(format!("missing {BUNDLE_ANNOTATION} annotation")))?;
                rekor::verify_set(set, &trust.rekor_keys, &signature, payload_bytes, rekor::Signer::Key(key))
                    .map_err(|e| bad(e.to_string()))?;
                with_rekor = true;
            }
            (key.file.display().to_string(), key.fingerprint(), scheme.to_string(), with_rekor)
        }
    };
    let parsed = payload::parse_strict(payload_bytes).map_err(|e| bad(e.to_string()))?;
    let claimed = Digest::parse(&parsed.manifest_digest)
        .map_err(|e| bad(format!("invalid docker-manifest-digest value {:?}: {e}", parsed.manifest_digest)))?;
    if &claimed != digest {
        return Err(bad(format!("Signature for digest {} does not match", parsed.manifest_digest)));
    }
    if !trust.identity.accepts(image, digest, &parsed.docker_reference) {
        return Err((
            Kind::IdentityMismatch,
            format!("Signature for identity {:?} is not accepted", parsed.docker_reference),
        ));
    }
    Ok(Accepted { signer, signer_sha256, scheme, identity: Some(parsed.docker_reference), rekor: with_rekor })
}
