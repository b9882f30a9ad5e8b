//! What a bundle signs: a message signature over the artifact's digest, or a DSSE envelope whose in-toto
//! statement names the artifact as a subject (for images, SPEC §6.2's statement rules).

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::bundle::Content;
use sigstore_protobuf_specs::dev::sigstore::common::v1::HashAlgorithm;

use super::{Artifact, BundleError, Purpose};
use crate::signature::keys::{Scheme, TrustedKey};

pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPES: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// sigstore-go's limits on a statement.
pub const MAX_SUBJECTS: usize = 1024;
pub const MAX_SUBJECT_DIGESTS: usize = 32;

/// The signed content of a bundle, decoded.
pub struct Signed<'a> {
    /// The signature bytes (what a TSA timestamps and a log records).
    pub signature: &'a [u8],
    /// The DSSE envelope, or `None` for a message signature.
    pub dsse: Option<Dsse<'a>>,
}

pub struct Dsse<'a> {
    pub payload: &'a [u8],
    pub payload_type: &'a str,
    pub pae: Vec<u8>,
}

impl Signed<'_> {
    /// What a hashedrekord logs: the artifact's digest, or the digest of the DSSE PAE.
    pub fn hashed(&self, artifact: &Artifact<'_>) -> [u8; 32] {
        match &self.dsse {
            Some(d) => Sha256::digest(&d.pae).into(),
            None => artifact.sha256(),
        }
    }
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(default)]
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: std::collections::BTreeMap<String, String>,
}

/// DSSE pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// The content's signature and, for DSSE, its envelope (exactly one signature).
pub fn signed(content: Option<&Content>) -> Result<Signed<'_>, BundleError> {
    match content {
        Some(Content::MessageSignature(m)) => Ok(Signed { signature: &m.signature, dsse: None }),
        Some(Content::DsseEnvelope(e)) => {
            let [signature] = e.signatures.as_slice() else {
                return Err(BundleError::SignatureCount(e.signatures.len()));
            };
            let dsse =
                Dsse { payload: &e.payload, payload_type: &e.payload_type, pae: pae(&e.payload_type, &e.payload) };
            Ok(Signed { signature: &signature.sig, dsse: Some(dsse) })
        }
        None => Err(BundleError::Invalid("the bundle has neither a message signature nor a DSSE envelope".into())),
    }
}

/// Verifies the content's signature with `key`: over the artifact (or its digest when only that is known) for a
/// message signature, over the PAE for DSSE.
pub fn verify_signature(signed: &Signed<'_>, artifact: &Artifact<'_>, key: &TrustedKey) -> Result<Scheme, BundleError> {
    let result = match (&signed.dsse, artifact) {
        (Some(d), _) => key.verify(&d.pae, signed.signature),
        (None, Artifact::Bytes(bytes)) => key.verify(bytes, signed.signature),
        (None, Artifact::Digest(digest)) => key.verify_sha256_digest(digest, signed.signature),
    };
    result.map_err(BundleError::Signature)
}

/// The content describes `artifact`: the message digest hint equals it, or a statement subject names it.
pub fn check_binding(
    content: Option<&Content>,
    signed: &Signed<'_>,
    artifact: &Artifact<'_>,
    purpose: Purpose,
) -> Result<(), BundleError> {
    let wanted = artifact.sha256();
    match &signed.dsse {
        None => {
            if purpose == Purpose::Image {
                return Err(BundleError::NoEnvelope);
            }
            let Some(Content::MessageSignature(m)) = content else { return Ok(()) };
            match &m.message_digest {
                Some(d) if d.algorithm != HashAlgorithm::Sha2256 as i32 => {
                    Err(BundleError::Invalid(format!("unsupported message digest algorithm {}", d.algorithm)))
                }
                Some(d) if d.digest != wanted => {
                    Err(BundleError::DigestMismatch(format!("sha256:{}", hex::encode(wanted))))
                }
                _ => Ok(()),
            }
        }
        Some(dsse) => check_statement(dsse, &wanted, purpose),
    }
}

fn check_statement(dsse: &Dsse<'_>, wanted: &[u8; 32], purpose: Purpose) -> Result<(), BundleError> {
    if dsse.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(BundleError::PayloadType(dsse.payload_type.to_string()));
    }
    let statement: Statement = crate::oci::json::parse(dsse.payload, crate::oci::json::fields::BUNDLE)
        .map_err(|e| BundleError::Statement(e.to_string()))?;
    if !STATEMENT_TYPES.contains(&statement.statement_type.as_str()) {
        return Err(BundleError::StatementType(statement.statement_type));
    }
    if purpose == Purpose::Image && statement.predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(BundleError::PredicateType(statement.predicate_type));
    }
    if statement.subject.len() > MAX_SUBJECTS {
        return Err(BundleError::TooManySubjects(statement.subject.len()));
    }
    let mut matched = false;
    for subject in &statement.subject {
        if subject.digest.len() > MAX_SUBJECT_DIGESTS {
            return Err(BundleError::TooManyDigests(subject.digest.len()));
        }
        // Compared as bytes, as sigstore-go does (so upper-case hex in the statement matches too).
        let claimed = subject.digest.get("sha256").and_then(|h| hex::decode(h).ok());
        matched |= claimed.as_deref() == Some(wanted.as_slice());
    }
    if !matched {
        return Err(BundleError::DigestMismatch(format!("sha256:{}", hex::encode(wanted))));
    }
    Ok(())
}
