//! One transparency-log entry of a bundle (SPEC §6.6), as sigstore-go's `pkg/tlog/entry.go` and
//! `pkg/verify/tlog.go` check it: the log is trusted, the canonicalized body describes exactly this signature
//! (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2 for Rekor v1; hashedrekord 0.0.2 and dsse 0.0.2 for Rekor
//! v2), the inclusion promise (SET) verifies, and the inclusion proof reaches a checkpoint signed by the log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sigstore_protobuf_specs::dev::sigstore::rekor::v1::{InclusionProof, TransparencyLogEntry};

use super::merkle;
use super::root::{Log, TrustRoot};
use crate::signature::keys::TrustedKey;
use crate::signature::rekor::canonical_string;

/// How far in the future an integrated time may lie before it is refused (clock skew, as sigstore-go allows).
const FUTURE_SKEW_SECS: i64 = 60;

/// What the entry must describe.
pub struct Logged<'a> {
    /// The signature bytes (message signature, or the one DSSE signature).
    pub signature: &'a [u8],
    /// The signer: the leaf certificate's DER, or the key's SPKI DER.
    pub signer: Signer<'a>,
    /// SHA-256 of the artifact (message signatures) or of the DSSE PAE (what a hashedrekord logs for DSSE).
    pub hashed: [u8; 32],
    /// The DSSE envelope's payload and signatures, when the content is one.
    pub dsse: Option<Dsse<'a>>,
}

pub struct Dsse<'a> {
    pub payload: &'a [u8],
    pub signatures: Vec<&'a [u8]>,
}

#[derive(Clone, Copy)]
pub enum Signer<'a> {
    Certificate(&'a [u8]),
    Key(&'a [u8]),
}

/// A verified entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub log_index: i64,
    /// The log's base URL, for the report.
    pub log: String,
    /// The integrated time, when an inclusion promise vouches for it (Rekor v1).
    pub integrated_time: Option<i64>,
    /// The trusted log's validity window must contain the times this entry is used at.
    pub log_valid: super::root::Window,
    /// Rekor v2: no integrated time, so a TSA timestamp must give the time.
    pub v2: bool,
}

/// Verifies `entry` for the bundle of version `minor` (0.1 needs a promise, 0.2+ a proof).
pub fn verify(
    entry: &TransparencyLogEntry,
    minor: u8,
    logged: &Logged<'_>,
    root: &TrustRoot,
    now: i64,
) -> Result<Entry, String> {
    if entry.log_index < 0 {
        return Err(format!("transparency log entry has a negative log index {}", entry.log_index));
    }
    let log_id = entry.log_id.as_ref().map(|l| l.key_id.as_slice()).unwrap_or_default();
    let log = root
        .tlog(log_id)
        .ok_or_else(|| format!("transparency log entry from an untrusted log (log id {})", STANDARD.encode(log_id)))?;
    let kind_version = entry.kind_version.as_ref().ok_or("transparency log entry has no kindVersion")?;
    let (kind, version) = (kind_version.kind.as_str(), kind_version.version.as_str());
    let v2 = match (kind, version) {
        ("hashedrekord", "0.0.1") | ("dsse", "0.0.1") | ("intoto", "0.0.2") => false,
        ("hashedrekord", "0.0.2") | ("dsse", "0.0.2") => true,
        _ => return Err(format!("unsupported transparency log entry {kind} {version}")),
    };
    check_body(&entry.canonicalized_body, kind, version, logged)?;

    let integrated_time = match &entry.inclusion_promise {
        Some(promise) => {
            verify_set(entry, &promise.signed_entry_timestamp, log)?;
            Some(entry.integrated_time)
        }
        None if minor == 1 => return Err("a v0.1 bundle's transparency log entry needs an inclusion promise".into()),
        None => None,
    };
    if entry.integrated_time > now + FUTURE_SKEW_SECS {
        return Err(format!("transparency log entry integrated time {} is in the future", entry.integrated_time));
    }
    match &entry.inclusion_proof {
        Some(proof) => verify_proof(entry, proof, log, v2)?,
        None if minor >= 2 || v2 => return Err("transparency log entry has no inclusion proof".into()),
        None => {}
    }
    if let Some(t) = integrated_time.filter(|t| !log.valid.contains(*t)) {
        return Err(format!("the transparency log {} was not valid at the integrated time {t}", log.base_url));
    }
    Ok(Entry { log_index: entry.log_index, log: log.base_url.clone(), integrated_time, log_valid: log.valid, v2 })
}

