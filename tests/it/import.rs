//! `airlock import` against a real registry (Debian's `docker-registry`, CNCF distribution 2.8, on
//! 127.0.0.1): every shipped bundle format is imported, then `airlock validate` checks the registry and
//! must find what the offline verification found (same images, same digests, same signature verdicts);
//! a tampered image is never pushed; an import cut off by a registry outage resumes; `--dry-run` sends
//! nothing. distribution 2.8 has no referrers API, so keyless bundles exercise cosign's tag fallback.

use crate::common::registry::{Mode, Registry, http};
use crate::common::{Output, root, run, sha256_hex};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

const EXAMPLES: &str = "testdata/examples";

/// Runs airlock from `testdata/examples`.
fn airlock_in_examples(args: &[String]) -> Output {
    run(args, &[], Some(&root().join(EXAMPLES))).0
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// One bundle format: the PATHs and trust flags (relative to `testdata/examples`).
struct Case {
    name: &'static str,
    paths: &'static [&'static str],
    trust: Vec<String>,
}

const KEYLESS: &[&str] = &[
    "--trusted-root",
    "keyless/trusted_root.json",
    "--certificate-identity-regexp",
    "https://github.com/airlock-test/.*",
    "--certificate-oidc-issuer",
    "https://token.actions.githubusercontent.com",
];

/// The formats; docker-archive carries no signatures, so its trust is a policy that accepts anything.
fn cases(accept_anything: &Path) -> Vec<Case> {
    let key = || strings(&["-p", "sigstore.pub"]);
    vec![
        Case { name: "layout", paths: &["bundle/"], trust: key() },
        Case { name: "tar-zst", paths: &["haul.tar.zst"], trust: key() },
        Case { name: "split", paths: &["parts/haul.tar.zst.001"], trust: key() },
        Case { name: "hangar", paths: &["saved-images.zip", "signatures/"], trust: key() },
        Case {
            name: "docker",
            paths: &["../archives/docker/two.tar"],
            trust: strings(&["--policy", &accept_anything.to_string_lossy()]),
        },
        Case { name: "keyless", paths: &["keyless/bundle/"], trust: strings(KEYLESS) },
        Case { name: "zarf", paths: &["zarf-package-airlock-test-amd64-0.0.1.tar.zst"], trust: key() },
    ]
}

/// Per image: (status, the platform digests with their signature status).
fn outcomes(report: &Value) -> BTreeMap<String, (String, Vec<(String, String)>)> {
    let mut out = BTreeMap::new();
    for r in report["results"].as_array().expect("results") {
        let name = r["reference"].as_str().unwrap_or_default();
        // the image's repository and tag, without its registry and project (they change on import)
        let short = name.rsplit('/').next().unwrap_or_default().to_string();
        let platforms = r["platforms"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| {
                        let sig = p["signature"]["status"].as_str().unwrap_or("-").to_string();
                        (p["digest"].as_str().unwrap_or_default().to_string(), sig)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.insert(short, (r["status"].as_str().unwrap_or_default().to_string(), platforms));
    }
    out
}

fn report_of(path: &Path, out: &Output) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("no report ({e})\n{}", out.describe()));
    let v: Value = serde_json::from_slice(&bytes).expect("report JSON");
    crate::common::schema::check_report(&v);
    v
}

