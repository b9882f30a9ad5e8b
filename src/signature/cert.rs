//! Keyless signatures (SPEC §6.5): a signature made by the key in a certificate that chains to a trusted
//! CA — Fulcio (identity from the OIDC issuer extension and SAN, checked at the Rekor SET's integrated
//! time, so the SET is required) or a private PKI (SAN email / hostname, checked now).

use super::keys::TrustedKey;
use super::rekor::{self, Signer};
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// Fulcio's OIDC issuer extensions: v1 (raw string) and v2 (DER UTF8String).
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";

/// An exact value or a regular expression (`--certificate-identity-regexp`).
#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

impl Matcher {
    pub fn regex(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{pattern})$")).map(Matcher::Regex).map_err(|e| format!("invalid regexp: {e}"))
    }

    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regex(r) => r.is_match(value),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Matcher::Exact(s) => format!("{s:?}"),
            Matcher::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

/// What a certificate must satisfy.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Fulcio: the OIDC issuer extension and a SAN (email or URI) must match.
    Fulcio { issuer: Matcher, identity: Matcher },
    /// A private PKI: the SAN must hold the email and/or the DNS name.
    Pki { email: Option<String>, hostname: Option<String> },
}

/// Trust anchors and identity rules for keyless signatures.
#[derive(Clone, Debug)]
pub struct CertTrust {
    /// Every certificate of the CA files is a trust anchor (DER).
    pub roots: Vec<Vec<u8>>,
    /// Extra untrusted intermediates (policy `caIntermediates*`).
    pub intermediates: Vec<Vec<u8>>,
    /// Required for Fulcio: the SET gives the time the certificate is checked at.
    pub rekor_keys: Vec<TrustedKey>,
    pub mode: Mode,
}

impl CertTrust {
    /// Fulcio certificates of a sigstore trusted root, for `issuer` and `identity`: every CA chain's last
    /// certificate is an anchor, the others intermediates; the root's logs give the SET keys.
    pub fn fulcio(root: &super::bundle::root::TrustRoot, issuer: Matcher, identity: Matcher) -> CertTrust {
        let (mut roots, mut intermediates) = (Vec::new(), Vec::new());
        for ca in &root.fulcio {
            let (inter, last) = ca.chain.split_at(ca.chain.len() - 1);
            roots.extend_from_slice(last);
            intermediates.extend_from_slice(inter);
        }
        CertTrust {
            roots,
            intermediates,
            rekor_keys: root.tlogs.iter().map(|l| l.key.clone()).collect(),
            mode: Mode::Fulcio { issuer, identity },
        }
    }
}

/// An accepted certificate signature.
pub struct CertOk {
    pub subject: String,
    pub spki_sha256: String,
    pub scheme: String,
    pub rekor: bool,
    /// The leaf (DER) and the chain annotation's intermediates, for the trusted root's windows and SCTs.
    pub leaf: Vec<u8>,
    pub intermediates: Vec<Vec<u8>>,
    /// The verified SET's integrated time (Fulcio).
    pub integrated_time: Option<i64>,
}

/// The DER certificates of a PEM file or string.
pub fn pem_certificates(pem: &[u8], what: &str) -> Result<Vec<Vec<u8>>, String> {
    let certs = Certificate::load_pem_chain(pem).map_err(|e| format!("{what}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no certificate"));
    }
    certs.iter().map(|c| c.to_der().map_err(|e| format!("{what}: {e}"))).collect()
}

/// Reads a PEM file of certificates.
pub fn load_certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    pem_certificates(&pem, &path.display().to_string())
}

/// Verifies one simple-signing signature made with a certificate's key (before the payload is parsed).
pub fn verify(
    annotations: &BTreeMap<String, String>,
    payload: &[u8],
    signature: &[u8],
    trust: &CertTrust,
) -> Result<CertOk, String> {
    let leaf_pem =
        annotations.get(CERTIFICATE_ANNOTATION).ok_or(format!("missing {CERTIFICATE_ANNOTATION} annotation"))?;
    let leaf_der = pem_certificates(leaf_pem.as_bytes(), "the certificate annotation")?.remove(0);
    let leaf = Certificate::from_der(&leaf_der).map_err(|e| format!("the certificate annotation: {e}"))?;
    let spki = leaf.tbs_certificate().subject_public_key_info().to_der().map_err(|e| e.to_string())?;
    let key = TrustedKey::from_spki(PathBuf::from("certificate"), spki).map_err(|e| e.to_string())?;
    let scheme = key.verify(payload, signature).map_err(|e| e.to_string())?;

    let mut intermediates = trust.intermediates.clone();
    let mut annotated = Vec::new();
    if let Some(chain) = annotations.get(CHAIN_ANNOTATION) {
        annotated = pem_certificates(chain.as_bytes(), "the chain annotation")?;
        annotated.pop(); // the last one is the root, which must come from the trust configuration
        intermediates.extend(annotated.iter().cloned());
    }
    let mut integrated_time = None;
    let (time, rekor) = match &trust.mode {
        Mode::Fulcio { .. } => {
            let set = annotations.get(BUNDLE_ANNOTATION).ok_or(format!("missing {BUNDLE_ANNOTATION} annotation"))?;
            let entry = rekor::verify_set(set, &trust.rekor_keys, signature, payload, Signer::Certificate(&leaf_der))
                .map_err(|e| e.to_string())?;
            let secs = u64::try_from(entry.integrated_time).map_err(|_| "negative integratedTime in the Rekor SET")?;
            integrated_time = Some(entry.integrated_time);
            (UnixTime::since_unix_epoch(Duration::from_secs(secs)), true)
        }
        Mode::Pki { .. } => (UnixTime::now(), false),
    };
    chain_to_roots(&leaf_der, &intermediates, &trust.roots, time)?;
    let subject = check_identity(&leaf, &trust.mode)?;
    Ok(CertOk {
        subject,
        spki_sha256: key.fingerprint(),
        scheme: scheme.to_string(),
        rekor,
        leaf: leaf_der,
        intermediates: annotated,
        integrated_time,
    })
}

