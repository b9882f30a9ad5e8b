//! Every testdata layout gives the same per-image results as a directory, a tar, a tar.gz of its folder,
//! a tar.zst and a split tar.zst — archives made here with GNU tar, gzip, zstd and split — and bad
//! archives (truncated, corrupt frames, hostile entries) fail with a message naming the entry.

use crate::common::{airlock, root};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

fn sh(cmd: &str, dir: &Path) {
    let ok = Command::new("sh").arg("-c").arg(cmd).current_dir(dir).status().expect("sh").success();
    assert!(ok, "{cmd} failed");
}

/// (form, path) of each archive form of a layout.
type Forms = Vec<(String, PathBuf)>;

/// The archive forms of one layout: the directory, then a tar, a tar.gz of its folder, a tar.zst and a
/// split tar.zst. Each layout's are built once per test run, under the target's scratch folder; tests
/// that change an archive change a copy.
pub(crate) fn forms(layout: &Path) -> Forms {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Forms>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let _ = std::fs::remove_dir_all(forms_dir());
        std::fs::create_dir_all(forms_dir()).expect("the archive forms folder");
        Mutex::new(HashMap::new())
    });
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    built.entry(layout.to_path_buf()).or_insert_with(|| build_forms(layout, &forms_dir())).clone()
}

fn forms_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("archive-forms")
}

fn build_forms(layout: &Path, dir: &Path) -> Forms {
    let name = layout.file_name().unwrap().to_str().unwrap();
    let parent = layout.parent().unwrap().display().to_string();
    let l = layout.display();
    sh(&format!("tar -C {l} -cf {name}.tar ."), dir);
    sh(&format!("tar -C {parent} -cf - {name} | gzip -n > {name}.tar.gz"), dir);
    sh(&format!("tar -C {l} -cf - . | zstd -q -f -o {name}.tar.zst"), dir);
    sh(&format!("split -b 1500 -d -a 3 --numeric-suffixes=1 {name}.tar.zst {name}.haul.tar.zst."), dir);
    vec![
        ("dir".into(), layout.to_path_buf()),
        ("tar".into(), dir.join(format!("{name}.tar"))),
        ("tar.gz of the folder".into(), dir.join(format!("{name}.tar.gz"))),
        ("tar.zst".into(), dir.join(format!("{name}.tar.zst"))),
        ("split tar.zst".into(), dir.join(format!("{name}.haul.tar.zst.001"))),
    ]
}

/// Asserts that `archive` failed as damaged (exit 1): a damage record for it, of `kind`, whose message
/// has one of `needles`. (An image whose every blob was read before the cut still passes; the run fails.)
fn assert_archive_damage(out: &crate::common::Output, archive: &Path, kind: &str, needles: &[&str]) {
    let what = format!("{}: {}", archive.display(), out.describe());
    assert_eq!(out.code, 1, "{what}");
    let report = out.report();
    let path = archive.display().to_string();
    let damage = report["damage"].as_array().unwrap();
    let found = damage.iter().any(|d| {
        d["path"] == path.as_str()
            && d["kind"] == kind
            && needles.iter().any(|n| d["message"].as_str().unwrap_or_default().contains(n))
    });
    assert!(found, "expected {kind} damage with one of {needles:?}\n{what}");
    assert!(!out.stderr.contains("panicked"), "{what}");
}

/// Per-image results with the source's own path taken out.
fn results(path: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify-archive".to_string(), path.display().to_string(), "--report".into(), "-".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = airlock(&args);
    let report = out.report();
    let text = serde_json::json!([report["results"], report["damage"]])
        .to_string()
        .replace(&path.display().to_string(), "<source>");
    (out.code, serde_json::from_str(&text).unwrap())
}

#[test]
fn every_layout_gives_the_same_results_in_every_archive_form() {
    let mut layouts: Vec<PathBuf> =
        std::fs::read_dir(root().join("testdata/layouts")).unwrap().map(|e| e.unwrap().path()).collect();
    layouts.sort();
    let key = root().join("testdata/keys/p256.pub");
    let key = key.to_str().unwrap();
    let mut compared = 0;
    for layout in &layouts {
        let (code, want) = results(layout, &["-p", key]);
        for (form, path) in forms(layout).into_iter().skip(1) {
            let (got_code, got) = results(&path, &["-p", key]);
            assert_eq!((got_code, &got), (code, &want), "{} as {form} differs from the directory", layout.display());
            compared += 1;
        }
    }
    assert!(compared >= 4 * 20, "only {compared} comparisons");
    println!("{compared} archive forms agree with their directories");
}

