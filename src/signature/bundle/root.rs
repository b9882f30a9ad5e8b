//! A sigstore `trusted_root.json` (SPEC §6.6): Fulcio CAs, transparency logs (Rekor v1 and v2), CT logs and
//! timestamp authorities, each with its validity window. Decoded with the protobuf-specs types the `sigstore`
//! crate uses, after the strict reader has refused duplicate keys.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use sigstore_protobuf_specs::dev::sigstore::common::v1::TimeRange;
use sigstore_protobuf_specs::dev::sigstore::trustroot::v1::{
    CertificateAuthority, TransparencyLogInstance, TrustedRoot as RootDocument,
};

use crate::signature::keys::TrustedKey;

/// The trusted root's own media types.
const MEDIA_TYPES: [&str; 2] =
    ["application/vnd.dev.sigstore.trustedroot+json;version=0.1", "application/vnd.dev.sigstore.trustedroot.v0.2+json"];
/// protobuf-specs `PublicKeyDetails` PKCS1_RSA_PKCS1V5 (1) and PKCS1_RSA_PSS (2).
const PKCS1_KEY_DETAILS: [i32; 2] = [1, 2];
/// A trusted root is a small file; anything bigger is not one.
const MAX_ROOT_BYTES: usize = 4 << 20;

/// When an authority may be trusted: `start..=end` in Unix seconds (no end: still valid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: Option<i64>,
}

impl Window {
    /// Both ends inclusive (sigstore-go's `ValidityPeriodStart`/`End` checks, conformance `*-end-inclusive`).
    pub fn contains(&self, time: i64) -> bool {
        time >= self.start && self.end.is_none_or(|end| time <= end)
    }

    fn from_range(range: Option<&TimeRange>, what: &str) -> Result<Window, String> {
        let start = range
            .and_then(|r| r.start.as_ref())
            .ok_or_else(|| format!("{what}: validFor has no start (a window without a start is invalid)"))?
            .seconds;
        let end = range.and_then(|r| r.end.as_ref()).map(|t| t.seconds);
        Ok(Window { start, end })
    }
}

/// A certificate authority (Fulcio, or a timestamp authority): its chain, leaf (or intermediate) first and the
/// root last, as the trusted root lists it.
#[derive(Clone, Debug)]
pub struct Authority {
    pub name: String,
    pub chain: Vec<Vec<u8>>,
    pub valid: Window,
}

/// A transparency log or CT log: its key, the id entries name it by, and its checkpoint origin.
#[derive(Clone, Debug)]
pub struct Log {
    pub key: TrustedKey,
    /// `logId.keyId`: SHA-256 of the DER public key for Rekor v1 and CT logs.
    pub log_id: Vec<u8>,
    /// The signed-note key id used in checkpoints (Rekor v2's `checkpointKeyId`, else the log id).
    pub checkpoint_key_id: Vec<u8>,
    /// The checkpoint origin: `baseUrl` without its scheme (sigstore-go's rule for Rekor v2).
    pub origin: String,
    pub base_url: String,
    pub valid: Window,
}

/// Everything a bundle's times, logs and certificates are checked against.
#[derive(Clone, Debug, Default)]
pub struct TrustRoot {
    pub file: PathBuf,
    pub fulcio: Vec<Authority>,
    pub tlogs: Vec<Log>,
    pub ctlogs: Vec<Log>,
    pub tsas: Vec<Authority>,
}

