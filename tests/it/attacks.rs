//! Bundles built to make airlock PASS while an importer loads something else (issue 7). Each test
//! crafts the bundle from a signed fixture and asserts the reason kind and the entry from the report.

use crate::common::{Output, airlock, copy_fixture, sha256_hex};
use serde_json::{Value, json};
use std::path::PathBuf;

const KEY: &str = "testdata/keys/p256.pub";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A copy of a testdata layout to tamper with.
struct Bundle {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}

impl Bundle {
    fn of(fixture: &str) -> Bundle {
        let (tmp, path) = copy_fixture(&format!("layouts/{fixture}"));
        Bundle { _tmp: tmp, path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    fn index(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path.join("index.json")).unwrap()).unwrap()
    }

    fn set_index(&self, text: &str) {
        std::fs::write(self.path.join("index.json"), text).unwrap();
    }

    fn blob(&self, digest: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.path.join("blobs/sha256").join(&digest[7..])).unwrap()).unwrap()
    }

    /// Stores `doc` as a blob; returns its descriptor.
    fn add(&self, media_type: &str, doc: &Value) -> Value {
        let bytes = doc.to_string().into_bytes();
        let hex = sha256_hex(&bytes);
        std::fs::write(self.path.join("blobs/sha256").join(&hex), &bytes).unwrap();
        json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// The index.json entry named `name`.
    fn entry(&self, name: &str) -> Value {
        let index = self.index();
        let found = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name);
        found.expect("entry").clone()
    }

    /// A copy of the image's (single-platform) manifest that no signature covers.
    fn unsigned_copy(&self, name: &str) -> Value {
        let mut m = self.blob(self.entry(name)["digest"].as_str().unwrap());
        m["annotations"] = json!({"note": "not the signed manifest"});
        self.add(OCI_MANIFEST, &m)
    }
}

/// Runs airlock with a JSON report; returns the output and the report.
fn run(args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--report", report.to_str().unwrap()]);
    let out = airlock(&all);
    let value = std::fs::read(&report).map(|b| serde_json::from_slice(&b).expect("report JSON")).unwrap_or(Value::Null);
    if !value.is_null() {
        crate::common::schema::check_report(&value);
    }
    (out, value)
}

/// The result for `reference` (the first, or the one whose errors mention `needle`).
fn result<'a>(report: &'a Value, reference: &str) -> &'a Value {
    let results = report["results"].as_array().expect("results");
    results
        .iter()
        .find(|r| r["reference"] == reference)
        .unwrap_or_else(|| panic!("no result for {reference}: {report:#}"))
}

/// Asserts that some error of `r` has `kind` and a message containing `needle`.
fn assert_error(r: &Value, kind: &str, needle: &str) {
    let errors = r["errors"].as_array().expect("errors");
    assert!(
        errors.iter().any(|e| e["kind"] == kind && e["message"].as_str().unwrap_or_default().contains(needle)),
        "want {kind}: …{needle}… in {r:#}"
    );
    assert_eq!(r["status"], "fail", "{r:#}");
}

/// The damage reported for the source at `path`, shaped as a failed result (kind and message per entry).
fn source_result(report: &Value, path: &str) -> Value {
    let errors: Vec<Value> = report["damage"]
        .as_array()
        .expect("damage")
        .iter()
        .filter(|d| d["path"] == path)
        .map(|d| json!({"kind": d["kind"], "message": d["message"]}))
        .collect();
    assert!(!errors.is_empty(), "no damage reported for {path}: {report:#}");
    json!({"status": "fail", "errors": errors})
}

// --- 1. JSON that Go reads differently ---------------------------------------------------------------

