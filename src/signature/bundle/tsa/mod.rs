//! RFC 3161 timestamps of a sigstore bundle (`timestampVerificationData.rfc3161Timestamps[].signedTimestamp`),
//! verified the way sigstore-go does: `pkg/verify/tsa.go` tries every timestamp authority of the trusted root
//! (`pkg/root/timestamping_authority.go`), which defers to sigstore/timestamp-authority
//! `pkg/verification/verify.go` and digitorus `timestamp` / `pkcs7` (`verify.go`).
//!
//! - The bytes are the DER `TimeStampResp` the TSA answered with (protobuf-specs `RFC3161SignedTimestamp`,
//!   digitorus `ParseResponse`): strict DER, nothing after it, status *granted* (0), and a `timeStampToken`
//!   that is a CMS `signedData` encapsulating an `id-ct-TSTInfo`. A bare token is refused, as sigstore-go does.
//! - `TSTInfo`: version 1; `messageImprint` is SHA-256/384/512 (SHA-1 refused, `ErrWeakHashAlg`) of the bundle
//!   signature; `genTime` is the time. Nonce, policy, accuracy and ordering are not checked.
//! - Exactly one `SignerInfo` (`GetOnlySigner`), digest SHA-256/384/512, with signed attributes: `content-type`
//!   id-ct-TSTInfo, `message-digest` = that digest of the TSTInfo, and a `signing-time`, if any, within the
//!   signing certificate's validity. The signature covers the attributes' DER as a `SET OF` (RFC 5652 §5.4):
//!   ECDSA (P-256/384/521), RSA PKCS#1 v1.5 (2048–8192 bits) or Ed25519, with digitorus' pairing of signature
//!   OID and digest. (Stricter than digitorus, which also takes BER, SHA-1 digests, unsigned content and no
//!   content-type; laxer only in also finding the signer by subjectKeyIdentifier.)
//! - The signing certificate is the embedded one the `sid` names (issuerAndSerialNumber, or a
//!   subjectKeyIdentifier), or — a token without certificates — the authority's leaf. An authority's chain is
//!   leaf first (unless it is a CA), intermediates, root last; when it has a leaf, the signer must be it.
//! - The signer chains through the authority's intermediates (and the embedded certificates) to its root, every
//!   certificate valid at `genTime` (not now: timestamp-authority #1384; conformance
//!   `rekor2-timestamp-with-expired-cert-chain` passes, `rekor2-timestamp-outside-tsa-cert-validity_fail` fails),
//!   each (root included, as Go's `x509.Verify`) with an extended key usage allowing time stamping or any
//!   purpose, if it has one. The signer is not a CA and has a critical extended key usage of exactly
//!   id-kp-timeStamping (`verifyLeafCert`).
//! - `genTime` lies within the authority's `validFor` window, both ends inclusive.
//!
//! Not checked, as in sigstore-go: the ESS signing-certificate hash, revocation. A fractional `genTime` must
//! satisfy every bound exactly; [`Stamp::time`] is its whole second.

use std::time::Duration;

use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::{ObjectIdentifier as Oid, SubjectPublicKeyInfoOwned};

use super::root::Authority;

/// A verified timestamp: the TSTInfo `genTime` (Unix seconds) and which authority signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub time: i64,
    pub authority: String,
}

/// A timestamp response is a few kilobytes; this bounds the parsing work.
const MAX_TOKEN_BYTES: usize = 256 << 10;
pub(super) const MAX_EMBEDDED_CERTS: usize = 16;

mod cms;
#[cfg(test)]
mod tests;

use cms::*;

