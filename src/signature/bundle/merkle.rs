//! Transparency-log proofs, checked offline: RFC 6962 / RFC 9162 Merkle inclusion proofs and the signed checkpoints
//! (C2SP `signed-note` + `tlog-checkpoint`) that commit to a tree's root, as sigstore-go verifies them.
//!
//! **Inclusion** (transparency-dev/merkle `proof/verify.go`, sigstore-python `_internal/merkle.py`): leaves hash
//! as SHA-256(0x00 ‖ leaf), nodes as SHA-256(0x01 ‖ left ‖ right); the index must be below the tree size, the proof
//! must have exactly as many hashes as the (index, size) path needs, and every hash must be 32 bytes.
//!
//! **Signed note** (golang.org/x/mod `sumdb/note/note.go` `Open`): the note is the text, a blank line, then one or
//! more lines `— <name> <base64(key hint[4] ‖ signature)>\n`; the signed message is the text up to and including
//! its final newline. No control characters but `\n`; a name is non-empty without white space or `+`; every
//! signature line must be well formed, at most 100 of them. The **body** (transparency-dev/formats
//! `log/checkpoint.go`) is the origin, the decimal tree size and the base64 root hash, each on its own line, then
//! optional extension lines (ignored).
//!
//! Which rules apply follows sigstore-go `pkg/verify/tlog.go` (`hasRekorV1STH`): an origin ending in
//! ` - <digits>` (the tree id) is a Rekor v1 signed tree head, anything else a Rekor v2 (tessera) checkpoint.
//! - **Rekor v1** (rekor `pkg/util/signed_note.go` `SignedNote.Verify`): *every* signature line must carry the key
//!   hint SHA-256(PKIX DER)[..4] and verify; ECDSA signs SHA-256 of the text (ASN.1 DER only), RSA is PKCS#1 v1.5
//!   SHA-256, Ed25519 is pure. Neither the origin nor the signer name is checked (rekor and sigstore-go do not).
//! - **Rekor v2** (rekor-tiles `pkg/note/note.go`, formats `log/note.go` `ParseCheckpoint`): the log's name is the
//!   host of its `baseUrl` (`url.Parse(baseUrl).Hostname()`), and its key hint is SHA-256(name ‖ "\n" ‖ 0x01 ‖ raw
//!   key)[..4] for Ed25519, SHA-256(name ‖ "\n" ‖ 0xff ‖ "PKIX-RSA-PKCS#1v1.5" ‖ PKIX DER)[..4] for RSA and
//!   SHA-256(PKIX DER)[..4] for ECDSA. The first line with that name and hint must verify (pure Ed25519; ECDSA DER
//!   with the curve's own hash, sigstore-go `getSignatureHashAlgo`); repeats of it and every other line (witness
//!   cosignatures, other keys) are ignored, but there must be one. Then the body's origin must be that name.
//!
//! The caller compares the checkpoint's root hash and size with the inclusion proof's.

use sha2::{Digest as _, Sha256};

use super::root::Log;
use crate::signature::keys::{TrustedKey, decode_signature_base64};

