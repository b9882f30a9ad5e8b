//! Messages that teach (SPEC §7): each names what is wrong and the flag that fixes it, exactly once.

use crate::common::airlock;

/// A key file holding several PEM blocks is refused, not read as its first key; a missing key file names
/// its path and the OS reason once.
#[test]
fn key_files_hold_one_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let two = tmp.path().join("two.pub");
    let both =
        [std::fs::read("testdata/keys/other.pub").expect("key"), std::fs::read("testdata/keys/p256.pub").expect("key")];
    std::fs::write(&two, both.concat()).expect("write");
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", two.to_str().expect("utf8")]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(
        out.stderr.contains("holds 2 PEM blocks") && out.stderr.contains("give -p once per key"),
        "{}",
        out.describe()
    );
    let out = airlock(["verify-blob", "--bundle", "x.json", "--key", two.to_str().expect("utf8"), "sha256:00"]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("holds 2 PEM blocks"), "{}", out.describe());
    let out = airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", "/nonexistent/k.pub"]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert_eq!(out.stderr.matches("/nonexistent/k.pub").count(), 1, "the path once: {}", out.describe());
    assert_eq!(out.stderr.matches("(os error 2)").count(), 1, "the OS reason once: {}", out.describe());
}

/// An identity mismatch says, once per run, what the signature names and the two flags that accept it; each
/// suggested flag, run as given, makes the image pass.
#[test]
fn identity_mismatch_names_the_flags_that_accept_it() {
    let base = ["verify-archive", "testdata/layouts/copied-repo", "-p", "testdata/keys/p256.pub"];
    let out = airlock(base);
    assert_eq!(out.code, 1, "{}", out.describe());
    let notes: Vec<&str> = out.stderr.lines().filter(|l| l.contains("is signed for")).collect();
    assert_eq!(notes.len(), 1, "once per run: {}", out.describe());
    let note = notes[0];
    assert!(note.contains("is signed for registry.airlock.test/airlock/single:v1"), "{note}");
    let flag = |name: &str| {
        let at = note.find(name).unwrap_or_else(|| panic!("{name} in {note}")) + name.len() + 1;
        note[at..].split([' ', ',']).next().expect("value").to_string()
    };
    for (name, value) in
        [("--exact-repository", flag("--exact-repository")), ("--signed-identity", flag("--signed-identity"))]
    {
        let followed = airlock(base.iter().map(|s| s.to_string()).chain([name.to_string(), value.clone()]));
        assert_eq!(followed.code, 0, "{name} {value}: {}", followed.describe());
        assert!(!followed.stderr.contains("is signed for"), "no advice once it passes: {}", followed.describe());
    }
    // a pass gives no advice
    let ok = airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", "testdata/keys/p256.pub"]);
    assert!(!ok.stderr.contains("is signed for"), "{}", ok.describe());
}

/// A PATH that is another input of the command line says which flag takes it: a registry reference points to
/// `validate`/`list`, a key file to `-p`, an image list to `-f`; anything else gets no guess.
#[test]
fn misplaced_inputs_point_to_their_flag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let list = tmp.path().join("images.txt");
    std::fs::write(&list, "registry.example/app:v1\n# a comment\nnginx:1.27\n").expect("write");
    let other = tmp.path().join("notes.txt");
    std::fs::write(&other, "[section]\nnot a list\n").expect("write");
    let cases = [
        ("docker://reg.example/app:v1", "airlock validate -f LIST --registry HOST"),
        ("testdata/keys/p256.pub", "give a public key with -p FILE"),
        (list.to_str().expect("utf8"), "give it with -f FILE"),
    ];
    for (path, hint) in cases {
        let out = airlock(["verify-archive", path, "-p", "testdata/keys/p256.pub"]);
        assert_eq!(out.code, 2, "{path}: {}", out.describe());
        assert!(out.stderr.contains(hint), "{path}: want {hint:?}: {}", out.describe());
    }
    let out = airlock(["verify-archive", other.to_str().expect("utf8")]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(
        out.stderr.contains("not a recognised source") && !out.stderr.contains("it looks like"),
        "{}",
        out.describe()
    );
}

