//! Embedded Signed Certificate Timestamps of a Fulcio leaf (RFC 6962 §3.2–3.3, SPEC §6.6 "Certificate"),
//! checked the way sigstore-go's `pkg/verify/sct.go` (`VerifySignedCertificateTimestamp`, threshold 1) does
//! through certificate-transparency-go (`x509util.ParseSCTsFromCertificate`, `ctutil.VerifySCT` with
//! `embedded = true`, `ct.MerkleTreeLeafForEmbeddedSCT`, `x509.RemoveSCTList`, `tls.VerifySignature`).
//!
//! Rules:
//! - The leaf carries exactly one extension `1.3.6.1.4.1.11129.2.4.2`; its value is a DER OCTET STRING holding
//!   a TLS `SignedCertificateTimestampList` (`opaque SerializedSCT<1..2^16-1>` list, non-empty). Any malformed
//!   SCT, trailing data, or more than [`MAX_SCTS`] entries fails the whole check (ct-go refuses to parse such a
//!   certificate at all).
//! - An SCT whose log id names no trusted CT log is skipped, as is one whose timestamp (ms) lies outside that
//!   log's key validity window (both ends inclusive, sigstore-go's `Before(start)` / `After(end)`). When a log
//!   id occurs twice in the trusted root the last one counts (sigstore-go keys its map by log id).
//! - The signed data is the v1 `digitally-signed` struct for a `precert_entry`: version, signature type 0
//!   (`certificate_timestamp`), timestamp, entry type 1, SHA-256 of the issuer's SubjectPublicKeyInfo, the
//!   leaf's TBSCertificate without the SCT list extension as `opaque<1..2^24-1>`, then the SCT's extensions as
//!   `opaque<0..2^16-1>` (sigstore-python `sigstore/_internal/sct.py`, `_pack_digitally_signed`). The TBS
//!   keeps every other byte of the leaf verbatim: for DER input that is exactly what Go's re-marshal
//!   produces, and what the CT log signed (the precertificate's TBS minus its poison extension). Like
//!   ct-go's `RemoveSCTList` (and pyca's `tbs_precertificate_bytes`), a poison extension is not removed: a
//!   final certificate that still carries one is not what a log signed.
//! - The signature must be SHA-256 (sigstore-python accepts nothing else) with ECDSA (DER) under a P-256 key
//!   or RSA PKCS#1 v1.5 under an RSA key of at least 2048 bits (ct-go's `NewSignatureVerifier`).
//! - At least one SCT must verify. The issuer is the certificate that issued the leaf (sigstore-go's
//!   `chain[1]` of a verified chain); its subject must be the leaf's issuer name.

use der::asn1::{AnyRef, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use super::root::Log;

/// `id-ce-embeddedSCT` / the precertificate SCT list extension (RFC 6962 §3.3).
pub const SCT_LIST_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// More SCTs than this in one certificate is refused (a Fulcio leaf carries one).
pub const MAX_SCTS: usize = 64;

/// The TBSCertificate's `extensions [3] EXPLICIT`.
const EXTENSIONS_TAG: Tag = Tag::ContextSpecific { constructed: true, number: TagNumber(3) };
/// RFC 5246 `HashAlgorithm.sha256` and `SignatureAlgorithm.rsa` / `.ecdsa`.
const HASH_SHA256: u8 = 4;
const SIG_RSA: u8 = 1;
const SIG_ECDSA: u8 = 3;
/// `opaque TBSCertificate<1..2^24-1>`.
const MAX_TBS_LEN: usize = 0xFF_FFFF;

/// The SCT that verified: which log (lower-case hex log id) and when it was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSct {
    pub log_id: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// One TLS-encoded `SignedCertificateTimestamp` (RFC 6962 §3.2).
#[derive(Debug)]
struct Sct<'a> {
    version: u8,
    log_id: &'a [u8],
    timestamp: u64,
    extensions: &'a [u8],
    hash_alg: u8,
    sig_alg: u8,
    signature: &'a [u8],
}

