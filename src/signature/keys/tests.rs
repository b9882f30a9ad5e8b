//! Keys and signatures made once with the openssl 3.0 CLI (`openssl dgst -sha256|-sha384|-sha512 -sign`,
//! `openssl pkeyutl -sign -rawin`); Ed25519ph with the RFC 8032 reference code (openssl 3.0 lacks it).
use super::*;

const MSG: &[u8] = br#"{"critical":{"identity":{"docker-reference":"registry.example/ns/app:v1"},"image":{"docker-manifest-digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"type":"cosign container image signature"},"optional":null}"#;

const P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc5ryJiALcYeovJARvg33U8DY3YJV
PsGwBbzrFM7M4mtpNgFW2zsifeZN0ovcboUUbx81qp0n8QWvwxWBeXC3ZQ==
-----END PUBLIC KEY-----
";
const OTHER_P256_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEbITHhTtc0Q361R4VlnRN8G64xPQF
mJJ7aQMwDUDWG2FMnGaAni4ZOtRwzP7VOrQhA4UP6zXii3ZqrW/W1dm1tw==
-----END PUBLIC KEY-----
";
const P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE2hXjUUEv2jfYp5dgo4h13+rA5FxJ6ejH
Mpl84EVwmSBYlDqwPijiF3uiM7k8jqzXeKAiywlvk+/KmcFgN9bfua8qkA+mENGe
hYIdCcWmn+EC698hNzl0KpebzG4/7C4Z
-----END PUBLIC KEY-----
";
const P521_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQAhkKWwmhecCHxb/k46iqrzoAjvl0q
+WrC60HD57cgiMbejHdf64ZKVpUf7/EZIkn0MlO4M+aKL4W0N40YhcvOXroBd6N4
SVv+fpIUWo3fVPrS2KPYraCKhu8JcC0KyRSTjp0YlRKx0bL6XgcJRH/3MMEBF5RU
0K28fDE0PnLvzFWAsxk=
-----END PUBLIC KEY-----
";
const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr+t4Q/oKXptaKXfu/aqS
HxO/MQs6O7aMpm5jsCJKHAnlxinD6rb/DcSaZnNO8VN2UA/Lj2Nw8d+P688G1vUD
jd/k40YfsaMMsvObC2lGD0+aM/wmvjZ6IwN+3wwIoaxLIcc5fHL/AX3QIgtMg8aj
33v6AuhT+8n62T8So+PdNxSf4vSjgjfl4aDeVuNvMGEL9XjVYP5PFJ1nmD0isgvB
ctteovYELKD2BJrZUEEuK73KxIYTUq0F0wFzBDhsEJ+k6EthXp6wFR36RHwNEU+l
RhDQS/jL7rFVtVIrluitJNiRBivmlUzC/AcF91YgxC2wtIl7/3HsDLuZIe4NpSi9
YwIDAQAB
-----END PUBLIC KEY-----
";
/// The same RSA key as `openssl rsa -RSAPublicKey_out` (PKCS#1).
const RSA_PKCS1_PUB: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAr+t4Q/oKXptaKXfu/aqSHxO/MQs6O7aMpm5jsCJKHAnlxinD6rb/
DcSaZnNO8VN2UA/Lj2Nw8d+P688G1vUDjd/k40YfsaMMsvObC2lGD0+aM/wmvjZ6
IwN+3wwIoaxLIcc5fHL/AX3QIgtMg8aj33v6AuhT+8n62T8So+PdNxSf4vSjgjfl
4aDeVuNvMGEL9XjVYP5PFJ1nmD0isgvBctteovYELKD2BJrZUEEuK73KxIYTUq0F
0wFzBDhsEJ+k6EthXp6wFR36RHwNEU+lRhDQS/jL7rFVtVIrluitJNiRBivmlUzC
/AcF91YgxC2wtIl7/3HsDLuZIe4NpSi9YwIDAQAB
-----END RSA PUBLIC KEY-----
";
const ED25519_PUB: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAwWkChhlu5MIZAuDJj00Bdup0++eRxQ6XDfq/DS6fPJ8=
-----END PUBLIC KEY-----
";

const SIG_P256: &str =
    "MEQCIEgJR9AqnnJhGMJSFmgHjNikdJiUEw4qQYnrEYHosfuxAiBcjOzNuR4cwuJO2QvuHgzMuvDy+II3YAZcO7TxKMN4AQ==";
