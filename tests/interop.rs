//! Real-world signatures from `../shared/interop/` (cosign and containers-image fixtures) with the
//! outcomes their authors' tests expect: every `mode=key` and `mode=key+rekor` row of `cases.tsv` runs
//! through airlock.
//! The files are read in place, never copied into this repository.

mod common;
use common::airlock;
use std::path::PathBuf;

fn interop_dir() -> Option<PathBuf> {
    let dir = common::root().join("../shared/interop");
    dir.join("cases.tsv").is_file().then_some(dir)
}

/// containers-image's policy spelling → airlock's `--signed-identity`.
fn identity_flag(spec: &str) -> String {
    if let Some(r) = spec.strip_prefix("exactReference:") {
        return format!("exact-reference:{r}");
    }
    if let Some(r) = spec.strip_prefix("exactRepository:") {
        return format!("exact-repository:{r}");
    }
    if let Some(r) = spec.strip_prefix("remapIdentity:") {
        return format!("remap:{}", r.replacen("->", "=", 1));
    }
    match spec {
        "matchRepository" => "match-repository",
        "matchExact" => "match-exact",
        "matchRepoDigestOrExact" => "match-repo-digest-or-exact",
        other => panic!("unknown signedIdentity {other}"),
    }
    .to_string()
}

/// The failure kind a containers-image error message corresponds to.
fn expected_kind(message: &str) -> &'static str {
    if message.contains("A signature was required") {
        "unsigned"
    } else if message.contains("Signature for identity") || message.starts_with("None of the signatures") {
        "identity-mismatch"
    } else if message.contains("no such file") {
        "missing"
    } else if message.contains("error unmarshalling signatures") {
        "malformed"
    } else {
        "bad-signature"
    }
}

#[test]
fn key_mode_rows_agree_with_their_upstream_tests() {
    run_rows("key");
}

#[test]
fn key_and_rekor_rows_agree_with_their_upstream_tests() {
    run_rows("key+rekor");
}

fn run_rows(mode: &str) {
    let Some(dir) = interop_dir() else {
        println!("SKIPPED: ../shared/interop/cases.tsv not found; interop rows not run");
        return;
    };
    let tsv = std::fs::read_to_string(dir.join("cases.tsv")).expect("cases.tsv");
    let mut header: Vec<&str> = Vec::new();
    let (mut ran, mut failures) = (0, Vec::new());
    for (i, line) in tsv.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 0 {
            header = cols;
            continue;
        }
        let col = |name: &str| cols[header.iter().position(|h| *h == name).expect("column")];
        if col("mode") != mode {
            continue;
        }
        let mut args = vec![
            "verify-archive".to_string(),
            dir.join(col("fixture_dir")).display().to_string(),
            "--blobs".into(),
            "skip".into(),
            "--reference".into(),
            col("image_reference").to_string(),
            "--signed-identity".into(),
            identity_flag(col("signed_identity")),
        ];
        for key in col("keys").split_whitespace() {
            args.push("-p".into());
            args.push(dir.join(key).display().to_string());
        }
        for key in col("rekor_key").split_whitespace().filter(|k| *k != "-") {
            args.push("--rekor-pubkey".into());
            args.push(dir.join(key).display().to_string());
        }
        let out = airlock(&args);
        ran += 1;
        let fail_line = out.stdout.lines().find(|l| l.starts_with("FAIL "));
        let verdict = match col("expected") {
            "accept" => out.code == 0 && fail_line.is_none(),
            _ => {
                let kind = expected_kind(col("expected_error_substring"));
                out.code == 1 && fail_line.is_some_and(|l| l.contains(&format!(": {kind}: ")))
            }
        };
        if !verdict {
            failures.push(format!(
                "{} (expected {} {:?})\n  airlock {}\n{}",
                col("case_id"),
                col("expected"),
                col("expected_error_substring"),
                args.join(" "),
                out.describe()
            ));
        }
    }
    println!("interop: {} of {ran} mode={mode} rows agree", ran - failures.len());
    assert!(ran > 0, "no mode={mode} rows found");
    assert!(failures.is_empty(), "{} rows disagree:\n{}", failures.len(), failures.join("\n"));
}