#[test]
fn every_bundle_format_round_trips_through_a_registry() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let accept_anything = tmp.path().join("accept-anything.json");
    std::fs::write(&accept_anything, json!({"default": [{"type": "insecureAcceptAnything"}]}).to_string()).unwrap();
    let mut problems = Vec::new();
    for c in cases(&accept_anything) {
        let project = c.name;
        let offline = tmp.path().join(format!("{project}-offline.json"));
        let imported = tmp.path().join(format!("{project}-import.json"));
        let to = format!("{}/{project}", reg.addr);
        let mut args = strings(&["import"]);
        args.extend(strings(c.paths));
        args.extend(c.trust.iter().cloned());
        args.extend(strings(&["--to", &to, "--tls-verify=false", "--report", &imported.to_string_lossy()]));
        let out = airlock_in_examples(&args);
        assert_eq!(out.code, 0, "{project}: import\n{}", out.describe());
        let mut verify = strings(&["verify-archive"]);
        verify.extend(strings(c.paths));
        verify.extend(c.trust.iter().cloned());
        verify.extend(strings(&["--report", &offline.to_string_lossy()]));
        let off = airlock_in_examples(&verify);
        let import_report = report_of(&imported, &out);
        let list: Vec<String> = import_report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["reference"].as_str().unwrap().to_string())
            .collect();
        for r in import_report["results"].as_array().unwrap() {
            let pushed = &r["pushed"];
            let expected = format!("{to}/{}", r["reference"].as_str().unwrap().rsplit('/').next().unwrap());
            assert_eq!(pushed["reference"], expected.as_str(), "{project}: {r}");
            assert!(!pushed["digests"].as_array().unwrap().is_empty(), "{project}: {r}");
            assert_eq!(pushed["tags"], json!(["v1"]), "{project}: {r}");
            assert!(
                out.line_for(r["reference"].as_str().unwrap()).unwrap().contains(&format!("imported as {expected}"))
            );
        }
        let list_file = tmp.path().join(format!("{project}-images.txt"));
        std::fs::write(&list_file, list.join("\n") + "\n").unwrap();
        let remote = tmp.path().join(format!("{project}-remote.json"));
        let mut validate = strings(&["validate", "-f", &list_file.to_string_lossy(), "--registry", &reg.addr]);
        validate.extend(strings(&["--project", project, "--tls-verify=false", "--blobs", "verify"]));
        validate.extend(c.trust.iter().cloned());
        validate.extend(strings(&[
            "--report",
            &remote.to_string_lossy(),
            "-o",
            &tmp.path().join("f.txt").to_string_lossy(),
        ]));
        if c.trust[0] == "-p" {
            validate.extend([
                "--signed-identity".to_string(),
                format!("remap:{}/{project}=registry.airlock.test/airlock", reg.addr),
            ]);
        }
        let rem = airlock_in_examples(&validate);
        let (off, rem) = (outcomes(&report_of(&offline, &off)), outcomes(&report_of(&remote, &rem)));
        if off != rem {
            problems.push(format!("{project}: offline {off:?}\n  registry {rem:?}"));
        }
        assert!(off.values().all(|(s, _)| s == "pass"), "{project}: {off:?}");
    }
    assert!(problems.is_empty(), "the registry copy differs from the bundle:\n{}", problems.join("\n"));
}

/// The layer blob of `image` in a layout copy, corrupted in place (same size); its digest.
fn corrupt_layer(layout: &Path, image: &str) -> String {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().is_some_and(|n| n.ends_with(image)))
        .expect("image entry");
    let blob = |d: &Value| layout.join("blobs/sha256").join(d.as_str().unwrap().trim_start_matches("sha256:"));
    let manifest: Value = serde_json::from_slice(&std::fs::read(blob(&entry["digest"])).unwrap()).unwrap();
    let layer = &manifest["layers"][0]["digest"];
    let path = blob(layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    layer.as_str().unwrap().to_string()
}

#[test]
fn a_tampered_image_is_not_pushed_and_the_rest_is() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("bundle");
    crate::common::copy_dir(&root().join(EXAMPLES).join("bundle"), &layout);
    let layer = corrupt_layer(&layout, "single:v1");
    let failed = tmp.path().join("failed.txt");
    let key = root().join(EXAMPLES).join("sigstore.pub");
    let to = format!("{}/site", reg.addr);
    let args = [
        "import",
        &layout.to_string_lossy(),
        "-p",
        &key.to_string_lossy(),
        "--to",
        &to,
        "--tls-verify=false",
        "-o",
        &failed.to_string_lossy(),
    ];
    let (out, _) = run(&args, &[], None);
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.line_for("registry.airlock.test/airlock/single:v1").expect("a line for single");
    assert!(line.starts_with("FAIL ") && line.contains("corrupt:") && line.contains(&layer), "{line}");
    assert!(out.line_for("registry.airlock.test/airlock/multi:v1").unwrap().contains("imported as"));
    assert_eq!(std::fs::read_to_string(&failed).unwrap(), "registry.airlock.test/airlock/single:v1\n");
    // nothing of the tampered image reached the registry: no tag, no manifest, not its layer
    let get = |path: &str| http(&reg.addr, "GET", path, &[], b"").unwrap().status;
    assert_eq!(get("/v2/site/single/manifests/v1"), 404);
    assert_eq!(get("/v2/site/single/tags/list"), 404);
    assert_eq!(http(&reg.addr, "HEAD", &format!("/v2/site/single/blobs/{layer}"), &[], b"").unwrap().status, 404);
    let index = "application/vnd.oci.image.index.v1+json";
    let multi = http(&reg.addr, "GET", "/v2/site/multi/manifests/v1", &[("Accept", index)], b"").unwrap();
    assert_eq!(multi.status, 200, "the images that passed are imported");
}

