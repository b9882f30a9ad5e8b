//! `--archive-signature`: a cosign `sign-blob` signature over the archive file itself — the base64
//! signature file, or a sigstore bundle with a `messageSignature` — checked against the archive's
//! SHA-256 computed in the verification pass (the archive is never read twice for this).

use super::keys::{TrustedKey, decode_signature_base64};
use base64::Engine as _;

/// Verifies `file` (the signature or bundle bytes) over the archive whose SHA-256 is `sha256_hex`;
/// returns the key file that verified it.
pub fn verify(file: &[u8], sha256_hex: &str, keys: &[TrustedKey]) -> Result<String, String> {
    let digest = hex::decode(sha256_hex).map_err(|e| format!("archive SHA-256: {e}"))?;
    let text = String::from_utf8_lossy(file);
    let signature = if text.trim_start().starts_with('{') {
        crate::oci::json::check(file, crate::oci::json::fields::BUNDLE).map_err(|e| format!("bundle: {e}"))?;
        let bundle: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("bundle: {e}"))?;
        let sig = bundle.pointer("/messageSignature/signature").and_then(|s| s.as_str());
        let sig = sig.ok_or("the bundle has no messageSignature (a DSSE bundle does not sign a blob)")?;
        let algorithm = bundle.pointer("/messageSignature/messageDigest/algorithm").and_then(|a| a.as_str());
        if algorithm != Some("SHA2_256") {
            return Err(format!("the bundle's message digest is {algorithm:?}, not SHA2_256"));
        }
        let claimed = bundle.pointer("/messageSignature/messageDigest/digest").and_then(|d| d.as_str()).unwrap_or("");
        let claimed =
            base64::engine::general_purpose::STANDARD.decode(claimed).map_err(|e| format!("bundle digest: {e}"))?;
        if claimed != digest {
            return Err(format!("the bundle signs digest {}, the archive is {sha256_hex}", hex::encode(&claimed)));
        }
        decode_signature_base64(sig).map_err(|e| e.to_string())?
    } else {
        decode_signature_base64(text.trim()).map_err(|e| e.to_string())?
    };
    let mut reasons = Vec::new();
    for key in keys {
        match key.verify_sha256_digest(&digest, &signature) {
            Ok(_) => return Ok(key.file.display().to_string()),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    Err(reasons.join("; "))
}
