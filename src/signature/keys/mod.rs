//! Trusted public keys (PEM `PUBLIC KEY` / `RSA PUBLIC KEY`) and the signature schemes they accept: ECDSA
//! P-256/P-384/P-521 (SHA-256 or the curve's hash, DER or IEEE-P1363), RSA PKCS#1 v1.5 SHA-256, Ed25519 and Ed25519ph.

mod der;
pub(crate) use der::rsa_spki_from_pkcs1;
mod pem;
pub(crate) use pem::first_block as first_pem_block;

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{self as awslc, ParsedPublicKey};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest as _, Sha256, Sha512};
use sigstore::crypto::{CosignVerificationKey, Signature as SigstoreSignature};

/// Go's `base64.StdEncoding`: standard alphabet, canonical padding required, non-zero trailing bits tolerated.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a base64 signature the way Go's `base64.StdEncoding.DecodeString` does: `\r` and `\n` anywhere are
/// ignored, padding is required, anything else outside the standard alphabet is an error.
pub fn decode_signature_base64(s: &str) -> Result<Vec<u8>, SigError> {
    let cleaned: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    GO_STD_BASE64.decode(&cleaned).map_err(|e| SigError::Base64(e.to_string()))
}

/// A public key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading public key {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("public key {}: no PEM block found", file.display())]
    NoPem { file: PathBuf },
    #[error("public key {}: malformed PEM block: {reason}", file.display())]
    BadPem { file: PathBuf, reason: String },
    #[error("public key {}: unknown Public key PEM file type: {pem_type}. Are you passing the correct public key?", file.display())]
    UnknownType { file: PathBuf, pem_type: String },
    #[error("public key {}: {reason}", file.display())]
    Invalid { file: PathBuf, reason: String },
    #[error(
        "public key {}: the file holds {blocks} PEM blocks; airlock reads one key per file (give -p once per key)",
        file.display()
    )]
    SeveralBlocks { file: PathBuf, blocks: usize },
}

/// A signature did not verify (or could not even be decoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("base64 decoding: {0}")]
    Base64(String),
    #[error("cryptographic signature verification failed: {0}")]
    Failed(String),
}

/// Which signature scheme matched, e.g. `ecdsa-p384-sha256-der`; recorded in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scheme(&'static str);

