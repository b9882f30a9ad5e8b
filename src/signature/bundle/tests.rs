//! The key pair was made with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`; `SIG_V1` is
//! `openssl dgst -sha256 -sign` over the PAE of `STATEMENT_V1`. Variants are signed here with aws-lc-rs.
use super::content::{MAX_SUBJECT_DIGESTS, MAX_SUBJECTS, pae};
use super::*;
use crate::digest::Digest;
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
const SIG_V1: &str = "MEQCIERDe4CLWxmH8HO3FHPzGKE94GQSRKzB7aLpF8ITOenjAiBQTGADB85mZ1CP2SxnBSZ0MV6IXU9veBdn/o8fDzCgJw==";

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
    bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, statement.as_bytes(), &[&sig])
}

fn verify_bundle(bundle: &[u8], keys: &[TrustedKey], image: &Digest) -> Result<Verified, BundleError> {
    let wanted = <[u8; 32]>::try_from(hex::decode(image.hex()).expect("hex").as_slice()).expect("sha256");
    let policy = Policy { keys, root: None, identity: None, purpose: Purpose::Image, now: 0 };
    super::verify(bundle, &Artifact::Digest(wanted), &policy)
}

fn verify(bundle: &[u8]) -> Result<Verified, BundleError> {
    verify_bundle(bundle, &keys(), &image())
}

fn key_index(ok: &Verified) -> usize {
    match ok.signer {
        Signer::Key { index, .. } => index,
        _ => panic!("not a key signer: {ok:?}"),
    }
}

#[test]
fn pae_format() {
    assert_eq!(pae("t", b"body"), b"DSSEv1 1 t 4 body");
    assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
}

#[test]
fn accepts_openssl_signed_bundle() {
    for (media_type, _) in BUNDLE_MEDIA_TYPES {
        let bundle = bundle_with(media_type, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
        let ok = verify(&bundle).expect(media_type);
        let Signer::Key { index: 0, scheme } = ok.signer else { panic!("{ok:?}") };
        assert_eq!(scheme.as_str(), "ecdsa-p256-sha256-der");
        assert!(ok.log_indexes.is_empty() && ok.times.is_empty(), "key mode without a root needs no log entry");
    }
    // Key index among several keys.
    let mut two = vec![TrustedKey::from_pem(PathBuf::from("other.pub"), OTHER_PEM.as_bytes()).expect("key")];
    two.extend(keys());
    let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
    assert_eq!(key_index(&verify_bundle(&bundle, &two, &image()).expect("accepted")), 1);
}

#[test]
fn accepts_statement_v01_and_upper_case_hex() {
    let v01 = STATEMENT_V1.replace("Statement/v1", "Statement/v0.1");
    assert!(verify(&signed_bundle(&v01)).is_ok());
    let upper = STATEMENT_V1.replace(&IMAGE[7..], &IMAGE[7..].to_uppercase());
    assert!(verify(&signed_bundle(&upper)).is_ok());
    // One matching subject among others suffices; a subject's name is not an identity.
    let several = STATEMENT_V1
        .replace(r#""subject":["#, r#""subject":[{"name":"x","digest":{"sha512":"00"}},{"digest":{"sha256":"ff"}},"#);
    assert!(verify(&signed_bundle(&several)).is_ok());
}

#[test]
fn wrong_digest() {
    let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
    let other = Digest::sha256_of(b"another manifest");
    let err = verify_bundle(&bundle, &keys(), &other).unwrap_err();
    assert_eq!(err, BundleError::DigestMismatch(other.to_string()));
    assert!(err.to_string().starts_with("provided artifact digest sha256:"), "{err}");
    assert!(err.to_string().ends_with("does not match the bundle"), "{err}");
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
    let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3].0, "application/json", STATEMENT_V1.as_bytes(), &[&sig]);
    assert_eq!(verify(&bundle), Err(BundleError::PayloadType("application/json".into())));
    // The payload type is signed: swapping it breaks the signature.
    let swapped = bundle_with(BUNDLE_MEDIA_TYPES[3].0, "application/json", STATEMENT_V1.as_bytes(), &[SIG_V1]);
    assert!(matches!(verify(&swapped), Err(BundleError::Signature(_))));
}

#[test]
fn signature_count() {
    let body = STATEMENT_V1.as_bytes();
    let two = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1, SIG_V1]);
    assert_eq!(verify(&two), Err(BundleError::SignatureCount(2)));
    assert_eq!(BundleError::SignatureCount(2).to_string(), "DSSE envelope must have exactly 1 signature, got 2");
    let none = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, body, &[]);
    assert_eq!(verify(&none), Err(BundleError::SignatureCount(0)));
}

#[test]
fn tampered_payload_and_wrong_key() {
    let tampered = STATEMENT_V1.replace("registry.example", "registry.evil");
    let bundle = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, tampered.as_bytes(), &[SIG_V1]);
    let err = verify(&bundle).unwrap_err();
    assert!(err.to_string().starts_with("cryptographic signature verification failed: "), "{err}");
    let other = [TrustedKey::from_pem(PathBuf::from("other.pub"), OTHER_PEM.as_bytes()).expect("key")];
    let good = bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1.as_bytes(), &[SIG_V1]);
    assert!(matches!(verify_bundle(&good, &other, &image()), Err(BundleError::Signature(_))));
    let none = verify_bundle(&good, &[], &image());
    assert!(matches!(&none, Err(BundleError::Invalid(m)) if m.contains("no key")), "{none:?}");
}

