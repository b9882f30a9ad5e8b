//! Trusted public keys (PEM `PUBLIC KEY` / `RSA PUBLIC KEY`) and the signature schemes they accept: ECDSA
//! P-256/P-384/P-521 (SHA-256 or the curve's hash, DER or IEEE-P1363), RSA PKCS#1 v1.5 SHA-256, Ed25519 and Ed25519ph.

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

/// The first PEM block of a file, as Go's `encoding/pem` finds it.
mod pem {
    use base64::Engine as _;

    pub struct Block {
        pub label: String,
        pub der: Vec<u8>,
    }

    /// `Ok(None)` when there is no `-----BEGIN` line at all.
    pub fn first_block(data: &[u8]) -> Result<Option<Block>, String> {
        let text = String::from_utf8_lossy(data);
        let mut lines = text.lines().map(|l| l.trim_end_matches([' ', '\t', '\r']));
        let label = loop {
            let Some(line) = lines.next() else { return Ok(None) };
            if let Some(rest) = line.strip_prefix("-----BEGIN ") {
                break rest.strip_suffix("-----").ok_or("malformed BEGIN line")?.to_string();
            }
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut in_headers = true;
        loop {
            let line = lines.next().ok_or_else(|| format!("missing \"{end}\" line"))?;
            if line == end {
                break;
            }
            // Go accepts RFC 1421 headers ("Key: value") before the body; they carry nothing for a public key.
            if in_headers && line.contains(':') {
                continue;
            }
            in_headers = false;
            body.push_str(line.trim());
        }
        let der =
            super::GO_STD_BASE64.decode(body.as_bytes()).map_err(|e| format!("invalid base64 in PEM body: {e}"))?;
        Ok(Some(Block { label, der }))
    }
}

/// The few DER structures keys need: SPKI fields, PKCS#1 wrapping, ECDSA-Sig-Value.
mod der {
    pub const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OID: u8 = 0x06;

    /// One TLV with a definite, minimally encoded length: (tag, contents, rest).
    pub fn read_tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, data) = data.split_first()?;
        let (&first, data) = data.split_first()?;
        let (len, data) = if first < 0x80 {
            (first as usize, data)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || data.len() < n || data[0] == 0 {
                return None;
            }
            let len = data[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            if len < 0x80 {
                return None;
            }
            (len, &data[n..])
        };
        (data.len() >= len).then(|| (tag, &data[..len], &data[len..]))
    }

    fn is_der_integer(contents: &[u8]) -> bool {
        match contents {
            [] => false,
            [0x00, next, ..] => next & 0x80 != 0,
            [0xff, next, ..] => next & 0x80 == 0,
            _ => true,
        }
    }

    /// Length of a DER `SEQUENCE { INTEGER r, INTEGER s }` at the start of `sig`, or `None` if it does not
    /// start with one (then the bytes may be IEEE-P1363).
    pub fn ecdsa_sig_prefix(sig: &[u8]) -> Option<usize> {
        let (tag, contents, rest) = read_tlv(sig)?;
        let (r_tag, r, after_r) = read_tlv(contents)?;
        let (s_tag, s, after_s) = read_tlv(after_r)?;
        let ok = tag == SEQUENCE && r_tag == INTEGER && s_tag == INTEGER && after_s.is_empty();
        (ok && is_der_integer(r) && is_der_integer(s)).then_some(sig.len() - rest.len())
    }

    fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
        out.push(tag);
        let len = contents.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(contents);
    }

    fn push_unsigned_integer(out: &mut Vec<u8>, big_endian: &[u8]) {
        let trimmed: &[u8] = match big_endian.iter().position(|b| *b != 0) {
            Some(i) => &big_endian[i..],
            None => &[0],
        };
        let mut contents = Vec::with_capacity(trimmed.len() + 1);
        if trimmed[0] & 0x80 != 0 {
            contents.push(0);
        }
        contents.extend_from_slice(trimmed);
        push_tlv(out, INTEGER, &contents);
    }

    /// DER ECDSA-Sig-Value from IEEE-P1363 halves.
    pub fn ecdsa_sig_from_p1363(r: &[u8], s: &[u8]) -> Vec<u8> {
        let mut contents = Vec::new();
        push_unsigned_integer(&mut contents, r);
        push_unsigned_integer(&mut contents, s);
        let mut out = Vec::new();
        push_tlv(&mut out, SEQUENCE, &contents);
        out
    }

    /// SubjectPublicKeyInfo for a PKCS#1 RSAPublicKey (`rsaEncryption`, NULL parameters).
    pub fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
        let mut algorithm = Vec::new();
        push_tlv(&mut algorithm, OID, super::OID_RSA_ENCRYPTION);
        algorithm.extend_from_slice(&[0x05, 0x00]);
        let mut bits = vec![0u8];
        bits.extend_from_slice(pkcs1);
        let mut contents = Vec::new();
        push_tlv(&mut contents, SEQUENCE, &algorithm);
        push_tlv(&mut contents, BIT_STRING, &bits);
        let mut out = Vec::new();
        push_tlv(&mut out, SEQUENCE, &contents);
        out
    }

    fn spki_bits(spki: &[u8]) -> Option<&[u8]> {
        let (SEQUENCE, contents, []) = read_tlv(spki)? else { return None };
        let (SEQUENCE, _algorithm, rest) = read_tlv(contents)? else { return None };
        let (BIT_STRING, bits, []) = read_tlv(rest)? else { return None };
        Some(bits)
    }

    /// The subjectPublicKey bits of an SPKI (no unused bits allowed).
    pub fn spki_key_bits(spki: &[u8]) -> Option<&[u8]> {
        match spki_bits(spki)? {
            [0, key @ ..] => Some(key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Keys and signatures made once with the openssl 3.0 CLI (`openssl dgst -sha256|-sha384|-sha512 -sign`,
    //! `openssl pkeyutl -sign -rawin`); Ed25519ph with the RFC 8032 reference code (openssl 3.0 lacks it).
    use super::*;

    const MSG: &[u8] = br#"{"critical":{"identity":{"docker-reference":"registry.example/ns/app:v1"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}"#;

    const P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc5ryJiALcYeovJARvg33U8DY3YJV
PsGwBbzrFM7M4mtpNgFW2zsifeZN0ovcboUUbx81qp0n8QWvwxWBeXC3ZQ==
-----END PUBLIC KEY-----
";
    const OTHER_P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbITHhTtc0Q361R4VlnRN8G64xPQF
mJJ7aQMwDUDWG2FMnGaAni4ZOtRwzP7VOrQhA4UP6zXii3ZqrW/W1dm1tw==
-----END PUBLIC KEY-----
";
    const P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE2hXjUUEv2jfYp5dgo4h13+rA5FxJ6ejH
Mpl84EVwmSBYlDqwPijiF3uiM7k8jqzXeKAiywlvk+/KmcFgN9bfua8qkA+mENGe
hYIdCcWmn+EC698hNzl0KpebzG4/7C4Z
-----END PUBLIC KEY-----
";
    const P521_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAhkKWwmhecCHxb/k46iqrzoAjvl0q
+WrC60HD57cgiMbejHdf64ZKVpUf7/EZIkn0MlO4M+aKL4W0N40YhcvOXroBd6N4
SVv+fpIUWo3fVPrS2KPYraCKhu8JcC0KyRSTjp0YlRKx0bL6XgcJRH/3MMEBF5RU
0K28fDE0PnLvzFWAsxk=
-----END PUBLIC KEY-----
";
    const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr+t4Q/oKXptaKXfu/aqS
HxO/MQs6O7aMpm5jsCJKHAnlxinD6rb/DcSaZnNO8VN2UA/Lj2Nw8d+P688G1vUD
jd/k40YfsaMMsvObC2lGD0+aM/wmvjZ6IwN+3wwIoaxLIcc5fHL/AX3QIgtMg8aj
33v6AuhT+8n62T8So+PdNxSf4vSjgjfl4aDeVuNvMGEL9XjVYP5PFJ1nmD0isgvB
ctteovYELKD2BJrZUEEuK73KxIYTUq0F0wFzBDhsEJ+k6EthXp6wFR36RHwNEU+l
RhDQS/jL7rFVtVIrluitJNiRBivmlUzC/AcF91YgxC2wtIl7/3HsDLuZIe4NpSi9
YwIDAQAB
-----END PUBLIC KEY-----
";
    /// The same RSA key as `openssl rsa -RSAPublicKey_out` (PKCS#1).
    const RSA_PKCS1_PUB: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAr+t4Q/oKXptaKXfu/aqSHxO/MQs6O7aMpm5jsCJKHAnlxinD6rb/
DcSaZnNO8VN2UA/Lj2Nw8d+P688G1vUDjd/k40YfsaMMsvObC2lGD0+aM/wmvjZ6
IwN+3wwIoaxLIcc5fHL/AX3QIgtMg8aj33v6AuhT+8n62T8So+PdNxSf4vSjgjfl
4aDeVuNvMGEL9XjVYP5PFJ1nmD0isgvBctteovYELKD2BJrZUEEuK73KxIYTUq0F
0wFzBDhsEJ+k6EthXp6wFR36RHwNEU+lRhDQS/jL7rFVtVIrluitJNiRBivmlUzC
/AcF91YgxC2wtIl7/3HsDLuZIe4NpSi9YwIDAQAB
-----END RSA PUBLIC KEY-----
";
    const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAwWkChhlu5MIZAuDJj00Bdup0++eRxQ6XDfq/DS6fPJ8=
-----END PUBLIC KEY-----
";

    const SIG_P256: &str =
        "MEQCIEgJR9AqnnJhGMJSFmgHjNikdJiUEw4qQYnrEYHosfuxAiBcjOzNuR4cwuJO2QvuHgzMuvDy+II3YAZcO7TxKMN4AQ==";
    const SIG_P384_SHA256: &str = "MGQCMCfpWnJ+Jkz5TxGfwntjVN0oscHBpGkkwIjLny7cp7BdFPSjHDS7PIhX0GAvhUSHVQIwSqHg5/0+35ajEoWv6s+XK+GklTNw8oihjEsJyJyjEMitbuaYzpRFvy0629SX3Uk4";
    const SIG_P384_SHA384: &str = "MGYCMQC8cYLwDkl63cuy1X7bp2PRoIx/I2is8NYqZFQpRUh/iZW1vod8Gl4BjmPTGZHEN0UCMQC516GNzIDJUj/z4udQwwSeAZ7jm/9EqzQ5+BMVaZoAlrOE4abBMs+/LsfHP0a05W4=";
    const SIG_P521_SHA256: &str = "MIGIAkIB56xUFimqZconsLzE+pQMlTxShRTv8A04uOfWxoPLYSI2TKKMAwS3Z7FUQFzXzHfk+drpvusdPKY2e34DNA9WkRMCQgD6JaNR/ndPsJJZVg1iGr3krTcRCRo7WVi6vVcmnLqrj2atNOxbgnjL50uqvJRW+5ypvls0/hlE1fQR4NAurHSsUw==";
    const SIG_P521_SHA512: &str = "MIGHAkF0ZfUltVEj9vMks4+FefjVFWiY+87SseJ5kYQdlgCT1z9zvsd+A9+kVi91um+hQt2qEA4sOL5h2RmZSejHnIxt3gJCAT4oPCc2TfUY0O/ZRdvQfEURGUS45w0rvcGDuiPX0Sz0yQ5XTW3jDmhE2a/nFnQnAFxujfXg6F/oeN06OSJmy/ZZ";
    const SIG_RSA: &str = "NvcIcpKFwRNwRvf+Z0xqVey3qPXtPL2PHxkvyD+MA3zihCCaxFj7LX3Bx8eXCLn6a8fHwDhlgrQWLg84sooWYMA5oPuEOBpBit2pRYMlDMoU5+8CXyR3NbRw+KmCJqoGcWflasG8ulykJLIgVTehci3FNVg1LoJleFU5vnGlLiPhSVWCZzuhjEaQVXaErJo9ixiV6pFcavFvVDU0OG+iB1dRS7HYrBd59PubUviGRxurNPjh6g1n8Tl94hS0gjpkXRDcOCyo26F6ikoP4FlTq5ix2HzjTjmRTg5rg3jU4PifoSC1FhWLkIoAd07+9cKUm5Z882TzOG1uczpM+HSqCw==";
    const SIG_ED25519: &str =
        "IUsbcxYCN8gYXRjF8RIBC7ozNO9hnJ2pLBgxZTtCHip8B4zB2eNB+tLorKLwAAxFAcIq3VUC0B900NrlBn1KDA==";
    const SIG_ED25519PH: &str =
        "HWKy5QtjdY71ya0cp7ZR0CCUbmGTabSoxMswMqbv/QQP4NBjihTPgrEj7eiibKWgiUCqsPyR+Ojd2Owgx2l1CQ==";

    fn key(pem: &str) -> TrustedKey {
        TrustedKey::from_pem(PathBuf::from("test.pub"), pem.as_bytes()).expect("test key parses")
    }

    fn sig(b64: &str) -> Vec<u8> {
        decode_signature_base64(b64).expect("test signature decodes")
    }

    fn scheme(pem: &str, b64: &str) -> Result<&'static str, SigError> {
        key(pem).verify(MSG, &sig(b64)).map(Scheme::as_str)
    }

    /// DER ECDSA-Sig-Value → r‖s, each left-padded to `n` bytes.
    fn der_to_p1363(der_sig: &[u8], n: usize) -> Vec<u8> {
        let (_, seq, _) = der::read_tlv(der_sig).expect("sequence");
        let (_, r, rest) = der::read_tlv(seq).expect("r");
        let (_, s, _) = der::read_tlv(rest).expect("s");
        let mut out = Vec::new();
        for half in [r, s] {
            let half = half.strip_prefix(&[0]).unwrap_or(half);
            out.extend(std::iter::repeat_n(0, n - half.len()));
            out.extend_from_slice(half);
        }
        out
    }

    #[test]
    fn ecdsa_schemes() {
        assert_eq!(scheme(P256_PUB, SIG_P256), Ok("ecdsa-p256-sha256-der"));
        assert_eq!(scheme(P384_PUB, SIG_P384_SHA256), Ok("ecdsa-p384-sha256-der"));
        assert_eq!(scheme(P384_PUB, SIG_P384_SHA384), Ok("ecdsa-p384-sha384-der"));
        assert_eq!(scheme(P521_PUB, SIG_P521_SHA256), Ok("ecdsa-p521-sha256-der"));
        assert_eq!(scheme(P521_PUB, SIG_P521_SHA512), Ok("ecdsa-p521-sha512-der"));
    }

    #[test]
    fn ecdsa_p1363() {
        let p256 = der_to_p1363(&sig(SIG_P256), 32);
        assert_eq!(p256.len(), 64);
        assert_eq!(key(P256_PUB).verify(MSG, &p256).map(Scheme::as_str), Ok("ecdsa-p256-sha256-p1363"));
        let p384 = der_to_p1363(&sig(SIG_P384_SHA384), 48);
        assert_eq!(key(P384_PUB).verify(MSG, &p384).map(Scheme::as_str), Ok("ecdsa-p384-sha384-p1363"));
        let p521 = der_to_p1363(&sig(SIG_P521_SHA256), 66);
        assert_eq!(key(P521_PUB).verify(MSG, &p521).map(Scheme::as_str), Ok("ecdsa-p521-sha256-p1363"));
        // r‖s of the wrong length for the curve is neither encoding.
        let err = key(P384_PUB).verify(MSG, &p256).unwrap_err();
        assert!(err.to_string().contains("IEEE_P1363"), "{err}");
    }

    #[test]
    fn der_with_trailing_byte_rejected() {
        let mut bad = sig(SIG_P256);
        bad.push(0);
        let err = key(P256_PUB).verify(MSG, &bad).unwrap_err();
        assert!(err.to_string().starts_with("cryptographic signature verification failed: "), "{err}");
        assert!(err.to_string().contains("trailing data"), "{err}");
    }

    #[test]
    fn rsa_and_pkcs1_pem() {
        assert_eq!(scheme(RSA_PUB, SIG_RSA), Ok("rsa-pkcs1v15-sha256"));
        assert_eq!(scheme(RSA_PKCS1_PUB, SIG_RSA), Ok("rsa-pkcs1v15-sha256"));
        assert_eq!(key(RSA_PKCS1_PUB).spki_der, key(RSA_PUB).spki_der);
        assert_eq!(key(RSA_PKCS1_PUB).fingerprint(), key(RSA_PUB).fingerprint());
        assert_eq!(key(RSA_PUB).algorithm(), "rsa");
    }

    #[test]
    fn ed25519_pure_and_ph() {
        assert_eq!(scheme(ED25519_PUB, SIG_ED25519), Ok("ed25519"));
        assert_eq!(scheme(ED25519_PUB, SIG_ED25519PH), Ok("ed25519ph"));
        assert!(key(ED25519_PUB).verify(b"other message", &sig(SIG_ED25519PH)).is_err());
        assert!(key(ED25519_PUB).verify(MSG, &sig(SIG_ED25519)[..63]).is_err());
    }

    #[test]
    fn ed25519ph_rfc8032_vector() {
        // RFC 8032 §7.3, "abc".
        let public = hex::decode("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf").expect("hex");
        let signature = hex::decode(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
             31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
        )
        .expect("hex");
        let mut spki = hex::decode("302a300506032b6570032100").expect("hex");
        spki.extend_from_slice(&public);
        let key = TrustedKey::from_spki(PathBuf::from("rfc8032"), spki).expect("key");
        assert_eq!(key.verify(b"abc", &signature).map(Scheme::as_str), Ok("ed25519ph"));
    }

    #[test]
    fn wrong_key_and_tampered_message_rejected() {
        let err = scheme(OTHER_P256_PUB, SIG_P256).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"
        );
        let mut tampered = MSG.to_vec();
        tampered[10] ^= 1;
        for (pem, b64) in [
            (P256_PUB, SIG_P256),
            (P384_PUB, SIG_P384_SHA256),
            (P384_PUB, SIG_P384_SHA384),
            (P521_PUB, SIG_P521_SHA512),
            (RSA_PUB, SIG_RSA),
            (ED25519_PUB, SIG_ED25519),
            (ED25519_PUB, SIG_ED25519PH),
        ] {
            assert!(matches!(key(pem).verify(&tampered, &sig(b64)), Err(SigError::Failed(_))), "{b64}");
        }
        // A signature made for another key type.
        assert!(scheme(P384_PUB, SIG_P256).is_err());
        assert!(scheme(RSA_PUB, SIG_ED25519).is_err());
    }

    #[test]
    fn verify_with_any_reports_every_key() {
        let keys = [key(OTHER_P256_PUB), key(RSA_PUB), key(P256_PUB)];
        assert_eq!(
            verify_with_any(&keys, MSG, &sig(SIG_P256)).map(|(i, s)| (i, s.as_str())),
            Ok((2, "ecdsa-p256-sha256-der"))
        );
        let err = verify_with_any(&keys[..2], MSG, &sig(SIG_P256)).unwrap_err().to_string();
        assert_eq!(
            err,
            "cryptographic signature verification failed: test.pub: invalid signature when validating ASN.1 encoded \
             signature, test.pub: crypto/rsa: verification error"
        );
        assert!(verify_with_any(&[], MSG, &sig(SIG_P256)).is_err());
    }

    #[test]
    fn key_metadata() {
        fn shareable<T: Send + Sync>() {}
        shareable::<TrustedKey>();
        let k = key(P256_PUB);
        assert_eq!(k.algorithm(), "ecdsa-p256");
        assert_eq!(k.fingerprint(), hex::encode(Sha256::digest(&k.spki_der)));
        assert_eq!(k.fingerprint().len(), 64);
        assert_eq!(key(P384_PUB).algorithm(), "ecdsa-p384");
        assert_eq!(key(P521_PUB).algorithm(), "ecdsa-p521");
        assert_eq!(key(ED25519_PUB).algorithm(), "ed25519");
    }

    #[test]
    fn pem_rules() {
        // Only the first block counts; text around it is ignored.
        let two = format!("comment line\n{P256_PUB}{OTHER_P256_PUB}trailing junk");
        assert_eq!(key(&two).spki_der, key(P256_PUB).spki_der);
        let crlf = P256_PUB.replace('\n', "\r\n");
        assert_eq!(key(&crlf).spki_der, key(P256_PUB).spki_der);

        let load = |pem: &str| TrustedKey::from_pem(PathBuf::from("k.pub"), pem.as_bytes());
        assert!(matches!(load("not a key at all"), Err(KeyError::NoPem { .. })));
        let cert = P256_PUB.replace("PUBLIC KEY", "CERTIFICATE");
        let err = load(&cert).unwrap_err();
        assert!(matches!(&err, KeyError::UnknownType { pem_type, .. } if pem_type == "CERTIFICATE"));
        assert_eq!(
            err.to_string(),
            "public key k.pub: unknown Public key PEM file type: CERTIFICATE. Are you passing the correct public key?"
        );
        assert!(matches!(load(&P256_PUB.replace("BbzrFM", "Bb*rFM")), Err(KeyError::BadPem { .. })));
        assert!(matches!(load(&P256_PUB.replace("-----END PUBLIC KEY-----", "")), Err(KeyError::BadPem { .. })));
        let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(matches!(load(garbage), Err(KeyError::Invalid { .. })));
        let garbage_rsa = "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n";
        assert!(matches!(load(garbage_rsa), Err(KeyError::Invalid { .. })));
        // A P-256 SPKI whose point is not on the curve.
        let bad_point = P256_PUB.replace("c5ryJiALc", "c5ryJiALd");
        assert!(matches!(load(&bad_point), Err(KeyError::Invalid { .. })));
    }

    #[test]
    fn load_reads_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cosign.pub");
        std::fs::write(&path, P256_PUB).expect("write");
        let k = TrustedKey::load(&path).expect("load");
        assert_eq!(k.file, path);
        assert!(matches!(TrustedKey::load(&dir.path().join("missing.pub")), Err(KeyError::Read { .. })));
    }

    #[test]
    fn base64_like_go() {
        assert_eq!(decode_signature_base64("QUJD"), Ok(b"ABC".to_vec()));
        assert_eq!(decode_signature_base64("QU\nJD\r\n"), Ok(b"ABC".to_vec()));
        assert_eq!(decode_signature_base64("QUI="), Ok(b"AB".to_vec()));
        assert_eq!(decode_signature_base64(""), Ok(Vec::new()));
        for bad in ["QUJD=", "QUI==", "QUI", "QU", "QUJ&", "QUJD ", " QUJD", "QUI=QUI=", "QUJD\t", "QUJ-", "QUJ_"] {
            let err = decode_signature_base64(bad).unwrap_err();
            assert!(err.to_string().starts_with("base64 decoding: "), "{bad:?}: {err}");
        }
        let mut truncated = SIG_P256.to_string();
        truncated.pop();
        assert!(decode_signature_base64(&truncated).is_err());
        let wrapped: String =
            SIG_P256.as_bytes().chunks(20).map(|c| format!("{}\n", String::from_utf8_lossy(c))).collect();
        assert_eq!(decode_signature_base64(&wrapped), decode_signature_base64(SIG_P256));
    }
}