const SIG_P384_SHA256: &str = "MGQCMCfpWnJ+Jkz5TxGfwntjVN0oscHBpGkkwIjLny7cp7BdFPSjHDS7PIhX0GAvhUSHVQIwSqHg5/0+35ajEoWv6s+XK+GklTNw8oihjEsJyJyjEMitbuaYzpRFvy0629SX3Uk4";
const SIG_P384_SHA384: &str = "MGYCMQC8cYLwDkl63cuy1X7bp2PRoIx/I2is8NYqZFQpRUh/iZW1vod8Gl4BjmPTGZHEN0UCMQC516GNzIDJUj/z4udQwwSeAZ7jm/9EqzQ5+BMVaZoAlrOE4abBMs+/LsfHP0a05W4=";
const SIG_P521_SHA256: &str = "MIGIAkIB56xUFimqZconsLzE+pQMlTxShRTv8A04uOfWxoPLYSI2TKKMAwS3Z7FUQFzXzHfk+drpvusdPKY2e34DNA9WkRMCQgD6JaNR/ndPsJJZVg1iGr3krTcRCRo7WVi6vVcmnLqrj2atNOxbgnjL50uqvJRW+5ypvls0/hlE1fQR4NAurHSsUw==";
const SIG_P521_SHA512: &str = "MIGHAkF0ZfUltVEj9vMks4+FefjVFWiY+87SseJ5kYQdlgCT1z9zvsd+A9+kVi91um+hQt2qEA4sOL5h2RmZSejHnIxt3gJCAT4oPCc2TfUY0O/ZRdvQfEURGUS45w0rvcGDuiPX0Sz0yQ5XTW3jDmhE2a/nFnQnAFxujfXg6F/oeN06OSJmy/ZZ";
const SIG_RSA: &str = "NvcIcpKFwRNwRvf+Z0xqVey3qPXtPL2PHxkvyD+MA3zihCCaxFj7LX3Bx8eXCLn6a8fHwDhlgrQWLg84sooWYMA5oPuEOBpBit2pRYMlDMoU5+8CXyR3NbRw+KmCJqoGcWflasG8ulykJLIgVTehci3FNVg1LoJleFU5vnGlLiPhSVWCZzuhjEaQVXaErJo9ixiV6pFcavFvVDU0OG+iB1dRS7HYrBd59PubUviGRxurNPjh6g1n8Tl94hS0gjpkXRDcOCyo26F6ikoP4FlTq5ix2HzjTjmRTg5rg3jU4PifoSC1FhWLkIoAd07+9cKUm5Z882TzOG1uczpM+HSqCw==";
const SIG_ED25519: &str = "IUsbcxYCN8gYXRjF8RIBC7ozNO9hnJ2pLBgxZTtCHip8B4zB2eNB+tLorKLwAAxFAcIq3VUC0B900NrlBn1KDA==";
const SIG_ED25519PH: &str = "HWKy5QtjdY71ya0cp7ZR0CCUbmGTabSoxMswMqbv/QQP4NBjihTPgrEj7eiibKWgiUCqsPyR+Ojd2Owgx2l1CQ==";

fn key(pem: &str) -> TrustedKey {
    TrustedKey::from_pem(PathBuf::from("test.pub"), pem.as_bytes()).expect("test key parses")
}

fn sig(b64: &str) -> Vec<u8> {
    decode_signature_base64(b64).expect("test signature decodes")
}

fn scheme(pem: &str, b64: &str) -> Result<&'static str, SigError> {
    key(pem).verify(MSG, &sig(b64)).map(Scheme::as_str)
}

/// DER ECDSA-Sig-Value → r‖s, each left-padded to `n` bytes.
fn der_to_p1363(der_sig: &[u8], n: usize) -> Vec<u8> {
    let (_, seq, _) = der::read_tlv(der_sig).expect("sequence");
    let (_, r, rest) = der::read_tlv(seq).expect("r");
    let (_, s, _) = der::read_tlv(rest).expect("s");
    let mut out = Vec::new();
    for half in [r, s] {
        let half = half.strip_prefix(&[0]).unwrap_or(half);
        out.extend(std::iter::repeat_n(0, n - half.len()));
        out.extend_from_slice(half);
    }
    out
}

#[test]
fn ecdsa_schemes() {
    assert_eq!(scheme(P256_PUB, SIG_P256), Ok("ecdsa-p256-sha256-der"));
    assert_eq!(scheme(P384_PUB, SIG_P384_SHA256), Ok("ecdsa-p384-sha256-der"));
    assert_eq!(scheme(P384_PUB, SIG_P384_SHA384), Ok("ecdsa-p384-sha384-der"));
    assert_eq!(scheme(P521_PUB, SIG_P521_SHA256), Ok("ecdsa-p521-sha256-der"));
    assert_eq!(scheme(P521_PUB, SIG_P521_SHA512), Ok("ecdsa-p521-sha512-der"));
}