/// Verifies that `leaf` (DER) carries at least one embedded SCT that verifies against one of `ctlogs`, using
/// `issuer` (the DER certificate that issued the leaf) for the issuer key hash.
pub fn verify_embedded_scts(leaf: &[u8], issuer: &[u8], ctlogs: &[Log]) -> Result<VerifiedSct, String> {
    let leaf_cert = Certificate::from_der(leaf).map_err(|e| format!("the leaf certificate: {e}"))?;
    let issuer_cert = Certificate::from_der(issuer).map_err(|e| format!("the issuer certificate: {e}"))?;
    if issuer_cert.tbs_certificate().subject() != leaf_cert.tbs_certificate().issuer() {
        return Err("the issuer certificate's subject is not the leaf's issuer".into());
    }
    let spki = issuer_cert.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let issuer_key_hash = Sha256::digest(&spki);
    let (tbs, sct_list) = precert_tbs(leaf)?;
    let scts = parse_sct_list(&sct_list)?;

    let mut failures = Vec::new();
    for sct in &scts {
        let log_id = hex::encode(sct.log_id);
        let Some(log) = ctlogs.iter().rev().find(|l| l.log_id == sct.log_id) else {
            failures.push(format!("{log_id}: not a trusted CT log"));
            continue;
        };
        let checked = within_window(log, sct.timestamp)
            .and_then(|()| signed_data(sct, &issuer_key_hash, &tbs))
            .and_then(|signed| verify_signature(log, sct, &signed));
        match checked {
            Ok(()) => return Ok(VerifiedSct { log_id, timestamp_ms: sct.timestamp }),
            Err(e) => failures.push(format!("{log_id}: {e}")),
        }
    }
    Err(format!("no embedded SCT verified against a trusted CT log ({})", failures.join("; ")))
}

/// The first certificate among `candidates` whose subject is `leaf`'s issuer name (compared as DER), if any.
/// Names can repeat across CA key rotations: the certificate a chain verification found is the better issuer.
pub fn issuer_of<'a>(leaf: &[u8], candidates: impl IntoIterator<Item = &'a [u8]>) -> Option<&'a [u8]> {
    let issuer = Certificate::from_der(leaf).ok()?.tbs_certificate().issuer().to_der().ok()?;
    candidates.into_iter().find(|der| {
        Certificate::from_der(der)
            .is_ok_and(|c| c.tbs_certificate().subject().to_der().is_ok_and(|subject| subject == issuer))
    })
}

/// Splits the leaf's TBSCertificate into the precertificate TBS (the SCT list extension removed, every other
/// byte kept) and the TLS bytes of that SCT list.
fn precert_tbs(leaf: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let der = |e: der::Error| format!("the leaf certificate: {e}");
    let cert = AnyRef::from_der(leaf).map_err(der)?;
    let tbs = SliceReader::new(cert.value()).and_then(|mut r| AnyRef::decode(&mut r)).map_err(der)?;
    if cert.tag() != Tag::Sequence || tbs.tag() != Tag::Sequence {
        return Err("the leaf certificate is not a SEQUENCE holding a TBSCertificate SEQUENCE".into());
    }
    let mut fields = SliceReader::new(tbs.value()).map_err(der)?;
    let mut out = Vec::with_capacity(tbs.value().len());
    let mut sct_list = None;
    while !fields.is_finished() {
        let field = AnyRef::decode(&mut fields).map_err(der)?;
        if field.tag() == EXTENSIONS_TAG {
            let (extensions, list) = strip_sct_extension(field.value())?;
            out.extend(AnyRef::new(EXTENSIONS_TAG, &extensions).and_then(|a| a.to_der()).map_err(der)?);
            sct_list = Some(list);
        } else {
            out.extend(field.to_der().map_err(der)?);
        }
    }
    let sct_list = sct_list.ok_or("the leaf certificate has no extensions, so no embedded SCTs")?;
    let tbs = AnyRef::new(Tag::Sequence, &out).and_then(|a| a.to_der()).map_err(der)?;
    Ok((tbs, sct_list))
}

