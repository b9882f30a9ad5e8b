//! cosign v3 signatures: a sigstore bundle (v0.1–v0.3) whose one DSSE signature covers an in-toto statement
//! naming the image digest as a subject. Key mode only; the bundle's own key hint and tlog entries are ignored.

pub mod merkle;
pub mod root;
pub mod sct;
pub mod tsa;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::signature::keys::{Scheme, SigError, TrustedKey, decode_signature_base64, verify_with_any};

/// Bundle media types accepted (v0.1 and v0.2 as protobuf-specs names them, v0.3 in both spellings).
pub const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
];
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPES: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

/// Same cap as any other signature payload (SPEC §8).
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// sigstore-go's limits on a statement.
pub const MAX_SUBJECTS: usize = 1024;
pub const MAX_SUBJECT_DIGESTS: usize = 32;

/// An accepted bundle: which trusted key verified it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOk {
    pub key_index: usize,
    pub scheme: Scheme,
}

/// Why a bundle was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("bundle is larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    #[error("bundle: {0}")]
    Json(String),
    #[error("unsupported bundle media type {0:?}")]
    MediaType(String),
    #[error("bundle has no DSSE envelope (a message-signature bundle is not an image signature)")]
    NoEnvelope,
    #[error("DSSE envelope must have exactly 1 signature, got {0}")]
    SignatureCount(usize),
    #[error("{field}: {source}")]
    Base64 { field: &'static str, source: SigError },
    #[error(transparent)]
    Signature(SigError),
    #[error("unsupported DSSE payloadType {0:?} (expected \"{IN_TOTO_PAYLOAD_TYPE}\")")]
    PayloadType(String),
    #[error("in-toto statement: {0}")]
    Statement(String),
    #[error("unsupported in-toto _type {0:?}")]
    StatementType(String),
    #[error("unsupported in-toto predicateType {0:?} (expected \"{COSIGN_SIGN_PREDICATE}\")")]
    PredicateType(String),
    #[error("in-toto statement has {0} subjects (at most {MAX_SUBJECTS} are accepted)")]
    TooManySubjects(usize),
    #[error("an in-toto subject has {0} digests (at most {MAX_SUBJECT_DIGESTS} are accepted)")]
    TooManyDigests(usize),
    #[error("provided artifact digest {0} does not match any subject of the in-toto statement")]
    DigestMismatch(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(default)]
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// Parses JSON rejecting duplicate keys anywhere, then into `T`.
fn strict_from_slice<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    crate::oci::json::parse(bytes, crate::oci::json::fields::BUNDLE).map_err(|e| e.to_string())
}

/// DSSE pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(body)> <body>`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Verifies a cosign v3 bundle for `image_digest` with any of `keys`. The signature is checked before the
/// statement is parsed.
pub fn verify_bundle(bundle_json: &[u8], keys: &[TrustedKey], image_digest: &Digest) -> Result<BundleOk, BundleError> {
    if bundle_json.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge);
    }
    let bundle: Bundle = strict_from_slice(bundle_json).map_err(BundleError::Json)?;
    if !BUNDLE_MEDIA_TYPES.contains(&bundle.media_type.as_str()) {
        return Err(BundleError::MediaType(bundle.media_type));
    }
    let envelope = bundle.dsse_envelope.ok_or(BundleError::NoEnvelope)?;
    let [signature] = envelope.signatures.as_slice() else {
        return Err(BundleError::SignatureCount(envelope.signatures.len()));
    };
    let body = decode_signature_base64(&envelope.payload)
        .map_err(|source| BundleError::Base64 { field: "dsseEnvelope.payload", source })?;
    let sig = decode_signature_base64(&signature.sig)
        .map_err(|source| BundleError::Base64 { field: "dsseEnvelope.signatures[0].sig", source })?;
    let (key_index, scheme) =
        verify_with_any(keys, &pae(&envelope.payload_type, &body), &sig).map_err(BundleError::Signature)?;

    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(BundleError::PayloadType(envelope.payload_type));
    }
    let statement: Statement = strict_from_slice(&body).map_err(BundleError::Statement)?;
    if !STATEMENT_TYPES.contains(&statement.statement_type.as_str()) {
        return Err(BundleError::StatementType(statement.statement_type));
    }
    if statement.predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(BundleError::PredicateType(statement.predicate_type));
    }
    if statement.subject.len() > MAX_SUBJECTS {
        return Err(BundleError::TooManySubjects(statement.subject.len()));
    }
    let wanted = hex::decode(image_digest.hex()).map_err(|e| BundleError::Statement(e.to_string()))?;
    let mut matched = false;
    for subject in &statement.subject {
        if subject.digest.len() > MAX_SUBJECT_DIGESTS {
            return Err(BundleError::TooManyDigests(subject.digest.len()));
        }
        // Compared as bytes, as sigstore-go does (so upper-case hex in the statement matches too).
        let claimed = subject.digest.get(image_digest.algorithm().name()).and_then(|h| hex::decode(h).ok());
        matched |= claimed.as_deref() == Some(wanted.as_slice());
    }
    if !matched {
        return Err(BundleError::DigestMismatch(image_digest.to_string()));
    }
    Ok(BundleOk { key_index, scheme })
}