#[test]
fn dry_run_sends_nothing_and_says_what_would_be_pushed() {
    let reg = Registry::start(Mode::Plain);
    let to = format!("{}/dry", reg.addr);
    let out = airlock_in_examples(&strings(&["import", "bundle/", "-p", "sigstore.pub", "--to", &to, "--dry-run"]));
    assert_eq!(out.code, 0, "{}", out.describe());
    let line = out.line_for("registry.airlock.test/airlock/single:v1").unwrap();
    assert!(line.contains(&format!("would be imported as {to}/single:v1 (4 blobs")), "{line}");
    let catalog = http(&reg.addr, "GET", "/v2/_catalog", &[], b"").unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&catalog.body).unwrap()["repositories"], json!([]));
}

/// A layout of `n` unsigned images, each with one `size`-byte layer of its own (pseudo-random bytes).
fn big_layout(dir: &Path, n: usize, size: usize) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut manifests = Vec::new();
    for k in 0..n {
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (k as u64 + 1);
        let layer: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let (layer, layer_size) = put(&layer);
        let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer]}});
        let (config, config_size) = put(config.to_string().as_bytes());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
        });
        let (digest, size) = put(manifest.to_string().as_bytes());
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": format!("registry.airlock.test/big/image-{k}:v1")},
        }));
    }
    std::fs::write(dir.join("index.json"), json!({"schemaVersion": 2, "manifests": manifests}).to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// Bytes under the registry's storage (what it has received).
fn stored_bytes(dir: &Path) -> u64 {
    walk_size(dir)
}

fn walk_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

#[test]
fn an_import_cut_off_by_a_registry_outage_resumes_and_completes() {
    const IMAGES: usize = 6;
    const LAYER: usize = 20 << 20; // over the 8 MiB chunk: uploaded in three PATCHes
    let reg = Registry::start(Mode::Plain);
    let sidecar = Registry::plain_sidecar(&reg);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("big");
    big_layout(&layout, IMAGES, LAYER);
    let import = |addr: &str, report: &Path| -> Vec<String> {
        let to = format!("{addr}/big");
        strings(&["import", &layout.to_string_lossy(), "--to", &to, "--tls-verify=false", "-j", "1"])
            .into_iter()
            .chain(strings(&["--report", &report.to_string_lossy()]))
            .collect()
    };
    let first = tmp.path().join("first.json");
    let args = import(&reg.addr, &first);
    let cut = std::thread::spawn(move || run(&args, &[], None).0);
    // the outage: once two layers are in, the registry is killed in the middle of the import
    let started = std::time::Instant::now();
    while stored_bytes(&reg.storage) < 2 * LAYER as u64 + (LAYER as u64 / 2) {
        assert!(started.elapsed().as_secs() < 120, "the import did not get going");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reg.kill();
    let out = cut.join().unwrap();
    assert_eq!(out.code, 1, "{}", out.describe());
    let failed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(!failed.is_empty() && failed.iter().all(|l| l.contains("error: import to")), "{}", out.describe());
    let imported_before = out.stdout.lines().filter(|l| l.contains(" imported as ")).count();
    assert!(imported_before < IMAGES, "{}", out.describe());
    // the same import again, to the registry back on the same storage: it resumes
    let second = tmp.path().join("second.json");
    let again = run(&import(&sidecar.addr, &second), &[], None).0;
    assert_eq!(again.code, 0, "{}", again.describe());
    let report = report_of(&second, &again);
    let present: u64 =
        report["results"].as_array().unwrap().iter().map(|r| r["pushed"]["blobs_present"].as_u64().unwrap()).sum();
    assert!(
        present > 2 * imported_before as u64,
        "blobs already sent are not sent again: {present}\n{}",
        again.describe()
    );
    // and the registry now holds every image, intact
    let list = tmp.path().join("images.txt");
    let names: Vec<String> = (0..IMAGES).map(|k| format!("registry.airlock.test/big/image-{k}:v1")).collect();
    std::fs::write(&list, names.join("\n") + "\n").unwrap();
    let policy = tmp.path().join("policy.json");
    std::fs::write(&policy, json!({"default": [{"type": "insecureAcceptAnything"}]}).to_string()).unwrap();
    let validate =
        strings(&["validate", "-f", &list.to_string_lossy(), "--registry", &sidecar.addr, "--project", "big"])
            .into_iter()
            .chain(strings(&["--policy", &policy.to_string_lossy(), "--tls-verify=false", "--blobs", "verify"]))
            .chain(strings(&["-o", &tmp.path().join("f.txt").to_string_lossy()]))
            .collect::<Vec<_>>();
    let checked = run(&validate, &[], None).0;
    assert_eq!(checked.code, 0, "{}", checked.describe());
    assert!(checked.stdout.contains(&format!("{IMAGES} passed, 0 failed")), "{}", checked.describe());
}

#[test]
fn a_blob_changed_after_the_verification_is_never_committed() {
    const IMAGES: usize = 4;
    const LAYER: usize = 12 << 20;
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("big");
    big_layout(&layout, IMAGES, LAYER);
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let last = index["manifests"][IMAGES - 1]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&last)).unwrap()).unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_string();
    let layer_file = layout.join("blobs/sha256").join(layer.trim_start_matches("sha256:"));
    let to = format!("{}/toctou", reg.addr);
    let args = strings(&["import", &layout.to_string_lossy(), "--to", &to, "--tls-verify=false", "-j", "1"]);
    let import = std::thread::spawn(move || run(&args, &[], None).0);
    // the push starts only once every image is verified: the first bytes in the registry mean the
    // verification is over, and the last image's layer is then swapped for other bytes of its size
    let started = std::time::Instant::now();
    while stored_bytes(&reg.storage) == 0 {
        assert!(started.elapsed().as_secs() < 120, "the import did not get going");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut bytes = std::fs::read(&layer_file).unwrap();
    bytes[LAYER / 2] ^= 0x55;
    std::fs::write(&layer_file, &bytes).unwrap();
    let out = import.join().unwrap();
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.line_for(&format!("registry.airlock.test/big/image-{}:v1", IMAGES - 1)).unwrap();
    assert!(line.starts_with("FAIL ") && line.contains(&format!("corrupt: import to {to}/image-")), "{line}");
    assert!(line.contains(&format!("blob {layer} (read again to push it): digest mismatch")), "{line}");
    let path = format!("/v2/toctou/image-{}/blobs/{layer}", IMAGES - 1);
    assert_eq!(http(&reg.addr, "HEAD", &path, &[], b"").unwrap().status, 404, "the changed bytes are not committed");
    let tag = format!("/v2/toctou/image-{}/manifests/v1", IMAGES - 1);
    assert_eq!(http(&reg.addr, "GET", &tag, &[], b"").unwrap().status, 404);
}

