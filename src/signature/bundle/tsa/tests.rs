use super::*;
use crate::signature::bundle::root::{TrustRoot, Window};
use base64::Engine as _;
use std::path::Path;

const ASSETS: &str = "../shared/interop/sigstore-conformance/test/assets/bundle-verify";
const SIGSTAGE: &str = "sigstore-tsa-selfsigned";

struct Case {
    token: Vec<u8>,
    signature: Vec<u8>,
    tsas: Vec<Authority>,
}

impl Case {
    fn verify(&self) -> Result<Stamp, String> {
        verify_timestamp(&self.token, &self.signature, &self.tsas)
    }
}

fn case(name: &str) -> Case {
    let dir = Path::new(ASSETS).join(name);
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).unwrap();
    // Go's base64 skips newlines, and rekor2-timestamp-with-incorrect-time_fail's timestamp has some.
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap().replace('\n', "")).unwrap()
    };
    let stamps = bundle.pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps").unwrap();
    assert_eq!(stamps.as_array().unwrap().len(), 1, "{name}");
    let signature =
        bundle.pointer("/messageSignature/signature").or(bundle.pointer("/dsseEnvelope/signatures/0/sig")).unwrap();
    let tsas = TrustRoot::load(&dir.join("trusted_root.json")).unwrap().tsas;
    Case { token: b64(&stamps[0]["signedTimestamp"]), signature: b64(signature), tsas }
}

fn accepted(name: &str, time: i64, authority: &str) {
    let stamp = case(name).verify().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(stamp, Stamp { time, authority: authority.into() }, "{name}");
}

fn rejected(c: &Case, reason: &str) {
    let err = c.verify().err().unwrap_or_else(|| panic!("accepted, expected {reason:?}"));
    assert!(err.contains(reason), "{err:?} does not say {reason:?}");
}

#[test]
fn conformance_timestamps_that_verify() {
    accepted("rekor2-happy-path", 1749729740, SIGSTAGE); // 2025-06-12T12:02:20Z
    accepted("rekor2-timestamp-with-embedded-cert", 1754506296, SIGSTAGE);
    accepted("rekor2-timestamp-without-embedded-cert", 1754507031, SIGSTAGE);
    // The chain expired minutes after the timestamp: it is checked at genTime, not now.
    accepted("rekor2-timestamp-with-expired-cert-chain", 1754580746, SIGSTAGE);
    accepted("trust-root-tsa-validity-end-inclusive", 1749729740, SIGSTAGE);
    // These bundles fail on the Fulcio certificate's lifetime, not on their timestamp.
    accepted("rekor2-timestamp-with-incorrect-time_fail", 1752575611, SIGSTAGE);
    accepted("intoto-tsa-timestamp-outside-cert-validity_fail", 1675296000, "sigstore"); // 2023-02-02
}

#[test]
fn conformance_timestamps_that_fail() {
    let tsa_window = "timestamp outside the validity of the authority in the trusted root";
    rejected(&case("rekor2-timestamp-outside-trust-root-tsa-validity_fail"), tsa_window);
    let cert_window = "timestamp outside the validity of the TSA certificate";
    rejected(&case("rekor2-timestamp-outside-tsa-cert-validity_fail"), cert_window);
    let imprint = "timestamp message imprint does not match the signature";
    rejected(&case("rekor2-timestamp-payload-mismatch_fail"), imprint);
    let untrusted = "timestamp not signed by a trusted timestamp authority";
    rejected(&case("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail"), untrusted);
    rejected(&case("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail"), untrusted);
}

#[test]
fn the_chain_is_checked_at_gen_time_even_without_a_signing_time() {
    let c = case("rekor2-timestamp-outside-tsa-cert-validity_fail");
    let token = parse_response(&c.token).unwrap();
    let chain = split_chain(&c.tsas[0]).unwrap();
    let time = parse_tst_info(token.tst_info).unwrap().time;
    let leaf = chain.leaf.unwrap();
    match verify_chain(leaf, &token.certificates, &chain, time, Failure::NotSigner) {
        Err(Failure::Rejected(e)) => {
            assert!(e.contains("outside the validity of the TSA certificate chain"), "{e}")
        }
        _ => panic!("a chain that expired before genTime was accepted"),
    }
    let earlier = GenTime { secs: time.secs - 400, fraction: false }; // 15:31:52, inside every certificate
    assert!(verify_chain(leaf, &token.certificates, &chain, earlier, Failure::NotSigner).is_ok());
}

