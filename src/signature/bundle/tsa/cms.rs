//! The DER of an RFC 3161 TimeStampResp: the CMS SignedData, its one SignerInfo and the TSTInfo, read with
//! length-checked TLV walking (strict DER, no trailing bytes).

use der::{Decode, Encode, Header, SliceReader};

use super::MAX_EMBEDDED_CERTS;
use sha2::Digest as _;
use x509_cert::spki::ObjectIdentifier as Oid;

pub(super) const INTEGER: u8 = 0x02;
pub(super) const OCTET_STRING: u8 = 0x04;
pub(super) const OID: u8 = 0x06;
pub(super) const GENERALIZED_TIME: u8 = 0x18;
pub(super) const SEQUENCE: u8 = 0x30;
pub(super) const SET: u8 = 0x31;
pub(super) const CONTEXT_0: u8 = 0xa0;
pub(super) const CONTEXT_1: u8 = 0xa1;
pub(super) const CONTEXT_0_PRIMITIVE: u8 = 0x80;

pub(super) const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub(super) const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub(super) const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub(super) const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub(super) const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
pub(super) const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub(super) const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(super) const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(super) const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
pub(super) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub(super) const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub(super) const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub(super) const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
pub(super) const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub(super) const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
pub(super) const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
pub(super) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub(super) const RSA_SIGNATURES: [Oid; 4] = [
    RSA_ENCRYPTION,
    Oid::new_unwrap("1.2.840.113549.1.1.11"),
    Oid::new_unwrap("1.2.840.113549.1.1.12"),
    Oid::new_unwrap("1.2.840.113549.1.1.13"),
];
pub(super) const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
pub(super) const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub(super) const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub(super) const EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub(super) const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
pub(super) const ANY_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37.0");

pub(super) struct Token<'a> {
    pub(super) tst_info: &'a [u8],
    pub(super) certificates: Vec<&'a [u8]>,
    pub(super) signer: SignerInfo<'a>,
}

pub(super) struct SignerInfo<'a> {
    pub(super) sid: Sid<'a>,
    pub(super) digest: Hash,
    /// The whole `[0] IMPLICIT` signedAttrs TLV.
    pub(super) signed_attrs: Tlv<'a>,
    pub(super) signature_algorithm: &'a [u8],
    pub(super) signature: &'a [u8],
}

pub(super) enum Sid<'a> {
    /// The DER issuer Name and serial INTEGER.
    IssuerSerial(&'a [u8], &'a [u8]),
    KeyId(&'a [u8]),
}

pub(super) struct TstInfo<'a> {
    pub(super) hash: Hash,
    pub(super) hashed_message: &'a [u8],
    pub(super) time: GenTime,
}

/// `genTime` in whole seconds, and whether it had a fraction of a second beyond them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GenTime {
    pub(super) secs: u64,
    pub(super) fraction: bool,
}

impl GenTime {
    /// The whole seconds bracketing the time: it lies in a window of whole seconds iff all of these do.
    pub(super) fn bounds(self) -> impl Iterator<Item = u64> {
        std::iter::once(self.secs).chain(self.fraction.then_some(self.secs.saturating_add(1)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// From an AlgorithmIdentifier; its parameters (absent or NULL) are not looked at, as in digitorus.
    pub(super) fn from_algorithm(algorithm: Tlv<'_>, what: &str) -> Result<Hash, String> {
        let oid = algorithm.inner().take(OID, what)?.content;
        let known = [(SHA256, Hash::Sha256), (SHA384, Hash::Sha384), (SHA512, Hash::Sha512)];
        match known.iter().find(|(o, _)| o.as_bytes() == oid) {
            Some((_, hash)) => Ok(*hash),
            None if oid == SHA1.as_bytes() => Err(format!("timestamp {what} is SHA-1, which is too weak")),
            None => Err(format!("timestamp {what} is not SHA-256, SHA-384 or SHA-512")),
        }
    }

    pub(super) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// One DER TLV: its first tag byte, its content and its whole encoding.
#[derive(Clone, Copy)]
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) content: &'a [u8],
    pub(super) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    pub(super) fn inner(self) -> Tlvs<'a> {
        Tlvs(self.content)
    }
}

/// The consecutive DER TLVs of some content; lengths are checked by `der` (definite, minimal, in bounds).
#[derive(Clone, Copy)]
pub(super) struct Tlvs<'a>(pub(super) &'a [u8]);