#[test]
fn imports_over_tls_and_with_basic_and_token_auth() {
    for mode in [Mode::Tls, Mode::Basic, Mode::Token] {
        let reg = Registry::start(mode);
        let to = format!("{}/auth", reg.addr);
        let mut args = strings(&["import", "bundle/", "-p", "sigstore.pub", "--to", &to]);
        match &reg.cert_dir {
            Some(dir) => args.extend(strings(&["--cert-dir", &dir.to_string_lossy()])),
            None => args.push("--tls-verify=false".into()),
        }
        let anonymous = airlock_in_examples(&args);
        if mode != Mode::Tls {
            assert_eq!(
                anonymous.code,
                1,
                "{mode:?}: without credentials nothing can be pushed\n{}",
                anonymous.describe()
            );
            let line = anonymous.line_for("registry.airlock.test/airlock/single:v1").unwrap();
            assert!(line.contains("error: import to") && line.contains("401"), "{mode:?}: {line}");
            args.extend(strings(&["--creds", &reg.creds_arg()]));
        }
        let out = if mode == Mode::Tls { anonymous } else { airlock_in_examples(&args) };
        assert_eq!(out.code, 0, "{mode:?}\n{}", out.describe());
        assert!(
            out.line_for("registry.airlock.test/airlock/multi:v1")
                .unwrap()
                .contains(&format!("imported as {to}/multi:v1"))
        );
        if mode == Mode::Token {
            let scopes: Vec<String> =
                reg.token_requests().into_iter().filter(|t| t.authorized).flat_map(|t| t.scopes).collect();
            assert!(scopes.iter().any(|s| s == "repository:auth/multi:pull,push"), "{scopes:?}");
        }
    }
}