#[test]
fn the_signing_time_attribute_must_be_within_the_certificate() {
    let c = case("rekor2-happy-path");
    let token = parse_response(&c.token).unwrap();
    let time = parse_tst_info(token.tst_info).unwrap().time;
    assert_eq!(check_signed_attributes(&token), Ok(Some(1749729740)));
    assert!(verify_with(&token, time, Some(1749729740), &c.tsas[0]).is_ok());
    match verify_with(&token, time, Some(1_000_000_000), &c.tsas[0]) {
        Err(Failure::Rejected(e)) => assert!(e.contains("(its signing-time attribute)"), "{e}"),
        _ => panic!("a signing-time before the certificate was accepted"),
    }
}

#[test]
fn the_signer_must_be_a_time_stamping_end_entity() {
    let c = case("rekor2-happy-path");
    let leaf = Certificate::from_der(&c.tsas[0].chain[0]).unwrap();
    assert_eq!(check_tsa_leaf(&leaf), Ok(()));
    let root = Certificate::from_der(&c.tsas[0].chain[1]).unwrap();
    assert!(check_tsa_leaf(&root).unwrap_err().contains("not a CA"));
    let bundle: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(ASSETS).join("rekor2-happy-path/bundle.sigstore.json")).unwrap(),
    )
    .unwrap();
    let fulcio = bundle.pointer("/verificationMaterial/certificate/rawBytes").unwrap().as_str().unwrap();
    let fulcio = base64::engine::general_purpose::STANDARD.decode(fulcio).unwrap();
    let err = check_tsa_leaf(&Certificate::from_der(&fulcio).unwrap()).unwrap_err();
    assert!(err.contains("must be critical and only id-kp-timeStamping"), "{err}");
    let ski = hex::decode("a8fc64f628de2ee63b734f548c52c4e19cdd53a5").unwrap();
    assert!(names(&Sid::KeyId(&ski), &c.tsas[0].chain[0]) && !names(&Sid::KeyId(&ski), &c.tsas[0].chain[1]));
}

/// Signs the happy path's TSTInfo, its genTime moved to `gen_time`, with a fresh openssl CA and a TSA
/// certificate with `extensions` (days of validity: CA 1, TSA 3): `openssl cms -sign` adds content-type,
/// signing-time (now) and message-digest, as a TSA does.
fn crafted(dir: &Path, extensions: &str, gen_time: u64) -> String {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        &[&["req", "-x509", "-subj", "/CN=CA", "-days", "1", "-keyout", "ca.key", "-out", "ca.pem"], &ec[..]].concat(),
    );
    openssl(&[&["req", "-new", "-subj", "/CN=TSA", "-keyout", "tsa.key", "-out", "tsa.csr"], &ec[..]].concat());
    std::fs::write(dir.join("ext"), extensions).unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "7",
        "-days",
        "3",
        "-extfile",
        "ext",
        "-out",
        "tsa.pem",
    ]);
    let mut c = case("rekor2-happy-path");
    let mut tst_info = parse_response(&c.token).unwrap().tst_info.to_vec();
    let at = tst_info.windows(15).position(|w| w == b"20250612120220Z").unwrap();
    let t = der::DateTime::from_unix_duration(Duration::from_secs(gen_time)).unwrap();
    let (y, mo, d, h, mi, s) = (t.year(), t.month(), t.day(), t.hour(), t.minutes(), t.seconds());
    tst_info[at..at + 15].copy_from_slice(format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes());
    std::fs::write(dir.join("tst"), &tst_info).unwrap();
    let sign = ["cms", "-sign", "-binary", "-nodetach", "-nosmimecap", "-md", "sha256", "-outform", "DER"];
    let tsa = ["-in", "tst", "-econtent_type", "1.2.840.113549.1.9.16.1.4", "-signer", "tsa.pem", "-inkey", "tsa.key"];
    openssl(&[&sign[..], &tsa, &["-out", "token"]].concat());
    let tlv = |tag: u8, content: &[u8]| [&[tag, 0x82], &(content.len() as u16).to_be_bytes()[..], content].concat();
    let token = std::fs::read(dir.join("token")).unwrap();
    c.token = tlv(SEQUENCE, &[&[0x30, 0x03, 0x02, 0x01, 0x00][..], &token].concat());
    let der = |file: &str| Certificate::load_pem_chain(&std::fs::read(dir.join(file)).unwrap()).unwrap()[0].to_der();
    let chain = vec![der("tsa.pem").unwrap(), der("ca.pem").unwrap()];
    c.tsas = vec![Authority { name: "crafted".into(), chain, valid: Window { start: 0, end: None } }];
    c.verify().map(|s| s.time.to_string()).unwrap_or_else(|e| e)
}

