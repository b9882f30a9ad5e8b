//! Offline Rekor SET check for a `dev.sigstore.cosign/bundle` annotation, as containers/image does it: the SET
//! signs the RFC 8785 form of `Payload`, whose hashedrekord body must name this signature, key and payload.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::signature::keys::{TrustedKey, decode_signature_base64};
use crate::signature::payload::{Json, PayloadError, exact_fields, parse_json};

/// What a verified SET says about the log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetEntry {
    /// Seconds since the epoch: the trusted time of the signature.
    pub integrated_time: i64,
    pub log_index: i64,
    pub log_id: String,
}

/// Why a Rekor SET was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorError {
    #[error("Rekor SET: {0}")]
    Format(#[from] PayloadError),
    #[error("Rekor SET: {field}: {detail}")]
    Field { field: &'static str, detail: String },
    #[error("cryptographic signature verification of Rekor SET failed")]
    SetSignature,
    #[error("decoding the body of a Rekor SET payload: {0}")]
    Body(String),
    #[error("unsupported Rekor SET payload: kind {kind:?}, apiVersion {api_version:?} (only hashedrekord 0.0.1)")]
    EntryType { kind: String, api_version: String },
    #[error("publicKey in Rekor SET: {0}")]
    PublicKey(String),
    #[error("publicKey in Rekor SET does not match")]
    KeyMismatch,
    #[error("signature in Rekor SET does not match")]
    SignatureMismatch,
    #[error("Unexpected \"data.hash.algorithm\" value {0:?}")]
    HashAlgorithm(String),
    #[error("Invalid \"data.hash.value\" field in hashedrekord: {0}")]
    HashValue(String),
    #[error("payload in Rekor SET does not match")]
    PayloadMismatch,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    api_version: String,
    kind: String,
    spec: HashedRekord,
}

#[derive(Deserialize)]
struct HashedRekord {
    data: EntryData,
    signature: EntrySignature,
}

#[derive(Deserialize)]
struct EntryData {
    hash: EntryHash,
}

#[derive(Deserialize)]
struct EntryHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntrySignature {
    content: String,
    public_key: EntryPublicKey,
}

#[derive(Deserialize)]
struct EntryPublicKey {
    content: String,
}

/// Who made the signature a SET must name: a trusted key, or a certificate (DER) for keyless signatures.
#[derive(Clone, Copy)]
pub enum Signer<'a> {
    Key(&'a TrustedKey),
    Certificate(&'a [u8]),
}

/// Verifies the SET in `bundle_annotation` with any of `rekor_keys` and binds it to this signature: the logged
/// signature equals `signature`, the logged key or certificate is `signer`'s, the logged hash is sha256(`payload`).
pub fn verify_set(
    bundle_annotation: &str,
    rekor_keys: &[TrustedKey],
    signature: &[u8],
    payload: &[u8],
    signer: Signer<'_>,
) -> Result<SetEntry, RekorError> {
    let root = parse_json(bundle_annotation.as_bytes())?;
    let [set, set_payload] = exact_fields(root.as_object("the SET")?, ["SignedEntryTimestamp", "Payload"])?;
    let set = decode_field(set, "SignedEntryTimestamp")?;
    let [body, integrated_time, log_index, log_id] =
        exact_fields(set_payload.as_object("Payload")?, ["body", "integratedTime", "logIndex", "logID"])?;
    let body = body.as_str("Payload.body")?;
    let log_id = log_id.as_str("Payload.logID")?;
    let (integrated_time, integrated_time_text) = canonical_integer(integrated_time, "Payload.integratedTime")?;
    let (log_index, log_index_text) = canonical_integer(log_index, "Payload.logIndex")?;
    crate::oci::json::check(bundle_annotation.as_bytes(), crate::oci::json::fields::BUNDLE)
        .map_err(|e| RekorError::Body(e.to_string()))?;

    // RFC 8785: members sorted by UTF-16 code units, no white space, numbers as ECMAScript prints them.
    let canonical = format!(
        "{{\"body\":{},\"integratedTime\":{integrated_time_text},\"logID\":{},\"logIndex\":{log_index_text}}}",
        canonical_string(body),
        canonical_string(log_id),
    );
    if !rekor_keys.iter().any(|key| key.verify_ecdsa_sha256_der(canonical.as_bytes(), &set).is_ok()) {
        return Err(RekorError::SetSignature);
    }

    let body = decode_signature_base64(body)
        .map_err(|e| RekorError::Field { field: "Payload.body", detail: e.to_string() })?;
    crate::oci::json::check(&body, crate::oci::json::fields::BUNDLE).map_err(|e| RekorError::Body(e.to_string()))?;
    let entry: Entry = serde_json::from_slice(&body).map_err(|e| RekorError::Body(e.to_string()))?;
    if entry.kind != "hashedrekord" || entry.api_version != "0.0.1" {
        return Err(RekorError::EntryType { kind: entry.kind, api_version: entry.api_version });
    }
    let spec = entry.spec;

    let logged_pem = decode_signature_base64(&spec.signature.public_key.content)
        .map_err(|e| RekorError::PublicKey(e.to_string()))?;
    match signer {
        Signer::Key(signing_key) => {
            let logged_key = TrustedKey::from_pem(PathBuf::from("hashedrekord"), &logged_pem)
                .map_err(|e| RekorError::PublicKey(e.to_string()))?;
            if logged_key.spki_der != signing_key.spki_der {
                return Err(RekorError::KeyMismatch);
            }
        }
        Signer::Certificate(der) => {
            let logged = x509_cert::Certificate::load_pem_chain(&logged_pem)
                .map_err(|e| RekorError::PublicKey(format!("not a PEM certificate: {e}")))?;
            let first = logged.first().map(der::Encode::to_der);
            if !matches!(first, Some(Ok(ref d)) if d.as_slice() == der) {
                return Err(RekorError::KeyMismatch);
            }
        }
    }

    let logged_signature = decode_signature_base64(&spec.signature.content)
        .map_err(|e| RekorError::Field { field: "signature.content", detail: e.to_string() })?;
    if logged_signature != signature {
        return Err(RekorError::SignatureMismatch);
    }

    if spec.data.hash.algorithm != "sha256" {
        return Err(RekorError::HashAlgorithm(spec.data.hash.algorithm));
    }
    let logged_hash = hex::decode(&spec.data.hash.value).map_err(|e| RekorError::HashValue(e.to_string()))?;
    if logged_hash != Sha256::digest(payload).as_slice() {
        return Err(RekorError::PayloadMismatch);
    }
    Ok(SetEntry { integrated_time, log_index, log_id: log_id.to_string() })
}

fn decode_field(value: &Json, field: &'static str) -> Result<Vec<u8>, RekorError> {
    let text = value.as_str(field)?;
    decode_signature_base64(text).map_err(|e| RekorError::Field { field, detail: e.to_string() })
}

/// An integral JSON number, and its RFC 8785 text. Like containers/image (which canonicalizes first and then
/// decodes an int64), `1.0e3` is 1000, and a value past 2^53 is what its float64 prints as.
fn canonical_integer(value: &Json, field: &'static str) -> Result<(i64, String), RekorError> {
    let not_integer = || RekorError::Field { field, detail: "not an integer".into() };
    let Json::Number(n) = value else {
        return Err(value.wrong_type(field, "number").into());
    };
    let float = n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0).ok_or_else(not_integer)?;
    // Rust prints an integral f64 below 1e21 with all its digits and no exponent, as ECMAScript does.
    let text = if float == 0.0 { "0".to_string() } else { format!("{float}") };
    let int = text.parse::<i64>().map_err(|_| not_integer())?;
    Ok((int, text))
}

/// A JSON string literal as RFC 8785 writes it.
pub(crate) fn canonical_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    //! Synthetic SETs signed here with an openssl-made P-256 key, and the real containers/image fixture
    //! `dir-img-cosign-key-rekor-valid` read from ../shared/interop when it is there.
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use std::path::Path;

    const REKOR_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTfYOXJ9h64S7pb2o\
        7RcA052c8KG3iQaTJrrvOyy36VqhRANCAARzmvImIAtxh6i8kBG+DfdTwNjdglU+wbAFvOsUzszia2k2AVbbOyJ95k3Si9xuhRRvHzWqnSfxBa/DFYF5cLdl";
    const REKOR_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc5ryJiALcYeovJARvg33U8DY3YJV
PsGwBbzrFM7M4mtpNgFW2zsifeZN0ovcboUUbx81qp0n8QWvwxWBeXC3ZQ==
-----END PUBLIC KEY-----
";
    const SIGNER_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbITHhTtc0Q361R4VlnRN8G64xPQF
mJJ7aQMwDUDWG2FMnGaAni4ZOtRwzP7VOrQhA4UP6zXii3ZqrW/W1dm1tw==
-----END PUBLIC KEY-----
";
    const SIGNATURE: &[u8] = b"the signature bytes";
    const PAYLOAD: &[u8] = b"the payload bytes";

    fn key(pem: &str) -> TrustedKey {
        TrustedKey::from_pem(PathBuf::from("k.pub"), pem.as_bytes()).expect("key")
    }

    fn hashedrekord(signature: &[u8], key_pem: &str, payload: &[u8]) -> serde_json::Value {
        json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
            "signature": {"content": STANDARD.encode(signature), "publicKey": {"content": STANDARD.encode(key_pem)}}}})
    }

    /// A SET over `body`, signed with the Rekor key the way Rekor does.
    fn make_set(body: &serde_json::Value) -> String {
        let body = STANDARD.encode(body.to_string());
        let canonical =
            format!(r#"{{"body":"{body}","integratedTime":1674251859,"logID":"c0d23d6a","logIndex":11608800}}"#);
        let der = STANDARD.decode(REKOR_PKCS8).expect("pkcs8 base64");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der).expect("pkcs8");
        let set = pair.sign(&SystemRandom::new(), canonical.as_bytes()).expect("sign");
        // Not canonical on purpose: other member order and white space.
        format!(
            r#"{{"SignedEntryTimestamp":"{}", "Payload":{{"logIndex":11608800,"logID":"c0d23d6a","integratedTime":1674251859, "body":"{body}"}}}}"#,
            STANDARD.encode(set.as_ref())
        )
    }

    fn check(annotation: &str) -> Result<SetEntry, RekorError> {
        verify_set(annotation, &[key(SIGNER_PEM), key(REKOR_PEM)], SIGNATURE, PAYLOAD, Signer::Key(&key(SIGNER_PEM)))
    }

    #[test]
    fn synthetic_set_accepted() {
        let set = make_set(&hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD));
        let entry = check(&set).expect("accepted");
        assert_eq!(entry, SetEntry { integrated_time: 1674251859, log_index: 11608800, log_id: "c0d23d6a".into() });
    }

    #[test]
    fn set_signature_checked() {
        let set = make_set(&hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD));
        let no_rekor_key = verify_set(&set, &[key(SIGNER_PEM)], SIGNATURE, PAYLOAD, Signer::Key(&key(SIGNER_PEM)));
        assert_eq!(no_rekor_key, Err(RekorError::SetSignature));
        assert_eq!(
            verify_set(&set, &[], SIGNATURE, PAYLOAD, Signer::Key(&key(SIGNER_PEM))),
            Err(RekorError::SetSignature)
        );
        let moved = set.replace("11608800", "11608801");
        assert_eq!(check(&moved), Err(RekorError::SetSignature));
        // 1.16088e7 is the same number and the same canonical form.
        let respelled = set.replace("\"logIndex\":11608800", "\"logIndex\":1.16088e7");
        assert_eq!(check(&respelled).map(|e| e.log_index), Ok(11608800));
    }

    #[test]
    fn entry_bound_to_signature_key_and_payload() {
        let other_key = make_set(&hashedrekord(SIGNATURE, REKOR_PEM, PAYLOAD));
        assert_eq!(check(&other_key), Err(RekorError::KeyMismatch));
        let other_sig = make_set(&hashedrekord(b"another signature", SIGNER_PEM, PAYLOAD));
        assert_eq!(check(&other_sig), Err(RekorError::SignatureMismatch));
        let other_payload = make_set(&hashedrekord(SIGNATURE, SIGNER_PEM, b"another payload"));
        assert_eq!(check(&other_payload), Err(RekorError::PayloadMismatch));

        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["spec"]["data"]["hash"]["algorithm"] = json!("sha512");
        assert_eq!(check(&make_set(&entry)), Err(RekorError::HashAlgorithm("sha512".into())));
        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["spec"]["data"]["hash"]["value"] = json!("xyz");
        assert!(matches!(check(&make_set(&entry)), Err(RekorError::HashValue(_))));
        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["kind"] = json!("rekord");
        assert!(matches!(check(&make_set(&entry)), Err(RekorError::EntryType { .. })));
        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["apiVersion"] = json!("0.0.2");
        assert!(matches!(check(&make_set(&entry)), Err(RekorError::EntryType { .. })));
        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["spec"]["signature"]["publicKey"]["content"] = json!(STANDARD.encode("not a key"));
        assert!(matches!(check(&make_set(&entry)), Err(RekorError::PublicKey(_))));
        let mut entry = hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD);
        entry["spec"]["signature"].as_object_mut().expect("object").remove("content");
        assert!(matches!(check(&make_set(&entry)), Err(RekorError::Body(_))));
    }

    #[test]
    fn annotation_shape() {
        let set = make_set(&hashedrekord(SIGNATURE, SIGNER_PEM, PAYLOAD));
        assert!(matches!(check("this is not a valid SET"), Err(RekorError::Format(PayloadError::Syntax(_)))));
        assert_eq!(
            check(&set.replace("\"Payload\"", "\"payload\"")),
            Err(RekorError::Format(PayloadError::UnknownKey("payload".into())))
        );
        assert_eq!(
            check(&set.replacen('{', r#"{"Extra":1,"#, 1)),
            Err(RekorError::Format(PayloadError::UnknownKey("Extra".into())))
        );
        assert_eq!(
            check(&set.replace("\"logID\":\"c0d23d6a\",", "")),
            Err(RekorError::Format(PayloadError::MissingKey("logID")))
        );
        assert_eq!(
            check(&set.replace("\"logID\":\"c0d23d6a\",", "\"logID\":\"c0d23d6a\",\"logID\":\"c0d23d6a\",")),
            Err(RekorError::Format(PayloadError::DuplicateKey("logID".into())))
        );
        assert!(matches!(check(&set.replace("1674251859", "1674251859.5")), Err(RekorError::Field { .. })));
        assert!(matches!(check(&set.replace("1674251859", "\"1674251859\"")), Err(RekorError::Format(_))));
        assert!(matches!(check(&format!("{set} x")), Err(RekorError::Format(PayloadError::TrailingData))));
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_string("a\"b\\c\n\u{1}\u{1f}é€"), "\"a\\\"b\\\\c\\n\\u0001\\u001fé€\"");
        let int = |text: &str| canonical_integer(&parse_json(text.as_bytes()).expect("json"), "f");
        assert_eq!(int("5"), Ok((5, "5".into())));
        assert_eq!(int("-0.0"), Ok((0, "0".into())));
        assert_eq!(int("1e3"), Ok((1000, "1000".into())));
        assert_eq!(int("1152921504606846976"), Ok((1152921504606847000, "1152921504606847000".into())));
        assert!(int("1e19").is_err());
        assert!(int("0.5").is_err());
        assert!(int("null").is_err());
    }

    /// A skopeo `dir:` signature file: 0x00, `sigstore-json`, `\n`, JSON.
    fn read_fixture(path: &Path) -> (Vec<u8>, serde_json::Value) {
        let bytes = std::fs::read(path).expect("fixture");
        let json = bytes.strip_prefix(b"\x00sigstore-json\n").expect("sigstore-json signature file");
        let doc: serde_json::Value = serde_json::from_slice(json).expect("fixture JSON");
        let payload = STANDARD.decode(doc["payload"].as_str().expect("payload")).expect("payload base64");
        (payload, doc["annotations"].clone())
    }

    #[test]
    fn real_containers_image_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/containers-image");
        assert!(root.is_dir(), "{} is missing: this test reads the shared corpus in place", root.display());
        let load = |name: &str| TrustedKey::load(&root.join(name)).expect("fixture key");
        let (cosign, cosign2, rekor) = (load("cosign.pub"), load("cosign2.pub"), load("rekor.pub"));
        let rekor_only = std::slice::from_ref(&rekor);
        let (payload, annotations) = read_fixture(&root.join("dir-img-cosign-key-rekor-valid/signature-1"));
        let set = annotations["dev.sigstore.cosign/bundle"].as_str().expect("SET annotation");
        let signature =
            decode_signature_base64(annotations["dev.cosignproject.cosign/signature"].as_str().expect("sig"))
                .expect("signature base64");
        // The signature itself verifies with cosign2.pub.
        assert!(cosign2.verify(&payload, &signature).is_ok());

        let entry = verify_set(set, rekor_only, &signature, &payload, Signer::Key(&cosign2)).expect("valid SET");
        assert_eq!(entry.integrated_time, 1674251859);
        assert_eq!(entry.log_index, 11608800);
        assert_eq!(entry.log_id, "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d");
        assert_eq!(entry.log_id, rekor.fingerprint());
        assert!(verify_set(set, &[cosign.clone(), rekor.clone()], &signature, &payload, Signer::Key(&cosign2)).is_ok());

        assert_eq!(
            verify_set(set, std::slice::from_ref(&cosign), &signature, &payload, Signer::Key(&cosign2)),
            Err(RekorError::SetSignature)
        );
        assert_eq!(
            verify_set(set, rekor_only, &signature, &payload, Signer::Key(&cosign)),
            Err(RekorError::KeyMismatch)
        );
        let mut other_payload = payload.clone();
        other_payload.push(b' ');
        assert_eq!(
            verify_set(set, rekor_only, &signature, &other_payload, Signer::Key(&cosign2)),
            Err(RekorError::PayloadMismatch)
        );
        let mut other_signature = signature.clone();
        other_signature[10] ^= 1;
        assert_eq!(
            verify_set(set, rekor_only, &other_signature, &payload, Signer::Key(&cosign2)),
            Err(RekorError::SignatureMismatch)
        );

        // containers-image's constructed cases: a SET taken from another signature, and a SET that is not JSON.
        let (payload, annotations) = read_fixture(&root.join("constructed/key-sig-with-foreign-set/signature-1"));
        let foreign = annotations["dev.sigstore.cosign/bundle"].as_str().expect("SET");
        let signature =
            decode_signature_base64(annotations["dev.cosignproject.cosign/signature"].as_str().expect("sig"))
                .expect("signature base64");
        assert!(cosign.verify(&payload, &signature).is_ok());
        assert_eq!(
            verify_set(foreign, rekor_only, &signature, &payload, Signer::Key(&cosign)),
            Err(RekorError::KeyMismatch)
        );
        let (payload, annotations) = read_fixture(&root.join("constructed/key-rekor-invalid-set/signature-1"));
        let invalid = annotations["dev.sigstore.cosign/bundle"].as_str().expect("SET");
        assert!(matches!(
            verify_set(invalid, rekor_only, &signature, &payload, Signer::Key(&cosign2)),
            Err(RekorError::Format(_))
        ));
    }
}