#[cfg(test)]
mod tests {
    //! The key pair was made with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`; `SIG_V1` is
    //! `openssl dgst -sha256 -sign` over the PAE of `STATEMENT_V1`. Variants are signed here with aws-lc-rs.
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use std::path::PathBuf;

    const PRIVATE_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTfYOXJ9h64S7pb2o\
        7RcA052c8KG3iQaTJrrvOyy36VqhRANCAARzmvImIAtxh6i8kBG+DfdTwNjdglU+wbAFvOsUzszia2k2AVbbOyJ95k3Si9xuhRRvHzWqnSfxBa/DFYF5cLdl";
    const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc5ryJiALcYeovJARvg33U8DY3YJV
PsGwBbzrFM7M4mtpNgFW2zsifeZN0ovcboUUbx81qp0n8QWvwxWBeXC3ZQ==
-----END PUBLIC KEY-----
";
    const OTHER_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbITHhTtc0Q361R4VlnRN8G64xPQF
mJJ7aQMwDUDWG2FMnGaAni4ZOtRwzP7VOrQhA4UP6zXii3ZqrW/W1dm1tw==
-----END PUBLIC KEY-----
";
    const IMAGE: &str = "sha256:0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a";
    const STATEMENT_V1: &str = r#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/ns/app","digest":{"sha256":"0489474da8ea22426ece86ace6c1c0026ab2fd3cdfbbd62b7e94650266c37d9a"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}"#;
    const SIG_V1: &str =
        "MEQCIERDe4CLWxmH8HO3FHPzGKE94GQSRKzB7aLpF8ITOenjAiBQTGADB85mZ1CP2SxnBSZ0MV6IXU9veBdn/o8fDzCgJw==";

    fn keys() -> Vec<TrustedKey> {
        vec![TrustedKey::from_pem(PathBuf::from("cosign.pub"), PUBLIC_PEM.as_bytes()).expect("key")]
    }

    fn image() -> Digest {
        Digest::parse(IMAGE).expect("digest")
    }