#[test]
fn crafted_signers_must_be_time_stamping_end_entities() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let crafted = |extensions: &str, gen_time: u64| crafted(dir.path(), extensions, gen_time);
    let good = "extendedKeyUsage=critical,timeStamping\n";
    assert_eq!(crafted(good, now + 60), (now + 60).to_string());
    let two_days = now + 2 * 86400; // the TSA certificate is still valid, the CA not
    assert!(crafted(good, two_days).contains("outside the validity of the TSA root certificate"));
    let err = crafted("extendedKeyUsage=timeStamping\n", now + 60);
    assert!(err.contains("must be critical and only id-kp-timeStamping"), "{err}");
    let err = crafted("extendedKeyUsage=critical,timeStamping,codeSigning\n", now + 60);
    assert!(err.contains("must be critical and only id-kp-timeStamping"), "{err}");
    assert!(crafted("keyUsage=digitalSignature\n", now + 60).contains("has no extended key usage"));
    let err = crafted("extendedKeyUsage=critical,codeSigning\n", now + 60);
    assert!(err.contains("chain to the authority's root does not verify: RequiredEku"), "{err}");
    let err = crafted("basicConstraints=critical,CA:TRUE\nextendedKeyUsage=critical,timeStamping\n", now + 60);
    assert!(err.contains("not signed by a trusted timestamp authority") && err.contains("CaUsedAsEndEntity"), "{err}");
}

