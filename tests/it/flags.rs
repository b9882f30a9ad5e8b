//! Flags that never guess silently (issue 11): each misuse is a usage error (exit 2) that names the flag,
//! and each accepted spelling does what it says.

use crate::common::airlock;

const LAYOUT: &str = "testdata/layouts/signed-p256";
const KEY: &str = "testdata/keys/p256.pub";

/// Asserts a usage error (exit 2) whose stderr contains every needle.
fn assert_usage_error(out: &crate::common::Output, needles: &[&str]) {
    assert_eq!(out.code, 2, "{}", out.describe());
    for n in needles {
        assert!(out.stderr.contains(n), "stderr lacks {n:?}\n{}", out.describe());
    }
}

#[test]
fn report_format_comes_from_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    for (name, first) in [
        ("r.json", "{"),
        ("r.JSON", "{"),
        ("r.yaml", "\"tool\": \"airlock\""),
        ("r.yml", "\"tool\": \"airlock\""),
        ("r.csv", "image,arch,os,payload,digest,tlogVerify,mediaType"),
    ] {
        let path = dir.path().join(name);
        let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--report", path.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{name}\n{}", out.describe());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(first), "{name}: {text}");
        if name.ends_with(".csv") {
            assert!(!text.trim_start().starts_with('{'), "{name} holds JSON: {text}");
        }
    }
    // an explicit --format wins over the extension
    let path = dir.path().join("r.txt");
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--report", path.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(std::fs::read_to_string(&path).unwrap().starts_with("image,arch,os"));
    // `--report -` without --format is JSON
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--report", "-"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(out.report()["summary"]["passed"], 1);
}

#[test]
fn report_extension_that_names_no_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, needles) in [
        ("r.txt", &["--report", "\".txt\"", "--format"][..]),
        ("report", &["--report", "no extension", "--format"][..]),
    ] {
        let path = dir.path().join(name);
        let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--report", path.to_str().unwrap()]);
        assert_usage_error(&out, needles);
        assert!(!path.exists(), "{name} was written\n{}", out.describe());
        assert!(out.stdout.is_empty(), "work was done\n{}", out.describe());
    }
}