/// Builds a path from the leaf through `intermediates` to one of `roots`, valid at `time`, with
/// code signing in the extended key usage when the leaf has that extension (Go's rule).
pub(crate) fn chain_to_roots(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    roots: &[Vec<u8>],
    time: UnixTime,
) -> Result<(), String> {
    let root_ders: Vec<CertificateDer<'_>> = roots.iter().map(|r| CertificateDer::from(r.as_slice())).collect();
    let anchors: Vec<_> =
        root_ders.iter().filter_map(|r| webpki::anchor_from_trusted_cert(r).ok().map(|a| a.to_owned())).collect();
    if anchors.is_empty() {
        return Err("no usable trust anchor".into());
    }
    let inter: Vec<CertificateDer<'_>> = intermediates.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    let leaf_der = CertificateDer::from(leaf);
    let cert = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| format!("the certificate: {e}"))?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &inter,
        time,
        webpki::KeyUsage::required_if_present(CODE_SIGNING),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| format!("certificate signed by unknown authority or not valid at the signing time: {e}"))
}

/// SAN entries: (emails, URIs, DNS names).
pub(crate) fn subject_alt_names(cert: &Certificate) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut emails, mut uris, mut dns) = (Vec::new(), Vec::new(), Vec::new());
    for ext in cert.tbs_certificate().extensions().into_iter().flatten() {
        if ext.extn_id.to_string() != "2.5.29.17" {
            continue;
        }
        let Ok(san) = SubjectAltName::from_der(ext.extn_value.as_bytes()) else { continue };
        for name in san.0 {
            match name {
                GeneralName::Rfc822Name(s) => emails.push(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => uris.push(s.to_string()),
                GeneralName::DnsName(s) => dns.push(s.to_string()),
                _ => {}
            }
        }
    }
    (emails, uris, dns)
}

/// Fulcio's OIDC issuer: extension .1.8 (a DER UTF8String) or the older .1.1 (raw bytes).
pub(crate) fn oidc_issuer(cert: &Certificate) -> Option<String> {
    let exts = cert.tbs_certificate().extensions()?;
    let find = |oid: &str| exts.iter().find(|e| e.extn_id.to_string() == oid).map(|e| e.extn_value.as_bytes().to_vec());
    if let Some(v2) = find(ISSUER_V2) {
        return der::asn1::Utf8StringRef::from_der(&v2).ok().map(|s| s.to_string());
    }
    find(ISSUER_V1).and_then(|v| String::from_utf8(v).ok())
}

pub(crate) fn check_identity(cert: &Certificate, mode: &Mode) -> Result<String, String> {
    let (emails, uris, dns) = subject_alt_names(cert);
    match mode {
        Mode::Fulcio { issuer, identity } => {
            let got = oidc_issuer(cert).ok_or("the certificate has no Fulcio OIDC issuer extension")?;
            if !issuer.matches(&got) {
                return Err(format!(
                    "Required OIDC issuer {} does not match the certificate's {got:?}",
                    issuer.describe()
                ));
            }
            let subject = emails.iter().chain(&uris).find(|s| identity.matches(s)).ok_or_else(|| {
                format!(
                    "Required email {} not found (the certificate names {:?})",
                    identity.describe(),
                    [&emails[..], &uris[..]].concat()
                )
            })?;
            Ok(format!("{subject} ({got})"))
        }
        Mode::Pki { email, hostname } => {
            if let Some(e) = email.as_ref().filter(|e| !emails.contains(e)) {
                return Err(format!("Required email {e:?} not found (the certificate names {emails:?})"));
            }
            if let Some(h) = hostname.as_ref().filter(|h| !dns.iter().any(|d| d.eq_ignore_ascii_case(h))) {
                return Err(format!("Required hostname {h:?} not found (the certificate names {dns:?})"));
            }
            Ok(email.clone().or_else(|| hostname.clone()).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matchers_are_anchored() {
        let m = Matcher::regex(".*@example\\.com").unwrap();
        assert!(m.matches("a@example.com"));
        assert!(!m.matches("a@example.com.evil"));
        assert!(Matcher::Exact("x".into()).matches("x"));
        assert!(Matcher::regex("(").is_err());
    }
}
