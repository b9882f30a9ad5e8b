//! `--archive-signature`: a cosign `sign-blob` signature over the archive file itself — the base64
//! signature file, or a sigstore bundle (keyed or keyless, SPEC §6.6) — checked against the archive's
//! SHA-256 computed in the verification pass (the archive is never read twice for this).

use super::bundle::{self, Artifact, Purpose, Signer};
use super::check::Trust;
use super::keys::decode_signature_base64;

/// Verifies `file` (the signature or bundle bytes) over the archive whose SHA-256 is `sha256_hex`;
/// returns who signed it: the key file, or the certificate's identity.
pub fn verify(file: &[u8], sha256_hex: &str, trust: &Trust) -> Result<String, String> {
    let digest = hex::decode(sha256_hex).map_err(|e| format!("archive SHA-256: {e}"))?;
    let text = String::from_utf8_lossy(file);
    if text.trim_start().starts_with('{') {
        let wanted = <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| "archive SHA-256: not 32 bytes")?;
        let ok = bundle::verify(file, &Artifact::Digest(wanted), &trust.bundle_policy(Purpose::Blob))
            .map_err(|e| e.to_string())?;
        return Ok(match ok.signer {
            Signer::Key { index, .. } => trust.keys[index].file.display().to_string(),
            Signer::Certificate { identity, .. } => format!("certificate {} ({})", identity.subject, identity.issuer),
        });
    }
    let signature = decode_signature_base64(text.trim()).map_err(|e| e.to_string())?;
    let mut reasons = Vec::new();
    for key in &trust.keys {
        match key.verify_sha256_digest(&digest, &signature) {
            Ok(_) => return Ok(key.file.display().to_string()),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if reasons.is_empty() {
        return Err("a plain signature file needs a key (-p)".into());
    }
    Err(reasons.join("; "))
}