/// A checkpoint is a few hundred bytes; 100 signature lines (the note limit) fit in this.
pub const MAX_CHECKPOINT_BYTES: usize = 16 << 10;
/// sumdb/note's limit on signature lines.
const MAX_SIGNATURES: usize = 100;
/// DER SubjectPublicKeyInfo of an Ed25519 key, before its 32 raw bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ leaf).
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    Sha256::new().chain_update([0x00]).chain_update(leaf).finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// Verifies an RFC 6962 / RFC 9162 inclusion proof of `leaf_hash` at `index` in a tree of `tree_size` with `root`
/// (transparency-dev/merkle `RootFromInclusionProof`: inner hashes up to where the paths to `index` and
/// `tree_size - 1` diverge, then the right border).
pub fn verify_inclusion(
    leaf_hash: &[u8; 32],
    index: u64,
    tree_size: u64,
    proof: &[Vec<u8>],
    root: &[u8],
) -> Result<(), String> {
    if index >= tree_size {
        return Err(format!("inclusion proof index {index} is not below the tree size {tree_size}"));
    }
    let inner = (u64::BITS - (index ^ (tree_size - 1)).leading_zeros()) as usize;
    let border = index.checked_shr(inner as u32).unwrap_or(0).count_ones() as usize;
    if proof.len() != inner + border {
        return Err(format!(
            "inclusion proof has {} hashes, a proof of leaf {index} in a tree of {tree_size} has {}",
            proof.len(),
            inner + border
        ));
    }
    let proof = proof
        .iter()
        .map(|h| <&[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "inclusion proof has a hash that is not 32 bytes".to_string())?;
    let (inner_hashes, border_hashes) = proof.split_at(inner);
    let mut hash = *leaf_hash;
    for (level, sibling) in inner_hashes.iter().enumerate() {
        hash = if (index >> level) & 1 == 0 { node_hash(&hash, sibling) } else { node_hash(sibling, &hash) };
    }
    for sibling in border_hashes {
        hash = node_hash(sibling, &hash);
    }
    if root.len() != 32 {
        return Err(format!("inclusion proof root hash is {} bytes, not 32", root.len()));
    }
    if hash != root {
        return Err(format!(
            "inclusion proof does not verify: calculated root {} is not {}",
            hex::encode(hash),
            hex::encode(root)
        ));
    }
    Ok(())
}

/// Which verification rules a checkpoint was held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// A Rekor v1 signed tree head (origin `<host> - <tree id>`).
    RekorV1,
    /// A C2SP checkpoint (Rekor v2), named by the log's host.
    SignedNote,
}

/// A verified checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root_hash: Vec<u8>,
    pub flavor: Flavor,
}

/// One parsed signature line.
struct NoteSignature<'a> {
    name: &'a str,
    hint: [u8; 4],
    signature: Vec<u8>,
}

/// Parses a C2SP signed note (`envelope` of a bundle's `inclusionProof.checkpoint`) and verifies that it is signed by
/// `log`, under Rekor v1 or Rekor v2 rules as its origin says (see the module documentation).
pub fn verify_checkpoint(envelope: &str, log: &Log) -> Result<Checkpoint, String> {
    let (text, signatures) = split_note(envelope)?;
    if is_rekor_v1(envelope) {
        let hint = first4(&Sha256::digest(&log.key.spki_der));
        for sig in &signatures {
            if sig.hint != hint {
                return Err(format!(
                    "checkpoint signature by {:?} has key hint {}, not the log's {}",
                    sig.name,
                    hex::encode(sig.hint),
                    hex::encode(hint)
                ));
            }
            verify_signature(&log.key, text, &sig.signature, Flavor::RekorV1)?;
        }
        let (origin, size, root_hash) = parse_body(text)?;
        return Ok(Checkpoint { origin: origin.to_string(), size, root_hash, flavor: Flavor::RekorV1 });
    }
    let name = note_name(&log.base_url)?;
    let hint = note_key_hint(name, &log.key)?;
    let ours = signatures
        .iter()
        .find(|s| s.name == name && s.hint == hint)
        .ok_or_else(|| format!("checkpoint has no signature by the log {name:?} (key hint {})", hex::encode(hint)))?;
    verify_signature(&log.key, text, &ours.signature, Flavor::SignedNote)?;
    let (origin, size, root_hash) = parse_body(text)?;
    if origin != name {
        return Err(format!("checkpoint origin {origin:?} is not the log's {name:?}"));
    }
    Ok(Checkpoint { origin: origin.to_string(), size, root_hash, flavor: Flavor::SignedNote })
}

/// Splits a note into its signed text and its signature lines (sumdb/note `Open`, before any verification).
fn split_note(envelope: &str) -> Result<(&str, Vec<NoteSignature<'_>>), String> {
    let malformed = |why: &str| format!("malformed checkpoint: {why}");
    if envelope.len() > MAX_CHECKPOINT_BYTES {
        return Err(malformed(&format!("larger than {MAX_CHECKPOINT_BYTES} bytes")));
    }
    if envelope.chars().any(|c| c < ' ' && c != '\n') {
        return Err(malformed("control character"));
    }
    let split = envelope.rfind("\n\n").ok_or_else(|| malformed("no blank line before the signatures"))?;
    let (text, block) = (&envelope[..=split], &envelope[split + 2..]);
    let block = block.strip_suffix('\n').ok_or_else(|| malformed("no signature lines ending in a newline"))?;
    let mut signatures = Vec::new();
    for line in block.split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(malformed(&format!("more than {MAX_SIGNATURES} signatures")));
        }
        let line = line.strip_prefix("— ").ok_or_else(|| malformed("a signature line does not start with \"— \""))?;
        let (name, b64) = line.split_once(' ').unwrap_or((line, ""));
        let bytes = decode_signature_base64(b64).ok().filter(|b| b.len() >= 5 && valid_name(name));
        let bytes = bytes.ok_or_else(|| malformed(&format!("bad signature line for {name:?}")))?;
        signatures.push(NoteSignature { name, hint: first4(&bytes), signature: bytes[4..].to_vec() });
    }
    Ok((text, signatures))
}