#[test]
fn format_without_report_is_an_error() {
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--format", "csv"]);
    assert_usage_error(&out, &["--format csv needs --report"]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let out = airlock(["validate", "-f", "/nonexistent-list", "-p", KEY, "--format", "yaml"]);
    assert_usage_error(&out, &["--format yaml needs --report"]);
}

#[test]
fn timeout_without_a_unit_is_an_error() {
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--timeout", "10"]);
    assert_usage_error(&out, &["--timeout", "give a unit: 10s, 10m"]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let out = airlock(["list", LAYOUT, "--timeout", "30"]);
    assert_usage_error(&out, &["--timeout", "give a unit: 30s, 30m"]);
    for t in ["10s", "10m", "1h"] {
        let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--timeout", t]);
        assert_eq!(out.code, 0, "--timeout {t}\n{}", out.describe());
    }
}

#[test]
fn reference_with_a_list_names_nothing() {
    const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("{SINGLE}\n")).unwrap();
    let list = list.to_str().unwrap();
    let out = airlock(["verify-archive", "testdata/dirs/single-signed", "-f", list, "-p", KEY, "--reference", SINGLE]);
    assert_usage_error(&out, &["--reference", "names nothing", "-f LIST"]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let source = ["validate", "--source", "testdata/dirs/single-signed", "-f", list, "-p", KEY];
    let out = airlock(source.iter().chain(&["--reference", SINGLE]));
    assert_usage_error(&out, &["--reference", "names nothing"]);
    // the one-line list names the unnamed image itself; --reference names it without a list
    assert_eq!(airlock(source).code, 0);
    let out = airlock(["verify-archive", "testdata/dirs/single-signed", "-p", KEY, "--reference", SINGLE]);
    assert_eq!(out.code, 0, "{}", out.describe());
}

/// Needs the check in `session::run` (the source must be open to know that every entry has a name).
#[test]
fn reference_when_every_image_is_named_names_nothing() {
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--reference", "example.com/other:v1"]);
    assert_usage_error(&out, &["--reference example.com/other:v1", "names nothing"]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
}

#[test]
fn debug_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, "registry.airlock.test/airlock/single:v1\n").unwrap();
    let (list, failed) = (list.to_str().unwrap(), dir.path().join("failed.txt"));
    let validate = ["sign", "validate", "--source", LAYOUT, "-f", list, "-p", KEY, "-o", failed.to_str().unwrap()];
    for args in [
        vec!["--debug", "verify-archive", LAYOUT, "-p", KEY],
        vec!["verify-archive", "--debug", LAYOUT, "-p", KEY],
        vec!["verify-archive", LAYOUT, "-p", KEY, "--debug"],
        [&["--debug"][..], &validate[..]].concat(),
        [&validate[..], &["--debug"][..]].concat(),
    ] {
        let out = airlock(&args);
        assert_eq!(out.code, 0, "{args:?}\n{}", out.describe());
        assert!(out.stderr.contains("airlock: debug: 1 image(s) to verify"), "{args:?}\n{}", out.describe());
    }
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(!out.stderr.contains("debug:"), "{}", out.describe());
}

/// Runs airlock (hermetic HOME, no auth files) with `input` on stdin.
fn airlock_stdin(args: &[&str], input: &str) -> crate::common::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .current_dir(crate::common::root())
        .env("HOME", home.path())
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DOCKER_CONFIG")
        .env("NO_PROXY", "*")
        .env("no_proxy", "*")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run airlock");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().expect("wait airlock");
    crate::common::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn creds_file_errors_never_echo_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, "127.0.0.1:9/airlock/single:v1\n").unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "airlock hunter2-secret\n").unwrap();
    let (list, creds) = (list.to_str().unwrap(), creds.to_str().unwrap());
    let base = ["validate", "-f", list, "-p", KEY, "--tls-verify=false"];
    let out = airlock(base.iter().chain(&["--creds-file", creds]));
    assert_usage_error(&out, &["--creds-file", "USER:PASSWORD"]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.describe());
    let out = airlock_stdin(&[&base[..], &["--creds-file", "-"]].concat(), "hunter2-secret\n");
    assert_usage_error(&out, &["--creds-file -", "USER:PASSWORD"]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.describe());
    let out = airlock(base.iter().chain(&["--creds", "hunter2-secret"]));
    assert_usage_error(&out, &["--creds", "USER:PASS"]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.describe());
    let out = airlock(["list", "docker://127.0.0.1:9/airlock/single:v1", "--creds-file", creds]);
    assert_usage_error(&out, &["--creds-file", "USER:PASSWORD"]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.describe());
    // --creds and --creds-file are one choice
    let out = airlock(base.iter().chain(&["--creds", "airlock:hunter2-secret", "--creds-file", creds]));
    assert_usage_error(&out, &["--creds", "--creds-file", "cannot be used with"]);
    assert!(!out.stderr.contains("hunter2"), "{}", out.describe());
    let out = airlock(base.iter().chain(&["--creds-file", "/nonexistent/creds"]));
    assert_usage_error(&out, &["--creds-file /nonexistent/creds"]);
}

#[test]
fn creds_file_reaches_a_basic_auth_registry() {
    use crate::common::registry::{Mode, Registry, push_layout};
    let reg = Registry::start(Mode::Basic);
    push_layout(&reg, &crate::common::root().join(LAYOUT), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().into()
    });
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, "registry.airlock.test/airlock/single:v1\n").unwrap();
    let creds = dir.path().join("creds");
    // the first line only, CRLF tolerated
    std::fs::write(&creds, format!("{}\r\nignored second line\n", reg.creds_arg())).unwrap();
    let failed = dir.path().join("failed.txt");
    let remap = format!("remap:{}=registry.airlock.test", reg.addr);
    let base = [
        "validate",
        "-f",
        list.to_str().unwrap(),
        "-p",
        KEY,
        "--registry",
        &reg.addr,
        "--signed-identity",
        &remap,
        "--tls-verify=false",
        "-o",
        failed.to_str().unwrap(),
    ];
    let out = airlock(base.iter().chain(&["--creds-file", creds.to_str().unwrap()]));
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.line_for(&format!("{}/airlock/single:v1", reg.addr)).is_some_and(|l| l.starts_with("PASS")));
    let out = airlock_stdin(&[&base[..], &["--creds-file", "-"]].concat(), &format!("{}\n", reg.creds_arg()));
    assert_eq!(out.code, 0, "{}", out.describe());
    let out = airlock_stdin(&[&base[..], &["--creds-file", "-"]].concat(), "airlock:wrong-password\n");
    assert_eq!(out.code, 1, "{}", out.describe());
    let image = format!("docker://{}/airlock/single:v1", reg.addr);
    let out = airlock(["list", &image, "--tls-verify=false", "--creds-file", creds.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("/airlock/single:v1"), "{}", out.describe());
}