#[test]
fn bundle_shape() {
    let body = STATEMENT_V1.as_bytes();
    let old =
        bundle_with("application/vnd.dev.sigstore.bundle+json;version=0.4", IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1]);
    assert!(matches!(verify(&old), Err(BundleError::MediaType(_))));
    let message = json!({"mediaType": BUNDLE_MEDIA_TYPES[3].0, "verificationMaterial": {"publicKey": {"hint": "k"}},
        "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": STANDARD.encode([0u8; 32])}, "signature": ""}})
    .to_string();
    assert_eq!(verify(message.as_bytes()), Err(BundleError::NoEnvelope));
    assert!(matches!(verify(b"not json"), Err(BundleError::Json(_))));
    assert!(matches!(verify(b"{}"), Err(BundleError::MediaType(_))));
    let unknown = String::from_utf8(bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1]))
        .expect("utf8")
        .replacen('{', r#"{"unknownField":1,"#, 1);
    assert!(
        matches!(verify(unknown.as_bytes()), Err(BundleError::Json(_))),
        "unknown fields are refused, as protojson does"
    );
    let good =
        String::from_utf8(bundle_with(BUNDLE_MEDIA_TYPES[3].0, IN_TOTO_PAYLOAD_TYPE, body, &[SIG_V1])).expect("utf8");
    let duplicated = good.replacen('{', r#"{"mediaType":"x","#, 1);
    let e = verify(duplicated.as_bytes());
    assert!(matches!(&e, Err(BundleError::Json(m)) if m.contains(r#"duplicate key "mediaType""#)), "{e:?}");
    let bad_b64 = good.replace(SIG_V1, &SIG_V1[1..]);
    assert!(matches!(verify(bad_b64.as_bytes()), Err(BundleError::Json(_))));
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
    assert!(matches!(&e, Err(BundleError::Statement(m)) if m.contains(r#"duplicate key "predicateType""#)), "{e:?}");
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

/// sigstore-rs's real cosign v3 bundle is keyless (signed by a Fulcio certificate): with keys only, it must fail
/// for want of a trusted root.
#[test]
fn real_keyless_bundle_is_not_accepted_with_a_key() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop/sigstore-rs/bundle_v03.json");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (this test reads the shared corpus in place)", path.display()));
    let digest =
        Digest::parse("sha256:c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172").expect("digest");
    let e = verify_bundle(&bytes, &keys(), &digest);
    assert!(matches!(&e, Err(BundleError::Invalid(m)) if m.contains("--trusted-root")), "{e:?}");
}

const KUBEWARDEN: &str =
    "https://github.com/kubewarden/kubewarden-controller/.github/workflows/release.yml@refs/tags/v1.34.0";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

/// The same real bundle, keyless against the public-good production root (read in place): it verifies for its
/// own identity, at its Rekor v1 integrated time, and for no other identity, issuer or image.
#[test]
fn real_keyless_bundle_verifies_with_the_production_root() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/interop");
    let bytes = std::fs::read(shared.join("sigstore-rs/bundle_v03.json")).expect("the shared corpus, read in place");
    let root = root::TrustRoot::load(&shared.join("sigstore-conformance/production-trusted-root/trusted_root.json"))
        .expect("production root");
    let image = hex::decode("c811d58de79c92f03214e63aa339484e488d694ae8a6283b5f3f17a9faf50172").expect("hex");
    let image = <[u8; 32]>::try_from(image.as_slice()).expect("32");
    let check = |subject: &str, issuer: &str, digest: [u8; 32]| {
        let identity = Identity { subject: Matcher::Exact(subject.into()), issuer: Matcher::Exact(issuer.into()) };
        let policy = Policy {
            keys: &[],
            root: Some(&root),
            identity: Some(&identity),
            purpose: Purpose::Image,
            now: 1_900_000_000,
        };
        super::verify(&bytes, &Artifact::Digest(digest), &policy)
    };
    let ok = check(KUBEWARDEN, GITHUB, image).expect("verifies");
    let Signer::Certificate { identity, .. } = &ok.signer else { panic!("{ok:?}") };
    assert_eq!((identity.subject.as_str(), identity.issuer.as_str()), (KUBEWARDEN, GITHUB));
    assert_eq!(ok.log_indexes.len(), 1);
    assert!(ok.times.iter().any(|(from, _)| from.starts_with("rekor ")), "{:?}", ok.times);
    assert!(matches!(check("https://github.com/evil/x", GITHUB, image), Err(BundleError::Identity(_))));
    assert!(matches!(check(KUBEWARDEN, "https://accounts.google.com", image), Err(BundleError::Identity(_))));
    let regex = Identity {
        subject: Matcher::regex("https://github.com/kubewarden/.*").expect("re"),
        issuer: Matcher::Exact(GITHUB.into()),
    };
    let policy =
        Policy { keys: &[], root: Some(&root), identity: Some(&regex), purpose: Purpose::Image, now: 1_900_000_000 };
    assert!(super::verify(&bytes, &Artifact::Digest(image), &policy).is_ok());
    // The log entry records this envelope: another image digest fails at the statement, after every log check.
    assert!(matches!(check(KUBEWARDEN, GITHUB, [7; 32]), Err(BundleError::DigestMismatch(_))));
    // An integrated time after "now" is refused.
    let past = Policy { keys: &[], root: Some(&root), identity: None, purpose: Purpose::Image, now: 1_000_000_000 };
    let e = super::verify(&bytes, &Artifact::Digest(image), &past);
    assert!(matches!(&e, Err(BundleError::Invalid(m)) if m.contains("in the future")), "{e:?}");
}