impl<'a> Tlvs<'a> {
    pub(super) fn next(&mut self) -> Result<Option<Tlv<'a>>, String> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let malformed = |e: der::Error| format!("malformed timestamp DER: {e}");
        let header = Header::decode(&mut SliceReader::new(self.0).map_err(malformed)?).map_err(malformed)?;
        let header_len = usize::try_from(header.encoded_len().map_err(malformed)?).map_err(malformed)?;
        let len = usize::try_from(header.length()).map_err(malformed)?;
        let total = header_len.checked_add(len).filter(|&t| t <= self.0.len()).ok_or("truncated timestamp DER")?;
        let (raw, rest) = self.0.split_at(total);
        self.0 = rest;
        Ok(Some(Tlv { tag: raw[0], content: &raw[header_len..], raw }))
    }

    /// The next TLV, which must be tagged `tag`.
    pub(super) fn take(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
        match self.next()? {
            Some(tlv) if tlv.tag == tag => Ok(tlv),
            _ => Err(format!("malformed timestamp: expected {what}")),
        }
    }

    /// The next TLV if it is tagged `tag` (an OPTIONAL field).
    pub(super) fn take_if(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, String> {
        if self.0.first() == Some(&tag) { self.next() } else { Ok(None) }
    }

    pub(super) fn end(&self, what: &str) -> Result<(), String> {
        if self.0.is_empty() { Ok(()) } else { Err(format!("malformed timestamp: trailing data after {what}")) }
    }
}

/// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }` (RFC 3161 §2.4.2).
pub(super) fn parse_response(der: &[u8]) -> Result<Token<'_>, String> {
    let mut top = Tlvs(der);
    let response = top.take(SEQUENCE, "a TimeStampResp")?;
    top.end("the TimeStampResp")?;
    let mut fields = response.inner();
    let status = match fields.next()? {
        Some(status) if status.tag == SEQUENCE => status,
        Some(oid) if oid.tag == OID => {
            return Err("timestamp is a bare TimeStampToken, not the TimeStampResp a bundle carries".into());
        }
        _ => return Err("malformed timestamp: expected a PKIStatusInfo".into()),
    };
    match status.inner().take(INTEGER, "a PKIStatus")?.content {
        [0] => {}
        &[code] => {
            let code = i8::from_be_bytes([code]);
            return Err(format!("timestamp response status is not granted (PKIStatus {code})"));
        }
        _ => return Err("timestamp response status is not granted".into()),
    }
    let token = fields.take(SEQUENCE, "a timeStampToken")?;
    fields.end("the timeStampToken")?;
    let mut info = token.inner();
    if info.take(OID, "the token's contentType")?.content != SIGNED_DATA.as_bytes() {
        return Err("timestamp token is not CMS signedData".into());
    }
    let mut explicit = info.take(CONTEXT_0, "the token's content")?.inner();
    info.end("the token's content")?;
    let signed_data = explicit.take(SEQUENCE, "SignedData")?;
    explicit.end("SignedData")?;
    parse_signed_data(signed_data)
}

/// `SignedData` (RFC 5652 §5.1) with an encapsulated TSTInfo and exactly one SignerInfo.
pub(super) fn parse_signed_data(signed_data: Tlv<'_>) -> Result<Token<'_>, String> {
    let mut fields = signed_data.inner();
    fields.take(INTEGER, "the SignedData version")?;
    fields.take(SET, "the SignedData digestAlgorithms")?;
    let mut encapsulated = fields.take(SEQUENCE, "encapContentInfo")?.inner();
    if encapsulated.take(OID, "eContentType")?.content != TST_INFO.as_bytes() {
        return Err("timestamp token does not hold a TSTInfo".into());
    }
    let mut explicit = encapsulated.take(CONTEXT_0, "eContent")?.inner();
    encapsulated.end("eContent")?;
    let tst_info = explicit.take(OCTET_STRING, "the eContent OCTET STRING")?.content;
    explicit.end("eContent")?;
    let mut certificates = Vec::new();
    if let Some(set) = fields.take_if(CONTEXT_0)? {
        let mut set = set.inner();
        while let Some(cert) = set.next()? {
            if cert.tag != SEQUENCE || certificates.len() == MAX_EMBEDDED_CERTS {
                return Err(format!("timestamp token holds other than (at most {MAX_EMBEDDED_CERTS}) certificates"));
            }
            certificates.push(cert.raw);
        }
    }
    fields.take_if(CONTEXT_1)?; // CRLs: not used
    let mut signers = fields.take(SET, "signerInfos")?.inner();
    fields.end("signerInfos")?;
    let signer = match (signers.next()?, signers.next()?) {
        (Some(signer), None) if signer.tag == SEQUENCE => parse_signer_info(signer)?,
        _ => return Err("timestamp token must have exactly one SignerInfo".into()),
    };
    Ok(Token { tst_info, certificates, signer })
}

/// `SignerInfo` (RFC 5652 §5.3); signed attributes are required (RFC 3161 §2.4.1 needs ESS ones).
pub(super) fn parse_signer_info(signer: Tlv<'_>) -> Result<SignerInfo<'_>, String> {
    let mut fields = signer.inner();
    fields.take(INTEGER, "the SignerInfo version")?;
    let sid = match fields.next()? {
        Some(ias) if ias.tag == SEQUENCE => {
            let mut ias = ias.inner();
            let issuer = ias.take(SEQUENCE, "the signer's issuer")?.raw;
            let serial = ias.take(INTEGER, "the signer's serial number")?.raw;
            ias.end("issuerAndSerialNumber")?;
            Sid::IssuerSerial(issuer, serial)
        }
        Some(key_id) if key_id.tag == CONTEXT_0_PRIMITIVE => Sid::KeyId(key_id.content),
        _ => return Err("malformed timestamp: expected the SignerInfo sid".into()),
    };
    let digest = Hash::from_algorithm(fields.take(SEQUENCE, "a digestAlgorithm")?, "SignerInfo digest algorithm")?;
    let signed_attrs = fields.take_if(CONTEXT_0)?.ok_or("timestamp SignerInfo has no signed attributes")?;
    let signature_algorithm = fields.take(SEQUENCE, "a signatureAlgorithm")?.inner().take(OID, "an algorithm")?;
    let signature = fields.take(OCTET_STRING, "the signature")?.content;
    fields.take_if(CONTEXT_1)?; // unsigned attributes
    fields.end("the SignerInfo")?;
    Ok(SignerInfo { sid, digest, signed_attrs, signature_algorithm: signature_algorithm.content, signature })
}

/// The single value of signed attribute `oid`, if present (a repeated attribute is refused).
pub(super) fn attribute<'a>(attrs: Tlv<'a>, oid: Oid, what: &str) -> Result<Option<Tlv<'a>>, String> {
    let (mut list, mut found) = (attrs.inner(), None);
    while let Some(attribute) = list.next()? {
        if attribute.tag != SEQUENCE {
            return Err("malformed timestamp: expected an Attribute".into());
        }
        let mut fields = attribute.inner();
        let id = fields.take(OID, "an attribute type")?;
        let mut values = fields.take(SET, "attribute values")?.inner();
        if id.content != oid.as_bytes() {
            continue;
        }
        let value = values.next()?.ok_or_else(|| format!("timestamp {what} attribute has no value"))?;
        values.end(what)?;
        if found.replace(value).is_some() {
            return Err(format!("timestamp has two {what} attributes"));
        }
    }
    Ok(found)
}