#[test]
fn skipped_list_lines_are_counted_and_strict_list_refuses_them() {
    const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("images.txt");
    std::fs::write(&list, format!("# a comment\n{SINGLE}\nsrc/a dst/a v1\n{SINGLE} # inline\n")).unwrap();
    let list = list.to_str().unwrap();
    let out = airlock(["verify-archive", LAYOUT, "-f", list, "-p", KEY]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.lines().any(|l| l == "1 passed, 0 failed, 2 list lines skipped"), "{}", out.describe());
    assert!(out.stderr.contains(&format!("{list}:3: ")), "{}", out.describe());
    let out = airlock(["verify-archive", LAYOUT, "-f", list, "--report", "-"]);
    assert!(
        out.stderr.lines().any(|l| l.starts_with("1 passed, 0 failed, 2 list lines skipped")),
        "{}",
        out.describe()
    );
    // the audit record counts them too
    assert_eq!(out.report()["summary"]["list_lines_skipped"], 2, "{}", out.describe());

    let out = airlock(["verify-archive", LAYOUT, "-f", list, "-p", KEY, "--strict-list"]);
    assert_usage_error(&out, &["--strict-list", "2 lines would be skipped (lines 3, 4)", &format!("{list}:3: ")]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let one = dir.path().join("one.txt");
    std::fs::write(&one, format!("{SINGLE}\n\nsrc/a dst/a v1\n")).unwrap();
    let one = one.to_str().unwrap();
    let out = airlock(["validate", "--source", LAYOUT, "-f", one, "-p", KEY, "--strict-list"]);
    assert_usage_error(&out, &["--strict-list", &format!("{one}:3: ignored mirror-format line")]);

    // a clean list passes with --strict-list and its summary names no skipped line
    let clean = dir.path().join("clean.txt");
    std::fs::write(&clean, format!("# only comments besides\n{SINGLE}\n")).unwrap();
    let out = airlock(["verify-archive", LAYOUT, "-f", clean.to_str().unwrap(), "-p", KEY, "--strict-list"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.lines().any(|l| l == "1 passed, 0 failed"), "{}", out.describe());
    // --strict-list is about a list
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--strict-list"]);
    assert_usage_error(&out, &["--strict-list", "--file"]);
}

/// `--format junit` (or a `.xml` report): JUnit XML, one test case per image, failures with their kind and
/// reasons, damaged sources as failing cases; every text from the input escaped for XML.
#[test]
fn junit_reports_one_case_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("airlock.xml");
    let out = airlock([
        "verify-archive",
        LAYOUT,
        "testdata/layouts/multi-corrupt-arm64",
        "-p",
        KEY,
        "--report",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let xml = std::fs::read_to_string(&path).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"airlock\""), "{xml}");
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains(&format!("<testcase classname=\"{LAYOUT}\" name=\"registry.airlock.test/airlock/single:v1\"/>")),
        "{xml}"
    );
    let failing = xml.split("<testcase").find(|c| c.contains("airlock/multi:v1")).expect("the multi case");
    assert!(failing.contains("<failure type=\"corrupt\" message=\"corrupt: layer sha256:"), "{xml}");
    assert_eq!(xml.matches("<testcase").count(), xml.matches("</testcase>").count() + 1, "well-formed: {xml}");
    // the same from --format with a report on stdout
    let out = airlock(["verify-archive", LAYOUT, "-p", KEY, "--report", "-", "--format", "junit"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.starts_with("<?xml") && out.stdout.trim_end().ends_with("</testsuite>"), "{}", out.describe());
}