/// sigstore-go `hasRekorV1STH`: at least four `\n`-separated parts, the first matching `.* - [0-9]+$`.
fn is_rekor_v1(envelope: &str) -> bool {
    let first = envelope.split('\n').next().unwrap_or_default();
    envelope.split('\n').nth(3).is_some()
        && first.rsplit_once(" - ").is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// sumdb/note `isValidName`.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// The first four bytes (a key hint), zero-padded if there are fewer.
fn first4(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0; 4];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    out
}

/// The checkpoint body: origin, size, root hash (formats `Checkpoint.Unmarshal`; Go's `ParseUint` takes only
/// decimal digits, leading zeros included).
fn parse_body(text: &str) -> Result<(&str, u64, Vec<u8>), String> {
    let mut lines = text.splitn(4, '\n');
    let (Some(origin), Some(size), Some(hash), Some(_extensions)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return Err("invalid checkpoint: fewer than three lines (origin, size, root hash)".into());
    };
    if origin.is_empty() {
        return Err("invalid checkpoint: empty origin".into());
    }
    let size = Some(size)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| format!("invalid checkpoint: tree size {size:?} is not a decimal number"))?;
    let root_hash = decode_signature_base64(hash).map_err(|_| format!("invalid checkpoint: root hash {hash:?}"))?;
    if root_hash.len() != 32 {
        return Err(format!("invalid checkpoint: root hash is {} bytes, not 32", root_hash.len()));
    }
    Ok((origin, size, root_hash))
}