/// The signer-independent attribute rules; returns the signing-time attribute (Unix seconds), if any.
pub(super) fn check_signed_attributes(token: &Token<'_>) -> Result<Option<u64>, String> {
    let attrs = token.signer.signed_attrs;
    let content_type = attribute(attrs, CONTENT_TYPE, "content-type")?;
    if !content_type.is_some_and(|ct| ct.tag == OID && ct.content == TST_INFO.as_bytes()) {
        return Err("timestamp signed attributes do not give the content-type id-ct-TSTInfo".into());
    }
    let digest = attribute(attrs, MESSAGE_DIGEST, "message-digest")?.ok_or("timestamp has no message-digest")?;
    if digest.tag != OCTET_STRING || digest.content != token.signer.digest.digest(token.tst_info) {
        return Err("timestamp message-digest attribute does not match the TSTInfo".into());
    }
    let signing_time = attribute(attrs, SIGNING_TIME, "signing-time")?;
    signing_time
        .map(|t| x509_cert::time::Time::from_der(t.raw).map(|t| t.to_unix_duration().as_secs()))
        .transpose()
        .map_err(|e| format!("timestamp signing-time attribute: {e}"))
}

/// `TSTInfo` (RFC 3161 §2.4.2) up to `genTime`; the optional fields after it are not used.
pub(super) fn parse_tst_info(der: &[u8]) -> Result<TstInfo<'_>, String> {
    let mut top = Tlvs(der);
    let mut fields = top.take(SEQUENCE, "a TSTInfo")?.inner();
    top.end("the TSTInfo")?;
    if fields.take(INTEGER, "the TSTInfo version")?.content != [1] {
        return Err("timestamp TSTInfo version is not 1".into());
    }
    fields.take(OID, "the TSA policy")?;
    let mut imprint = fields.take(SEQUENCE, "a messageImprint")?.inner();
    let hash = Hash::from_algorithm(imprint.take(SEQUENCE, "a hashAlgorithm")?, "message imprint hash algorithm")?;
    let hashed_message = imprint.take(OCTET_STRING, "the hashedMessage")?.content;
    imprint.end("the messageImprint")?;
    fields.take(INTEGER, "the TSTInfo serialNumber")?;
    let time = gen_time(fields.take(GENERALIZED_TIME, "genTime")?.content)?;
    Ok(TstInfo { hash, hashed_message, time })
}

/// `YYYYMMDDHHMMSS[.f*]Z`: UTC, a fraction without trailing zeros (RFC 3161 §2.4.2, DER).
pub(super) fn gen_time(text: &[u8]) -> Result<GenTime, String> {
    let bad = || format!("timestamp genTime {:?} is not a DER GeneralizedTime", String::from_utf8_lossy(text));
    let (digits, fraction) = match text.strip_suffix(b"Z").ok_or_else(bad)?.split_at_checked(14).ok_or_else(bad)? {
        (digits, []) => (digits, false),
        (digits, [b'.', fraction @ ..]) if fraction.iter().all(u8::is_ascii_digit) && fraction.last() > Some(&b'0') => {
            (digits, true)
        }
        _ => return Err(bad()),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = |at: usize, len: usize| digits[at..at + len].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let two = |at: usize| u8::try_from(n(at, 2)).map_err(|_| bad());
    let date = der::DateTime::new(n(0, 4), two(4)?, two(6)?, two(8)?, two(10)?, two(12)?).map_err(|_| bad())?;
    Ok(GenTime { secs: date.unix_duration().as_secs(), fraction })
}