#[test]
fn a_blob_this_run_pushed_to_another_repository_is_mounted_not_sent_again() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("bundle");
    crate::common::copy_dir(&root().join(EXAMPLES).join("bundle"), &layout);
    // the same image under a second name, in another repository
    let mut index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array_mut().unwrap();
    let name =
        |m: &Value| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or_default().to_string();
    let mut copy = manifests.iter().find(|m| name(m).ends_with("/single:v1")).unwrap().clone();
    copy["annotations"]["org.opencontainers.image.ref.name"] = json!("registry.airlock.test/other/copy:v1");
    manifests.push(copy);
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let report = tmp.path().join("r.json");
    let to = format!("{}/m", reg.addr);
    let args = [
        "import",
        &layout.to_string_lossy(),
        "--to",
        &to,
        "--tls-verify=false",
        "-j",
        "1",
        "--report",
        &report.to_string_lossy(),
    ];
    let (out, _) = run(&args, &[], None);
    assert_eq!(out.code, 0, "{}", out.describe());
    let report = report_of(&report, &out);
    let pushed = |n: &str| {
        let r = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["reference"].as_str().unwrap().ends_with(n))
            .unwrap();
        r["pushed"].clone()
    };
    let (single, copy) = (pushed("/single:v1"), pushed("/copy:v1"));
    // single: config and layer, and its `.sig` manifest's config and payload; the copy: config and layer
    // (the layout keeps the `.sig` in single's repository only)
    assert_eq!(single["blobs_uploaded"], 4, "{single}");
    assert_eq!(copy["blobs_mounted"], 2, "mounted from m/single: {copy}");
    assert_eq!(copy["blobs_uploaded"], 0, "{copy}");
    let head = http(
        &reg.addr,
        "HEAD",
        "/v2/m/copy/manifests/v1",
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(head.unwrap().status, 200);
}

#[test]
fn signatures_the_site_added_under_a_sig_tag_are_kept() {
    let reg = Registry::start(Mode::Plain);
    let to = format!("{}/site", reg.addr);
    let import = strings(&["import", "bundle/", "-p", "sigstore.pub", "--to", &to, "--tls-verify=false"]);
    assert_eq!(airlock_in_examples(&import).code, 0);
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let single = http(&reg.addr, "GET", "/v2/site/single/manifests/v1", &[("Accept", oci)], b"").unwrap();
    let tag = format!("/v2/site/single/manifests/sha256-{}.sig", sha256_hex(&single.body));
    let ours: Value =
        serde_json::from_slice(&http(&reg.addr, "GET", &tag, &[("Accept", oci)], b"").unwrap().body).unwrap();
    // the site signs the image again: a `.sig` manifest whose only layer is its own signature
    let payload = br#"{"critical":{"identity":{"docker-reference":"site"},"image":{"docker-manifest-digest":"x"},"type":"cosign container image signature"},"optional":null}"#;
    let digest = format!("sha256:{}", sha256_hex(payload));
    let start = http(&reg.addr, "POST", "/v2/site/single/blobs/uploads/", &[], b"").unwrap();
    let location = start.header("location").unwrap().to_string();
    let put = format!("{location}{}digest={digest}", if location.contains('?') { '&' } else { '?' });
    let put = put.split_once(&reg.addr).map_or(put.clone(), |(_, p)| p.to_string());
    assert_eq!(http(&reg.addr, "PUT", &put, &[], payload).unwrap().status, 201);
    let site_layer = json!({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": digest,
        "size": payload.len(), "annotations": {"dev.cosignproject.cosign/signature": "c2l0ZQ=="}});
    let mut site = ours.clone();
    site["layers"] = json!([site_layer]);
    let put = http(&reg.addr, "PUT", &tag, &[("Content-Type", oci)], site.to_string().as_bytes()).unwrap();
    assert_eq!(put.status, 201, "{}", put.text());
    // importing again adds ours to the site's, instead of replacing them
    assert_eq!(airlock_in_examples(&import).code, 0);
    let merged: Value =
        serde_json::from_slice(&http(&reg.addr, "GET", &tag, &[("Accept", oci)], b"").unwrap().body).unwrap();
    let layers = merged["layers"].as_array().unwrap();
    assert_eq!(layers[0], site_layer, "the site's signature is kept: {merged}");
    assert_eq!(&layers[1..], ours["layers"].as_array().unwrap().as_slice(), "ours are added: {merged}");
}