    fn sign(payload_type: &str, body: &[u8]) -> String {
        let der = STANDARD.decode(PRIVATE_PKCS8).expect("pkcs8 base64");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der).expect("pkcs8");
        let sig = pair.sign(&SystemRandom::new(), &pae(payload_type, body)).expect("sign");
        STANDARD.encode(sig.as_ref())
    }

    fn bundle_with(media_type: &str, payload_type: &str, body: &[u8], sigs: &[&str]) -> Vec<u8> {
        let signatures: Vec<_> = sigs.iter().map(|s| json!({"sig": s, "keyid": ""})).collect();
        json!({
            "mediaType": media_type,
            "verificationMaterial": {"publicKey": {"hint": "ignored"}},
            "dsseEnvelope": {"payload": STANDARD.encode(body), "payloadType": payload_type, "signatures": signatures},
        })
        .to_string()
        .into_bytes()
    }

    fn signed_bundle(statement: &str) -> Vec<u8> {
        let sig = sign(IN_TOTO_PAYLOAD_TYPE, statement.as_bytes());
        bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, statement.as_bytes(), &[&sig])
    }

    fn verify(bundle: &[u8]) -> Result<BundleOk, BundleError> {
        verify_bundle(bundle, &keys(), &image())
    }

    #[test]
    fn pae_format() {
        assert_eq!(pae("t", b"body"), b"DSSEv1 1 t 4 body");
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn accepts_openssl_signed_bundle() {
        for media_type in BUNDLE_MEDIA_TYPES {
            let bundle = bundle_with(media_type, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
            let ok = verify(&bundle).expect(media_type);
            assert_eq!(ok, BundleOk { key_index: 0, scheme: ok.scheme });
            assert_eq!(ok.scheme.as_str(), "ecdsa-p256-sha256-der");
        }
        // Key index among several keys.
        let mut two = vec![TrustedKey::from_pem(PathBuf::from("other.pub"), OTHER_PEM.as_bytes()).expect("key")];
        two.extend(keys());
        let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
        assert_eq!(verify_bundle(&bundle, &two, &image()).expect("accepted").key_index, 1);
    }

    #[test]
    fn accepts_statement_v01_and_upper_case_hex() {
        let v01 = STATEMENT_V1.replace("Statement/v1", "Statement/v0.1");
        assert!(verify(&signed_bundle(&v01)).is_ok());
        let upper = STATEMENT_V1.replace(&IMAGE[7..], &IMAGE[7..].to_uppercase());
        assert!(verify(&signed_bundle(&upper)).is_ok());
        // One matching subject among others suffices; a subject's name is not an identity.
        let several = STATEMENT_V1.replace(
            r#""subject":["#,
            r#""subject":[{"name":"x","digest":{"sha512":"00"}},{"digest":{"sha256":"ff"}},"#,
        );
        assert!(verify(&signed_bundle(&several)).is_ok());
    }

    #[test]
    fn wrong_digest() {
        let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
        let other = Digest::sha256_of(b"another manifest");
        let err = verify_bundle(&bundle, &keys(), &other).unwrap_err();
        assert_eq!(err, BundleError::DigestMismatch(other.to_string()));
        assert!(err.to_string().starts_with("provided artifact digest sha256:"), "{err}");
        let no_subject = STATEMENT_V1.replace(r#""sha256":"#, r#""sha512":"#);
        assert!(matches!(verify(&signed_bundle(&no_subject)), Err(BundleError::DigestMismatch(_))));
    }

    #[test]
    fn wrong_predicate_and_statement_type() {
        let predicate = STATEMENT_V1.replace("https://sigstore.dev/cosign/sign/v1", "https://slsa.dev/provenance/v1");
        assert_eq!(
            verify(&signed_bundle(&predicate)),
            Err(BundleError::PredicateType("https://slsa.dev/provenance/v1".into()))
        );
        let statement = STATEMENT_V1.replace("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v2");
        assert!(matches!(verify(&signed_bundle(&statement)), Err(BundleError::StatementType(_))));
        let missing = STATEMENT_V1.replace(r#""predicateType":"https://sigstore.dev/cosign/sign/v1","#, "");
        assert!(matches!(verify(&signed_bundle(&missing)), Err(BundleError::Statement(_))));
    }

    #[test]
    fn wrong_payload_type() {
        let sig = sign("application/json", STATEMENT_V1.as_bytes());
        let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3], "application/json", STATEMENT_V1.as_bytes(), &[&sig]);
        assert_eq!(verify(&bundle), Err(BundleError::PayloadType("application/json".into())));
        // The payload type is signed: swapping it breaks the signature.
        let swapped = bundle_with(BUNDLE_MEDIA_TYPES[3], "application/json", STATEMENT_V1.as_bytes(), &[SIG_V1]);
        assert!(matches!(verify(&swapped), Err(BundleError::Signature(_))));
    }

    #[test]
    fn signature_count() {
        let body = STATEMENT_V1.as_bytes();
        let two = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1, SIG_V1]);
        assert_eq!(verify(&two), Err(BundleError::SignatureCount(2)));
        assert_eq!(BundleError::SignatureCount(2).to_string(), "DSSE envelope must have exactly 1 signature, got 2");
        let none = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, body, &[]);
        assert_eq!(verify(&none), Err(BundleError::SignatureCount(0)));
    }

    #[test]
    fn tampered_payload_and_wrong_key() {
        let tampered = STATEMENT_V1.replace("registry.example", "registry.evil");
        let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, tampered.as_bytes(), &[SIG_V1]);
        let err = verify(&bundle).unwrap_err();
        assert!(err.to_string().starts_with("cryptographic signature verification failed: "), "{err}");
        let other = [TrustedKey::from_pem(PathBuf::from("other.pub"), OTHER_PEM.as_bytes()).expect("key")];
        let good = bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
        assert!(matches!(verify_bundle(&good, &other, &image()), Err(BundleError::Signature(_))));
        assert!(matches!(verify_bundle(&good, &[], &image()), Err(BundleError::Signature(_))));
    }

    #[test]
    fn bundle_shape() {
        let body = STATEMENT_V1.as_bytes();
        let old =
            bundle_with("application/vnd.dev.sigstore.bundle+json;version=0.4", IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1]);
        assert!(matches!(verify(&old), Err(BundleError::MediaType(_))));
        let message = json!({"mediaType": BUNDLE_MEDIA_TYPES[3], "messageSignature": {}}).to_string();
        assert_eq!(verify(message.as_bytes()), Err(BundleError::NoEnvelope));
        assert!(matches!(verify(b"not json"), Err(BundleError::Json(_))));
        assert!(matches!(verify(b"{}"), Err(BundleError::Json(_))));
        let good =
            String::from_utf8(bundle_with(BUNDLE_MEDIA_TYPES[3], IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1])).expect("utf8");
        let duplicated = good.replacen('{', r#"{"mediaType":"x","#, 1);
        let e = verify(duplicated.as_bytes());
        assert!(matches!(&e, Err(BundleError::Json(m)) if m.contains(r#"duplicate key "mediaType""#)), "{e:?}");
        let bad_b64 = good.replace(SIG_V1, &SIG_V1[1..]);
        assert!(matches!(verify(bad_b64.as_bytes()), Err(BundleError::Base64 { .. })));
        let huge = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert_eq!(verify(&huge), Err(BundleError::TooLarge));
    }

    #[test]
    fn statement_limits_and_duplicates() {
        let duplicate = STATEMENT_V1.replace(
            r#""predicateType":"https://sigstore.dev/cosign/sign/v1""#,
            r#""predicateType":"https://slsa.dev/provenance/v1","predicateType":"https://sigstore.dev/cosign/sign/v1""#,
        );
        let e = verify(&signed_bundle(&duplicate));
        assert!(
            matches!(&e, Err(BundleError::Statement(m)) if m.contains(r#"duplicate key "predicateType""#)),
            "{e:?}"
        );
        let subject = format!(r#"{{"digest":{{"sha256":"{}"}}}}"#, &IMAGE[7..]);
        let many = vec![subject.as_str(); MAX_SUBJECTS + 1].join(",");
        let too_many = format!(
            r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{many}],"predicateType":"{COSIGN_SIGN_PREDICATE}"}}"#
        );
        assert_eq!(verify(&signed_bundle(&too_many)), Err(BundleError::TooManySubjects(MAX_SUBJECTS + 1)));
        let digests: Vec<String> = (0..=MAX_SUBJECT_DIGESTS).map(|i| format!(r#""alg{i}":"00""#)).collect();
        let wide = STATEMENT_V1.replace(r#""digest":{"#, &format!(r#""digest":{{{},"#, digests.join(",")));
        assert_eq!(verify(&signed_bundle(&wide)), Err(BundleError::TooManyDigests(MAX_SUBJECT_DIGESTS + 2)));
    }

    /// sigstore-rs's real cosign v3 bundle is keyless (signed by a Fulcio certificate): in key mode it must fail
    /// at the signature, after its media type and envelope are understood.
    #[test]
    fn real_keyless_bundle_is_not_accepted_with_a_key() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/sigstore-rs/bundle_v03.json");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (this test reads the shared corpus in place)", path.display()));
        let digest =
            Digest::parse("sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172").expect("digest");
        assert!(matches!(verify_bundle(&bytes, &keys(), &digest), Err(BundleError::Signature(_))));
    }
}