#[test]
fn ecdsa_p1363() {
    let p256 = der_to_p1363(&sig(SIG_P256), 32);
    assert_eq!(p256.len(), 64);
    assert_eq!(key(P256_PUB).verify(MSG, &p256).map(Scheme::as_str), Ok("ecdsa-p256-sha256-p1363"));
    let p384 = der_to_p1363(&sig(SIG_P384_SHA384), 48);
    assert_eq!(key(P384_PUB).verify(MSG, &p384).map(Scheme::as_str), Ok("ecdsa-p384-sha384-p1363"));
    let p521 = der_to_p1363(&sig(SIG_P521_SHA256), 66);
    assert_eq!(key(P521_PUB).verify(MSG, &p521).map(Scheme::as_str), Ok("ecdsa-p521-sha256-p1363"));
    // r‖s of the wrong length for the curve is neither encoding.
    let err = key(P384_PUB).verify(MSG, &p256).unwrap_err();
    assert!(err.to_string().contains("IEEE_P1363"), "{err}");
}

#[test]
fn der_with_trailing_byte_rejected() {
    let mut bad = sig(SIG_P256);
    bad.push(0);
    let err = key(P256_PUB).verify(MSG, &bad).unwrap_err();
    assert!(err.to_string().starts_with("cryptographic signature verification failed: "), "{err}");
    assert!(err.to_string().contains("trailing data"), "{err}");
}

#[test]
fn rsa_and_pkcs1_pem() {
    assert_eq!(scheme(RSA_PUB, SIG_RSA), Ok("rsa-pkcs1v15-sha256"));
    assert_eq!(scheme(RSA_PKCS1_PUB, SIG_RSA), Ok("rsa-pkcs1v15-sha256"));
    assert_eq!(key(RSA_PKCS1_PUB).spki_der, key(RSA_PUB).spki_der);
    assert_eq!(key(RSA_PKCS1_PUB).fingerprint(), key(RSA_PUB).fingerprint());
    assert_eq!(key(RSA_PUB).algorithm(), "rsa");
}

#[test]
fn ed25519_pure_and_ph() {
    assert_eq!(scheme(ED25519_PUB, SIG_ED25519), Ok("ed25519"));
    assert_eq!(scheme(ED25519_PUB, SIG_ED25519PH), Ok("ed25519ph"));
    assert!(key(ED25519_PUB).verify(b"other message", &sig(SIG_ED25519PH)).is_err());
    assert!(key(ED25519_PUB).verify(MSG, &sig(SIG_ED25519)[..63]).is_err());
}

#[test]
fn ed25519ph_rfc8032_vector() {
    // RFC 8032 §7.3, "abc".
    let public = hex::decode("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf").expect("hex");
    let signature = hex::decode(
        "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
         31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406",
    )
    .expect("hex");
    let mut spki = hex::decode("302a300506032b6570032100").expect("hex");
    spki.extend_from_slice(&public);
    let key = TrustedKey::from_spki(PathBuf::from("rfc8032"), spki).expect("key");
    assert_eq!(key.verify(b"abc", &signature).map(Scheme::as_str), Ok("ed25519ph"));
}

#[test]
fn wrong_key_and_tampered_message_rejected() {
    let err = scheme(OTHER_P256_PUB, SIG_P256).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cryptographic signature verification failed: invalid signature when validating ASN.1 encoded signature"
    );
    let mut tampered = MSG.to_vec();
    tampered[10] ^= 1;
    for (pem, b64) in [
        (P256_PUB, SIG_P256),
        (P384_PUB, SIG_P384_SHA256),
        (P384_PUB, SIG_P384_SHA384),
        (P521_PUB, SIG_P521_SHA512),
        (RSA_PUB, SIG_RSA),
        (ED25519_PUB, SIG_ED25519),
        (ED25519_PUB, SIG_ED25519PH),
    ] {
        assert!(matches!(key(pem).verify(&tampered, &sig(b64)), Err(SigError::Failed(_))), "{b64}");
    }
    // A signature made for another key type.
    assert!(scheme(P384_PUB, SIG_P256).is_err());
    assert!(scheme(RSA_PUB, SIG_ED25519).is_err());
}

