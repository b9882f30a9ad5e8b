//! hangar `save` zips: the committed archives (testdata/make_hangar_zips.py), signatures carried beside
//! them, and hostile or damaged zips written here entry by entry.

use crate::common::{Output, airlock, root, sha256_hex};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

const SAVED: &str = "testdata/archives/hangar/saved-images.zip";
const KEY: &str = "testdata/keys/p256.pub";
const MULTI: &str = "registry.airlock.test/airlock/multi:v1";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const LAYERS3: &str = "registry.airlock.test/airlock/layers3:v1";
const LAYOUTS: [&str; 3] =
    ["testdata/layouts/signed-multi-all", "testdata/layouts/signed-p256", "testdata/layouts/signed-layers3"];
/// signed-p256's manifest and its one layer.
const SINGLE_MANIFEST: &str = "2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";
const SINGLE_LAYER: &str = "dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8";
/// signed-layers3's second layer.
const LAYERS3_LAYER: &str = "0a81da1e9342292ec9de7c3f2500e13d1411891c501d87653873f05eedc54f66";

/// One zip entry as these tests write it: its content and the header fields a hostile zip can fake.
#[derive(Clone)]
struct Member {
    name: String,
    data: Vec<u8>,
    deflate: bool,
    /// Flag bit 3, as Go's writer sets it: sizes and CRC after the data, zero in the local header.
    descriptor: bool,
    unix_mode: Option<u32>,
    local_name: Option<String>,
    local_method: Option<u16>,
    local_size: Option<u32>,
    /// The uncompressed size the central directory claims (and, stored, the compressed size too).
    declared_size: Option<u32>,
}

impl Member {
    fn new(name: &str, data: &[u8]) -> Member {
        Member {
            name: name.to_string(),
            data: data.to_vec(),
            deflate: false,
            descriptor: true,
            unix_mode: None,
            local_name: None,
            local_method: None,
            local_size: None,
            declared_size: None,
        }
    }
}

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]) as usize
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

/// The entries of a committed fixture (classic end record, stored entries, no comment).
fn members_of(rel: &str) -> Vec<Member> {
    let z = std::fs::read(root().join(rel)).expect("fixture");
    let end = z.len() - 22;
    assert_eq!(&z[end..end + 4], b"PK\x05\x06");
    let mut p = le32(&z, end + 16);
    let mut out = Vec::new();
    for _ in 0..le16(&z, end + 10) {
        let (name_len, extra_len, comment_len) = (le16(&z, p + 28), le16(&z, p + 30), le16(&z, p + 32));
        let (size, offset) = (le32(&z, p + 20), le32(&z, p + 42));
        let name = String::from_utf8(z[p + 46..p + 46 + name_len].to_vec()).expect("name");
        let data_at = offset + 30 + le16(&z, offset + 26) + le16(&z, offset + 28);
        out.push(Member::new(&name, &z[data_at..data_at + size]));
        p += 46 + name_len + extra_len + comment_len;
    }
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// A zip of `members`, written the way Go's writer does, with each member's faked fields applied.
fn write_zip(members: &[Member]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    let put16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let put32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    for m in members {
        let data = if m.deflate {
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&m.data).expect("deflate");
            enc.finish().expect("deflate")
        } else {
            m.data.clone()
        };
        let method: u16 = if m.deflate { 8 } else { 0 };
        let crc = crc32(&m.data);
        let size = m.declared_size.unwrap_or(m.data.len() as u32);
        let compressed = if m.deflate { data.len() as u32 } else { size };
        let flags: u16 = if m.descriptor { 8 } else { 0 };
        let offset = out.len() as u32;
        let local_name = m.local_name.as_deref().unwrap_or(&m.name);
        let (l_crc, l_compressed, l_size) =
            if m.descriptor { (0, 0, 0) } else { (crc, compressed, m.local_size.unwrap_or(size)) };
        out.extend_from_slice(b"PK\x03\x04");
        for x in [20, flags, m.local_method.unwrap_or(method), 0, 0] {
            put16(&mut out, x);
        }
        for x in [l_crc, l_compressed, l_size] {
            put32(&mut out, x);
        }
        put16(&mut out, local_name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(local_name.as_bytes());
        out.extend_from_slice(&data);
        if m.descriptor {
            out.extend_from_slice(b"PK\x07\x08");
            for x in [crc, compressed, size] {
                put32(&mut out, x);
            }
        }
        central.extend_from_slice(b"PK\x01\x02");
        for x in [if m.unix_mode.is_some() { 0x0314 } else { 20 }, 20, flags, method, 0, 0] {
            put16(&mut central, x);
        }
        for x in [crc, compressed, size] {
            put32(&mut central, x);
        }
        for x in [m.name.len() as u16, 0, 0, 0, 0] {
            put16(&mut central, x);
        }
        put32(&mut central, m.unix_mode.unwrap_or(0) << 16);
        put32(&mut central, offset);
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    for x in [0, 0, members.len() as u16, members.len() as u16] {
        put16(&mut out, x);
    }
    put32(&mut out, central.len() as u32);
    put32(&mut out, cd_offset);
    put16(&mut out, 0);
    out
}

/// Writes `zip` into a fresh temp dir.
fn temp_zip(zip: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("saved-images.zip");
    std::fs::write(&path, zip).expect("write zip");
    (dir, path)
}

fn verify(path: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify-archive", path.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra);
    airlock(args)
}

fn member<'a>(members: &'a mut [Member], name: &str) -> &'a mut Member {
    members.iter_mut().find(|m| m.name == name).unwrap_or_else(|| panic!("no entry {name}"))
}