/// Go's `url.Parse(baseUrl).Hostname()`: the authority without user info, port or IPv6 brackets.
fn note_name(base_url: &str) -> Result<&str, String> {
    let rest = base_url.split_once("://").map_or("", |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if !valid_name(host) {
        return Err(format!("the log's baseUrl {base_url:?} has no host name to check its checkpoints by"));
    }
    Ok(host)
}

/// rekor-tiles `note.KeyHash`: the 4-byte key hint a Rekor v2 log named `name` signs checkpoints with.
fn note_key_hint(name: &str, key: &TrustedKey) -> Result<[u8; 4], String> {
    let digest = match key.algorithm() {
        "ed25519" => {
            let raw = key.spki_der.strip_prefix(&ED25519_SPKI_PREFIX[..]).filter(|raw| raw.len() == 32);
            let raw = raw.ok_or("the log's Ed25519 key is not a 32-byte SubjectPublicKeyInfo")?;
            Sha256::new().chain_update(name).chain_update([b'\n', 0x01]).chain_update(raw).finalize()
        }
        "rsa" => Sha256::new()
            .chain_update(name)
            .chain_update([b'\n', 0xff])
            .chain_update("PKIX-RSA-PKCS#1v1.5")
            .chain_update(&key.spki_der)
            .finalize(),
        _ => Sha256::digest(&key.spki_der),
    };
    Ok(first4(&digest))
}

/// The log's signature over the note text, in the one scheme sigstore-go would check it with.
fn verify_signature(key: &TrustedKey, text: &str, signature: &[u8], flavor: Flavor) -> Result<(), String> {
    let message = text.as_bytes();
    let scheme = |s: &str| key.verify(message, signature).is_ok_and(|got| got.as_str() == s);
    let ok = match (key.algorithm(), flavor) {
        ("ed25519", _) => scheme("ed25519"),
        ("rsa", _) => scheme("rsa-pkcs1v15-sha256"),
        (_, Flavor::RekorV1) => key.verify_ecdsa_sha256_der(message, signature).is_ok(),
        ("ecdsa-p384", _) => scheme("ecdsa-p384-sha384-der"),
        ("ecdsa-p521", _) => scheme("ecdsa-p521-sha512-der"),
        _ => scheme("ecdsa-p256-sha256-der"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("the checkpoint signature does not verify with the log's {} key", key.algorithm()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use aws_lc_rs::encoding::AsDer as _;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self as awslc, EcdsaKeyPair, KeyPair as _};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use ed25519_dalek::{Signer as _, SigningKey};
    use serde_json::Value;

    use super::*;
    use crate::signature::bundle::root::{TrustRoot, Window};

    const ASSETS: &str = "../shared/interop/sigstore-conformance/test/assets/bundle-verify";
    const PRODUCTION: &str = "../shared/interop/sigstore-conformance/production-trusted-root/trusted_root.json";

    /// A conformance case's first tlog entry through `verify_inclusion` and `verify_checkpoint`.
    fn run_case(case: &str) -> (Result<(), String>, Option<Result<Checkpoint, String>>, Value) {
        let dir = Path::new(ASSETS).join(case);
        let bundle: Value = serde_json::from_slice(&std::fs::read(dir.join("bundle.sigstore.json")).expect("bundle"))
            .expect("bundle json");
        let root_file = Some(dir.join("trusted_root.json")).filter(|p| p.exists()).unwrap_or(PRODUCTION.into());
        // Only the tlogs concern proofs; the staging roots' PKCS#1 CT log key is another module's business.
        let mut root_json: Value = serde_json::from_slice(&std::fs::read(&root_file).expect("root")).expect("json");
        root_json.as_object_mut().expect("object").remove("ctlogs");
        let root = TrustRoot::parse(root_file, root_json.to_string().as_bytes()).expect("trusted root");
        let entry = bundle["verificationMaterial"]["tlogEntries"][0].clone();
        let b64 = |v: &Value| STANDARD.decode(v.as_str().expect("base64 string")).expect("base64");
        let num = |v: &Value| v.as_str().expect("number string").parse::<u64>().expect("number");
        let log = root.tlog(&b64(&entry["logId"]["keyId"])).expect("a trusted log");
        let proof = &entry["inclusionProof"];
        let hashes: Vec<Vec<u8>> = proof["hashes"].as_array().expect("hashes").iter().map(b64).collect();
        let leaf = leaf_hash(&b64(&entry["canonicalizedBody"]));
        let inclusion = verify_inclusion(
            &leaf,
            num(&proof["logIndex"]),
            num(&proof["treeSize"]),
            &hashes,
            &b64(&proof["rootHash"]),
        );
        let checkpoint = proof["checkpoint"]["envelope"].as_str().map(|e| verify_checkpoint(e, log));
        (inclusion, checkpoint, proof.clone())
    }

    #[test]
    fn conformance_cases_that_pass() {
        let v1 = ["happy-path-v0.2", "happy-path-v0.3", "intoto-with-custom-trust-root"];
        let v2 = ["rekor2-happy-path", "rekor2-dsse-happy-path", "rekor2-checkpoint-cosigned"];
        let v2_more = ["rekor2-checkpoint-multiple-cosigs", "rekor2-checkpoint-origin-not-first"];
        let v2_two = ["rekor2-checkpoint-two-sigs-from-origin", "rekor2-checkpoint-two-sigs-cosigned"];
        let v1_more = ["trust-root-tlog-validity-end-inclusive"];
        for case in v1.iter().chain(&v1_more).chain(&v2).chain(&v2_more).chain(&v2_two) {
            let (inclusion, checkpoint, proof) = run_case(case);
            assert_eq!(inclusion, Ok(()), "{case}");
            let checkpoint = checkpoint.expect("a checkpoint").unwrap_or_else(|e| panic!("{case}: {e}"));
            let flavor = if case.starts_with("rekor2") { Flavor::SignedNote } else { Flavor::RekorV1 };
            assert_eq!(checkpoint.flavor, flavor, "{case}");
            assert_eq!(STANDARD.encode(&checkpoint.root_hash), proof["rootHash"].as_str().expect("root"), "{case}");
            assert_eq!(checkpoint.size.to_string(), proof["treeSize"].as_str().expect("size"), "{case}");
        }
    }

    #[test]
    fn conformance_cases_that_fail() {
        let checkpoint_err = |case: &str| {
            let (inclusion, checkpoint, _) = run_case(case);
            assert_eq!(inclusion, Ok(()), "{case}: only the checkpoint is wrong");
            checkpoint.expect("a checkpoint").expect_err(case)
        };
        let cases = [
            ("checkpoint-bad-keyhint_fail", "has key hint c4d23d6a, not the log's c0d23d6a"),
            ("invalid-checkpoint-signature_fail", "does not verify"),
            ("rekor2-checkpoint-missing-log-signature_fail", "no signature lines"),
            ("rekor2-checkpoint-no-matching-signature_fail", "no signature by the log"),
            // The body was edited under the log's signature, so the signature fails before the body is parsed.
            ("rekor2-checkpoint-missing-origin_fail", "does not verify"),
            ("rekor2-checkpoint-missing-root-hash_fail", "does not verify"),
            ("rekor2-checkpoint-missing-size_fail", "does not verify"),
        ];
        for (case, reason) in cases {
            let err = checkpoint_err(case);
            assert!(err.contains(reason), "{case}: {err}");
        }
        // A genuine checkpoint of the log, but of a later tree than the proof's.
        let (inclusion, checkpoint, proof) = run_case("checkpoint-wrong-roothash_fail");
        assert_eq!(inclusion, Ok(()));
        let checkpoint = checkpoint.expect("a checkpoint").expect("signed by the log");
        assert_ne!(STANDARD.encode(&checkpoint.root_hash), proof["rootHash"].as_str().expect("root"));
        assert_eq!(checkpoint.size, 75610772);
        for case in ["inclusion-proof-corrupted-hash_fail", "invalid-inclusion-proof_fail"] {
            let err = run_case(case).0.expect_err(case);
            assert!(err.contains("calculated root"), "{case}: {err}");
        }
        assert!(run_case("inclusion-proof-corrupted-hash_fail").1.expect("checkpoint").is_ok());
    }

    /// RFC 6962 §2.1 MTH over `leaves[range]`, and PATH(m, D[n]) from §2.1.1.
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves {
            [leaf] => *leaf,
            _ => {
                let k = split_point(leaves.len());
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }
    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<Vec<u8>> {
        if leaves.len() == 1 {
            return Vec::new();
        }
        let k = split_point(leaves.len());
        let (mut p, other) = if m < k {
            (path(m, &leaves[..k]), mth(&leaves[k..]))
        } else {
            (path(m - k, &leaves[k..]), mth(&leaves[..k]))
        };
        p.push(other.to_vec());
        p
    }
    /// The largest power of two below `n` (n ≥ 2).
    fn split_point(n: usize) -> usize {
        1 << (usize::BITS - 1 - (n - 1).leading_zeros())
    }

    #[test]
    fn synthetic_trees_of_1_to_20_leaves() {
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        for size in 1..=20usize {
            let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
            let root = mth(&leaves);
            let n = size as u64;
            for (i, leaf) in leaves.iter().enumerate() {
                let (index, proof) = (i as u64, path(i, &leaves));
                assert_eq!(verify_inclusion(leaf, index, n, &proof, &root), Ok(()), "size {size} index {i}");
                for j in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[j][7] ^= 0x10;
                    assert!(verify_inclusion(leaf, index, n, &bad, &root).is_err(), "flipped bit {size}/{i}/{j}");
                }
                let mut longer = proof.clone();
                longer.push([0; 32].to_vec());
                assert!(verify_inclusion(leaf, index, n, &longer, &root).unwrap_err().contains("hashes"));
                if !proof.is_empty() {
                    assert!(verify_inclusion(leaf, index, n, &proof[1..], &root).unwrap_err().contains("hashes"));
                    let mut short = proof.clone();
                    short[0].pop();
                    assert!(verify_inclusion(leaf, index, n, &short, &root).unwrap_err().contains("32 bytes"));
                }
                if i + 1 < size {
                    assert!(verify_inclusion(leaf, index + 1, n, &proof, &root).is_err(), "wrong index {size}/{i}");
                }
                assert!(verify_inclusion(leaf, n, n, &proof, &root).unwrap_err().contains("not below"));
                if size > 1 {
                    assert!(verify_inclusion(&leaves[(i + 1) % size], index, n, &proof, &root).is_err());
                }
                assert!(verify_inclusion(leaf, index, n, &proof, &root[..31]).unwrap_err().contains("root hash"));
            }
        }
        assert!(verify_inclusion(&[0; 32], 0, 0, &[], &[0; 32]).is_err());
        assert!(verify_inclusion(&[0; 32], u64::MAX - 1, u64::MAX, &[], &[0; 32]).unwrap_err().contains("hashes"));
    }

    /// A Rekor v2-style log with an Ed25519 key, and its signing key.
    fn ed25519_log(base_url: &str) -> (Log, SigningKey) {
        let signer = SigningKey::from_bytes(&[7; 32]);
        let spki = [&ED25519_SPKI_PREFIX[..], signer.verifying_key().as_bytes()].concat();
        (test_log(spki, base_url), signer)
    }

    fn test_log(spki: Vec<u8>, base_url: &str) -> Log {
        let key = TrustedKey::from_spki(PathBuf::from("test-log"), spki).expect("log key");
        let log_id = Sha256::digest(&key.spki_der).to_vec();
        let origin = base_url.split_once("://").map_or(base_url, |(_, rest)| rest).to_string();
        let valid = Window { start: 0, end: None };
        Log { key, checkpoint_key_id: log_id.clone(), log_id, origin, base_url: base_url.into(), valid }
    }

    fn line(name: &str, hint: [u8; 4], signature: &[u8]) -> String {
        format!("— {name} {}\n", STANDARD.encode([&hint[..], signature].concat()))
    }

    const ROOT: &str = "rs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=";

    #[test]
    fn signed_notes_rekor_v2() {
        let (log, signer) = ed25519_log("https://user@log.example:8443/api/v2");
        let hint = note_key_hint("log.example", &log.key).expect("hint");
        let sign = |text: &str| line("log.example", hint, &signer.sign(text.as_bytes()).to_bytes());
        let note = |text: &str, extra: &str| format!("{text}\n{}{extra}", sign(text));
        let witness = line("witness.example", [1, 2, 3, 4], &[9; 72]);
        let good = format!("log.example\n736\n{ROOT}\nextension line\n");
        let ok = verify_checkpoint(&note(&good, &witness), &log).expect("valid checkpoint");
        assert_eq!((ok.origin.as_str(), ok.size, ok.flavor), ("log.example", 736, Flavor::SignedNote));
        // Order does not matter; a repeat of the log's own line after a valid one is ignored, before it is not.
        assert!(verify_checkpoint(&format!("{good}\n{witness}{}", sign(&good)), &log).is_ok());
        let forged = line("log.example", hint, &[0; 64]);
        assert!(verify_checkpoint(&note(&good, &forged), &log).is_ok());
        let err = verify_checkpoint(&format!("{good}\n{forged}{}", sign(&good)), &log).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // Ed25519ph over the same text is not a note signature.
        let ph = signer.sign_prehashed(sha2::Sha512::new().chain_update(good.as_bytes()), None).expect("ph");
        let err = verify_checkpoint(&format!("{good}\n{}", line("log.example", hint, &ph.to_bytes())), &log);
        assert!(err.unwrap_err().contains("does not verify"));
        // The right key under another name (whose hint differs too) is not the log's signature.
        let other = line("log.example.org", hint, &signer.sign(good.as_bytes()).to_bytes());
        assert!(verify_checkpoint(&format!("{good}\n{other}"), &log).unwrap_err().contains("no signature by"));
        let bodies = [
            ("other.example\n736\nROOT\n", "origin \"other.example\" is not the log's"),
            ("log.example\nROOT\n", "fewer than three lines"),
            ("\n736\nROOT\n", "empty origin"),
            ("log.example\n+736\nROOT\n", "not a decimal number"),
            ("log.example\n18446744073709551616\nROOT\n", "not a decimal number"),
            ("log.example\n736\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n", "31 bytes, not 32"),
            ("log.example\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI\n", "invalid checkpoint: root hash"),
            ("log.example\n736\nROOT\r\n", "control character"),
        ];
        for (body, reason) in bodies {
            let body = body.replace("ROOT", ROOT);
            let err = verify_checkpoint(&note(&body, ""), &log).unwrap_err();
            assert!(err.contains(reason), "{body:?}: {err}");
        }
        assert_eq!(
            verify_checkpoint(&note("log.example\n0736\nROOT\n", "").replace("ROOT", ROOT), &log),
            Err("the checkpoint signature does not verify with the log's ed25519 key".into())
        );
        let malformed = [
            format!("{good}\n{}", sign(&good).trim_end()),
            format!("{good}\n{}\n", sign(&good)),
            format!("{good}\n{}{}", sign(&good), witness.replace('—', "-")),
            format!("{good}\n{}{}", sign(&good), line("bad+name", [0; 4], &[0; 4])),
            format!("{good}\n{}— witness.example AAAA\n", sign(&good)),
            format!("{good}\n{}— witness.example not*base64\n", sign(&good)),
            format!("{good}\n{}{}", sign(&good), witness.repeat(100)),
            format!("{good}\n{}{}", sign(&good), "x".repeat(MAX_CHECKPOINT_BYTES)),
        ];
        // The last blank line splits text from signatures: here the log's line becomes part of the text.
        let err = verify_checkpoint(&format!("{good}\n{}\n{witness}", sign(&good)), &log).unwrap_err();
        assert!(err.contains("no signature by the log"), "{err}");
        for envelope in &malformed {
            let err = verify_checkpoint(envelope, &log).unwrap_err();
            assert!(err.starts_with("malformed checkpoint"), "{err}");
        }
    }

    #[test]
    fn signed_notes_rekor_v1() {
        let pair = EcdsaKeyPair::generate(&awslc::ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
        let spki = pair.public_key().as_der().expect("spki").as_ref().to_vec();
        let log = test_log(spki.clone(), "http://localhost:8000");
        let hint = first4(&Sha256::digest(&spki));
        let text = format!("localhost:8000 - 42\n7\n{ROOT}\nTimestamp: 1\n");
        let sig = pair.sign(&SystemRandom::new(), text.as_bytes()).expect("sign");
        let note = |lines: &str| format!("{text}\n{lines}");
        let ours = line("any.name", hint, sig.as_ref());
        let ok = verify_checkpoint(&note(&ours), &log).expect("v1 checkpoint");
        assert_eq!((ok.origin.as_str(), ok.size, ok.flavor), ("localhost:8000 - 42", 7, Flavor::RekorV1));
        // Rekor v1 wants every signature to be the log's.
        let witness = line("witness.example", [1, 2, 3, 4], &[9; 72]);
        assert!(verify_checkpoint(&note(&format!("{ours}{witness}")), &log).unwrap_err().contains("key hint"));
        // IEEE P1363 is not what Rekor v1 signs.
        let fixed = EcdsaKeyPair::from_private_key_der(
            &awslc::ECDSA_P256_SHA256_FIXED_SIGNING,
            pair.private_key().as_der().expect("der").as_ref(),
        );
        let p1363 = fixed.expect("key").sign(&SystemRandom::new(), text.as_bytes()).expect("sign");
        assert!(
            verify_checkpoint(&note(&line("n", hint, p1363.as_ref())), &log).unwrap_err().contains("does not verify")
        );
        // The same text and key under the v2 rules: the origin is not the host.
        let v2_text = format!("localhost\n7\n{ROOT}\n");
        let v2_sig = pair.sign(&SystemRandom::new(), v2_text.as_bytes()).expect("sign");
        let v2 = verify_checkpoint(&format!("{v2_text}\n{}", line("localhost", hint, v2_sig.as_ref())), &log);
        assert_eq!(v2.map(|c| c.flavor), Ok(Flavor::SignedNote));
    }

    #[test]
    fn note_names_are_url_hosts() {
        assert_eq!(note_name("https://log2025-1.rekor.sigstore.dev"), Ok("log2025-1.rekor.sigstore.dev"));
        assert_eq!(note_name("http://u:p@[::1]:8080/x?y#z"), Ok("::1"));
        assert!(note_name("rekor.sigstore.dev").is_err() && note_name("https://").is_err());
        assert!(is_rekor_v1("rekor.sigstore.dev - 2605736670972794746\n1\nx\n\n— a b\n"));
        assert!(!is_rekor_v1("rekor.sigstore.dev - 26057x\n1\nx\n\n— a b\n") && !is_rekor_v1("a - 1\n1\n"));
    }
}