/// Verifies one DER `TimeStampResp` over `signature` (the bundle's signature bytes) against `tsas`.
pub fn verify_timestamp(token: &[u8], signature: &[u8], tsas: &[Authority]) -> Result<Stamp, String> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(format!("timestamp is larger than {MAX_TOKEN_BYTES} bytes"));
    }
    let parsed = parse_response(token)?;
    let tst = parse_tst_info(parsed.tst_info)?;
    if tst.hash.digest(signature) != tst.hashed_message {
        return Err("timestamp message imprint does not match the signature".into());
    }
    let signing_time = check_signed_attributes(&parsed)?;
    let time = i64::try_from(tst.time.secs).map_err(|_| "timestamp genTime out of range")?;
    let (mut rejected, mut not_signer) = (None, Vec::new());
    for tsa in tsas {
        match verify_with(&parsed, tst.time, signing_time, tsa) {
            Ok(()) => return Ok(Stamp { time, authority: tsa.name.clone() }),
            Err(Failure::Rejected(e)) => {
                rejected.get_or_insert_with(|| format!("{e} ({})", tsa.name));
            }
            Err(Failure::NotSigner(e)) => not_signer.push(format!("{}: {e}", tsa.name)),
        }
    }
    if not_signer.is_empty() {
        not_signer.push("the trusted root lists none".into());
    }
    Err(rejected.unwrap_or_else(|| {
        format!("timestamp not signed by a trusted timestamp authority ({})", not_signer.join("; "))
    }))
}

/// Why one authority did not verify a token.
enum Failure {
    /// The token is not this authority's (another signer, or a certificate that does not chain to it).
    NotSigner(String),
    /// The token is this authority's but breaks a rule (validity, key usage, signature).
    Rejected(String),
}

/// The parts of a timestamp token that are verified.
/// An authority's chain as sigstore-go splits it (`ParseTimestampingAuthority`).
struct Chain<'a> {
    leaf: Option<&'a [u8]>,
    intermediates: &'a [Vec<u8>],
    root: &'a [u8],
}

fn split_chain(tsa: &Authority) -> Result<Chain<'_>, String> {
    let (root, rest) = tsa.chain.split_last().ok_or("the authority has no certificate")?;
    let ca = |der: &[u8]| Certificate::from_der(der).map(|c| is_ca(&c)).map_err(|e| format!("its certificate: {e}"));
    match rest.split_first() {
        None if !ca(root)? => Err("the authority's only certificate is not a CA".into()),
        Some((first, intermediates)) if !ca(first)? => Ok(Chain { leaf: Some(first), intermediates, root }),
        _ => Ok(Chain { leaf: None, intermediates: rest, root }),
    }
}

/// All the rules tied to one authority.
fn verify_with(token: &Token<'_>, time: GenTime, signing_time: Option<u64>, tsa: &Authority) -> Result<(), Failure> {
    let chain = split_chain(tsa).map_err(Failure::NotSigner)?;
    let signer_der = signing_certificate(token, chain.leaf).map_err(Failure::NotSigner)?;
    if chain.leaf.is_some_and(|leaf| leaf != signer_der) {
        return Err(Failure::NotSigner("the token's signing certificate is not the authority's".into()));
    }
    let fail = |e: String| if chain.leaf.is_some() { Failure::Rejected(e) } else { Failure::NotSigner(e) };
    let signer = Certificate::from_der(signer_der).map_err(|e| fail(format!("the signing certificate: {e}")))?;
    verify_signature(&token.signer, signer.tbs_certificate().subject_public_key_info()).map_err(fail)?;
    if signing_time.is_some_and(|t| !valid_at(&signer, t)) {
        return Err(fail("timestamp outside the validity of the TSA certificate (its signing-time attribute)".into()));
    }
    verify_chain(signer_der, &token.certificates, &chain, time, fail)?;
    check_tsa_leaf(&signer).map_err(Failure::Rejected)?;
    if !time.bounds().all(|t| i64::try_from(t).is_ok_and(|t| tsa.valid.contains(t))) {
        let window = format!("{}..{}", tsa.valid.start, tsa.valid.end.map_or(String::new(), |e| e.to_string()));
        return Err(Failure::Rejected(format!(
            "timestamp outside the validity of the authority in the trusted root (validFor {window})"
        )));
    }
    Ok(())
}

/// The embedded certificate the SignerInfo names, or the authority's leaf for a token without certificates.
fn signing_certificate<'a>(token: &Token<'a>, leaf: Option<&'a [u8]>) -> Result<&'a [u8], String> {
    if token.certificates.is_empty() {
        let leaf = leaf.ok_or("the token embeds no certificate and the authority lists no leaf")?;
        return names(&token.signer.sid, leaf)
            .then_some(leaf)
            .ok_or("the SignerInfo does not name the authority's leaf".into());
    }
    token
        .certificates
        .iter()
        .copied()
        .find(|c| names(&token.signer.sid, c))
        .ok_or("no embedded certificate matches the SignerInfo".into())
}