/// Split archives: a missing middle or last part is named, and a later part given alone names the first.
#[test]
fn split_archive_mistakes_name_the_part() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let forms = crate::archives::forms(&crate::common::root().join("testdata/layouts/signed-multi-all"));
    let first = forms.iter().find(|(f, _)| f.contains("split")).map(|(_, p)| p.clone()).expect("a split form");
    let stem = first.to_str().expect("utf8").strip_suffix(".001").expect(".001").to_string();
    let parts: Vec<String> =
        (1..).map(|n| format!("{stem}.{n:03}")).take_while(|p| std::path::Path::new(p).exists()).collect();
    assert!(parts.len() >= 3, "{parts:?}");
    // copy all but the last part: the stream ends early, and the part after the last one read is named
    let name = |n: usize| tmp.path().join(format!("bundle.tar.zst.{n:03}"));
    for (i, p) in parts.iter().enumerate().take(parts.len() - 1) {
        std::fs::copy(p, name(i + 1)).expect("copy");
    }
    let out = airlock(["verify-archive", name(1).to_str().expect("utf8"), "-p", "testdata/keys/p256.pub"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let missing = name(parts.len()).display().to_string();
    assert!(out.stdout.contains(&format!("{missing} is not there: is a part missing?")), "{}", out.describe());
    // a later part alone
    std::fs::remove_file(name(1)).expect("remove");
    let out = airlock(["verify-archive", name(2).to_str().expect("utf8"), "-p", "testdata/keys/p256.pub"]);
    assert_eq!(out.code, 2, "{}", out.describe());
    let want = format!("whose first part {} is not there", name(1).display());
    assert!(out.stderr.contains(&want), "{}", out.describe());
}

/// `--archive-sha256 SUMS` takes the line that names the archive; a file whose only line names another
/// file is an error (exit 2), never that file's hash; a bare hash file is about the archive.
#[test]
fn checksum_files_are_matched_by_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let archive = "testdata/archives/oci/signed-p256.tar.zst";
    let hex = crate::common::sha256_hex(&std::fs::read(archive).expect("archive"));
    let write = |name: &str, text: String| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let other = write("other.sums", format!("{hex}  other.tar.zst\n"));
    let out = airlock(["verify-archive", archive, "--archive-sha256", &other]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("no line for signed-p256.tar.zst"), "{}", out.describe());
    let named = write("SHA256SUMS", format!("{}  other.tar.zst\n{hex}  signed-p256.tar.zst\n", "0".repeat(64)));
    let bare = write("bare.sha256", format!("{hex}\n"));
    for sums in [named, bare] {
        let out = airlock(["verify-archive", archive, "--archive-sha256", &sums]);
        assert_eq!(out.code, 0, "{sums}: {}", out.describe());
    }
}