#[test]
fn report_records_the_archive_sha256() {
    let forms = forms(&root().join("testdata/layouts/signed-p256"));
    let zst = &forms[3].1;
    let out = airlock(["verify-archive", zst.to_str().unwrap(), "--report", "-"]);
    let report: Value = out.report();
    let want = crate::common::sha256_hex(&std::fs::read(zst).unwrap());
    assert_eq!(report["source"]["sha256"][zst.to_str().unwrap()], want.as_str());
    let tar = &forms[1].1;
    let out = airlock(["verify-archive", tar.to_str().unwrap(), "--report", "-"]);
    let report: Value = out.report();
    let want = crate::common::sha256_hex(&std::fs::read(tar).unwrap());
    assert_eq!(report["source"]["sha256"][tar.to_str().unwrap()], want.as_str());
}

#[test]
fn a_haul_with_kind_annotations_and_an_extra_manifest_json() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    crate::common::copy_dir(&root().join("testdata/layouts/signed-multi-all"), &store);
    let index: Value = serde_json::from_slice(&std::fs::read(store.join("index.json")).unwrap()).unwrap();
    let mut index = index;
    for m in index["manifests"].as_array_mut().unwrap() {
        let name = m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().to_string();
        let (kind, ref_name) = match name.rsplit_once(':') {
            Some((_, tag)) if name.ends_with(".sig") => ("dev.hauler/sigs", format!("airlock/multi:{tag}")),
            _ => ("dev.hauler/imageIndex", "airlock/multi:v1".to_string()),
        };
        m["annotations"] = serde_json::json!({"kind": kind, "io.containerd.image.name": name,
            "org.opencontainers.image.ref.name": ref_name});
    }
    std::fs::write(store.join("index.json"), index.to_string()).unwrap();
    // hauler's manifest.json for `docker load`: one item per platform, named like the image
    let configs = platform_configs(&store);
    let item = |config: &str, tag: &str| {
        serde_json::json!({"Config": format!("blobs/sha256/{}", &config[7..]),
        "RepoTags": [tag], "Layers": []})
    };
    let name = "registry.airlock.test/airlock/multi:v1";
    let items: Vec<Value> = configs.iter().map(|c| item(c, name)).collect();
    let key = root().join("testdata/keys/p256.pub");
    let haul = |manifest_json: &Value| {
        std::fs::write(store.join("manifest.json"), manifest_json.to_string()).unwrap();
        sh("tar -C store -cf - . | zstd -q -f -o haul.tar.zst", tmp.path());
        let archive = tmp.path().join("haul.tar.zst");
        airlock(["verify-archive", archive.to_str().unwrap(), "-p", key.to_str().unwrap()])
    };
    let out = haul(&Value::Array(items.clone()));
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("PASS registry.airlock.test/airlock/multi:v1 (2 platforms"), "{}", out.describe());

    // `docker load` would load a name the layout does not verify
    let mut extra = items.clone();
    extra.push(item(&configs[0], "registry.airlock.test/airlock/evil:v1"));
    let evil = format!(
        "malformed: manifest.json: [{}]: `docker load` would load registry.airlock.test/airlock/evil:v1",
        items.len()
    );
    let out = haul(&Value::Array(extra));
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line("").expect("source damage").to_string();
    assert!(line.contains(&evil), "{line}");

    // or the image's own name with another config
    let other = "sha256:".to_string() + &"a".repeat(64);
    let out = haul(&Value::Array(vec![item(&other, name)]));
    assert_eq!(out.code, 1, "{}", out.describe());
    let line = out.damage_line("").expect("source damage").to_string();
    assert!(
        line.contains(&format!(
            "malformed: manifest.json: [0]: ambiguous: `docker load` would load {name} with config {other}"
        )),
        "{line}"
    );
}