fn hangar_index(members: &[Member]) -> Value {
    let m = members.iter().find(|m| m.name == "index.json").expect("index.json");
    serde_json::from_slice(&m.data).expect("hangar index")
}

fn set_hangar_index(members: &mut [Member], index: &Value) {
    member(members, "index.json").data = serde_json::to_vec(index).expect("json");
}

fn assert_passes(out: &Output, reference: &str, detail: &str) {
    let line = out.line_for(reference).unwrap_or_default();
    assert!(line.starts_with("PASS") && line.contains(detail), "{reference}: want PASS ({detail})\n{}", out.describe());
}

fn assert_fails(out: &Output, reference: &str, detail: &str) {
    let line = out.line_for(reference).unwrap_or_default();
    assert!(
        line.starts_with("FAIL") && line.contains(detail),
        "{reference}: want FAIL with {detail:?}\n{}",
        out.describe()
    );
}

#[test]
fn saved_images_pass_with_their_platforms() {
    let out = airlock(["verify-archive", SAVED]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, MULTI, "(2 platforms)");
    assert_passes(&out, SINGLE, "(1 platform)");
    assert_passes(&out, LAYERS3, "(1 platform)");
    assert!(out.stdout.contains("3 passed, 0 failed, signatures not checked"), "{}", out.describe());
}

#[test]
fn with_a_key_every_image_is_unsigned_and_told_why() {
    let out = airlock(["verify-archive", SAVED, "-p", KEY]);
    assert_eq!(out.code, 1, "{}", out.describe());
    for reference in [MULTI, SINGLE, LAYERS3] {
        assert_fails(&out, reference, "unsigned: ");
        assert_fails(&out, reference, "hangar archives carry no signatures");
        assert_fails(&out, reference, "verify-archive saved-images.zip signatures/");
    }
}