/// With several PATHs each line names the PATH its image came from; with one PATH it is not repeated.
#[test]
fn several_paths_name_their_path() {
    let key = "testdata/keys/p256.pub";
    let out =
        airlock(["verify-archive", "testdata/layouts/signed-p256", "testdata/layouts/multi-corrupt-arm64", "-p", key]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let single = out.line_for("registry.airlock.test/airlock/single:v1").expect("single");
    assert!(
        single.starts_with("PASS registry.airlock.test/airlock/single:v1 [testdata/layouts/signed-p256] ("),
        "{single}"
    );
    let multi = out.line_for("registry.airlock.test/airlock/multi:v1").expect("multi");
    assert!(
        multi
            .starts_with("FAIL registry.airlock.test/airlock/multi:v1 [testdata/layouts/multi-corrupt-arm64]: corrupt"),
        "{multi}"
    );
    let one = airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", key]);
    assert!(!one.stdout.contains('['), "{}", one.describe());
}

/// Scale-out: 4 shards of a 3-image run verify each image exactly once, their union is the whole run, and the
/// shard with nothing to do exits 0 and says so (more pods than images must not fail the Job).
#[test]
fn four_shards_cover_the_run_and_an_empty_shard_passes() {
    let mut base: Vec<String> = ["verify-archive", "testdata/layouts/signed-p256", "testdata/layouts/signed-multi-all"]
        .map(String::from)
        .to_vec();
    base.extend(["testdata/layouts/signed-layers3", "-p", "testdata/keys/p256.pub"].map(String::from));
    let lines = |out: &crate::common::Output| -> Vec<String> {
        out.stdout.lines().filter(|l| l.starts_with("PASS ") || l.starts_with("FAIL ")).map(String::from).collect()
    };
    let whole = airlock(&base);
    assert_eq!(whole.code, 0, "{}", whole.describe());
    let mut union = Vec::new();
    let mut empty = 0;
    for k in 1..=4 {
        let out = airlock(base.iter().cloned().chain(["--shard".to_string(), format!("{k}/4")]));
        assert_eq!(out.code, 0, "shard {k}/4: {}", out.describe());
        if lines(&out).is_empty() {
            empty += 1;
            assert!(out.stderr.contains(&format!("nothing to verify in shard {k}/4")), "{}", out.describe());
            assert!(!out.stdout.contains("nothing verified"), "{}", out.describe());
        }
        union.extend(lines(&out));
    }
    let mut all = lines(&whole);
    all.sort();
    union.sort();
    assert_eq!(union, all, "the shards' union is the whole run, each image once");
    assert_eq!(empty, 1, "3 images over 4 shards leave one shard empty");
}

/// `airlock report merge`: the 4 shards' reports of a 3-image run join into one record with the whole run's
/// results and summary (valid against the schema); a missing shard, a shard twice and a shard of another run
/// (other keys) are refused.
#[test]
fn shard_reports_merge_into_the_whole_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = [
        "verify-archive",
        "testdata/layouts/signed-p256",
        "testdata/layouts/signed-multi-all",
        "testdata/layouts/signed-layers3",
    ];
    let run = |extra: &[&str], name: &str| -> String {
        let report = tmp.path().join(name).display().to_string();
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).chain(["--report", &report]).collect();
        let out = airlock(&args);
        assert_eq!(out.code, 0, "{}", out.describe());
        report
    };
    let whole = run(&["-p", "testdata/keys/p256.pub"], "whole.json");
    let shards: Vec<String> = (1..=4)
        .map(|k| run(&["-p", "testdata/keys/p256.pub", "--shard", &format!("{k}/4")], &format!("r{k}.json")))
        .collect();
    let merged = tmp.path().join("all.json").display().to_string();
    let args: Vec<&str> =
        ["report", "merge"].into_iter().chain(shards.iter().map(String::as_str)).chain(["-o", &merged]).collect();
    let out = airlock(&args);
    assert_eq!(out.code, 0, "{}", out.describe());
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).expect("report")).expect("json")
    };
    let (merged, whole) = (read(&merged), read(&whole));
    crate::common::schema::check_report(&merged);
    let refs = |v: &serde_json::Value| -> Vec<String> {
        let mut r: Vec<String> =
            v["results"].as_array().expect("results").iter().map(|r| r["reference"].to_string()).collect();
        r.sort();
        r
    };
    assert_eq!(refs(&merged), refs(&whole));
    for field in ["images", "passed", "failed", "blobs", "bytes"] {
        assert_eq!(merged["summary"][field], whole["summary"][field], "summary.{field}");
    }
    let refused = |reports: &[&str], reason: &str| {
        let out = airlock(["report", "merge"].into_iter().chain(reports.iter().copied()).chain(["-o", "-"]));
        assert_eq!(out.code, 2, "{}", out.describe());
        assert!(out.stderr.contains(reason), "want {reason:?}: {}", out.describe());
    };
    refused(&[&shards[0], &shards[1], &shards[2]], "shard(s) 4/4 missing");
    refused(&[&shards[0], &shards[0], &shards[1], &shards[2], &shards[3]], "given twice");
    let other = run(&["-p", "testdata/keys/other.pub", "-p", "testdata/keys/p256.pub", "--shard", "4/4"], "other.json");
    refused(&[&shards[0], &shards[1], &shards[2], &other], "keys differs");
}

/// On a terminal (a real pty, made by util-linux `script`): a directory source and a plain tar show the
/// hashing bar (bytes of the blobs) and the images bar (`1/1 images`), the PASS line is printed above them,
/// and nothing of the bars reaches a pipe.
#[test]
fn progress_bars_on_a_terminal_and_not_on_a_pipe() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let layout = crate::common::root().join("testdata/layouts/signed-p256");
    let forms = crate::archives::forms(&layout);
    let tar = forms.iter().find(|(f, p)| f != "dir" && p.extension().is_some_and(|e| e == "tar")).expect("a plain tar");
    let bin = env!("CARGO_BIN_EXE_airlock");
    for (i, source) in [layout.clone(), tar.1.clone()].iter().enumerate() {
        let log = tmp.path().join(format!("tty{i}.log"));
        let command = format!("{bin} verify-archive {} -p testdata/keys/p256.pub", source.display());
        let status = std::process::Command::new("script")
            .args(["-qfec", &command, log.to_str().expect("utf8")])
            .current_dir(crate::common::root())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("script (util-linux) runs the command on a pty");
        assert!(status.success(), "{status:?}");
        let tty = String::from_utf8_lossy(&std::fs::read(&log).expect("the pty log")).into_owned();
        let what = source.display();
        assert!(tty.contains("hashing ") && tty.contains("/2.07 KiB"), "{what}: no hashing bar: {tty}");
        assert!(tty.contains("1/1 images"), "{what}: no images bar: {tty}");
        assert!(tty.contains("PASS registry.airlock.test/airlock/single:v1 (1 platform"), "{what}: {tty}");
    }
    let piped = airlock(["verify-archive", "testdata/layouts/signed-p256", "-p", "testdata/keys/p256.pub"]);
    assert!(!piped.stderr.contains("hashing") && !piped.stderr.contains("images, ETA"), "{}", piped.describe());
}