/// The config digests of the platform manifests a layout's first entry lists.
fn platform_configs(layout: &Path) -> Vec<String> {
    let read = |digest: &str| -> Value {
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap()).unwrap()
    };
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let top = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| !m["annotations"]["io.containerd.image.name"].as_str().unwrap_or_default().ends_with(".sig"))
        .unwrap();
    let children = read(top["digest"].as_str().unwrap());
    children["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| read(c["digest"].as_str().unwrap())["config"]["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn split_parts_named_on_the_command_line_fold_into_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let forms = forms(&root().join("testdata/layouts/signed-multi-all"));
    let mut args = vec!["verify-archive".to_string()];
    // a copy of the parts: the test removes one
    let built = forms[4].1.display().to_string();
    let first = tmp.path().join(forms[4].1.file_name().unwrap());
    let mut n = 1;
    loop {
        let part = PathBuf::from(first.display().to_string().replace(".001", &format!(".{n:03}")));
        let Ok(_) = std::fs::copy(built.replace(".001", &format!(".{n:03}")), &part) else { break };
        args.push(part.display().to_string());
        n += 1;
    }
    assert!(n > 2, "the fixture should split into several parts");
    let out = airlock(&args);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("1 passed, 0 failed"), "{}", out.describe());
    // a missing middle part is a damaged stream, not a pass
    std::fs::remove_file(PathBuf::from(first.display().to_string().replace(".001", ".002"))).unwrap();
    let out = airlock(["verify-archive", first.to_str().unwrap(), "--report", "-"]);
    assert_archive_damage(&out, &first, "malformed", &["archive damaged after entry"]);
}

/// Where a tar's last entry data ends: GNU tar pads the file with zeros after the two-block end marker.
fn tar_data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).expect("a non-empty tar").div_ceil(512) * 512
}

fn expect_damaged(archive: &Path, needle: &str) {
    let out = airlock(["verify-archive", archive.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}: {}", archive.display(), out.describe());
    assert!(out.stdout.contains(needle), "{}: expected {needle:?}\n{}", archive.display(), out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
}

#[test]
fn truncated_archives_at_any_point_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let forms = forms(&root().join("testdata/layouts/signed-multi-all"));
    for (form, path) in &forms[1..4] {
        let bytes = std::fs::read(path).unwrap();
        // a cut inside the plain tar's end marker is a truncation too
        let data_end = if form == "tar" { tar_data_end(&bytes) } else { bytes.len() };
        let mut cuts = vec![100, 600, data_end / 3, data_end / 2, data_end * 9 / 10, data_end - 10];
        if form == "tar" {
            cuts.push(data_end + 700);
        }
        for cut in cuts {
            let t = tmp.path().join(format!("cut-{cut}-{}", path.file_name().unwrap().to_str().unwrap()));
            std::fs::write(&t, &bytes[..cut]).unwrap();
            let out = airlock(["verify-archive", t.to_str().unwrap(), "--report", "-"]);
            if form == "tar" && cut < 512 {
                // not even one tar header: nothing says it is an archive
                assert_eq!(out.code, 2, "{form} cut at {cut}: {}", out.describe());
                assert!(out.stderr.contains("not a recognised source"), "{}", out.describe());
                continue;
            }
            let needles = ["truncated", "damaged after", "end-of-archive marker is missing"];
            assert_archive_damage(&out, &t, "malformed", &needles);
        }
    }
}

#[test]
fn corrupt_compressed_frames_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let forms = forms(&root().join("testdata/layouts/signed-multi-all"));
    for (_, path) in &forms[2..4] {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        let bad = tmp.path().join(format!("bad-{}", path.file_name().unwrap().to_str().unwrap()));
        std::fs::write(&bad, bytes).unwrap();
        let out = airlock(["verify-archive", bad.to_str().unwrap(), "--report", "-"]);
        // zstd checks each frame's checksum; gzip's CRC comes last, so the tar header checksum notices first
        let needles = ["doesn't match checksum", "header checksum mismatch", "when getting cksum", "corrupt"];
        assert_archive_damage(&out, &bad, "malformed", &needles);
    }
}

#[test]
fn zstd_windows_beyond_the_limit_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = root().join("testdata/layouts/signed-p256");
    sh(&format!("tar -C {} -cf - . | zstd -q --zstd=wlog=28 -o wide.tar.zst", layout.display()), tmp.path());
    let wide = tmp.path().join("wide.tar.zst");
    expect_damaged(&wide, "--zstd-window-log-max");
    let out = airlock(["verify-archive", wide.to_str().unwrap(), "--zstd-window-log-max", "28"]);
    assert_eq!(out.code, 0, "{}", out.describe());
}