#[test]
fn signatures_in_a_layout_beside_the_zip_are_used() {
    let out = airlock(["verify-archive", SAVED, LAYOUTS[0], "-p", KEY]);
    assert_passes(&out, MULTI, "(2 platforms, signed by testdata/keys/p256.pub)");
    assert_fails(&out, SINGLE, "unsigned: ");

    let out = airlock(["verify-archive", SAVED, LAYOUTS[0], LAYOUTS[1], LAYOUTS[2], "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, SINGLE, "signed by");
    assert_passes(&out, LAYERS3, "signed by");
}

#[test]
fn a_signatures_only_path_signs_the_zip_images() {
    // One layout holding nothing but the three images' .sig manifests: `signatures/`.
    let dir = tempfile::tempdir().unwrap();
    let sigs = dir.path().join("signatures");
    let mut manifests = Vec::new();
    for layout in LAYOUTS {
        crate::common::copy_dir(&root().join(layout).join("blobs"), &sigs.join("blobs"));
        let index: Value =
            serde_json::from_slice(&std::fs::read(root().join(layout).join("index.json")).unwrap()).unwrap();
        for m in index["manifests"].as_array().unwrap() {
            if m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().ends_with(".sig") {
                manifests.push(m.clone());
            }
        }
    }
    std::fs::write(sigs.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(sigs.join("index.json"), json!({"schemaVersion": 2, "manifests": manifests}).to_string()).unwrap();
    let out = airlock(["verify-archive", SAVED, sigs.to_str().unwrap(), "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, MULTI, "(2 platforms, signed by");
    assert!(out.stdout.contains("3 passed, 0 failed"), "{}", out.describe());
}

#[test]
fn the_report_records_the_zip_sha256() {
    let out = airlock(["verify-archive", SAVED, "--report", "-"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let v: Value = out.report();
    assert_eq!(v["source"]["sha256"][SAVED], sha256_hex(&std::fs::read(root().join(SAVED)).unwrap()), "{}", out.stdout);
    assert_eq!(v["summary"]["passed"], 3);
}

#[test]
fn a_list_line_not_in_the_archive_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{MULTI}\nregistry.airlock.test/airlock/absent:v1\n{SINGLE}\n")).unwrap();
    let out = airlock(["verify-archive", SAVED, "-f", list.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_fails(&out, "registry.airlock.test/airlock/absent:v1", ": missing: ");
    assert_passes(&out, MULTI, "(2 platforms)");
    assert_passes(&out, SINGLE, "(1 platform)");
    assert!(out.line_for(LAYERS3).is_none(), "only the list is verified\n{}", out.describe());
}

#[test]
fn a_corrupt_layer_byte_is_corrupt() {
    let mut zip = std::fs::read(root().join(SAVED)).unwrap();
    let layer = std::fs::read(root().join(LAYOUTS[2]).join("blobs/sha256").join(LAYERS3_LAYER)).unwrap();
    let at = zip.windows(layer.len()).position(|w| w == layer).expect("layer stored as is") + layer.len() / 2;
    zip[at] ^= 0x01;
    let (_dir, path) = temp_zip(&zip);
    let out = verify(&path, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_fails(&out, LAYERS3, &format!("corrupt: layer sha256:{LAYERS3_LAYER}"));
    assert_passes(&out, MULTI, "(2 platforms)");
}

#[test]
fn zip64_and_old_directory_entries_give_the_same_results() {
    let sigs = [LAYOUTS[0], LAYOUTS[1], LAYOUTS[2], "-p", KEY];
    for extra in [&[][..], &sigs[..]] {
        // with several PATHs each line names its PATH: compare them with the zip's own path taken out
        let lines =
            |zip: &str, out: &crate::common::Output| out.stdout.replace(&root().join(zip).display().to_string(), "ZIP");
        let expected = verify(&root().join(SAVED), extra);
        for other in ["testdata/archives/hangar/zip64.zip", "testdata/archives/hangar/old-dirs.zip"] {
            let out = verify(&root().join(other), extra);
            assert_eq!(out.code, expected.code, "{other}\n{}", out.describe());
            assert_eq!(lines(other, &out), lines(SAVED, &expected), "{other}\n{}", out.describe());
        }
    }
}

#[test]
fn deflated_entries_verify_too() {
    let mut members = members_of(SAVED);
    for m in &mut members {
        m.deflate = true;
    }
    let (_dir, path) = temp_zip(&write_zip(&members));
    let out = verify(&path, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, MULTI, "(2 platforms)");
}

/// hangar decodes its index with Go's encoding/json: `List` is `list` to it.
#[test]
fn a_case_folded_hangar_index_is_malformed() {
    let mut members = members_of(SAVED);
    let index = hangar_index(&members);
    let text = index.to_string().replacen("\"list\":", "\"List\":[],\"list\":", 1);
    member(&mut members, "index.json").data = text.into_bytes();
    let (_dir, path) = temp_zip(&write_zip(&members));
    let out = verify(&path, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.damage_line("")
            .is_some_and(|l| l.contains("malformed: index.json: the top-level object: key \"List\" is \"list\" to Go")),
        "{}",
        out.describe()
    );
}

/// hangar's load keys its list by `source:tag` and keeps the last item (`sync` appends duplicates), and
/// nothing else reads a hangar zip: the last item is the image.
#[test]
fn the_last_item_of_a_name_wins() {
    let mut members = members_of(SAVED);
    let mut index = hangar_index(&members);
    let mut stale = index["list"][1].clone();
    stale["images"][0]["digest"] = json!(format!("sha256:{}", "0".repeat(64)));
    index["list"].as_array_mut().unwrap().insert(0, stale);
    set_hangar_index(&mut members, &index);
    let (_dir, path) = temp_zip(&write_zip(&members));
    let out = verify(&path, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, SINGLE, "(1 platform)");
    assert_eq!(out.stdout.matches(SINGLE).count(), 1, "{}", out.describe());
}

#[test]
fn a_helm_chart_is_an_artifact() {
    let mut members = members_of(SAVED);
    let config = br#"{"name":"demo","version":"0.1.0","apiVersion":"v2"}"#;
    let chart = b"not really a chart tarball";
    let desc =
        |t: &str, b: &[u8]| json!({"mediaType": t, "digest": format!("sha256:{}", sha256_hex(b)), "size": b.len()});
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.cncf.helm.config.v1+json", config),
        "layers": [desc("application/vnd.cncf.helm.chart.content.v1.tar+gzip", chart)],
    })
    .to_string();
    let hex = sha256_hex(manifest.as_bytes());
    let one = json!({"schemaVersion": 2, "manifests": [desc("application/vnd.oci.image.manifest.v1+json", manifest.as_bytes())]});
    let at = members.len() - 1;
    for (name, data) in [
        (format!("{hex}/index.json"), one.to_string().into_bytes()),
        (format!("{hex}/oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        (format!("share/sha256/{hex}"), manifest.clone().into_bytes()),
        (format!("share/sha256/{}", sha256_hex(config)), config.to_vec()),
        (format!("share/sha256/{}", sha256_hex(chart)), chart.to_vec()),
    ] {
        members.insert(at, Member::new(&name, &data));
    }
    let mut index = hangar_index(&members);
    index["list"].as_array_mut().unwrap().push(json!({
        "source": "docker.io/hangar-helm/demo", "tag": "0.1.0",
        "images": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "layers": [format!("sha256:{}", sha256_hex(chart))],
                    "config": format!("sha256:{}", sha256_hex(config)), "digest": format!("sha256:{hex}")}],
    }));
    set_hangar_index(&mut members, &index);
    let (_dir, path) = temp_zip(&write_zip(&members));
    let out = verify(&path, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_passes(&out, "docker.io/hangar-helm/demo:0.1.0", "(artifact)");
}

#[test]
fn a_zip_that_is_not_a_hangar_archive_is_not_a_source() {
    for members in [vec![Member::new("hello.txt", b"hello")], vec![]] {
        let (_dir, path) = temp_zip(&write_zip(&members));
        let out = verify(&path, &[]);
        assert_eq!(out.code, 2, "{}", out.describe());
        assert!(out.stderr.contains("not a recognised source"), "{}", out.describe());
    }
}

/// A damaged or hostile variant of saved-images.zip, and what its message must say.
struct Case {
    what: &'static str,
    zip: Vec<u8>,
    says: String,
}

fn variant(what: &'static str, says: &str, change: impl FnOnce(&mut Vec<Member>)) -> Case {
    let mut members = members_of(SAVED);
    change(&mut members);
    Case { what, zip: write_zip(&members), says: says.to_string() }
}

fn bad_zips() -> Vec<Case> {
    let saved = std::fs::read(root().join(SAVED)).unwrap();
    let single_blob = format!("share/sha256/{SINGLE_MANIFEST}");
    let layer_blob = format!("share/sha256/{SINGLE_LAYER}");
    let other_blob = format!("share/sha256/{LAYERS3_LAYER}");
    vec![
        Case {
            what: "truncated",
            zip: saved[..saved.len() - 200].to_vec(),
            says: "no end-of-central-directory record".into(),
        },
        Case { what: "cut in half", zip: saved[..saved.len() / 2].to_vec(), says: "truncated".into() },
        variant("duplicate blob", &format!("{layer_blob}: stored 2 times"), |m| {
            m.insert(1, Member::new(&layer_blob, b"other content"));
        }),
        variant("duplicate index.json", "index.json: stored 2 times", |m| {
            m.insert(0, Member::new("index.json", br#"{"version":"v1.2.0"}"#));
        }),
        variant("local name differs", &format!("{layer_blob}: the local header names it"), |m| {
            member(m, &layer_blob).local_name = Some(other_blob.clone());
        }),
        variant("local method differs", &format!("{layer_blob}: the local header says compression method 8"), |m| {
            member(m, &layer_blob).local_method = Some(8);
        }),
        variant("local size differs", &format!("{layer_blob}: the local header says"), |m| {
            let e = member(m, &layer_blob);
            e.descriptor = false;
            e.local_size = Some(e.data.len() as u32 + 1);
        }),
        variant("parent component", r#""../escape": unsafe entry name"#, |m| {
            m.insert(0, Member::new("../escape", b"x"))
        }),
        variant("absolute name", r#""/etc/cron.d/x": unsafe entry name"#, |m| {
            m.insert(0, Member::new("/etc/cron.d/x", b"x"))
        }),
        variant("symlink", &format!("{layer_blob}: a symbolic link"), |m| {
            member(m, &layer_blob).unix_mode = Some(0o120777);
        }),
        variant("data past the end", &format!("{layer_blob}: its 1073741824 bytes of data would run past"), |m| {
            member(m, &layer_blob).declared_size = Some(1 << 30);
        }),
        variant(
            "inflates past its size",
            &format!("corrupt: layer sha256:{SINGLE_LAYER}: {layer_blob}: size mismatch"),
            |m| {
                let e = member(m, &layer_blob);
                e.deflate = true;
                e.declared_size = Some(e.data.len() as u32);
                e.data.extend_from_slice(b"more than the central directory declares");
            },
        ),
        variant("index version v1.1.0", r#"hangar archive index version "v1.1.0" is not supported"#, |m| {
            let mut index = hangar_index(m);
            index["version"] = json!("v1.1.0");
            set_hangar_index(m, &index);
        }),
        variant("config differs from hangar's", "but hangar's index.json says sha256:0000", |m| {
            let mut index = hangar_index(m);
            index["list"][1]["images"][0]["config"] = json!(format!("sha256:{}", "0".repeat(64)));
            set_hangar_index(m, &index);
        }),
        variant("layer differs from hangar's", &format!("has layer 1 = sha256:{SINGLE_LAYER}"), |m| {
            let mut index = hangar_index(m);
            index["list"][1]["images"][0]["layers"] = json!([format!("sha256:{LAYERS3_LAYER}")]);
            set_hangar_index(m, &index);
        }),
        variant(
            "per-image index names another manifest",
            &format!("{SINGLE_MANIFEST}/index.json names sha256:1111"),
            |m| {
                let e = member(m, &format!("{SINGLE_MANIFEST}/index.json"));
                e.data =
                    String::from_utf8(e.data.clone()).unwrap().replace(SINGLE_MANIFEST, &"1".repeat(64)).into_bytes();
            },
        ),
        variant("per-image index missing", &format!("{SINGLE_MANIFEST}/index.json is missing"), |m| {
            m.retain(|e| e.name != format!("{SINGLE_MANIFEST}/index.json"));
        }),
        variant("manifest blob missing", &format!("{single_blob} is missing"), |m| m.retain(|e| e.name != single_blob)),
    ]
}

#[test]
fn bad_zips_fail_with_a_message_naming_the_entry() {
    for case in bad_zips() {
        let (_dir, path) = temp_zip(&case.zip);
        let out = verify(&path, &[]);
        assert_eq!(out.code, 1, "{}: exit status\n{}", case.what, out.describe());
        assert!(!out.stderr.contains("panicked"), "{}: panic\n{}", case.what, out.describe());
        assert!(out.stdout.contains(&case.says), "{}: want {:?}\n{}", case.what, case.says, out.describe());
    }
}