/// Takes the `Extensions` SEQUENCE: returns it re-encoded without the SCT list extension, and that
/// extension's TLS payload (its value is an OCTET STRING inside the extension's OCTET STRING).
fn strip_sct_extension(explicit: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let der = |e: der::Error| format!("the leaf certificate's extensions: {e}");
    let extensions = AnyRef::from_der(explicit).map_err(der)?;
    if extensions.tag() != Tag::Sequence {
        return Err("the leaf certificate's extensions are not a SEQUENCE".into());
    }
    let mut reader = SliceReader::new(extensions.value()).map_err(der)?;
    let mut kept = Vec::with_capacity(extensions.value().len());
    let mut sct_list = None;
    while !reader.is_finished() {
        let raw = reader.tlv_bytes().map_err(der)?;
        let extension = Extension::from_der(raw).map_err(der)?;
        if extension.extn_id != SCT_LIST_OID {
            kept.extend_from_slice(raw);
        } else if sct_list.is_some() {
            return Err("the leaf certificate has more than one SCT list extension".into());
        } else {
            let inner = OctetString::from_der(extension.extn_value.as_bytes())
                .map_err(|e| format!("the SCT list extension is not an OCTET STRING: {e}"))?;
            sct_list = Some(inner.into_bytes().into_vec());
        }
    }
    let sct_list = sct_list.ok_or("the leaf certificate has no embedded SCT list extension")?;
    Ok((AnyRef::new(Tag::Sequence, &kept).and_then(|a| a.to_der()).map_err(der)?, sct_list))
}

/// A cursor over TLS presentation-language bytes (RFC 5246 §4).
struct Tls<'a>(&'a [u8]);

impl<'a> Tls<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, rest) = self.0.split_at_checked(n).ok_or("truncated")?;
        self.0 = rest;
        Ok(head)
    }

    /// A big-endian `uintN` as its `N` bytes.
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?.try_into().map_err(|_| "truncated".into())
    }

    /// `opaque<0..2^16-1>`.
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(usize::from(len))
    }

    fn finish(&self) -> Result<(), String> {
        if self.0.is_empty() { Ok(()) } else { Err(format!("{} bytes of trailing data", self.0.len())) }
    }
}

/// Parses a `SignedCertificateTimestampList`: every entry must be a well-formed SCT.
fn parse_sct_list(tls: &[u8]) -> Result<Vec<Sct<'_>>, String> {
    let mut outer = Tls(tls);
    let list = outer.vec16().and_then(|list| outer.finish().map(|()| list));
    let list = list.map_err(|e| format!("the SCT list: {e}"))?;
    if list.is_empty() {
        return Err("the SCT list is empty".into());
    }
    let mut entries = Tls(list);
    let mut scts = Vec::new();
    while !entries.0.is_empty() {
        if scts.len() == MAX_SCTS {
            return Err(format!("the certificate carries more than {MAX_SCTS} SCTs"));
        }
        let sct = entries.vec16().and_then(parse_sct).map_err(|e| format!("SCT {}: {e}", scts.len()))?;
        scts.push(sct);
    }
    Ok(scts)
}

fn parse_sct(bytes: &[u8]) -> Result<Sct<'_>, String> {
    let mut r = Tls(bytes);
    let sct = Sct {
        version: r.array::<1>()?[0],
        log_id: r.take(32)?,
        timestamp: u64::from_be_bytes(r.array()?),
        extensions: r.vec16()?,
        hash_alg: r.array::<1>()?[0],
        sig_alg: r.array::<1>()?[0],
        signature: r.vec16()?,
    };
    r.finish()?;
    Ok(sct)
}

/// sigstore-go skips an SCT issued outside the CT log key's validity window (compared in milliseconds).
fn within_window(log: &Log, timestamp_ms: u64) -> Result<(), String> {
    let ms = i128::from(timestamp_ms);
    let after_start = ms >= i128::from(log.valid.start) * 1000;
    let before_end = log.valid.end.is_none_or(|end| ms <= i128::from(end) * 1000);
    if after_start && before_end {
        Ok(())
    } else {
        Err(format!("SCT time {timestamp_ms} ms is outside the CT log key's validity window {:?}", log.valid))
    }
}

/// The RFC 6962 `digitally-signed` input of a v1 SCT over a `precert_entry`.
fn signed_data(sct: &Sct<'_>, issuer_key_hash: &[u8], tbs: &[u8]) -> Result<Vec<u8>, String> {
    if sct.version != 0 {
        return Err(format!("unknown SCT version {}", sct.version));
    }
    if tbs.is_empty() || tbs.len() > MAX_TBS_LEN {
        return Err(format!("a {}-byte TBSCertificate does not fit a precert entry", tbs.len()));
    }
    let extensions_len = u16::try_from(sct.extensions.len()).map_err(|_| "SCT extensions too long")?;
    let tbs_len = u32::try_from(tbs.len()).map_err(|_| "TBSCertificate too long")?.to_be_bytes();
    let mut out = Vec::with_capacity(12 + issuer_key_hash.len() + 3 + tbs.len() + 2 + sct.extensions.len());
    out.extend_from_slice(&[sct.version, 0]);
    out.extend_from_slice(&sct.timestamp.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&extensions_len.to_be_bytes());
    out.extend_from_slice(sct.extensions);
    Ok(out)
}