/// Go's encoding/json matches `Manifests` to the `manifests` field (case-insensitively) and keeps the
/// last of two: skopeo would load the second list, airlock read the first.
#[test]
fn index_json_with_manifests_and_a_case_folded_twin_is_malformed() {
    let b = Bundle::of("signed-p256");
    let evil = b.unsigned_copy(SINGLE);
    let mut evil_entry = evil.clone();
    evil_entry["annotations"] = json!({"org.opencontainers.image.ref.name": SINGLE});
    let good = b.index()["manifests"].clone();
    b.set_index(&format!(r#"{{"schemaVersion":2,"manifests":{good},"Manifests":[{evil_entry}]}}"#));
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.line_for(SINGLE).is_none_or(|l| !l.starts_with("PASS")), "{}", out.describe());
    let damage = source_result(&report, b.arg());
    assert_error(
        &damage,
        "malformed",
        "index.json: the top-level object: keys \"manifests\" and \"Manifests\" are one key",
    );
}

#[test]
fn a_second_spelling_of_a_field_go_reads_is_malformed() {
    let b = Bundle::of("signed-p256");
    let good = b.index()["manifests"].clone();
    let d = b.entry(SINGLE)["digest"].as_str().unwrap().to_string();
    let other = b.unsigned_copy(SINGLE);
    // `Manifests` alone: Go reads it as the list, serde as nothing.
    b.set_index(&format!(r#"{{"schemaVersion":2,"Manifests":{good}}}"#));
    let (_, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_error(&source_result(&report, b.arg()), "malformed", "key \"Manifests\" is \"manifests\" to Go");
    // a descriptor's `Digest` beside `digest`, and the long s that Go folds onto `s`
    let plain = format!(r#"{{"schemaVersion":2,"manifests":{good}}}"#);
    b.set_index(&plain.replacen(
        &format!(r#""digest":"{d}""#),
        &format!(r#""digest":"{d}","Digest":{}"#, other["digest"]),
        1,
    ));
    let (_, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_error(
        &source_result(&report, b.arg()),
        "malformed",
        "manifests[0]: keys \"digest\" and \"Digest\" are one key",
    );
    b.set_index(&format!(r#"{{"schemaVersion":2,"manifests":{good}}}"#).replacen("\"size\"", "\"\u{17f}ize\"", 1));
    let (_, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_error(&source_result(&report, b.arg()), "malformed", "is \"size\" to Go");
}

/// Go keeps the last of two equal annotation keys: a second `ref.name` would rename the entry.
#[test]
fn a_duplicate_annotation_is_malformed() {
    let b = Bundle::of("signed-p256");
    let text = serde_json::to_string(&b.index()).unwrap().replacen(
        &format!(r#""org.opencontainers.image.ref.name":"{SINGLE}""#),
        &format!(
            r#""org.opencontainers.image.ref.name":"{SINGLE}","org.opencontainers.image.ref.name":"other.example/x:1""#
        ),
        1,
    );
    b.set_index(&text);
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(
        &source_result(&report, b.arg()),
        "malformed",
        "annotations: duplicate key \"org.opencontainers.image.ref.name\"",
    );
}

/// A platform Go reads as arm64 and serde as amd64, in an index the bundle brings.
#[test]
fn a_case_folded_platform_in_an_index_is_malformed() {
    let b = Bundle::of("signed-multi-per-platform");
    let top = b.entry(MULTI);
    let index = b.blob(top["digest"].as_str().unwrap());
    let text =
        index.to_string().replacen(r#""architecture":"amd64""#, r#""architecture":"amd64","Architecture":"arm64""#, 1);
    let bytes = text.into_bytes();
    let hex = sha256_hex(&bytes);
    std::fs::write(b.path.join("blobs/sha256").join(&hex), &bytes).unwrap();
    let mut entries = b.index();
    entries["manifests"][0]["digest"] = json!(format!("sha256:{hex}"));
    entries["manifests"][0]["size"] = json!(bytes.len());
    b.set_index(&entries.to_string());
    let (out, report) = run(&["verify-archive", b.arg()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(
        result(&report, MULTI),
        "malformed",
        "manifests[0].platform: keys \"architecture\" and \"Architecture\" are one key",
    );
}

// --- 2. Platforms as containerd matches them ---------------------------------------------------------

/// Adds `child` (a descriptor with a platform) to the image's index, which then no signature covers.
fn with_child(b: &Bundle, child: Value) {
    let top = b.entry(MULTI);
    let mut index = b.blob(top["digest"].as_str().unwrap());
    index["manifests"].as_array_mut().unwrap().push(child);
    let desc = b.add(OCI_INDEX, &index);
    let mut entries = b.index();
    for m in entries["manifests"].as_array_mut().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"] == MULTI {
            m["digest"] = desc["digest"].clone();
            m["size"] = desc["size"].clone();
        }
    }
    b.set_index(&entries.to_string());
}

/// An unsigned platform manifest of the multi image.
fn unsigned_platform(b: &Bundle) -> Value {
    let top = b.entry(MULTI);
    let index = b.blob(top["digest"].as_str().unwrap());
    let mut m = b.blob(index["manifests"][0]["digest"].as_str().unwrap());
    m["annotations"] = json!({"note": "unsigned"});
    b.add(OCI_MANIFEST, &m)
}

#[test]
fn a_child_spelled_another_way_is_the_platform_a_runtime_pulls() {
    for (os, arch, variant, args) in [
        ("linux", "x86_64", None, vec![]),
        ("Linux", "amd64", None, vec![]),
        ("linux", "aarch64", None, vec![]),
        ("linux", "arm", None, vec!["--arch", "arm/v7"]),
        ("linux", "armhf", None, vec!["--arch", "arm/v7"]),
        ("linux", "amd64", Some("v1"), vec![]),
    ] {
        let b = Bundle::of("signed-multi-per-platform");
        let mut child = unsigned_platform(&b);
        child["platform"] = json!({"os": os, "architecture": arch});
        if let Some(v) = variant {
            child["platform"]["variant"] = json!(v);
        }
        let digest = child["digest"].as_str().unwrap().to_string();
        with_child(&b, child);
        let mut args_all = vec!["verify-archive", b.arg(), "-p", KEY];
        args_all.extend(args);
        let (out, report) = run(&args_all);
        assert_eq!(out.code, 1, "{os}/{arch}\n{}", out.describe());
        assert_error(result(&report, MULTI), "unsigned", &digest);
    }
}

#[test]
fn an_annotation_alone_does_not_make_a_platform_an_attestation() {
    let b = Bundle::of("signed-multi-per-platform");
    let mut child = unsigned_platform(&b);
    child["platform"] = json!({"os": "linux", "architecture": "amd64"});
    child["annotations"] = json!({"vnd.docker.reference.type": "attestation-manifest"});
    let digest = child["digest"].as_str().unwrap().to_string();
    with_child(&b, child);
    let (_, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_error(result(&report, MULTI), "unsigned", &digest);
    // and unknown/unknown alone is a platform too, one no filter selects
    let b = Bundle::of("signed-multi-per-platform");
    let mut child = unsigned_platform(&b);
    child["platform"] = json!({"os": "unknown", "architecture": "unknown"});
    with_child(&b, child);
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY, "--os", "linux"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(result(&report, MULTI)["status"], "pass");
}

#[test]
fn every_child_for_a_selected_platform_is_verified() {
    let b = Bundle::of("signed-multi-per-platform");
    let mut child = unsigned_platform(&b);
    child["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let digest = child["digest"].as_str().unwrap().to_string();
    with_child(&b, child);
    let (_, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_error(result(&report, MULTI), "unsigned", &format!("linux/amd64 {digest}"));
}

#[test]
fn a_matching_child_that_is_not_a_manifest_fails_and_is_never_skipped() {
    let b = Bundle::of("signed-multi-per-platform");
    let mut child = unsigned_platform(&b);
    child["mediaType"] = json!("application/vnd.example.not-a-manifest");
    child["platform"] = json!({"os": "linux", "architecture": "amd64"});
    let digest = child["digest"].as_str().unwrap().to_string();
    with_child(&b, child);
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(result(&report, MULTI), "malformed", &format!("index entry {digest} for linux/amd64 has media type"));
}

#[test]
fn non_oci_platform_names_are_usage_errors() {
    for (flag, value, fix) in
        [("--arch", "x86_64", "amd64"), ("--arch", "aarch64", "arm64"), ("--os", "Linux", "linux")]
    {
        let out = airlock(["verify-archive", "testdata/layouts/signed-p256", flag, value]);
        assert_eq!(out.code, 2, "{}", out.describe());
        assert!(out.stderr.contains(&format!("use {flag} {fix}")), "{}", out.describe());
    }
}

// --- 3. Names ----------------------------------------------------------------------------------------

#[test]
fn one_name_bound_to_two_digests_in_one_index_is_ambiguous() {
    let b = Bundle::of("signed-p256");
    let mut evil = b.unsigned_copy(SINGLE);
    let evil_digest = evil["digest"].as_str().unwrap().to_string();
    evil["annotations"] = json!({"org.opencontainers.image.ref.name": SINGLE});
    let mut index = b.index();
    index["manifests"].as_array_mut().unwrap().insert(0, evil);
    b.set_index(&index.to_string());
    let list = b.path.parent().unwrap().join("images.txt");
    std::fs::write(&list, format!("{SINGLE}\n")).unwrap();
    for extra in [vec![], vec!["-f", list.to_str().unwrap()]] {
        let mut args = vec!["verify-archive", b.arg(), "-p", KEY];
        args.extend(extra);
        let (out, report) = run(&args);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(!out.stdout.contains(&format!("PASS {SINGLE}")), "{}", out.describe());
        assert_error(result(&report, SINGLE), "malformed", &format!("ambiguous: {SINGLE} is "));
        assert_error(result(&report, SINGLE), "malformed", &evil_digest);
    }
}

#[test]
fn one_name_in_two_paths_with_two_digests_is_ambiguous() {
    let a = Bundle::of("signed-p256");
    let b = Bundle::of("signed-p256");
    let evil = b.unsigned_copy(SINGLE);
    let mut index = b.index();
    index["manifests"][0]["digest"] = evil["digest"].clone();
    index["manifests"][0]["size"] = evil["size"].clone();
    assert_eq!(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], SINGLE);
    b.set_index(&index.to_string());
    let (out, report) = run(&["verify-archive", a.arg(), b.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(!out.stdout.contains(&format!("PASS {SINGLE}")), "{}", out.describe());
    assert_error(result(&report, SINGLE), "malformed", &format!("in {}", b.arg()));
}

#[test]
fn a_plain_name_wins_over_a_subject() {
    let b = Bundle::of("signed-p256");
    let entry = b.entry(SINGLE);
    let mut m = b.blob(entry["digest"].as_str().unwrap());
    m["subject"] = entry.clone();
    m["subject"].as_object_mut().unwrap().remove("annotations");
    let mut desc = b.add(OCI_MANIFEST, &m);
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": "registry.airlock.test/airlock/referrer:v1"});
    let mut index = b.index();
    index["manifests"].as_array_mut().unwrap().push(desc);
    b.set_index(&index.to_string());
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(result(&report, "registry.airlock.test/airlock/referrer:v1"), "unsigned", "no signature exists");
}

#[test]
fn an_entry_whose_names_disagree_is_checked_under_each() {
    let b = Bundle::of("signed-p256");
    let mut index = b.index();
    for m in index["manifests"].as_array_mut().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"] == SINGLE {
            m["annotations"]["io.containerd.image.name"] = json!("registry.airlock.test/airlock/single:v0");
        }
    }
    b.set_index(&index.to_string());
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY, "--signed-identity", "match-exact"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let r = result(&report, "registry.airlock.test/airlock/single:v0");
    assert_eq!(r["names"], json!(["registry.airlock.test/airlock/single:v0", SINGLE]), "{r:#}");
    assert_error(r, "identity-mismatch", "as registry.airlock.test/airlock/single:v0: ");
}

// --- 4. Damage in any PATH ---------------------------------------------------------------------------

/// A signatures PATH that also carries a corrupt copy of the image's layer: the image reads its own good
/// copy and passes, and the run still fails on the other PATH's damage.
#[test]
fn damage_in_one_path_is_not_hidden_by_a_good_copy_in_another() {
    let good = Bundle::of("signed-p256");
    let bad = Bundle::of("signed-p256");
    let entry = bad.entry(SINGLE);
    let mut index = bad.index();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != SINGLE);
    bad.set_index(&index.to_string());
    let layer = bad.blob(entry["digest"].as_str().unwrap())["layers"][0]["digest"].as_str().unwrap().to_string();
    let file = bad.path.join("blobs/sha256").join(&layer[7..]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let (out, report) = run(&["verify-archive", good.arg(), bad.arg(), "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(result(&report, SINGLE)["status"], "pass");
    assert_error(&source_result(&report, bad.arg()), "corrupt", &format!("blobs/sha256/{}", &layer[7..]));
}

// --- 5. The walk is bounded --------------------------------------------------------------------------

/// `levels` indexes, each listing the next `fan` times; the last lists the image's manifest `fan` times.
fn fan_out(b: &Bundle, levels: usize, fan: usize) {
    let entry = b.entry(SINGLE);
    let mut child = json!({"mediaType": OCI_MANIFEST, "digest": entry["digest"], "size": entry["size"],
        "platform": {"os": "linux", "architecture": "amd64"}});
    for _ in 0..levels {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": vec![child.clone(); fan]});
        child = b.add(OCI_INDEX, &index);
    }
    let mut index = b.index();
    index["manifests"][0]["digest"] = child["digest"].clone();
    index["manifests"][0]["size"] = child["size"].clone();
    index["manifests"][0]["mediaType"] = json!(OCI_INDEX);
    b.set_index(&index.to_string());
}

#[test]
fn a_graph_listing_the_same_children_many_times_is_walked_once() {
    let b = Bundle::of("signed-p256");
    fan_out(&b, 8, 10_000);
    let started = std::time::Instant::now();
    let (out, report) = run(&["verify-archive", b.arg()]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(result(&report, SINGLE)["status"], "pass");
}

/// `airlock list` walks with the same engine: the same graph lists in a moment, and a timeout bounds it.
#[test]
fn listing_a_graph_listing_the_same_children_many_times_is_bounded() {
    let b = Bundle::of("signed-p256");
    fan_out(&b, 8, 10_000);
    let started = std::time::Instant::now();
    let out = crate::common::airlock(["list", b.arg(), "--format", "json"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(out.code, 0, "{}", out.describe());
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["platforms"], json!(["linux/amd64"]), "{}", out.describe());
    assert!(rows[0]["problem"].is_null(), "{}", out.describe());
    let out = crate::common::airlock(["list", b.arg(), "--format", "json", "--timeout", "1ms"]);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    let problem = rows[0]["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("error: ") && problem.contains("timed out (--timeout)"), "{}", out.describe());
}

#[test]
fn a_walk_over_the_descriptor_limit_stops() {
    let b = Bundle::of("signed-p256");
    let entry = b.entry(SINGLE);
    // 11 distinct indexes of 10 000 children each: 110 000 descriptors
    let leaf = json!({"mediaType": OCI_MANIFEST, "digest": entry["digest"], "size": entry["size"],
        "platform": {"os": "linux", "architecture": "amd64"}});
    let children: Vec<Value> = (0..11)
        .map(|i| {
            let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": vec![leaf.clone(); 10_000],
                "annotations": {"n": i.to_string()}});
            b.add(OCI_INDEX, &index)
        })
        .collect();
    let top = b.add(OCI_INDEX, &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}));
    let mut index = b.index();
    index["manifests"][0] = json!({"mediaType": OCI_INDEX, "digest": top["digest"], "size": top["size"],
        "annotations": {"org.opencontainers.image.ref.name": SINGLE}});
    b.set_index(&index.to_string());
    let (out, report) = run(&["verify-archive", b.arg()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(result(&report, SINGLE), "malformed", "the walk stopped after 100000 descriptors");
}

#[test]
fn the_timeout_bounds_the_offline_walk() {
    let b = Bundle::of("signed-p256");
    fan_out(&b, 8, 10_000);
    let (out, report) = run(&["verify-archive", b.arg(), "--timeout", "1ms"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(result(&report, SINGLE), "error", "timed out (--timeout)");
}

// --- 6. Output files ---------------------------------------------------------------------------------

/// In a shared folder the names airlock writes are planted as symlinks to a victim file first: the
/// target itself, and the names an earlier build derived from its process id (`$$` is the PID that
/// `exec` keeps). Nothing planted is followed.
#[test]
fn planted_symlinks_at_output_names_are_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let failed = dir.path().join("failed.txt");
    std::os::unix::fs::symlink(&victim, &failed).unwrap();
    let script = format!(
        "cd {dir} && ln -s victim.txt .airlock-probe-$$ && ln -s victim.txt .failed.txt.airlock-$$.tmp && \
         exec {bin} verify-archive {root}/testdata/layouts/signed-p256 -p {root}/testdata/keys/other.pub --failed failed.txt",
        dir = dir.path().display(),
        bin = env!("CARGO_BIN_EXE_airlock"),
        root = env!("CARGO_MANIFEST_DIR"),
    );
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(&failed).unwrap();
    assert!(meta.file_type().is_file(), "the failed list is a new regular file, not the link");
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), format!("{SINGLE}\n"));
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 4, "nothing but the victim, the list and the two planted links: {names:?}");
}

#[test]
fn an_output_file_inside_the_source_is_refused() {
    let b = Bundle::of("signed-p256");
    let inside = b.path.join("report.json");
    let out = airlock(["verify-archive", b.arg(), "--report", inside.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("inside a source being verified"), "{}", out.describe());
    assert!(!inside.exists());
}

// --- 7. Notes and names from the input ---------------------------------------------------------------

#[test]
fn an_annotation_is_never_printed_as_airlocks_own_note() {
    let b = Bundle::of("signed-p256");
    let mut index = b.index();
    index["manifests"][0]["annotations"]["dev.airlock.note"] = json!("signature checked by release key");
    b.set_index(&index.to_string());
    let (out, report) = run(&["verify-archive", b.arg(), "-p", KEY]);
    assert!(!out.stdout.contains("release key") && !out.stderr.contains("release key"), "{}", out.describe());
    assert!(
        result(&report, SINGLE)["notes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !n.as_str().unwrap().contains("release key"))
    );
}

#[test]
fn names_from_the_input_are_printed_escaped() {
    let b = Bundle::of("signed-p256");
    let mut index = b.index();
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] =
        json!("v1\nPASS registry.example/evil:v1 (1 platform, signed by release.pub)\u{1b}[2K");
    b.set_index(&index.to_string());
    let out = airlock(["verify-archive", b.arg(), "-p", KEY]);
    assert!(out.stdout.lines().all(|l| !l.starts_with("PASS registry.example/evil")), "{}", out.describe());
    assert!(out.stdout.contains("\\u{000a}PASS registry.example/evil"), "{}", out.describe());
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.describe());
}

// --- 8. Fail-open defaults ---------------------------------------------------------------------------

#[test]
fn sign_validate_on_a_local_source_hashes_every_blob() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{SINGLE}\n")).unwrap();
    let failed = dir.path().join("failed.txt");
    let (out, report) = run(&[
        "sign",
        "validate",
        "-f",
        list.to_str().unwrap(),
        "-p",
        KEY,
        "--source",
        "testdata/layouts/corrupt-layer",
        "-o",
        failed.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_error(result(&report, SINGLE), "corrupt", "layer sha256:");
}

#[test]
fn validate_without_a_trust_source_refuses_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{SINGLE}\n")).unwrap();
    for cmd in [&["validate"][..], &["sign", "validate"][..]] {
        let mut args = cmd.to_vec();
        args.extend(["-f", list.to_str().unwrap(), "--source", "testdata/layouts/signed-p256"]);
        let out = airlock(&args);
        assert_eq!(out.code, 2, "{}", out.describe());
        assert!(out.stderr.contains("sign validate checks signatures: give -p"), "{}", out.describe());
    }
}

/// `reg.example:5000/app:v1` is `reg.example:5000/library/app:v1` to hangar and `reg.example:5000/app:v1`
/// to containers-image and containerd: both that exist are verified.
#[test]
fn both_readings_of_a_list_line_are_verified() {
    let b = Bundle::of("signed-p256");
    let evil = b.unsigned_copy(SINGLE);
    let mut layer_gone = b.blob(evil["digest"].as_str().unwrap());
    layer_gone["layers"][0]["digest"] = json!(format!("sha256:{}", "b".repeat(64)));
    let missing = b.add(OCI_MANIFEST, &layer_gone);
    let mut index = b.index();
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] =
        json!("reg.example:5000/library/app:v1");
    let mut second = missing.clone();
    second["annotations"] = json!({"org.opencontainers.image.ref.name": "reg.example:5000/app:v1"});
    index["manifests"].as_array_mut().unwrap().push(second);
    b.set_index(&index.to_string());
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, "reg.example:5000/app:v1\n").unwrap();
    let failed = dir.path().join("failed.txt");
    let (out, report) =
        run(&["verify-archive", b.arg(), "-f", list.to_str().unwrap(), "--failed", failed.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(result(&report, "reg.example:5000/library/app:v1")["status"], "pass");
    assert_error(result(&report, "reg.example:5000/app:v1"), "missing", "layer sha256:bbbb");
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), "reg.example:5000/app:v1\n");
}
