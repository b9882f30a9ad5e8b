//! The one sigstore bundle verifier (SPEC §6.6) behind `verify-blob`, `--archive-signature` and image referrers:
//! bundles v0.1–v0.3, keyed (public-key hint, `--key`) or keyless (a Fulcio certificate checked against a
//! `trusted_root.json` at the times its transparency-log entries and RFC 3161 timestamps vouch for).
//!
//! The order is sigstore-go's `verify.SignedEntityVerifier`: the bundle's shape, then the log entries and
//! timestamps (which give the trusted times), then the certificate at those times, then the signature over the
//! content, and last the content's binding to the artifact.

pub mod content;
pub mod leaf;
pub mod merkle;
pub mod root;
pub mod sct;
pub mod tlog;
pub mod tsa;

use sha2::{Digest as _, Sha256};
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::verification_material::Content as Material;
use sigstore_protobuf_specs::dev::sigstore::bundle::v1::{Bundle, VerificationMaterial};

use crate::signature::cert::Matcher;
use crate::signature::keys::{Scheme, SigError, TrustedKey};
pub use content::{COSIGN_SIGN_PREDICATE, IN_TOTO_PAYLOAD_TYPE, STATEMENT_TYPES};
pub use leaf::CertIdentity;
use root::TrustRoot;

/// Bundle media types accepted (v0.1 and v0.2 as protobuf-specs names them, v0.3 in both spellings), with
/// their minor version.
pub const BUNDLE_MEDIA_TYPES: [(&str, u8); 4] = [
    ("application/vnd.dev.sigstore.bundle+json;version=0.1", 1),
    ("application/vnd.dev.sigstore.bundle+json;version=0.2", 2),
    ("application/vnd.dev.sigstore.bundle+json;version=0.3", 3),
    ("application/vnd.dev.sigstore.bundle.v0.3+json", 3),
];
/// Same cap as any other signature payload (SPEC §8).
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// More entries or timestamps than this is not a bundle any signer writes.
const MAX_ENTRIES: usize = 32;

/// What was signed: the bytes, or only their SHA-256 (`sha256:HEX`, an image manifest digest).
#[derive(Clone, Copy, Debug)]
pub enum Artifact<'a> {
    Bytes(&'a [u8]),
    Digest([u8; 32]),
}

impl Artifact<'_> {
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Artifact::Bytes(b) => Sha256::digest(b).into(),
            Artifact::Digest(d) => *d,
        }
    }
}

/// A file (any statement, message signatures too) or an image (SPEC §6.2's statement rules, DSSE only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Blob,
    Image,
}

/// The certificate identity a keyless bundle must carry.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject: Matcher,
    pub issuer: Matcher,
}

/// What a bundle is verified against.
pub struct Policy<'a> {
    pub keys: &'a [TrustedKey],
    /// Needed for certificates, and then also checks every log entry and timestamp; without it (key mode for
    /// images, SPEC §6.2) log entries are not required.
    pub root: Option<&'a TrustRoot>,
    pub identity: Option<&'a Identity>,
    pub purpose: Purpose,
    /// Unix seconds: entries integrated later than this are refused.
    pub now: i64,
}

/// Who signed an accepted bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    Key { index: usize, scheme: Scheme },
    Certificate { identity: CertIdentity, spki_sha256: String, scheme: Scheme },
}

/// An accepted bundle and the evidence it was accepted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub signer: Signer,
    pub log_indexes: Vec<i64>,
    /// Each verified time and where it came from (`rekor <url>`, `tsa <name>`).
    pub times: Vec<(String, i64)>,
}

/// Why a bundle was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("bundle: {0}")]
    Json(String),
    #[error("unsupported bundle media type {0:?}")]
    MediaType(String),
    #[error("bundle has no DSSE envelope (a message-signature bundle is not an image signature)")]
    NoEnvelope,
    #[error("DSSE envelope must have exactly 1 signature, got {0}")]
    SignatureCount(usize),
    #[error(transparent)]
    Signature(SigError),
    #[error("unsupported DSSE payloadType {0:?} (expected \"{IN_TOTO_PAYLOAD_TYPE}\")")]
    PayloadType(String),
    #[error("in-toto statement: {0}")]
    Statement(String),
    #[error("unsupported in-toto _type {0:?}")]
    StatementType(String),
    #[error("unsupported in-toto predicateType {0:?} (expected \"{COSIGN_SIGN_PREDICATE}\")")]
    PredicateType(String),
    #[error("in-toto statement has {0} subjects (at most {max} are accepted)", max = content::MAX_SUBJECTS)]
    TooManySubjects(usize),
    #[error("an in-toto subject has {0} digests (at most {max} are accepted)", max = content::MAX_SUBJECT_DIGESTS)]
    TooManyDigests(usize),
    #[error("provided artifact digest {0} does not match the bundle")]
    DigestMismatch(String),
    /// The certificate names someone else.
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    Invalid(String),
}