fn names(sid: &Sid<'_>, der: &[u8]) -> bool {
    let Ok(cert) = Certificate::from_der(der) else { return false };
    let tbs = cert.tbs_certificate();
    match sid {
        Sid::IssuerSerial(issuer, serial) => {
            tbs.issuer().to_der().is_ok_and(|i| i == *issuer)
                && tbs.serial_number().to_der().is_ok_and(|s| s == *serial)
        }
        Sid::KeyId(id) => extension(&cert, SUBJECT_KEY_ID)
            .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|ski| ski.0.as_bytes() == *id),
    }
}

/// The signature over the signed attributes' DER with the universal `SET OF` tag in place of `[0]`.
fn verify_signature(signer: &SignerInfo<'_>, spki: &SubjectPublicKeyInfoOwned) -> Result<(), String> {
    let algorithm = verification_algorithm(signer.signature_algorithm, signer.digest, spki)?;
    let key = spki.subject_public_key.as_bytes().ok_or("the signing certificate's key is not whole bytes")?;
    let mut message = signer.signed_attrs.raw.to_vec();
    message[0] = SET;
    UnparsedPublicKey::new(algorithm, key)
        .verify(&message, signer.signature)
        .map_err(|_| "invalid timestamp signature: it does not verify with the signing certificate's key".into())
}

/// digitorus/pkcs7 `getSignatureAlgorithm`: ECDSA takes the hash its OID names (or the digest algorithm, for
/// a bare id-ecPublicKey); RSA always the digest algorithm.
fn verification_algorithm(
    oid: &[u8],
    digest: Hash,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<&'static dyn VerificationAlgorithm, String> {
    let unsupported = || {
        format!(
            "unsupported timestamp signature algorithm {}",
            Oid::from_bytes(oid).map_or("?".into(), |o| o.to_string())
        )
    };
    let key = spki.algorithm.oid;
    if key == RSA_ENCRYPTION && RSA_SIGNATURES.iter().any(|o| o.as_bytes() == oid) {
        return Ok(match digest {
            Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        });
    }
    if key == ED25519 && oid == ED25519.as_bytes() {
        return Ok(&sig::ED25519);
    }
    let named = [
        (EC_PUBLIC_KEY, digest),
        (ECDSA_SHA256, Hash::Sha256),
        (ECDSA_SHA384, Hash::Sha384),
        (ECDSA_SHA512, Hash::Sha512),
    ];
    let hash = named
        .iter()
        .find(|(o, _)| o.as_bytes() == oid)
        .map(|(_, h)| *h)
        .filter(|_| key == EC_PUBLIC_KEY)
        .ok_or_else(unsupported)?;
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.decode_as::<Oid>().ok()).ok_or_else(unsupported)?;
    Ok(match (curve, hash) {
        (P256, Hash::Sha256) => &sig::ECDSA_P256_SHA256_ASN1,
        (P256, Hash::Sha384) => &sig::ECDSA_P256_SHA384_ASN1,
        (P256, Hash::Sha512) => &sig::ECDSA_P256_SHA512_ASN1,
        (P384, Hash::Sha256) => &sig::ECDSA_P384_SHA256_ASN1,
        (P384, Hash::Sha384) => &sig::ECDSA_P384_SHA384_ASN1,
        (P384, Hash::Sha512) => &sig::ECDSA_P384_SHA512_ASN1,
        (P521, Hash::Sha256) => &sig::ECDSA_P521_SHA256_ASN1,
        (P521, Hash::Sha384) => &sig::ECDSA_P521_SHA384_ASN1,
        (P521, Hash::Sha512) => &sig::ECDSA_P521_SHA512_ASN1,
        _ => return Err(unsupported()),
    })
}