#[test]
fn two_images_renamed_to_one_name_are_neither_imported() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("bundle");
    crate::common::copy_dir(&root().join(EXAMPLES).join("bundle"), &layout);
    // layers3 is also stored as other.test/elsewhere/single:v1: with --to REG/P both become REG/P/single:v1
    let mut index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array_mut().unwrap();
    let name =
        |m: &Value| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or_default().to_string();
    let mut other = manifests.iter().find(|m| name(m).ends_with("/layers3:v1")).unwrap().clone();
    other["annotations"]["org.opencontainers.image.ref.name"] = json!("other.test/elsewhere/single:v1");
    manifests.push(other);
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let to = format!("{}/p", reg.addr);
    let (out, _) = run(&["import", &layout.to_string_lossy(), "--to", &to, "--tls-verify=false"], &[], None);
    assert_eq!(out.code, 1, "{}", out.describe());
    for image in ["registry.airlock.test/airlock/single:v1", "other.test/elsewhere/single:v1"] {
        let line = out.line_for(image).unwrap();
        assert!(
            line.contains(&format!(
                "malformed: ambiguous: not imported: 2 different images would be imported as {to}/single:v1"
            )),
            "{line}"
        );
    }
    assert!(out.line_for("registry.airlock.test/airlock/layers3:v1").unwrap().contains("imported as"));
    let oci = "application/vnd.oci.image.manifest.v1+json";
    assert_eq!(http(&reg.addr, "GET", "/v2/p/single/manifests/v1", &[("Accept", oci)], b"").unwrap().status, 404);
}

#[test]
fn the_spool_is_bounded_private_and_gone_after_the_run() {
    let reg = Registry::start(Mode::Plain);
    let tmp = tempfile::tempdir().unwrap();
    let spool_parent = tmp.path().join("spool");
    std::fs::create_dir(&spool_parent).unwrap();
    let haul = root().join(EXAMPLES).join("haul.tar.zst");
    let key = root().join(EXAMPLES).join("sigstore.pub");
    let to = format!("{}/s", reg.addr);
    let base = strings(&["import", &haul.to_string_lossy(), "-p", &key.to_string_lossy(), "--to", &to]);
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(strings(&["--tls-verify=false", "--spool-dir", &spool_parent.to_string_lossy()]))
            .chain(strings(extra))
            .collect()
    };
    // a limit smaller than a layer: the images whose blobs did not fit are not imported, and say why
    let (small, _) = run(&with(&["--spool-max", "1K"]), &[], None);
    assert_eq!(small.code, 1, "{}", small.describe());
    let line = small.line_for("registry.airlock.test/airlock/multi:v1").unwrap();
    assert!(line.contains("not spooled: the spool limit of 1024 bytes was reached (raise --spool-max)"), "{line}");
    let (out, _) = run(&with(&[]), &[], None);
    assert_eq!(out.code, 0, "{}", out.describe());
    let left: Vec<_> = std::fs::read_dir(&spool_parent).unwrap().collect();
    assert!(left.is_empty(), "the spool folder is removed when the run ends: {left:?}");
    // the spool never goes inside a PATH being imported
    let bundle = tmp.path().join("bundle");
    crate::common::copy_dir(&root().join(EXAMPLES).join("bundle"), &bundle);
    let inside = strings(&[
        "import",
        &bundle.to_string_lossy(),
        "--to",
        &to,
        "--spool-dir",
        &bundle.join("blobs").to_string_lossy(),
    ]);
    let (refused, _) = run(&inside, &[], None);
    assert_eq!(refused.code, 2, "{}", refused.describe());
    assert!(refused.stderr.contains("a PATH being imported"), "{}", refused.stderr);
}