/// The verification material, checked for shape.
enum Signing {
    Key,
    Certificate { leaf: Vec<u8>, intermediates: Vec<Vec<u8>> },
}

/// The current time in Unix seconds. A clock before 1970 reads as 0: every logged entry is then in the future
/// and fails (closed).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Verifies one bundle for `artifact` under `policy`.
pub fn verify(bundle_json: &[u8], artifact: &Artifact<'_>, policy: &Policy<'_>) -> Result<Verified, BundleError> {
    let (bundle, minor) = parse(bundle_json)?;
    let material =
        bundle.verification_material.as_ref().ok_or(BundleError::Invalid("no verificationMaterial".into()))?;
    let signing = signing(material.content.as_ref(), minor)?;
    let signed = content::signed(bundle.content.as_ref())?;
    // A message signature's digest is a hint, compared first; a statement is parsed only once its signature
    // verified.
    if signed.dsse.is_none() {
        content::check_binding(bundle.content.as_ref(), &signed, artifact, policy.purpose)?;
    }

    // The signature first: it names the key every log entry must record.
    let (key, index, scheme) = match &signing {
        Signing::Key => signing_key(&signed, artifact, policy.keys)?,
        Signing::Certificate { leaf, .. } => {
            let key = TrustedKey::from_spki("certificate".into(), leaf::leaf_spki(leaf)?)
                .map_err(|e| BundleError::Invalid(format!("the certificate's key: {e}")))?;
            let scheme = content::verify_signature(&signed, artifact, &key)?;
            (key, 0, scheme)
        }
    };
    let logged_signer = match &signing {
        Signing::Key => tlog::Signer::Key(&key.spki_der),
        Signing::Certificate { leaf, .. } => tlog::Signer::Certificate(leaf),
    };
    let (log_indexes, times) = match policy.root {
        Some(root) => observe(material, minor, &signed, logged_signer, artifact, root, policy.now)?,
        None => (Vec::new(), Vec::new()),
    };
    let signer = match &signing {
        Signing::Key => Signer::Key { index, scheme },
        Signing::Certificate { leaf, intermediates } => {
            let (Some(root), Some(identity)) = (policy.root, policy.identity) else {
                return Err(BundleError::Invalid(
                    "the bundle is signed with a certificate: give --trusted-root, --certificate-identity and --certificate-oidc-issuer".into(),
                ));
            };
            let seconds: Vec<i64> = times.iter().map(|(_, t)| *t).collect();
            let identity = leaf::verify(leaf, intermediates, &seconds, root, identity)?;
            Signer::Certificate { identity, spki_sha256: key.fingerprint(), scheme }
        }
    };
    if signed.dsse.is_some() {
        content::check_binding(bundle.content.as_ref(), &signed, artifact, policy.purpose)?;
    }
    Ok(Verified { signer, log_indexes, times })
}

/// The first of `keys` that verifies the content's signature.
fn signing_key(
    signed: &content::Signed<'_>,
    artifact: &Artifact<'_>,
    keys: &[TrustedKey],
) -> Result<(TrustedKey, usize, Scheme), BundleError> {
    let mut last = BundleError::Invalid("the bundle is signed with a key, but no key (--key / -p) was given".into());
    for (index, key) in keys.iter().enumerate() {
        match content::verify_signature(signed, artifact, key) {
            Ok(scheme) => return Ok((key.clone(), index, scheme)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Size cap, duplicate keys, the protobuf-specs decode, and the media type's version.
fn parse(bytes: &[u8]) -> Result<(Bundle, u8), BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    crate::oci::json::check(bytes, crate::oci::json::fields::BUNDLE).map_err(|e| BundleError::Json(e.to_string()))?;
    let mut tree: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| BundleError::Json(e.to_string()))?;
    strip_base64_line_breaks(&mut tree, false);
    let bundle: Bundle = serde_json::from_value(tree).map_err(|e| BundleError::Json(e.to_string()))?;
    let minor = BUNDLE_MEDIA_TYPES
        .iter()
        .find(|(m, _)| *m == bundle.media_type)
        .map(|(_, v)| *v)
        .ok_or_else(|| BundleError::MediaType(bundle.media_type.clone()))?;
    Ok((bundle, minor))
}

/// The protobuf `bytes` fields of a bundle: base64 that Go's decoder (protojson, hence sigstore-go) reads with
/// its line breaks skipped, so a wrapped value means the same bytes here.
const BYTES_FIELDS: &[&str] = &[
    "rawBytes",
    "signature",
    "sig",
    "payload",
    "digest",
    "keyId",
    "canonicalizedBody",
    "signedEntryTimestamp",
    "rootHash",
    "hashes",
    "signedTimestamp",
];

fn strip_base64_line_breaks(value: &mut serde_json::Value, bytes_field: bool) {
    match value {
        serde_json::Value::String(s) if bytes_field => s.retain(|c| c != '\r' && c != '\n'),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_base64_line_breaks(v, bytes_field)),
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                strip_base64_line_breaks(v, BYTES_FIELDS.contains(&key.as_str()));
            }
        }
        _ => {}
    }
}

