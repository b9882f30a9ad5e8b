//! `airlock report merge`: the reports of one run's shards (`--shard K/N`, a Kubernetes Indexed Job) joined
//! into one audit record. Shards of different runs are refused: another airlock version, other keys, other
//! sources or their checksums, other options, an overlap of images, or (with `--shard K/N`) a missing shard.

use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The fields every shard of one run shares.
const SAME_RUN: [&str; 7] =
    ["/version", "/keys", "/list", "/source", "/signatures_checked", "/blobs_checked", "/summary/list_lines_skipped"];
/// The options of the run (the command line itself differs: each shard has its own `--shard` and `--report`).
const SAME_MODE: [&str; 5] = ["blobs", "signature_scope", "identity", "platforms", "registry"];

/// Joins `reports` (each with the file it came from, for messages).
pub fn merge(reports: &[(String, Value)]) -> Result<Value, String> {
    let [(first_name, first), rest @ ..] = reports else { return Err("report merge: no report given".into()) };
    for (name, r) in reports {
        if r["tool"] != "airlock" || !r["results"].is_array() {
            return Err(format!("{name}: not an airlock report"));
        }
    }
    for (name, r) in rest {
        for field in SAME_RUN {
            if r.pointer(field) != first.pointer(field) {
                return Err(format!("{name}: not a shard of the run of {first_name}: {} differs", &field[1..]));
            }
        }
        for field in SAME_MODE {
            if r["mode"][field] != first["mode"][field] {
                return Err(format!("{name}: not a shard of the run of {first_name}: mode.{field} differs"));
            }
        }
    }
    check_shards(reports)?;
    let mut results = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, r) in reports {
        for result in r["results"].as_array().into_iter().flatten() {
            let key = (result["reference"].to_string(), result["line"].to_string(), result["path"].to_string());
            if !seen.insert(key) {
                return Err(format!("{name}: shards overlap: {} is in two of them", result["reference"]));
            }
            results.push(result.clone());
        }
    }
    let mut damage: Vec<Value> = Vec::new();
    for d in reports.iter().flat_map(|(_, r)| r["damage"].as_array().cloned().unwrap_or_default()) {
        if !damage.contains(&d) {
            damage.push(d);
        }
    }
    let count = |status: &str| results.iter().filter(|r| r["status"] == status).count();
    let artifacts = results.iter().filter(|r| r["artifact"] == true).count();
    let most = |field: &str| reports.iter().filter_map(|(_, r)| r["summary"][field].as_u64()).max().unwrap_or(0);
    let mut merged = first.clone();
    merged["results"] = Value::Array(results.clone());
    merged["damage"] = Value::Array(damage);
    merged["summary"] = json!({
        "images": results.len() - artifacts,
        "artifacts": artifacts,
        "passed": count("pass"),
        "failed": count("fail"),
        "damaged": most("damaged"),
        "list_lines_skipped": first["summary"]["list_lines_skipped"],
        // every shard reads the whole source once: the blobs and bytes of one pass
        "blobs": most("blobs"),
        "bytes": most("bytes"),
    });
    let seconds: f64 = reports.iter().filter_map(|(_, r)| r["mode"]["duration_seconds"].as_f64()).sum();
    merged["mode"]["duration_seconds"] = json!(seconds);
    if reports.iter().any(|(_, r)| r["incomplete"] == true) {
        merged["incomplete"] = Value::Bool(true);
    }
    Ok(merged)
}

/// With `--shard K/N` on every command line, the shards must be 1..=N, each once.
fn check_shards(reports: &[(String, Value)]) -> Result<(), String> {
    let shard = |r: &Value| -> Option<(u64, u64)> {
        let args: Vec<&str> = r["mode"]["command_line"].as_array()?.iter().filter_map(Value::as_str).collect();
        let spec = args
            .windows(2)
            .find(|w| w[0] == "--shard")
            .map(|w| w[1].to_string())
            .or_else(|| args.iter().find_map(|a| a.strip_prefix("--shard=")).map(str::to_string))?;
        let (k, n) = spec.split_once('/')?;
        Some((k.parse().ok()?, n.parse().ok()?))
    };
    let shards: Vec<Option<(u64, u64)>> = reports.iter().map(|(_, r)| shard(r)).collect();
    if shards.iter().any(Option::is_none) {
        return Ok(()); // --shard-count with JOB_COMPLETION_INDEX: the index is not on the command line
    }
    let shards: Vec<(u64, u64)> = shards.into_iter().flatten().collect();
    let n = shards[0].1;
    if shards.iter().any(|(_, m)| *m != n) {
        return Err("report merge: the reports are shards of different splits (K/N with other N)".into());
    }
    let ks: BTreeSet<u64> = shards.iter().map(|(k, _)| *k).collect();
    if ks.len() != shards.len() {
        return Err("report merge: a shard is given twice".into());
    }
    let missing: Vec<String> = (1..=n).filter(|k| !ks.contains(k)).map(|k| format!("{k}/{n}")).collect();
    if !missing.is_empty() {
        return Err(format!("report merge: shard(s) {} missing", missing.join(", ")));
    }
    Ok(())
}