fn verify_signature(log: &Log, sct: &Sct<'_>, signed: &[u8]) -> Result<(), String> {
    if sct.hash_alg != HASH_SHA256 {
        return Err(format!("SCT hash algorithm {} is not SHA-256", sct.hash_alg));
    }
    let verified = match (sct.sig_alg, log.key.algorithm()) {
        (SIG_ECDSA, "ecdsa-p256") => log.key.verify_ecdsa_sha256_der(signed, sct.signature),
        (SIG_RSA, "rsa") => log.key.verify_sha256_digest(&Sha256::digest(signed), sct.signature).map(drop),
        (alg, key) => {
            return Err(format!(
                "SCT signature algorithm {alg} does not fit the CT log's {key} key (P-256 or RSA only)"
            ));
        }
    };
    verified.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::signature::bundle::root::TrustRoot;

    const ASSETS: &str = "../shared/interop/sigstore-conformance/test/assets/bundle-verify";
    const PRODUCTION: &str = "../shared/interop/sigstore-conformance/production-trusted-root/trusted_root.json";
    /// The production `ctfe.sigstore.dev/2022` log.
    const CTFE_2022: &str = "dd3d306ac6c7113263191e1c99673702a24a5eb8de3cadff878a72802f29ee8e";

    /// A trusted root, minus the CT logs whose key is a bare PKCS#1 RSA key (`PKCS1_RSA_PKCS1V5`, the staging
    /// `ctfe.sigstage.dev/test` log): `TrustRoot` cannot load those yet, and no case's SCT comes from one.
    fn load_root(path: &Path) -> TrustRoot {
        let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        if let Some(ctlogs) = doc["ctlogs"].as_array_mut() {
            ctlogs.retain(|l| l["publicKey"]["keyDetails"] != "PKCS1_RSA_PKCS1V5");
        }
        TrustRoot::parse(path.into(), &serde_json::to_vec(&doc).unwrap()).unwrap()
    }

    /// The case's leaf certificate, its trusted root, and the leaf's issuer from that root.
    fn case(name: &str) -> (Vec<u8>, TrustRoot, Vec<u8>) {
        let dir = Path::new(ASSETS).join(name);
        let bundle: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
        let vm = &bundle["verificationMaterial"];
        let b64 = vm["certificate"]["rawBytes"].as_str();
        let b64 = b64.or(vm["x509CertificateChain"]["certificates"][0]["rawBytes"].as_str()).unwrap();
        let leaf = STANDARD.decode(b64).unwrap();
        let custom = dir.join("trusted_root.json");
        let root = load_root(if custom.exists() { &custom } else { Path::new(PRODUCTION) });
        let issuer = issuer_of(&leaf, root.fulcio.iter().flat_map(|ca| ca.chain.iter().map(Vec::as_slice)));
        let issuer = issuer.expect("the leaf's issuer in the trusted root").to_vec();
        (leaf, root, issuer)
    }

    fn verify_case(name: &str) -> Result<VerifiedSct, String> {
        let (leaf, root, issuer) = case(name);
        verify_embedded_scts(&leaf, &issuer, &root.ctlogs)
    }

    fn flip_last_byte_of(leaf: &[u8], part: &[u8]) -> Vec<u8> {
        let at = leaf.windows(part.len()).position(|w| w == part).unwrap() + part.len() - 1;
        let mut out = leaf.to_vec();
        out[at] ^= 1;
        out
    }

    #[test]
    fn conformance_cases_verify() {
        let ok = |log_id: &str, timestamp_ms| Ok(VerifiedSct { log_id: log_id.into(), timestamp_ms });
        assert_eq!(verify_case("happy-path-v0.3"), ok(CTFE_2022, 1710869186470));
        assert_eq!(verify_case("happy-path-v0.1"), ok(CTFE_2022, 1689177395979));
        assert_eq!(verify_case("happy-path-intoto-in-dsse-v3"), ok(CTFE_2022, 1734374576255));
        let tesseract = "2ca5cd27a89484c38e74868d2d3bde1e7852afe7e2771e6f89c7bd667dfcf8ef";
        assert_eq!(verify_case("bundle-with-sct-with-extensions"), ok(tesseract, 1768517364925));
        let staging = "2b30bcdc6888c9e2e1d826295e741f4839319602f29c33cb5e4340feb2ac867a";
        assert_eq!(verify_case("rekor2-happy-path"), ok(staging, 1749729736682));
        let mock = "f726caa34117ba916544af3734e920cd4c492ef75ce6228fdc04eeff2f3f27dd";
        assert_eq!(verify_case("intoto-with-custom-trust-root"), ok(mock, 1675209600000));
    }

    #[test]
    fn an_sct_from_an_untrusted_log_fails() {
        let err = verify_case("invalid-ct-key_fail").unwrap_err();
        assert!(err.contains(&format!("{CTFE_2022}: not a trusted CT log")), "{err}");
        let (leaf, _, issuer) = case("happy-path-v0.3");
        assert!(verify_embedded_scts(&leaf, &issuer, &[]).unwrap_err().contains("not a trusted CT log"));
    }

    #[test]
    fn a_log_id_with_another_key_fails() {
        let (leaf, root, issuer) = case("happy-path-v0.3");
        let mut logs = root.ctlogs.clone();
        let other = logs.iter().find(|l| hex::encode(&l.log_id) != CTFE_2022).unwrap().key.clone();
        logs.iter_mut().filter(|l| hex::encode(&l.log_id) == CTFE_2022).for_each(|l| l.key = other.clone());
        let err = verify_embedded_scts(&leaf, &issuer, &logs).unwrap_err();
        assert!(err.contains(&format!("{CTFE_2022}: cryptographic signature verification failed")), "{err}");
    }

    #[test]
    fn tampering_with_the_signature_or_the_tbs_fails() {
        let (leaf, root, issuer) = case("happy-path-v0.3");
        let (_, list) = precert_tbs(&leaf).unwrap();
        let signature = parse_sct_list(&list).unwrap()[0].signature.to_vec();
        let serial = Certificate::from_der(&leaf).unwrap().tbs_certificate().serial_number().as_bytes().to_vec();
        for tampered in [flip_last_byte_of(&leaf, &signature), flip_last_byte_of(&leaf, &serial)] {
            let err = verify_embedded_scts(&tampered, &issuer, &root.ctlogs).unwrap_err();
            assert!(err.contains(&format!("{CTFE_2022}: cryptographic signature verification failed")), "{err}");
        }
    }

    #[test]
    fn the_issuer_key_hash_and_the_sct_extensions_are_signed() {
        let (leaf, root, issuer) = case("bundle-with-sct-with-extensions");
        let (tbs, list) = precert_tbs(&leaf).unwrap();
        let sct = &parse_sct_list(&list).unwrap()[0];
        assert!(!sct.extensions.is_empty());
        let hash = Sha256::digest(
            Certificate::from_der(&issuer).unwrap().tbs_certificate().subject_public_key_info().to_der().unwrap(),
        );
        let log = &root.ctlogs[0];
        verify_signature(log, sct, &signed_data(sct, &hash, &tbs).unwrap()).unwrap();
        assert!(verify_signature(log, sct, &signed_data(sct, &[0; 32], &tbs).unwrap()).is_err());
        let bare = Sct { extensions: &[], ..*sct };
        assert!(verify_signature(log, &bare, &signed_data(&bare, &hash, &tbs).unwrap()).is_err());
        let sha384 = Sct { hash_alg: 5, ..*sct };
        assert!(verify_signature(log, &sha384, &[]).unwrap_err().contains("not SHA-256"));
        let rsa = Sct { sig_alg: SIG_RSA, ..*sct };
        assert!(verify_signature(log, &rsa, &[]).unwrap_err().contains("does not fit"));
        assert!(signed_data(&Sct { version: 1, ..*sct }, &hash, &tbs).unwrap_err().contains("version"));
    }

    #[test]
    fn the_precert_tbs_only_lacks_the_sct_list() {
        let (leaf, _, _) = case("happy-path-v0.3");
        let (tbs, _) = precert_tbs(&leaf).unwrap();
        let cert = Certificate::from_der(&leaf).unwrap();
        let full = cert.tbs_certificate();
        let pre = x509_cert::TbsCertificate::from_der(&tbs).unwrap();
        let expected: Vec<_> = full.extensions().unwrap().iter().filter(|e| e.extn_id != SCT_LIST_OID).collect();
        assert_eq!(pre.extensions().unwrap().iter().collect::<Vec<_>>(), expected);
        assert_eq!((pre.subject(), pre.serial_number()), (full.subject(), full.serial_number()));
        assert!(tbs.len() < full.to_der().unwrap().len());
    }

    #[test]
    fn the_log_validity_window_is_checked_in_milliseconds() {
        let (leaf, root, issuer) = case("happy-path-v0.3");
        let mut logs = root.ctlogs.clone();
        let at = |logs: &mut Vec<Log>, start, end| {
            logs.iter_mut().for_each(|l| l.valid = super::super::root::Window { start, end });
            verify_embedded_scts(&leaf, &issuer, logs)
        };
        assert!(at(&mut logs, 1710869186, Some(1710869187)).is_ok());
        assert!(at(&mut logs, 1710869187, None).unwrap_err().contains("outside the CT log key's validity window"));
        assert!(at(&mut logs, 0, Some(1710869186)).unwrap_err().contains("outside"), "470 ms after the end");
    }

    #[test]
    fn the_wrong_issuer_is_refused() {
        let (leaf, root, _) = case("happy-path-v0.3");
        let wrong = &root.fulcio.iter().find(|ca| ca.chain.len() > 1).unwrap().chain[1];
        assert!(verify_embedded_scts(&leaf, wrong, &root.ctlogs).unwrap_err().contains("not the leaf's issuer"));
        assert!(verify_embedded_scts(&leaf, &[], &root.ctlogs).unwrap_err().contains("issuer certificate"));
        let ca = root.fulcio.iter().find(|ca| ca.chain.len() > 1).unwrap();
        let err = verify_embedded_scts(&ca.chain[0], &ca.chain[1], &root.ctlogs).unwrap_err();
        assert!(err.contains("no embedded SCT list extension"), "{err}");
    }

    fn sct_extension(tls: &[u8]) -> Vec<u8> {
        let value = OctetString::new(OctetString::new(tls).unwrap().to_der().unwrap()).unwrap();
        Extension { extn_id: SCT_LIST_OID, critical: false, extn_value: value }.to_der().unwrap()
    }

    #[test]
    fn malformed_sct_lists_are_refused() {
        let sct = |ext_len: u16| {
            let mut s = vec![0; 41];
            s.extend(ext_len.to_be_bytes());
            s.extend([4, 3, 0, 0]);
            s
        };
        let list = |scts: &[Vec<u8>]| {
            let body: Vec<u8> = scts.iter().flat_map(|s| [&(s.len() as u16).to_be_bytes()[..], s].concat()).collect();
            [&(body.len() as u16).to_be_bytes()[..], &body].concat()
        };
        assert_eq!(parse_sct_list(&list(&[sct(0)])).unwrap().len(), 1);
        assert!(parse_sct_list(&list(&[])).unwrap_err().contains("empty"));
        assert!(parse_sct_list(&[list(&[sct(0)]), vec![0]].concat()).unwrap_err().contains("trailing"));
        assert!(parse_sct_list(&list(&[sct(1)])).unwrap_err().contains("SCT 0: truncated"));
        assert!(
            parse_sct_list(&list(&[[sct(0), vec![9]].concat()])).unwrap_err().contains("SCT 0: 1 bytes of trailing")
        );
        assert!(parse_sct_list(&list(&vec![sct(0); MAX_SCTS + 1])).unwrap_err().contains("more than 64"));
        let seq = |exts: &[Vec<u8>]| AnyRef::new(Tag::Sequence, &exts.concat()).unwrap().to_der().unwrap();
        let one = sct_extension(&list(&[sct(0)]));
        assert!(strip_sct_extension(&seq(&[one.clone(), one.clone()])).unwrap_err().contains("more than one"));
        assert_eq!(strip_sct_extension(&seq(&[one])).unwrap(), (seq(&[]), list(&[sct(0)])));
    }

    #[test]
    fn hostile_leaves_never_panic() {
        let (leaf, root, issuer) = case("happy-path-v0.1");
        for len in 0..leaf.len() {
            assert!(verify_embedded_scts(&leaf[..len], &issuer, &root.ctlogs).is_err());
        }
        for at in (0..leaf.len()).step_by(7) {
            let mut bad = leaf.clone();
            bad[at] ^= 0x80;
            let _ = verify_embedded_scts(&bad, &issuer, &root.ctlogs);
        }
    }
}