fn signing(material: Option<&Material>, minor: u8) -> Result<Signing, BundleError> {
    let invalid = |m: &str| Err(BundleError::Invalid(m.to_string()));
    match material {
        Some(Material::PublicKey(_)) => Ok(Signing::Key),
        Some(Material::Certificate(c)) => {
            Ok(Signing::Certificate { leaf: c.raw_bytes.clone(), intermediates: Vec::new() })
        }
        Some(Material::X509CertificateChain(_)) if minor >= 3 => {
            invalid("a v0.3 bundle must carry one certificate, not a certificate chain")
        }
        Some(Material::X509CertificateChain(chain)) => {
            let mut certs: Vec<Vec<u8>> = chain.certificates.iter().map(|c| c.raw_bytes.clone()).collect();
            if certs.is_empty() || certs[0].is_empty() {
                return invalid("the bundle's certificate chain is empty");
            }
            if certs.iter().any(|c| leaf::is_self_issued(c)) {
                return invalid("the bundle's certificate chain contains a root certificate");
            }
            let leaf = certs.remove(0);
            Ok(Signing::Certificate { leaf, intermediates: certs })
        }
        None => invalid("the bundle has no verification material (key hint or certificate)"),
    }
}

type Observed = (Vec<i64>, Vec<(String, i64)>);

/// Verifies every transparency-log entry and RFC 3161 timestamp; returns the log indexes and the verified times.
fn observe(
    material: &VerificationMaterial,
    minor: u8,
    signed: &content::Signed<'_>,
    signer: tlog::Signer<'_>,
    artifact: &Artifact<'_>,
    root: &TrustRoot,
    now: i64,
) -> Result<Observed, BundleError> {
    let invalid = BundleError::Invalid;
    let entries = &material.tlog_entries;
    let stamps =
        material.timestamp_verification_data.as_ref().map(|t| t.rfc3161_timestamps.as_slice()).unwrap_or_default();
    if entries.len() > MAX_ENTRIES || stamps.len() > MAX_ENTRIES {
        return Err(invalid(format!("more than {MAX_ENTRIES} transparency log entries or timestamps")));
    }
    if entries.is_empty() {
        return Err(invalid("the bundle has no transparency log entry".into()));
    }
    let mut times = Vec::new();
    for stamp in stamps {
        let ok = tsa::verify_timestamp(&stamp.signed_timestamp, signed.signature, &root.tsas)
            .map_err(|e| invalid(format!("RFC 3161 timestamp: {e}")))?;
        times.push((format!("tsa {}", ok.authority), ok.time));
    }
    let tsa_times: Vec<i64> = times.iter().map(|(_, t)| *t).collect();
    let logged = tlog::Logged {
        signature: signed.signature,
        signer,
        hashed: signed.hashed(artifact),
        dsse: signed.dsse.as_ref().map(|d| tlog::Dsse { payload: d.payload, signatures: vec![signed.signature] }),
    };
    let mut log_indexes = Vec::new();
    for entry in entries {
        let ok = tlog::verify(entry, minor, &logged, root, now).map_err(invalid)?;
        if ok.v2 && tsa_times.is_empty() {
            return Err(invalid("a Rekor v2 entry has no integrated time: an RFC 3161 timestamp is required".into()));
        }
        if ok.v2 && !tsa_times.iter().all(|t| ok.log_valid.contains(*t)) {
            return Err(invalid(format!("the transparency log {} was not valid at the timestamp", ok.log)));
        }
        if let Some(t) = ok.integrated_time {
            times.push((format!("rekor {}", ok.log), t));
        }
        log_indexes.push(ok.log_index);
    }
    if times.is_empty() {
        return Err(invalid(
            "no verified timestamp: the log entries carry no inclusion promise and there is no RFC 3161 timestamp"
                .into(),
        ));
    }
    Ok((log_indexes, times))
}

#[cfg(test)]
mod tests;