#[test]
fn hash_algorithms_are_those_named() {
    let mut c = case("rekor2-timestamp-without-embedded-cert");
    let sha256 = [0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    let at: Vec<usize> = (0..c.token.len() - 10).filter(|&i| c.token[i..i + 11] == sha256).collect();
    assert_eq!(at.len(), 3); // SignedData digestAlgorithms, messageImprint, SignerInfo
    c.token[at[0] + 10] = 0x02; // the SignedData's list of digest algorithms is not used (nor by digitorus)
    assert!(c.verify().is_ok());
    c.token[at[1] + 10] = 0x04; // SHA-224
    rejected(&c, "message imprint hash algorithm is not SHA-256, SHA-384 or SHA-512");
    c.token[at[1] + 10] = 0x01;
    c.token[at[2] + 10] = 0x02; // SHA-384 of the TSTInfo is not the SHA-256 message-digest
    rejected(&c, "message-digest attribute does not match the TSTInfo");
}

#[test]
fn the_authority_window_is_inclusive_and_enforced() {
    let mut c = case("trust-root-tsa-validity-end-inclusive");
    assert_eq!(c.tsas[0].valid, Window { start: 1744156800, end: Some(1749729740) });
    c.tsas[0].valid = Window { start: 1749729740, end: Some(1749729740) };
    assert_eq!(c.verify().map(|s| s.time), Ok(1749729740));
    let window = "timestamp outside the validity of the authority";
    c.tsas[0].valid = Window { start: 1749729741, end: None };
    rejected(&c, window);
    c.tsas[0].valid = Window { start: 0, end: Some(1749729739) };
    rejected(&c, window);
}

#[test]
fn every_authority_is_tried() {
    let mut c = case("rekor2-happy-path");
    let other = case("rekor2-timestamp-with-expired-cert-chain").tsas;
    c.tsas.splice(0..0, other.clone());
    assert_eq!(c.verify().map(|s| s.time), Ok(1749729740));
    c.tsas = other;
    rejected(&c, "timestamp not signed by a trusted timestamp authority (sigstore-tsa-selfsigned: ");
    c.tsas = Vec::new();
    rejected(&c, "the trusted root lists none");
}

#[test]
fn tampering_is_refused() {
    let mut c = case("rekor2-timestamp-without-embedded-cert");
    c.signature[0] ^= 1;
    rejected(&c, "message imprint does not match");
    c.signature[0] ^= 1;
    let at = |c: &Case, needle: &[u8]| c.token.windows(needle.len()).position(|w| w == needle).unwrap();
    // A later genTime no longer matches the message-digest attribute.
    let time = at(&c, b"20250806190351Z");
    c.token[time + 13] = b'2';
    rejected(&c, "message-digest attribute does not match the TSTInfo");
    c.token[time + 13] = b'1';
    // The last byte is the end of the ECDSA signature.
    *c.token.last_mut().unwrap() ^= 1;
    rejected(&c, "invalid timestamp signature");
    *c.token.last_mut().unwrap() ^= 1;
    assert!(c.verify().is_ok());
    c.token.push(0);
    rejected(&c, "trailing data after the TimeStampResp");
}

#[test]
fn only_a_granted_time_stamp_resp_is_read() {
    let mut c = case("rekor2-happy-path");
    assert_eq!(c.token[4..9], [0x30, 0x03, 0x02, 0x01, 0x00]); // PKIStatusInfo { granted }
    c.token[8] = 2;
    rejected(&c, "status is not granted (PKIStatus 2)");
    c.token[8] = 0;
    let mut fields = Tlvs(&c.token).take(SEQUENCE, "").unwrap().inner();
    fields.take(SEQUENCE, "").unwrap();
    c.token = fields.take(SEQUENCE, "").unwrap().raw.to_vec();
    rejected(&c, "bare TimeStampToken");
}

#[test]
fn rsa_tokens_verify_against_their_own_authority() {
    // FreeTSA (RSA, SHA-512) is not in the conformance trusted root; trust its embedded chain instead.
    let mut with = case("rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail");
    let embedded: Vec<Vec<u8>> = parse_response(&with.token).unwrap().certificates.iter().map(|c| c.to_vec()).collect();
    assert_eq!(embedded.len(), 2);
    let free_tsa =
        |chain: Vec<Vec<u8>>| vec![Authority { name: "FreeTSA".into(), chain, valid: Window { start: 0, end: None } }];
    with.tsas = free_tsa(embedded.clone());
    assert_eq!(with.verify(), Ok(Stamp { time: 1754509129, authority: "FreeTSA".into() }));
    with.tsas = free_tsa(vec![embedded[1].clone()]); // root only: the embedded leaf chains to it
    assert_eq!(with.verify().map(|s| s.time), Ok(1754509129));

    let mut without = case("rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail");
    without.tsas = free_tsa(embedded.clone());
    assert_eq!(without.verify().map(|s| s.time), Ok(1754509229));
    without.tsas = free_tsa(vec![embedded[1].clone()]);
    rejected(&without, "the token embeds no certificate and the authority lists no leaf");
    without.tsas = free_tsa(vec![embedded[0].clone()]);
    rejected(&without, "the authority's only certificate is not a CA");
}

#[test]
fn hostile_input_never_panics() {
    let c = case("rekor2-timestamp-with-embedded-cert");
    for len in 0..c.token.len() {
        assert!(verify_timestamp(&c.token[..len], &c.signature, &c.tsas).is_err(), "prefix of {len} bytes");
    }
    let mut token = c.token.clone();
    for i in 0..token.len() {
        for bit in [0x01, 0x80] {
            token[i] ^= bit;
            let _ = verify_timestamp(&token, &c.signature, &c.tsas);
            token[i] ^= bit;
        }
    }
    assert!(verify_timestamp(&vec![0x30; MAX_TOKEN_BYTES + 1], &c.signature, &c.tsas).is_err());
}

#[test]
fn gen_time_is_der_generalized_time() {
    assert_eq!(gen_time(b"20250612120220Z"), Ok(GenTime { secs: 1749729740, fraction: false }));
    assert_eq!(gen_time(b"20250612120220.05Z"), Ok(GenTime { secs: 1749729740, fraction: true }));
    for bad in ["20250612120220", "20250612120220.50Z", "20250612120220.Z", "2025061212022Z", "20251312120220Z"] {
        assert!(gen_time(bad.as_bytes()).is_err(), "{bad}");
    }
    for bad in ["20250230120220Z", "20250612120260Z", "2025061212022aZ", "20250612120220+0100"] {
        assert!(gen_time(bad.as_bytes()).is_err(), "{bad}");
    }
    let t = GenTime { secs: 10, fraction: true };
    assert_eq!(t.bounds().collect::<Vec<_>>(), [10, 11]);
}