/// The path from the signer through the authority's intermediates and the embedded certificates to the
/// authority's root, every certificate valid at `time` (webpki leaves the root's own validity to us).
fn verify_chain(
    signer: &[u8],
    embedded: &[&[u8]],
    chain: &Chain<'_>,
    time: GenTime,
    fail: impl Fn(String) -> Failure,
) -> Result<(), Failure> {
    let root_der = CertificateDer::from(chain.root);
    let anchors =
        [webpki::anchor_from_trusted_cert(&root_der).map_err(|e| fail(format!("the authority's root: {e}")))?];
    let root = Certificate::from_der(chain.root).map_err(|e| fail(format!("the authority's root: {e}")))?;
    // Go's x509 key-usage check covers the root too; webpki does not look at a trust anchor's.
    let allowed =
        |usages: ExtendedKeyUsage| usages.0.iter().any(|u| [TIME_STAMPING, ANY_EXTENDED_KEY_USAGE].contains(u));
    let root_usages = extension(&root, EXTENDED_KEY_USAGE).map(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()));
    if root_usages.is_some_and(|usages| !usages.is_ok_and(allowed)) {
        return Err(fail("the authority's root does not allow time stamping".into()));
    }
    let intermediates: Vec<CertificateDer<'_>> = chain
        .intermediates
        .iter()
        .map(Vec::as_slice)
        .chain(embedded.iter().copied())
        .map(CertificateDer::from)
        .collect();
    let leaf_der = CertificateDer::from(signer);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| fail(format!("the signing certificate: {e}")))?;
    for secs in time.bounds() {
        let at = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            at,
            TimeStampingUsage,
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                Failure::Rejected(format!("timestamp outside the validity of the TSA certificate chain: {e}"))
            }
            e => fail(format!("the signing certificate's chain to the authority's root does not verify: {e}")),
        })?;
        if !valid_at(&root, secs) {
            return Err(Failure::Rejected("timestamp outside the validity of the TSA root certificate".into()));
        }
    }
    Ok(())
}

/// Go's `x509.Verify` with `ExtKeyUsageTimeStamping`: a certificate with extended key usages must allow time
/// stamping (or any purpose); one without is unrestricted. The leaf's stricter rule is [`check_tsa_leaf`].
struct TimeStampingUsage;

impl webpki::ExtendedKeyUsageValidator for TimeStampingUsage {
    fn validate(&self, usages: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        let allowed = |usage: &webpki::KeyPurposeId<'_>| {
            [TIME_STAMPING, ANY_EXTENDED_KEY_USAGE].iter().any(|o| *usage == webpki::KeyPurposeId::new(o.as_bytes()))
        };
        let mut none = true;
        for usage in usages {
            if allowed(&usage?) {
                return Ok(());
            }
            none = false;
        }
        if none {
            return Ok(());
        }
        Err(webpki::Error::RequiredEkuNotFoundContext(webpki::RequiredEkuNotFoundContext {
            required: webpki::KeyUsage::required(TIME_STAMPING.as_bytes()),
            present: Vec::new(),
        }))
    }
}

/// timestamp-authority `verifyLeafCert`: an end entity whose extended key usage is critical and exactly
/// id-kp-timeStamping (RFC 3161 §2.3).
fn check_tsa_leaf(cert: &Certificate) -> Result<(), String> {
    if is_ca(cert) {
        return Err("the TSA certificate must be an end-entity certificate, not a CA".into());
    }
    let eku = extension(cert, EXTENDED_KEY_USAGE).ok_or("the TSA certificate has no extended key usage")?;
    let usages =
        ExtendedKeyUsage::from_der(eku.extn_value.as_bytes()).map_err(|e| format!("the TSA certificate: {e}"))?;
    if !(eku.critical && usages.0 == [TIME_STAMPING]) {
        return Err("the TSA certificate's extended key usage must be critical and only id-kp-timeStamping".into());
    }
    Ok(())
}

fn extension(cert: &Certificate, oid: Oid) -> Option<&x509_cert::ext::Extension> {
    cert.tbs_certificate().extensions()?.iter().find(|e| e.extn_id == oid)
}

fn is_ca(cert: &Certificate) -> bool {
    extension(cert, BASIC_CONSTRAINTS)
        .and_then(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .is_some_and(|b| b.ca)
}

fn valid_at(cert: &Certificate, secs: u64) -> bool {
    let validity = cert.tbs_certificate().validity();
    validity.not_before.to_unix_duration().as_secs() <= secs && secs <= validity.not_after.to_unix_duration().as_secs()
}