impl TrustRoot {
    /// Reads and checks a `trusted_root.json`.
    pub fn load(path: &Path) -> Result<TrustRoot, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        TrustRoot::parse(path.to_path_buf(), &bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(file: PathBuf, bytes: &[u8]) -> Result<TrustRoot, String> {
        if bytes.len() > MAX_ROOT_BYTES {
            return Err(format!("larger than {MAX_ROOT_BYTES} bytes"));
        }
        crate::oci::json::check_exact(bytes).map_err(|e| e.to_string())?;
        let doc: RootDocument = serde_json::from_slice(bytes).map_err(|e| format!("not a trusted root: {e}"))?;
        if !MEDIA_TYPES.contains(&doc.media_type.as_str()) {
            return Err(format!("unsupported trusted root media type {:?}", doc.media_type));
        }
        let authorities = |list: &[CertificateAuthority], what: &str| -> Result<Vec<Authority>, String> {
            list.iter().enumerate().map(|(i, ca)| authority(ca, &format!("{what}[{i}]"))).collect()
        };
        let logs = |list: &[TransparencyLogInstance], what: &str| -> Result<Vec<Log>, String> {
            list.iter().enumerate().map(|(i, l)| log(&file, l, &format!("{what}[{i}]"))).collect()
        };
        Ok(TrustRoot {
            fulcio: authorities(&doc.certificate_authorities, "certificateAuthorities")?,
            tlogs: logs(&doc.tlogs, "tlogs")?,
            ctlogs: logs(&doc.ctlogs, "ctlogs")?,
            tsas: authorities(&doc.timestamp_authorities, "timestampAuthorities")?,
            file,
        })
    }

    /// A root of transparency logs only: the `--rekor-pubkey` keys, trusted at every time.
    pub fn from_rekor_keys(keys: &[TrustedKey]) -> TrustRoot {
        let tlogs = keys
            .iter()
            .map(|key| {
                let log_id = Sha256::digest(&key.spki_der).to_vec();
                let valid = Window { start: i64::MIN, end: None };
                let origin = String::new();
                Log {
                    key: key.clone(),
                    checkpoint_key_id: log_id.clone(),
                    log_id,
                    origin,
                    base_url: String::new(),
                    valid,
                }
            })
            .collect();
        TrustRoot { file: PathBuf::from("--rekor-pubkey"), tlogs, ..TrustRoot::default() }
    }

    /// The transparency log an entry names, if it is trusted.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&Log> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }
}

fn authority(ca: &CertificateAuthority, what: &str) -> Result<Authority, String> {
    let chain: Vec<Vec<u8>> = ca.cert_chain.iter().flat_map(|c| &c.certificates).map(|c| c.raw_bytes.clone()).collect();
    if chain.is_empty() {
        return Err(format!("{what}: empty certChain"));
    }
    let name = ca.subject.as_ref().map(|s| s.common_name.clone()).filter(|n| !n.is_empty()).unwrap_or(ca.uri.clone());
    Ok(Authority { name, chain, valid: Window::from_range(ca.valid_for.as_ref(), what)? })
}

fn log(file: &Path, l: &TransparencyLogInstance, what: &str) -> Result<Log, String> {
    let public_key = l.public_key.as_ref().ok_or_else(|| format!("{what}: no publicKey"))?;
    let mut der = public_key.raw_bytes.clone().ok_or_else(|| format!("{what}: publicKey has no rawBytes"))?;
    // PKCS1_RSA_* key details carry a PKCS#1 RSAPublicKey, not a SubjectPublicKeyInfo.
    if PKCS1_KEY_DETAILS.contains(&public_key.key_details) {
        der = crate::signature::keys::rsa_spki_from_pkcs1(&der);
    }
    let valid = Window::from_range(public_key.valid_for.as_ref(), what)?;
    let key = TrustedKey::from_spki(PathBuf::from(format!("{}#{what}", file.display())), der.clone())
        .map_err(|e| format!("{what}: {e}"))?;
    let log_id = match &l.log_id {
        Some(id) if !id.key_id.is_empty() => id.key_id.clone(),
        _ => Sha256::digest(&der).to_vec(),
    };
    let checkpoint_key_id =
        l.checkpoint_key_id.as_ref().map(|k| k.key_id.clone()).filter(|k| !k.is_empty()).unwrap_or(log_id.clone());
    let origin = l.base_url.split_once("://").map_or(l.base_url.as_str(), |(_, rest)| rest).to_string();
    Ok(Log { key, log_id, checkpoint_key_id, origin, base_url: l.base_url.clone(), valid })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCTION: &str = "../shared/interop/sigstore-conformance/production-trusted-root/trusted_root.json";

    #[test]
    fn windows_are_inclusive_at_both_ends() {
        let w = Window { start: 10, end: Some(20) };
        assert!(w.contains(10) && w.contains(20) && !w.contains(9) && !w.contains(21));
        assert!(Window { start: 10, end: None }.contains(i64::MAX));
    }

    #[test]
    fn reads_the_production_root() {
        let root = TrustRoot::load(Path::new(PRODUCTION)).expect("the production trusted root of the interop corpus");
        assert!(!root.fulcio.is_empty() && !root.tlogs.is_empty() && !root.ctlogs.is_empty());
        assert!(root.tlogs.iter().any(|l| l.origin == "rekor.sigstore.dev"), "{:?}", root.tlogs);
    }

    #[test]
    fn refuses_duplicate_keys_and_missing_starts() {
        let dup = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","mediaType":"x"}"#;
        assert!(TrustRoot::parse("t".into(), dup).unwrap_err().contains("duplicate"));
        let no_start = br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "timestampAuthorities":[{"uri":"u","certChain":{"certificates":[{"rawBytes":"AAAA"}]},"validFor":{}}]}"#;
        assert!(TrustRoot::parse("t".into(), no_start).unwrap_err().contains("no start"));
    }
}
