//! Deciding whether one manifest digest is signed: gather every candidate the source holds (`.sig`
//! manifests, referrer bundles, `signature-N` files), accept the first that passes every rule of
//! SPEC §6.2, and otherwise report each candidate's reason in containers-image's words.

use super::bundle::root::TrustRoot;
use super::bundle::{Artifact, BundleError, Policy, Purpose, Signer};
use super::cert::{self, CertTrust};
use super::identity::IdentityPolicy;
use super::keys::{TrustedKey, decode_signature_base64, verify_with_any};
use super::{bundle, payload, rekor};
use crate::digest::Digest;
use crate::finding::Kind;
use crate::reference::DockerRef;
use crate::source::{Attached, Candidate, Source, SourceError};
use std::collections::BTreeMap;
use std::sync::Arc;

pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// What a signature must be checked against.
pub struct Trust {
    pub keys: Vec<TrustedKey>,
    pub rekor_keys: Vec<TrustedKey>,
    pub identity: IdentityPolicy,
    /// Keyless: certificates chaining to these CAs instead of `keys`.
    pub certificate: Option<Box<CertTrust>>,
    /// Sigstore bundles: the trusted root their log entries, timestamps and certificates are checked against
    /// (`--trusted-root`, or one made of the `--rekor-pubkey` keys); none: a keyed bundle needs no log entry.
    pub bundle_root: Option<Arc<TrustRoot>>,
    /// The certificate identity a keyless bundle must carry.
    pub bundle_identity: Option<bundle::Identity>,
}

impl Trust {
    /// What a sigstore bundle is checked against under this trust, now.
    pub fn bundle_policy(&self, purpose: Purpose) -> Policy<'_> {
        Policy {
            keys: &self.keys,
            root: self.bundle_root.as_deref(),
            identity: self.bundle_identity.as_ref(),
            purpose,
            now: super::bundle::now(),
        }
    }
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
    /// For a sigstore bundle: what it was accepted on.
    pub evidence: Option<Evidence>,
}

/// What a sigstore bundle was accepted on (the report's `sigstore` object).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// The certificate's SAN and OIDC issuer (keyless); none for a keyed bundle.
    pub certificate_identity: Option<String>,
    pub certificate_issuer: Option<String>,
    pub log_indexes: Vec<i64>,
    /// Each verified time (Unix seconds) and its source (`rekor <log>` or `tsa <authority>`).
    pub timestamps: Vec<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Timestamp {
    pub source: String,
    pub time: i64,
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
    // policy-controller's key authorities read the legacy `.sig` format only: a referrer bundle does not
    // admit the image there, so it does not here
    let legacy_only = matches!(trust.identity, crate::signature::identity::IdentityPolicy::DigestOnly);
    let referrers = match legacy_only {
        true => Vec::new(),
        false => match source.attachments(repo, digest, Attached::Referrers) {
            Ok(r) => r.candidates,
            Err(e) => return read_error(e),
        },
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
        Candidate::Bundle { bytes, .. } => evaluate_bundle(bytes, digest, trust),
    }
}

/// SPEC §6.6 for an image: the bundle's statement names this manifest digest, and its signer is a trusted key
/// or a certificate of the required identity; it binds no repository, so an explicit identity rejects it.
fn evaluate_bundle(bytes: &[u8], digest: &Digest, trust: &Trust) -> Result<Accepted, (Kind, String)> {
    let wanted = hex::decode(digest.hex()).ok().and_then(|d| <[u8; 32]>::try_from(d).ok()).ok_or_else(|| {
        (Kind::BadSignature, format!("a sigstore bundle cannot sign the non-SHA-256 digest {digest}"))
    })?;
    let ok =
        super::bundle::verify(bytes, &Artifact::Digest(wanted), &trust.bundle_policy(Purpose::Image)).map_err(|e| {
            match e {
                BundleError::Identity(m) => (Kind::IdentityMismatch, m),
                e => (Kind::BadSignature, e.to_string()),
            }
        })?;
    if trust.identity.binds_identity_explicitly() {
        return Err((
            Kind::IdentityMismatch,
            "a sigstore bundle binds no identity, so it cannot satisfy an explicit --signed-identity".into(),
        ));
    }
    let mut evidence = Evidence {
        certificate_identity: None,
        certificate_issuer: None,
        log_indexes: ok.log_indexes,
        timestamps: ok.times.into_iter().map(|(source, time)| Timestamp { source, time }).collect(),
    };
    let (signer, signer_sha256, scheme) = match ok.signer {
        Signer::Key { index, scheme } => {
            let key = &trust.keys[index];
            (key.file.display().to_string(), key.fingerprint(), scheme.to_string())
        }
        Signer::Certificate { identity, spki_sha256, scheme } => {
            let signer = format!("certificate {} ({})", identity.subject, identity.issuer);
            evidence.certificate_identity = Some(identity.subject);
            evidence.certificate_issuer = Some(identity.issuer);
            (signer, spki_sha256, scheme.to_string())
        }
    };
    let rekor = !evidence.log_indexes.is_empty();
    Ok(Accepted { signer, signer_sha256, scheme, identity: None, rekor, evidence: Some(evidence) })
}

/// A `.sig` certificate under `--trusted-root` meets the bundle rules too (SPEC §6.6): the SET is by the log
/// its `logID` names, that log and a Fulcio CA were valid at the integrated time, and the leaf has an SCT from
/// a trusted CT log when the root lists any.
fn trusted_root_rules(
    ok: &cert::CertOk,
    annotations: &BTreeMap<String, String>,
    payload: &[u8],
    signature: &[u8],
    root: &TrustRoot,
    identity: &bundle::Identity,
) -> Result<(), String> {
    let time = ok.integrated_time.ok_or("a Fulcio certificate needs a Rekor SET")?;
    let set = annotations.get(BUNDLE_ANNOTATION).ok_or("missing Rekor SET")?;
    let logged = |log: &&super::bundle::root::Log| {
        rekor::verify_set(set, std::slice::from_ref(&log.key), signature, payload, rekor::Signer::Certificate(&ok.leaf))
            .is_ok_and(|e| e.log_id == hex::encode(&log.log_id))
    };
    let log = root.tlogs.iter().find(logged).ok_or("the Rekor SET is not by the log its logID names")?;
    if !log.valid.contains(time) {
        return Err(format!("the transparency log {} was not valid at the integrated time {time}", log.base_url));
    }
    super::bundle::leaf::verify(&ok.leaf, &ok.intermediates, &[time], root, identity)
        .map(|_| ())
        .map_err(|e| e.to_string())
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
            if let (Some(root), Some(identity)) = (&trust.bundle_root, &trust.bundle_identity) {
                trusted_root_rules(&ok, annotations, payload_bytes, &signature, root, identity).map_err(bad)?;
            }
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
    Ok(Accepted {
        signer,
        signer_sha256,
        scheme,
        identity: Some(parsed.docker_reference),
        rekor: with_rekor,
        evidence: None,
    })
}