/// Writes a tar with one hostile entry next to a valid layout, using Python's tarfile (GNU tar refuses
/// to create some of these).
fn hostile_tar(dir: &Path, name: &str, python: &str) -> PathBuf {
    let layout = root().join("testdata/layouts/signed-p256");
    let out = dir.join(name);
    let script = format!(
        "import tarfile, io, os\nt = tarfile.open({out:?}, 'w')\nt.add({layout:?}, arcname='.')\n{python}\nt.close()\n",
        out = out.display().to_string(),
        layout = layout.display().to_string()
    );
    let ok = Command::new("python3").arg("-c").arg(script).status().expect("python3").success();
    assert!(ok, "python failed for {name}");
    out
}

#[test]
fn hostile_entries_are_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let file = |n: &str, data: &str| {
        format!("i = tarfile.TarInfo({n:?}); b = {data:?}.encode(); i.size = len(b); t.addfile(i, io.BytesIO(b))")
    };
    let cases = [
        ("abs.tar", file("/etc/evil", "x"), "absolute entry name"),
        ("dotdot.tar", file("../evil", "x"), "\"..\""),
        (
            "symlink.tar",
            "i = tarfile.TarInfo('blobs/sha256/link'); i.type = tarfile.SYMTYPE; i.linkname = '/etc/passwd'; t.addfile(i)"
                .to_string(),
            "symbolic link",
        ),
        (
            "hardlink.tar",
            "i = tarfile.TarInfo('hard'); i.type = tarfile.LNKTYPE; i.linkname = 'index.json'; t.addfile(i)".to_string(),
            "hard link",
        ),
        (
            "device.tar",
            "i = tarfile.TarInfo('dev'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; t.addfile(i)".to_string(),
            "device file",
        ),
        ("dup.tar", file("./index.json", "{}"), "duplicate entry with different content"),
    ];
    for (name, python, needle) in cases {
        let tar = hostile_tar(d, name, &python);
        expect_damaged(&tar, needle);
        let zst = d.join(format!("{name}.zst"));
        sh(&format!("zstd -q {} -o {}", tar.display(), zst.display()), d);
        expect_damaged(&zst, needle);
    }
}

