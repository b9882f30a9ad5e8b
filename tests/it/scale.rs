//! Bundles at scale (SPEC §8): a layout of 20 000 images, whose `index.json` is over the 4 MiB manifest
//! limit (a bundle's own table of contents may be 256 MiB / 1 000 000 entries), verifies as a directory and
//! as a tar.zst stream and as a hangar zip, with and without a list naming every image. The images are tiny and unsigned to
//! keep the test fast (they share one config and one layer; each manifest is its own); the signed scale
//! runs are in `make bench` (bench/scale.sh).

use crate::common::{airlock, sha256_hex};
use serde_json::json;
use std::path::Path;

const IMAGES: usize = 20_000;

/// Writes the layout; returns the size of its `index.json`.
fn write_layout(root: &Path) -> usize {
    let blobs = root.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (layer, layer_size) = put(b"not a real layer, but a blob with a digest");
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
    let (config, config_size) = put(config.to_string().as_bytes());
    let mut manifests = Vec::with_capacity(IMAGES);
    for k in 0..IMAGES {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}],
            "annotations": {"org.opencontainers.image.title": format!("image {k}")},
        });
        let (digest, size) = put(manifest.to_string().as_bytes());
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": name(k), "org.example.padding": "x".repeat(64)},
        }));
    }
    let index = json!({"schemaVersion": 2, "manifests": manifests}).to_string();
    std::fs::write(root.join("index.json"), &index).unwrap();
    std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    index.len()
}

fn name(k: usize) -> String {
    format!("registry.scale.test/platform/mirror/image-{k:05}:v1")
}

fn assert_all_pass(out: &crate::common::Output, what: &str) {
    let summary = format!("{IMAGES} passed, 0 failed, signatures not checked");
    assert_eq!(out.code, 0, "{what}: {}", out.stderr);
    assert!(out.stdout.contains(&summary), "{what}: {}", out.stdout.lines().last().unwrap_or_default());
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("PASS ")).count(), IMAGES, "{what}");
}

#[test]
fn twenty_thousand_images_as_a_directory_and_a_tar_zst() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let index_size = write_layout(&layout);
    assert!(index_size > 4 << 20, "index.json is {index_size} bytes: not over the manifest limit");
    let list = tmp.path().join("images.txt");
    std::fs::write(&list, (0..IMAGES).rev().map(|k| name(k) + "\n").collect::<String>()).unwrap();
    let dir = layout.to_str().unwrap();
    assert_all_pass(&airlock(["verify-archive", dir]), "directory");
    assert_all_pass(&airlock(["verify-archive", dir, "-f", list.to_str().unwrap()]), "directory with a list");

    let bundle = tmp.path().join("bundle.tar.zst");
    let tar = format!("tar -C {dir} -cf - . | zstd -q -1 -o {}", bundle.display());
    assert!(std::process::Command::new("sh").args(["-c", &tar]).status().unwrap().success());
    let out = airlock(["verify-archive", bundle.to_str().unwrap(), "-f", list.to_str().unwrap()]);
    assert_all_pass(&out, "tar.zst with a list");
    // list order is kept: the first line printed is the list's first line
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("PASS {} ", name(IMAGES - 1))), "{first}");

    // the same images as a hangar save zip, whose own index.json is over 4 MiB too
    let zip = tmp.path().join("saved.zip");
    let script = crate::common::root().join("testdata/make_hangar_zips.py");
    let made = std::process::Command::new("python3").arg(script).args(["--from-layout", dir]).arg(&zip).output();
    assert!(made.unwrap().status.success(), "make_hangar_zips.py");
    assert_all_pass(&airlock(["verify-archive", zip.to_str().unwrap()]), "hangar zip");
}