/// The SET: the log's signature over the RFC 8785 form of body, integrated time, log index and log id.
fn verify_set(entry: &TransparencyLogEntry, set: &[u8], log: &Log) -> Result<(), String> {
    let canonical = format!(
        "{{\"body\":{},\"integratedTime\":{},\"logID\":{},\"logIndex\":{}}}",
        canonical_string(&STANDARD.encode(&entry.canonicalized_body)),
        entry.integrated_time,
        canonical_string(&hex::encode(&log.log_id)),
        entry.log_index,
    );
    log.key
        .verify(canonical.as_bytes(), set)
        .map(|_| ())
        .map_err(|_| "the inclusion promise (SET) does not verify".into())
}

fn verify_proof(entry: &TransparencyLogEntry, proof: &InclusionProof, log: &Log, v2: bool) -> Result<(), String> {
    // Rekor v1 proofs index within the log's shard (the entry's index is global); v2 logs are not sharded.
    if v2 && proof.log_index != entry.log_index {
        return Err(format!("inclusion proof is for log index {}, the entry is {}", proof.log_index, entry.log_index));
    }
    let (index, size) = (u64::try_from(proof.log_index), u64::try_from(proof.tree_size));
    let (Ok(index), Ok(size)) = (index, size) else {
        return Err("inclusion proof has a negative index or tree size".into());
    };
    let leaf = merkle::leaf_hash(&entry.canonicalized_body);
    merkle::verify_inclusion(&leaf, index, size, &proof.hashes, &proof.root_hash)?;
    let envelope = proof.checkpoint.as_ref().map(|c| c.envelope.as_str()).unwrap_or_default();
    if envelope.is_empty() {
        return Err("inclusion proof has no checkpoint".into());
    }
    let checkpoint = merkle::verify_checkpoint(envelope, log)?;
    if checkpoint.root_hash != proof.root_hash || checkpoint.size != size {
        return Err("the checkpoint is for another tree than the inclusion proof".into());
    }
    Ok(())
}

/// The body must describe this signature, signer and content.
fn check_body(body: &[u8], kind: &str, version: &str, logged: &Logged<'_>) -> Result<(), String> {
    crate::oci::json::check_exact(body).map_err(|e| format!("transparency log entry body: {e}"))?;
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("transparency log entry body: {e}"))?;
    if body["kind"] != kind || body["apiVersion"] != version {
        return Err(format!("transparency log entry body is not the {kind} {version} its kindVersion says"));
    }
    let spec = &body["spec"];
    match (kind, version) {
        ("hashedrekord", "0.0.1") => hashedrekord_v1(spec, logged),
        ("dsse", "0.0.1") => dsse_v1(spec, logged),
        ("intoto", "0.0.2") => intoto_v2(spec, logged),
        ("hashedrekord", "0.0.2") => hashedrekord_v2(&spec["hashedRekordV002"], logged),
        _ => dsse_v2(&spec["dsseV002"], logged),
    }
}

fn mismatch(what: &str) -> String {
    format!("transparency log entry does not match the bundle: {what} differs")
}

fn b64(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    let text = v.as_str().ok_or_else(|| format!("transparency log entry body: no {what}"))?;
    STANDARD.decode(text).map_err(|e| format!("transparency log entry body: {what}: {e}"))
}

fn hex_hash(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    if v["algorithm"] != "sha256" {
        return Err(format!("transparency log entry body: {what} is not sha256"));
    }
    hex::decode(v["value"].as_str().unwrap_or_default())
        .map_err(|e| format!("transparency log entry body: {what}: {e}"))
}

/// A Rekor v1 `publicKey`/`verifier`: base64 of a PEM certificate or public key.
fn same_signer_pem(encoded: &Value, signer: Signer<'_>) -> Result<(), String> {
    let pem = b64(encoded, "public key")?;
    let same = match signer {
        Signer::Certificate(der) => {
            let block = crate::signature::keys::first_pem_block(&pem);
            matches!(block, Ok(Some(b)) if b.label == "CERTIFICATE" && b.der == der)
        }
        Signer::Key(spki) => TrustedKey::from_pem("logged key".into(), &pem).is_ok_and(|k| k.spki_der == spki),
    };
    if same { Ok(()) } else { Err(mismatch("the signer")) }
}