/// What a hangar zip must agree on with the directory: hangar stores no index and no signatures, so
/// per image the status, the failure kinds and the selected platform manifests.
fn essentials(results: &Value) -> Vec<(String, String, Vec<String>, Vec<String>)> {
    // results() gives [results, damage]: a hangar zip's damage is its own
    let mut out: Vec<_> = results[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut kinds: Vec<String> =
                r["errors"].as_array().unwrap().iter().map(|e| e["kind"].to_string()).collect();
            kinds.sort();
            kinds.dedup();
            let mut digests: Vec<String> = r["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| !p["platform"].is_null())
                .map(|p| p["digest"].to_string())
                .collect();
            digests.sort();
            (r["reference"].to_string(), r["status"].to_string(), kinds, digests)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_layout_gives_the_same_results_as_a_hangar_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut layouts: Vec<PathBuf> =
        std::fs::read_dir(root().join("testdata/layouts")).unwrap().map(|e| e.unwrap().path()).collect();
    layouts.sort();
    let mut compared = 0;
    for layout in &layouts {
        let zip = tmp.path().join(format!("{}.zip", layout.file_name().unwrap().to_str().unwrap()));
        let out = Command::new("python3")
            .arg(root().join("testdata/make_hangar_zips.py"))
            .args(["--from-layout", layout.to_str().unwrap(), zip.to_str().unwrap()])
            .output()
            .expect("python3");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if String::from_utf8_lossy(&out.stdout).trim() == "0" {
            continue; // no named image (cosign save): hangar would have nothing to save
        }
        let (_, want) = results(layout, &[]);
        let (_, got) = results(&zip, &[]);
        assert_eq!(essentials(&got), essentials(&want), "{} as a hangar zip differs", layout.display());
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} layouts compared");
    println!("{compared} layouts agree as hangar zips");
}

#[test]
fn archive_sha256_is_checked_in_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let forms = forms(&root().join("testdata/layouts/signed-p256"));
    for (_, archive) in &forms[1..4] {
        let a = archive.to_str().unwrap();
        let good = crate::common::sha256_hex(&std::fs::read(archive).unwrap());
        assert_eq!(airlock(["verify-archive", a, "--archive-sha256", &good]).code, 0);
        let sums = tmp.path().join("SHA256SUMS");
        let name = archive.file_name().unwrap().to_str().unwrap();
        std::fs::write(&sums, format!("{}  other.tar\n{good}  {name}\n", "0".repeat(64))).unwrap();
        let out = airlock(["verify-archive", a, "--archive-sha256", sums.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{}", out.describe());
        let out = airlock(["verify-archive", a, "--archive-sha256", &"ab".repeat(32)]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(out.stdout.contains("archive SHA-256 is"), "{}", out.describe());
        let out = airlock(["verify-archive", a, "--archive-sha256", &"ab".repeat(32), "--report", "-"]);
        let damage = &out.report()["damage"][0];
        assert_eq!(damage["kind"], "corrupt", "{}", out.describe());
        let (expected, actual) = (format!("sha256:{}", "ab".repeat(32)), format!("sha256:{good}"));
        assert_eq!(damage["mismatch"], serde_json::json!({"field": "digest", "expected": expected, "actual": actual}));
    }
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "--archive-sha256", &"ab".repeat(32)]);
    assert_eq!(out.code, 2, "{}", out.describe());
}

/// `--archive-signature`: cosign `sign-blob` signatures (plain and bundle, made by cosign 2.5, see
/// testdata/make_signed_archive.sh) over the archive, checked against the SHA-256 of the same pass.
#[test]
fn archive_signatures_from_cosign_sign_blob() {
    let archive = "testdata/archives/oci/signed-p256.tar.zst";
    for sig in [".sig", ".bundle"] {
        let sig = format!("{archive}{sig}");
        let out = airlock(["verify-archive", archive, "-p", "testdata/keys/p256.pub", "--archive-signature", &sig]);
        assert_eq!(out.code, 0, "{}", out.describe());
        assert!(out.stderr.contains("archive signature verified"), "{}", out.describe());
        let out = airlock(["verify-archive", archive, "-p", "testdata/keys/other.pub", "--archive-signature", &sig]);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(out.stdout.contains("bad-signature: archive signature:"), "{}", out.describe());
    }
    // a different archive (same layout, tarred again) must not verify
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other.tar.zst");
    sh(
        &format!(
            "tar -C {} -cf - . | zstd -q -o {}",
            root().join("testdata/layouts/signed-p256").display(),
            other.display()
        ),
        tmp.path(),
    );
    let out = airlock([
        "verify-archive",
        other.to_str().unwrap(),
        "-p",
        "testdata/keys/p256.pub",
        "--archive-signature",
        &format!("{archive}.sig"),
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stdout.contains("bad-signature: archive signature:"), "{}", out.describe());
    let out = airlock([
        "verify-archive",
        other.to_str().unwrap(),
        "-p",
        "testdata/keys/p256.pub",
        "--archive-signature",
        &format!("{archive}.bundle"),
    ]);
    assert!(
        out.stdout.contains("bad-signature: archive signature: provided artifact digest sha256:"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("does not match the bundle"), "{}", out.describe());
    let out = airlock(["verify-archive", archive, "--archive-signature", &format!("{archive}.sig")]);
    assert_eq!(out.code, 2, "no key: {}", out.describe());
}

/// A tar cut before its end-of-archive marker and then compressed whole is a complete zstd stream of
/// an incomplete tar: only the marker check notices that entries may be missing.
#[test]
fn a_cleanly_compressed_truncated_tar_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let forms = forms(&root().join("testdata/layouts/signed-multi-all"));
    let bytes = std::fs::read(&forms[1].1).unwrap();
    let cut = tmp.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..tar_data_end(&bytes)]).unwrap();
    sh("zstd -q cut.tar -o cut.tar.zst", tmp.path());
    expect_damaged(&tmp.path().join("cut.tar.zst"), "end-of-archive marker is missing");
    expect_damaged(&cut, "end-of-archive marker is missing");
}