impl Scheme {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

/// How a key verifies: sigstore's scheme for what it covers, plus the extra checks it lacks.
#[derive(Clone)]
enum Kind {
    /// `sha256` is aws-lc-rs's SHA-256 verifier for P-384/P-521 (P-256's own hash already is SHA-256).
    Ecdsa {
        curve: Curve,
        sha256: Option<ParsedPublicKey>,
    },
    Rsa,
    Ed25519 {
        ed25519ph: ed25519_dalek::VerifyingKey,
    },
}

/// A public key the user trusts, loaded from a PEM file.
#[derive(Clone)]
pub struct TrustedKey {
    pub file: PathBuf,
    /// DER SubjectPublicKeyInfo (PKCS#1 `RSA PUBLIC KEY` input is wrapped into one).
    pub spki_der: Vec<u8>,
    sigstore: CosignVerificationKey,
    kind: Kind,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("file", &self.file)
            .field("algorithm", &self.algorithm())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

impl TrustedKey {
    /// Reads and parses a PEM public key file.
    pub fn load(path: &Path) -> Result<TrustedKey, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_path_buf(), source })?;
        TrustedKey::from_pem(path.to_path_buf(), &pem)
    }

    /// Reads a key file given on the command line (`-p`, `--key`, `--rekor-pubkey`): exactly one PEM block, so
    /// a bundle of keys is not silently read as its first key. (Policy key files keep containers-image's rule:
    /// the first block.)
    pub fn load_one(path: &Path) -> Result<TrustedKey, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Read { path: path.to_path_buf(), source })?;
        let blocks = String::from_utf8_lossy(&pem).lines().filter(|l| l.starts_with("-----BEGIN ")).count();
        if blocks > 1 {
            return Err(KeyError::SeveralBlocks { file: path.to_path_buf(), blocks });
        }
        TrustedKey::from_pem(path.to_path_buf(), &pem)
    }

    /// Parses the first PEM block of `pem`; `file` is only used to name the key in messages and reports.
    pub fn from_pem(file: PathBuf, pem: &[u8]) -> Result<TrustedKey, KeyError> {
        let block = match pem::first_block(pem) {
            Ok(Some(block)) => block,
            Ok(None) => return Err(KeyError::NoPem { file }),
            Err(reason) => return Err(KeyError::BadPem { file, reason }),
        };
        let spki_der = match block.label.as_str() {
            "PUBLIC KEY" => block.der,
            "RSA PUBLIC KEY" => match der::read_tlv(&block.der) {
                Some((der::SEQUENCE, _, [])) => der::rsa_spki_from_pkcs1(&block.der),
                _ => return Err(KeyError::Invalid { file, reason: "malformed PKCS#1 RSA public key".into() }),
            },
            other => return Err(KeyError::UnknownType { file, pem_type: other.to_string() }),
        };
        TrustedKey::from_spki(file, spki_der)
    }

    pub(crate) fn from_spki(file: PathBuf, spki_der: Vec<u8>) -> Result<TrustedKey, KeyError> {
        let invalid = |reason: String| KeyError::Invalid { file: file.clone(), reason };
        let sigstore = CosignVerificationKey::try_from_der(&spki_der).map_err(|e| invalid(e.to_string()))?;
        let parse = |alg: &'static dyn awslc::VerificationAlgorithm| {
            ParsedPublicKey::new(alg, &spki_der).map_err(|e| invalid(format!("invalid public key: {e}")))
        };
        let kind = match &sigstore {
            CosignVerificationKey::ECDSA_P256_SHA256_ASN1(_) => {
                parse(&awslc::ECDSA_P256_SHA256_ASN1)?;
                Kind::Ecdsa { curve: Curve::P256, sha256: None }
            }
            CosignVerificationKey::ECDSA_P384_SHA384_ASN1(_) => {
                Kind::Ecdsa { curve: Curve::P384, sha256: Some(parse(&awslc::ECDSA_P384_SHA256_ASN1)?) }
            }
            CosignVerificationKey::ECDSA_P521_SHA512_ASN1(_) => {
                Kind::Ecdsa { curve: Curve::P521, sha256: Some(parse(&awslc::ECDSA_P521_SHA256_ASN1)?) }
            }
            CosignVerificationKey::RSA_PKCS1_SHA256(_) | CosignVerificationKey::RSA_PSS_SHA256(_) => {
                parse(&awslc::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(|_| invalid("RSA public key rejected (malformed, or shorter than 2048 bits)".into()))?;
                Kind::Rsa
            }
            CosignVerificationKey::ED25519(_) => {
                let raw = der::spki_key_bits(&spki_der)
                    .and_then(|bits| <[u8; 32]>::try_from(bits).ok())
                    .ok_or_else(|| invalid("malformed Ed25519 public key".into()))?;
                let ed25519ph = ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map_err(|_| invalid("invalid Ed25519 public key point".into()))?;
                Kind::Ed25519 { ed25519ph }
            }
        };
        Ok(TrustedKey { file, spki_der, sigstore, kind })
    }

    /// Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(&self.spki_der))
    }

    /// `ecdsa-p256`, `ecdsa-p384`, `ecdsa-p521`, `rsa` or `ed25519`.
    pub fn algorithm(&self) -> &'static str {
        match &self.kind {
            Kind::Ecdsa { curve: Curve::P256, .. } => "ecdsa-p256",
            Kind::Ecdsa { curve: Curve::P384, .. } => "ecdsa-p384",
            Kind::Ecdsa { curve: Curve::P521, .. } => "ecdsa-p521",
            Kind::Rsa => "rsa",
            Kind::Ed25519 { .. } => "ed25519",
        }
    }

    /// Verifies `signature` over the exact bytes of `message`, trying every scheme this key type allows.
    /// Verifies a signature over a SHA-256 digest computed elsewhere (a blob too large to hold, hashed
    /// in a streaming pass): ECDSA with SHA-256 on any curve (DER or IEEE-P1363) and RSA PKCS#1 v1.5.
    /// Ed25519 signs the message itself, so it cannot be checked from a digest.
    pub fn verify_sha256_digest(&self, sha256: &[u8], signature: &[u8]) -> Result<Scheme, SigError> {
        let candidates: &[(&'static dyn awslc::VerificationAlgorithm, &'static str)] = match self.algorithm() {
            "ecdsa-p256" => &[
                (&awslc::ECDSA_P256_SHA256_ASN1, "ecdsa-p256-sha256-der"),
                (&awslc::ECDSA_P256_SHA256_FIXED, "ecdsa-p256-sha256-p1363"),
            ],
            "ecdsa-p384" => &[(&awslc::ECDSA_P384_SHA256_ASN1, "ecdsa-p384-sha256-der")],
            "ecdsa-p521" => &[
                (&awslc::ECDSA_P521_SHA256_ASN1, "ecdsa-p521-sha256-der"),
                (&awslc::ECDSA_P521_SHA256_FIXED, "ecdsa-p521-sha256-p1363"),
            ],
            "rsa" => &[(&awslc::RSA_PKCS1_2048_8192_SHA256, "rsa-pkcs1v15-sha256")],
            other => return Err(SigError::Failed(format!("a {other} key cannot verify a signature over a digest"))),
        };
        let digest = aws_lc_rs::digest::Digest::import_less_safe(sha256, &aws_lc_rs::digest::SHA256)
            .map_err(|_| SigError::Failed("not a SHA-256 digest".into()))?;
        for (alg, scheme) in candidates {
            if awslc::UnparsedPublicKey::new(*alg, &self.spki_der).verify_digest(&digest, signature).is_ok() {
                return Ok(Scheme(scheme));
            }
        }
        Err(SigError::Failed(format!("the signature does not verify with {}", self.file.display())))
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<Scheme, SigError> {
        match &self.kind {
            Kind::Ecdsa { curve, sha256 } => self.verify_ecdsa(*curve, sha256.as_ref(), message, signature),
            Kind::Rsa => {
                self.sigstore_verify(message, signature)
                    .map_err(|()| SigError::Failed("crypto/rsa: verification error".into()))?;
                Ok(Scheme("rsa-pkcs1v15-sha256"))
            }
            Kind::Ed25519 { ed25519ph } => {
                if self.sigstore_verify(message, signature).is_ok() {
                    return Ok(Scheme("ed25519"));
                }
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| SigError::Failed("ed25519: invalid signature".into()))?;
                ed25519ph
                    .verify_prehashed(Sha512::new().chain_update(message), None, &sig)
                    .map_err(|_| SigError::Failed("ed25519: invalid signature (tried Ed25519 and Ed25519ph)".into()))?;
                Ok(Scheme("ed25519ph"))
            }
        }
    }

    /// ECDSA with SHA-256 over `message`, DER signature only: what a Rekor SET is.
    pub(crate) fn verify_ecdsa_sha256_der(&self, message: &[u8], signature: &[u8]) -> Result<(), SigError> {
        let failed = || SigError::Failed("invalid signature when validating ASN.1 encoded signature".into());
        match &self.kind {
            Kind::Ecdsa { curve: Curve::P256, .. } => self.sigstore_verify(message, signature).map_err(|()| failed()),
            Kind::Ecdsa { sha256: Some(key), .. } => key.verify_sig(message, signature).map_err(|_| failed()),
            _ => Err(SigError::Failed(format!("{} is not an ECDSA key", self.file.display()))),
        }
    }

    fn sigstore_verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ()> {
        self.sigstore.verify_signature(SigstoreSignature::Raw(signature), message).map_err(|_| ())
    }

    fn verify_ecdsa(
        &self,
        curve: Curve,
        sha256: Option<&ParsedPublicKey>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<Scheme, SigError> {
        let (der_sig, p1363) = match der::ecdsa_sig_prefix(signature) {
            Some(der_len) if der_len == signature.len() => (signature.to_vec(), false),
            Some(_) => {
                return Err(SigError::Failed(
                    "invalid signature when validating ASN.1 encoded signature (trailing data)".into(),
                ));
            }
            None if signature.len() == 2 * curve.field_len() => {
                let (r, s) = signature.split_at(curve.field_len());
                (der::ecdsa_sig_from_p1363(r, s), true)
            }
            None => {
                return Err(SigError::Failed(format!(
                    "ecdsa: Invalid IEEE_P1363 encoded bytes (a {} signature is ASN.1 DER or exactly {} bytes)",
                    curve.name(),
                    2 * curve.field_len()
                )));
            }
        };
        if let Some(key) = sha256
            && key.verify_sig(message, &der_sig).is_ok()
        {
            return Ok(Scheme(scheme_name(curve, true, p1363)));
        }
        if self.sigstore_verify(message, &der_sig).is_ok() {
            return Ok(Scheme(scheme_name(curve, curve == Curve::P256, p1363)));
        }
        let encoding = if p1363 { "IEEE_P1363" } else { "ASN.1" };
        Err(SigError::Failed(format!("invalid signature when validating {encoding} encoded signature")))
    }
}