fn hashedrekord_v1(spec: &Value, logged: &Logged<'_>) -> Result<(), String> {
    if hex_hash(&spec["data"]["hash"], "data.hash")? != logged.hashed {
        return Err(mismatch("the artifact hash"));
    }
    if b64(&spec["signature"]["content"], "signature")? != logged.signature {
        return Err(mismatch("the signature"));
    }
    same_signer_pem(&spec["signature"]["publicKey"]["content"], logged.signer)
}

fn dsse_of<'a>(logged: &'a Logged<'_>) -> Result<&'a Dsse<'a>, String> {
    logged.dsse.as_ref().ok_or_else(|| "a DSSE transparency log entry for a message-signature bundle".to_string())
}

/// The logged DSSE signatures are exactly the envelope's (`sig_of` reads one logged signature), each logged with
/// the signer (`same_signer` checks one).
fn same_dsse_signatures(
    logged_sigs: &Value,
    logged: &Logged<'_>,
    sig_of: impl Fn(&Value) -> Result<Vec<u8>, String>,
    same_signer: impl Fn(&Value, Signer<'_>) -> Result<(), String>,
) -> Result<(), String> {
    let dsse = dsse_of(logged)?;
    let sigs = logged_sigs.as_array().ok_or("transparency log entry body: no signatures")?;
    if sigs.len() != dsse.signatures.len() {
        return Err(mismatch("the number of DSSE signatures"));
    }
    for (logged_sig, sig) in sigs.iter().zip(&dsse.signatures) {
        if sig_of(logged_sig)? != *sig {
            return Err(mismatch("the DSSE signature"));
        }
        same_signer(logged_sig, logged.signer)?;
    }
    Ok(())
}

fn dsse_v1(spec: &Value, logged: &Logged<'_>) -> Result<(), String> {
    if hex_hash(&spec["payloadHash"], "payloadHash")? != Sha256::digest(dsse_of(logged)?.payload).as_slice() {
        return Err(mismatch("the DSSE payload"));
    }
    same_dsse_signatures(
        &spec["signatures"],
        logged,
        |s| b64(&s["signature"], "signature"),
        |s, signer| same_signer_pem(&s["verifier"], signer),
    )
}

fn intoto_v2(spec: &Value, logged: &Logged<'_>) -> Result<(), String> {
    let content = &spec["content"];
    if hex_hash(&content["payloadHash"], "payloadHash")? != Sha256::digest(dsse_of(logged)?.payload).as_slice() {
        return Err(mismatch("the in-toto payload"));
    }
    // Rekor's intoto 0.0.2 stores the envelope's base64 signature base64-encoded once more.
    let twice = |s: &Value| STANDARD.decode(b64(&s["sig"], "sig")?).map_err(|_| mismatch("the DSSE signature"));
    same_dsse_signatures(&content["envelope"]["signatures"], logged, twice, |s, signer| {
        same_signer_pem(&s["publicKey"], signer)
    })
}

/// A Rekor v2 verifier: `{"x509Certificate":{"rawBytes"}}` or `{"publicKey":{"rawBytes"}}`.
fn same_signer_v2(verifier: &Value, signer: Signer<'_>) -> Result<(), String> {
    let same = match signer {
        Signer::Certificate(der) => b64(&verifier["x509Certificate"]["rawBytes"], "x509Certificate")? == der,
        Signer::Key(spki) => b64(&verifier["publicKey"]["rawBytes"], "publicKey")? == spki,
    };
    if same { Ok(()) } else { Err(mismatch("the signer")) }
}

fn sha256_v2(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    if v["algorithm"] != "SHA2_256" {
        return Err(format!("transparency log entry body: {what} is not SHA2_256"));
    }
    b64(&v["digest"], what)
}

fn hashedrekord_v2(spec: &Value, logged: &Logged<'_>) -> Result<(), String> {
    if sha256_v2(&spec["data"], "data")? != logged.hashed {
        return Err(mismatch("the artifact hash"));
    }
    if b64(&spec["signature"]["content"], "signature")? != logged.signature {
        return Err(mismatch("the signature"));
    }
    same_signer_v2(&spec["signature"]["verifier"], logged.signer)
}

fn dsse_v2(spec: &Value, logged: &Logged<'_>) -> Result<(), String> {
    if sha256_v2(&spec["payloadHash"], "payloadHash")? != Sha256::digest(dsse_of(logged)?.payload).as_slice() {
        return Err(mismatch("the DSSE payload"));
    }
    same_dsse_signatures(
        &spec["signatures"],
        logged,
        |s| b64(&s["content"], "signature"),
        |s, signer| same_signer_v2(&s["verifier"], signer),
    )
}
