//! Layout rules that need hand-made layouts: attestation manifests are not platforms, foreign layers
//! are not fetched, non-image artifacts are exempt from platform selection, hauler's `kind` annotations
//! decide what an entry is. Each layout is derived from a signed fixture in a temp dir.

use crate::common::{airlock, copy_fixture, sha256_hex};
use serde_json::{Value, json};
use std::path::Path;

const SINGLE_MANIFEST: &str = "2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";
const KEY: &str = "testdata/keys/p256.pub";

fn add_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256_hex(bytes);
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn single_manifest(layout: &Path) -> Value {
    read_json(&layout.join("blobs/sha256").join(SINGLE_MANIFEST))
}

/// Points the image entry (the one without `.sig`) at a new document.
fn set_image_entry(layout: &Path, media_type: &str, digest: &str, size: usize) {
    let mut index = read_json(&layout.join("index.json"));
    for m in index["manifests"].as_array_mut().unwrap() {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap_or_default().to_string();
        if !name.ends_with(".sig") {
            m["mediaType"] = json!(media_type);
            m["digest"] = json!(digest);
            m["size"] = json!(size);
        }
    }
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

const MISSING: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn attestation_manifests_are_not_platforms() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{SINGLE_MANIFEST}"), "size": 401,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": MISSING, "size": 100,
         "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}]});
    let (digest, size) = add_blob(&layout, index.to_string().as_bytes());
    set_image_entry(&layout, "application/vnd.oci.image.index.v1+json", &digest, size);
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "--arch", "amd64"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("(1 platform)"), "{}", out.describe());
}

#[test]
fn foreign_layers_are_reported_not_fetched() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let mut m = single_manifest(&layout);
    m["layers"].as_array_mut().unwrap().push(json!({
        "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "digest": MISSING, "size": 1234, "urls": ["https://example.invalid/layer"]}));
    let (digest, size) = add_blob(&layout, m.to_string().as_bytes());
    set_image_entry(&layout, "application/vnd.oci.image.manifest.v1+json", &digest, size);
    let out = airlock(["verify-archive", layout.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stderr.contains("foreign layer sha256:0000"), "{}", out.describe());
    // the same layer without urls is an ordinary layer, and missing
    m["layers"][1]["urls"] = Value::Null;
    m["layers"][1]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
    let bytes = serde_json::to_vec(&m).unwrap();
    let (digest, size) = add_blob(&layout, &bytes);
    set_image_entry(&layout, "application/vnd.oci.image.manifest.v1+json", &digest, size);
    let out = airlock(["verify-archive", layout.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains(": missing: "), "{}", out.describe());
}

#[test]
fn artifacts_are_integrity_checked_and_exempt_from_platforms() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let (config, config_size) = add_blob(&layout, b"{\"name\":\"chart\",\"version\":\"1.0.0\"}");
    let (layer, layer_size) = add_blob(&layout, b"chart bytes");
    let m = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer, "size": layer_size}]});
    let (digest, size) = add_blob(&layout, m.to_string().as_bytes());
    set_image_entry(&layout, "application/vnd.oci.image.manifest.v1+json", &digest, size);
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "--arch", "s390x", "--report", "-"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stderr.contains("(artifact"), "{}", out.describe());
    assert_eq!(out.report()["summary"]["artifacts"], 1, "{}", out.describe());
    // integrity still applies
    std::fs::write(layout.join("blobs/sha256").join(&layer[7..]), b"chart bytez").unwrap();
    let out = airlock(["verify-archive", layout.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains(": corrupt: "), "{}", out.describe());
}

/// A signature entry stored under the image's own plain `ref.name` (older hauler) is an image to skopeo,
/// which loads the first `ref.name` match: the name is bound to two digests, whatever `kind` says.
#[test]
fn a_plain_name_wins_over_kind_and_the_name_is_ambiguous() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let mut index = read_json(&layout.join("index.json"));
    let mut digests = Vec::new();
    for m in index["manifests"].as_array_mut().unwrap() {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
        let kind = if name.ends_with(".sig") { "dev.hauler/sigs" } else { "dev.hauler/image" };
        digests.push(m["digest"].as_str().unwrap().to_string());
        m["annotations"] = json!({"kind": kind, "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": "airlock/single:v1"});
    }
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "-p", KEY, "--report", "-"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let report: serde_json::Value = out.report();
    let image = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reference"] == "registry.airlock.test/airlock/single:v1")
        .expect("the image");
    assert_eq!(image["status"], "fail");
    let error = &image["errors"][0];
    assert_eq!(error["kind"], "malformed", "{}", out.describe());
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("ambiguous: docker.io/airlock/single:v1 is "), "{message}");
    for d in &digests {
        assert!(message.contains(d.as_str()), "{message} names {d}");
    }
}

/// hauler's `kind` annotations, with signature entries that carry only attachment names, decide what an
/// entry is; a list line with another registry matches the registry-less `ref.name` by path and tag.
#[test]
fn hauler_signature_entries_with_attachment_names_are_signatures() {
    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let mut index = read_json(&layout.join("index.json"));
    for m in index["manifests"].as_array_mut().unwrap() {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
        let (kind, ref_name) = match name.rsplit_once(':') {
            Some((_, tag)) if name.ends_with(".sig") => ("dev.hauler/sigs", format!("airlock/single:{tag}")),
            _ => ("dev.hauler/image", "airlock/single:v1".to_string()),
        };
        m["annotations"] = json!({"kind": kind, "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": ref_name});
    }
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("PASS registry.airlock.test/airlock/single:v1"), "{}", out.describe());
    assert!(out.stdout.contains("1 passed, 0 failed"), "{}", out.describe());
    // a list line with another registry matches the registry-less ref.name by path and tag
    let list = layout.parent().unwrap().join("images.txt");
    std::fs::write(&list, "mirror.example/airlock/single:v1\n").unwrap();
    let mut stripped = index.clone();
    for m in stripped["manifests"].as_array_mut().unwrap() {
        m["annotations"].as_object_mut().unwrap().remove("io.containerd.image.name");
    }
    std::fs::write(layout.join("index.json"), stripped.to_string()).unwrap();
    let out = airlock(["verify-archive", layout.to_str().unwrap(), "-f", list.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("PASS mirror.example/airlock/single:v1"), "{}", out.describe());
}