#[test]
fn verify_with_any_reports_every_key() {
    let keys = [key(OTHER_P256_PUB), key(RSA_PUB), key(P256_PUB)];
    assert_eq!(
        verify_with_any(&keys, MSG, &sig(SIG_P256)).map(|(i, s)| (i, s.as_str())),
        Ok((2, "ecdsa-p256-sha256-der"))
    );
    let err = verify_with_any(&keys[..2], MSG, &sig(SIG_P256)).unwrap_err().to_string();
    assert_eq!(
        err,
        "cryptographic signature verification failed: test.pub: invalid signature when validating ASN.1 encoded \
         signature, test.pub: crypto/rsa: verification error"
    );
    assert!(verify_with_any(&[], MSG, &sig(SIG_P256)).is_err());
}

#[test]
fn key_metadata() {
    fn shareable<T: Send + Sync>() {}
    shareable::<TrustedKey>();
    let k = key(P256_PUB);
    assert_eq!(k.algorithm(), "ecdsa-p256");
    assert_eq!(k.fingerprint(), hex::encode(Sha256::digest(&k.spki_der)));
    assert_eq!(k.fingerprint().len(), 64);
    assert_eq!(key(P384_PUB).algorithm(), "ecdsa-p384");
    assert_eq!(key(P521_PUB).algorithm(), "ecdsa-p521");
    assert_eq!(key(ED25519_PUB).algorithm(), "ed25519");
}

#[test]
fn pem_rules() {
    // Only the first block counts; text around it is ignored.
    let two = format!("comment line\n{P256_PUB}{OTHER_P256_PUB}trailing junk");
    assert_eq!(key(&two).spki_der, key(P256_PUB).spki_der);
    let crlf = P256_PUB.replace('\n', "\r\n");
    assert_eq!(key(&crlf).spki_der, key(P256_PUB).spki_der);

    let load = |pem: &str| TrustedKey::from_pem(PathBuf::from("k.pub"), pem.as_bytes());
    assert!(matches!(load("not a key at all"), Err(KeyError::NoPem { .. })));
    let cert = P256_PUB.replace("PUBLIC KEY", "CERTIFICATE");
    let err = load(&cert).unwrap_err();
    assert!(matches!(&err, KeyError::UnknownType { pem_type, .. } if pem_type == "CERTIFICATE"));
    assert_eq!(
        err.to_string(),
        "public key k.pub: unknown Public key PEM file type: CERTIFICATE. Are you passing the correct public key?"
    );
    assert!(matches!(load(&P256_PUB.replace("BbzrFM", "Bb*rFM")), Err(KeyError::BadPem { .. })));
    assert!(matches!(load(&P256_PUB.replace("-----END PUBLIC KEY-----", "")), Err(KeyError::BadPem { .. })));
    let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    assert!(matches!(load(garbage), Err(KeyError::Invalid { .. })));
    let garbage_rsa = "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----\n";
    assert!(matches!(load(garbage_rsa), Err(KeyError::Invalid { .. })));
    // A P-256 SPKI whose point is not on the curve.
    let bad_point = P256_PUB.replace("c5ryJiALc", "c5ryJiALd");
    assert!(matches!(load(&bad_point), Err(KeyError::Invalid { .. })));
}

#[test]
fn load_reads_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cosign.pub");
    std::fs::write(&path, P256_PUB).expect("write");
    let k = TrustedKey::load(&path).expect("load");
    assert_eq!(k.file, path);
    assert!(matches!(TrustedKey::load(&dir.path().join("missing.pub")), Err(KeyError::Read { .. })));
}

#[test]
fn base64_like_go() {
    assert_eq!(decode_signature_base64("QUJD"), Ok(b"ABC".to_vec()));
    assert_eq!(decode_signature_base64("QU\nJD\r\n"), Ok(b"ABC".to_vec()));
    assert_eq!(decode_signature_base64("QUI="), Ok(b"AB".to_vec()));
    assert_eq!(decode_signature_base64(""), Ok(Vec::new()));
    for bad in ["QUJD=", "QUI==", "QUI", "QU", "QUJ&", "QUJD ", " QUJD", "QUI=QUI=", "QUJD\t", "QUJ-", "QUJ_"] {
        let err = decode_signature_base64(bad).unwrap_err();
        assert!(err.to_string().starts_with("base64 decoding: "), "{bad:?}: {err}");
    }
    let mut truncated = SIG_P256.to_string();
    truncated.pop();
    assert!(decode_signature_base64(&truncated).is_err());
    let wrapped: String = SIG_P256.as_bytes().chunks(20).map(|c| format!("{}\n", String::from_utf8_lossy(c))).collect();
    assert_eq!(decode_signature_base64(&wrapped), decode_signature_base64(SIG_P256));
}