fn scheme_name(curve: Curve, sha256: bool, p1363: bool) -> &'static str {
    match (curve, sha256, p1363) {
        (Curve::P256, _, false) => "ecdsa-p256-sha256-der",
        (Curve::P256, _, true) => "ecdsa-p256-sha256-p1363",
        (Curve::P384, true, false) => "ecdsa-p384-sha256-der",
        (Curve::P384, true, true) => "ecdsa-p384-sha256-p1363",
        (Curve::P384, false, false) => "ecdsa-p384-sha384-der",
        (Curve::P384, false, true) => "ecdsa-p384-sha384-p1363",
        (Curve::P521, true, false) => "ecdsa-p521-sha256-der",
        (Curve::P521, true, true) => "ecdsa-p521-sha256-p1363",
        (Curve::P521, false, false) => "ecdsa-p521-sha512-der",
        (Curve::P521, false, true) => "ecdsa-p521-sha512-p1363",
    }
}

/// Tries every key in order; the first that verifies wins. On failure the error lists each key's reason
/// (naming the key file when there are several), as containers-image does.
pub fn verify_with_any(keys: &[TrustedKey], message: &[u8], signature: &[u8]) -> Result<(usize, Scheme), SigError> {
    let mut reasons = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        match key.verify(message, signature) {
            Ok(scheme) => return Ok((index, scheme)),
            Err(SigError::Failed(detail) | SigError::Base64(detail)) if keys.len() > 1 => {
                reasons.push(format!("{}: {detail}", key.file.display()))
            }
            Err(SigError::Failed(detail) | SigError::Base64(detail)) => reasons.push(detail),
        }
    }
    if reasons.is_empty() {
        reasons.push("no trusted keys".into());
    }
    Err(SigError::Failed(reasons.join(", ")))
}

#[cfg(test)]
mod tests;
