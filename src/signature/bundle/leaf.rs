//! The bundle's signing certificate (SPEC §6.6 "Certificate"): chained to a Fulcio CA of the trusted root that
//! was valid at every verified timestamp, the leaf itself valid then, code signing when it has an EKU, an SCT
//! from a trusted CT log when the root lists any, and the identity (SAN and OIDC issuer) the operator asked for.

use der::{Decode, Encode};
use rustls_pki_types::UnixTime;
use std::time::Duration;
use x509_cert::Certificate;

use super::root::TrustRoot;
use super::{BundleError, Identity, sct};
use crate::signature::cert::{chain_to_roots, oidc_issuer, subject_alt_names};

/// Who the certificate says signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    pub subject: String,
    pub issuer: String,
}

/// Parses the leaf and returns its SubjectPublicKeyInfo (DER).
pub fn leaf_spki(leaf: &[u8]) -> Result<Vec<u8>, BundleError> {
    let cert =
        Certificate::from_der(leaf).map_err(|e| BundleError::Invalid(format!("the bundle's certificate: {e}")))?;
    cert.tbs_certificate().subject_public_key_info().to_der().map_err(|e| BundleError::Invalid(e.to_string()))
}

/// True when the certificate is self-issued (a root): a bundle must not carry one.
pub fn is_self_issued(der: &[u8]) -> bool {
    Certificate::from_der(der).is_ok_and(|c| c.tbs_certificate().issuer() == c.tbs_certificate().subject())
}

/// Checks the leaf against the trusted root at every time in `times`, then its SCT and identity.
pub fn verify(
    leaf: &[u8],
    extra_intermediates: &[Vec<u8>],
    times: &[i64],
    root: &TrustRoot,
    identity: &Identity,
) -> Result<CertIdentity, BundleError> {
    let invalid = BundleError::Invalid;
    if times.is_empty() {
        return Err(invalid("no verified timestamp to check the certificate at (a transparency log SET or an RFC 3161 timestamp is required)".into()));
    }
    let mut issuer_der = None;
    for &time in times {
        let secs = u64::try_from(time).map_err(|_| invalid(format!("timestamp {time} is before 1970")))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let mut last_error = format!("no certificate authority of {} was valid at {time}", root.file.display());
        let chained = root.fulcio.iter().filter(|ca| ca.valid.contains(time)).find(|ca| {
            let (intermediates, roots) = ca.chain.split_at(ca.chain.len() - 1);
            let mut all = intermediates.to_vec();
            all.extend_from_slice(extra_intermediates);
            match chain_to_roots(leaf, &all, roots, at) {
                Ok(()) => true,
                Err(e) => {
                    last_error = e;
                    false
                }
            }
        });
        let ca = chained.ok_or_else(|| invalid(format!("certificate at time {time}: {last_error}")))?;
        if issuer_der.is_none() {
            let candidates = extra_intermediates.iter().chain(&ca.chain).map(Vec::as_slice);
            issuer_der = sct::issuer_of(leaf, candidates).map(<[u8]>::to_vec);
        }
    }
    if !root.ctlogs.is_empty() {
        let issuer = issuer_der.as_deref().unwrap_or_default();
        sct::verify_embedded_scts(leaf, issuer, &root.ctlogs).map_err(|e| invalid(format!("certificate SCT: {e}")))?;
    }
    check_identity(leaf, identity)
}

fn check_identity(leaf: &[u8], want: &Identity) -> Result<CertIdentity, BundleError> {
    let cert =
        Certificate::from_der(leaf).map_err(|e| BundleError::Invalid(format!("the bundle's certificate: {e}")))?;
    let issuer = oidc_issuer(&cert)
        .ok_or_else(|| BundleError::Identity("the certificate has no Fulcio OIDC issuer extension".into()))?;
    if !want.issuer.matches(&issuer) {
        return Err(BundleError::Identity(format!(
            "the certificate's OIDC issuer {issuer:?} does not match {}",
            want.issuer.describe()
        )));
    }
    let (emails, uris, _) = subject_alt_names(&cert);
    let names: Vec<&String> = emails.iter().chain(&uris).collect();
    let subject = names.iter().find(|s| want.subject.matches(s)).ok_or_else(|| {
        BundleError::Identity(format!(
            "the certificate's identity {names:?} does not match {}",
            want.subject.describe()
        ))
    })?;
    Ok(CertIdentity { subject: subject.to_string(), issuer })
}
