//! `airlock validate` against registries (SPEC §5, §10): a real CNCF distribution 2.8 (plain, TLS,
//! Basic, Bearer token) loaded with the committed signed layouts, and a scripted hostile server for what
//! a real registry will not do.
//!
//! Identities in the registry runs. The layouts name their images `registry.airlock.test/<project>/<name>`
//! and the signatures claim that identity. Each fixture is pushed to its own repository
//! `<fixture>/<name>` of one registry; the list line stays the line the offline run uses, and
//! `--registry ADDR --project <fixture>` (hangar rules) makes the image reference
//! `ADDR/<fixture>/<name>:<tag>`. `--signed-identity remap:ADDR/<fixture>=registry.airlock.test/<project>`
//! maps that back to exactly the reference the layout names before containers-image's
//! `matchRepoDigestOrExact` compares it with the signed identity, so the remote run applies the same
//! rule to the same pair of references as the offline run with `--signed-identity
//! match-repo-digest-or-exact` (no default extensions in either). Cases whose identity option is
//! location-independent (`--exact-repository`, or the default policy for identity-less bundles) pass
//! the same option to both runs.

use crate::common::hostile::{Body, Content, Hostile, Request, Response};
use crate::common::registry::{
    self, Mode, Registry, by_line, push_layout, push_layouts, read_report, split_ref, write_auth_file,
};
use crate::common::{Output, copy_fixture, run, sha256_hex};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY: &str = "testdata/keys/p256.pub";
const SINGLE: &str = "registry.airlock.test/airlock/single:v1";
const SINGLE_DIGEST: &str = "sha256:2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3";
const SINGLE_SIG_TAG: &str = "sha256-2a4e26d6571939b711edfab19903a3b2d21380761848ab5d9a2c99fdb23a1ed3.sig";
const MULTI_AMD64: &str = "sha256:3fbd4a31223fc7c6f346e1d5ee8a5479e88ab4999e31a3142de5e9ef229d9a4d";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A temp folder for lists, reports and failed lists.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(tempfile::tempdir().expect("tempdir"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

/// The image entry of a layout: its `org.opencontainers.image.ref.name` (not a `.sig` or referrers tag).
fn image_ref(fixture: &str) -> String {
    let index: Value = serde_json::from_slice(
        &std::fs::read(crate::common::root().join("testdata/layouts").join(fixture).join("index.json")).unwrap(),
    )
    .unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .find(|n| {
            let (_, tag) = split_ref(n);
            !tag.ends_with(".sig") && !tag.starts_with("sha256-")
        })
        .unwrap_or_else(|| panic!("{fixture}: no image entry"))
        .to_string()
}

/// `a/b/c` → (`a/b`, `c`).
fn split_last(repo: &str) -> (&str, &str) {
    repo.rsplit_once('/').unwrap_or(("", repo))
}

/// What one run said about one list line, reduced to what must not depend on where the image lives.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Outcome {
    exit: i32,
    status: String,
    kinds: BTreeSet<String>,
    digests: BTreeSet<String>,
}

fn outcome(out: &Output, report: &Value, line: &str) -> Option<Outcome> {
    let r = by_line(report).remove(line)?;
    Some(Outcome {
        exit: out.code,
        status: r["status"].as_str().unwrap_or_default().to_string(),
        kinds: r["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["kind"].as_str().map(String::from))
            .collect(),
        digests: r["platforms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["digest"].as_str().map(String::from))
            .collect(),
    })
}

/// The one result of a one-line run.
fn only_result(report: &Value, out: &Output) -> Value {
    let results: Vec<&Value> = report["results"].as_array().unwrap().iter().filter(|r| !r["line"].is_null()).collect();
    assert_eq!(results.len(), 1, "one result expected\n{}", out.describe());
    results[0].clone()
}

fn kinds(result: &Value) -> Vec<String> {
    result["errors"].as_array().into_iter().flatten().filter_map(|e| e["kind"].as_str().map(String::from)).collect()
}

fn messages(result: &Value) -> String {
    result["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join(" | ")
}

// ---- 1. every signature scenario: registry == offline ------------------------------------------

#[derive(Clone, Copy)]
enum Ident {
    /// remote: `remap:ADDR/<fixture>=<stored prefix>`; offline: `match-repo-digest-or-exact`
    Remap,
    /// the same options in both runs (location-independent identity checks)
    Same(&'static [&'static str]),
}

struct Case {
    fixture: &'static str,
    key: &'static str,
    extra: &'static [&'static str],
    ident: Ident,
    /// None = PASS; Some(kind) = FAIL with (at least) that kind
    fails: Option<&'static str>,
}

const fn case(fixture: &'static str, fails: Option<&'static str>) -> Case {
    Case { fixture, key: KEY, extra: &[], ident: Ident::Remap, fails }
}

const EXACT_SINGLE: &[&str] = &["--exact-repository", "registry.airlock.test/airlock/single"];

fn scenarios() -> Vec<Case> {
    vec![
        case("signed-p256", None),
        Case { key: "testdata/keys/other.pub", ..case("signed-p256", Some("bad-signature")) },
        Case { key: "testdata/keys/p384.pub", ..case("signed-p384", None) },
        case("signed-p384", Some("bad-signature")),
        Case { key: "testdata/keys/rsa.pub", ..case("signed-rsa", None) },
        case("signed-rsa", Some("bad-signature")),
        Case { key: "testdata/keys/ed25519.pub", ..case("signed-ed25519", None) },
        case("signed-ed25519", Some("bad-signature")),
        case("signed-layers3", None),
        case("signed-multi-all", None),
        Case { extra: &["--signature-scope", "all"], ..case("signed-multi-all", None) },
        Case { extra: &["--arch", "amd64,arm64,arm/v7"], ..case("signed-multi-all", None) },
        Case { extra: &["--arch", "s390x"], ..case("signed-multi-all", Some("platform-missing")) },
        case("signed-multi-index-only", None),
        Case { extra: &["--signature-scope", "platform"], ..case("signed-multi-index-only", Some("unsigned")) },
        case("signed-multi-per-platform", None),
        Case { extra: &["--signature-scope", "all"], ..case("signed-multi-per-platform", Some("unsigned")) },
        case("cosign-signed", Some("identity-mismatch")),
        Case { ident: Ident::Same(EXACT_SINGLE), ..case("cosign-signed", None) },
        case("docker-io-identity", None),
        case("two-sigs-one-valid", None),
        Case { key: "testdata/keys/other.pub", ..case("two-sigs-one-valid", None) },
        Case { key: "testdata/keys/p384.pub", ..case("two-sigs-one-valid", Some("bad-signature")) },
        // a cosign v3 bundle binds no identity: the default policy accepts it wherever the image lives,
        // an explicit identity type rejects it; remotely it is found through the `sha256-<hex>`
        // referrers tag (distribution 2.8 has no referrers API)
        Case { ident: Ident::Same(&[]), ..case("bundle-v3-tagged", None) },
        case("bundle-v3-tagged", Some("identity-mismatch")),
        Case {
            key: "testdata/keys/other.pub",
            ident: Ident::Same(&[]),
            ..case("bundle-v3-tagged", Some("bad-signature"))
        },
        case("unsigned", Some("unsigned")),
        case("tampered-signature", Some("bad-signature")),
        case("tampered-payload", Some("bad-signature")),
        case("replayed-signature", Some("bad-signature")),
        case("copied-repo", Some("identity-mismatch")),
        Case { ident: Ident::Same(EXACT_SINGLE), ..case("copied-repo", None) },
        Case { extra: &["--blobs", "verify"], ..case("corrupt-layer", Some("corrupt")) },
        Case { extra: &["--blobs", "skip"], ..case("corrupt-layer", None) },
        case("missing-blob", Some("missing")),
        Case { extra: &["--blobs", "verify"], ..case("missing-blob", Some("missing")) },
    ]
}

#[test]
fn registry_results_match_offline_results_for_every_signature_fixture() {
    let reg = Registry::start(Mode::Plain);
    let mut pushed = BTreeSet::new();
    let mut problems = Vec::new();
    let cases = scenarios();
    for (i, c) in cases.iter().enumerate() {
        let line = image_ref(c.fixture);
        let (stored_repo, _) = split_ref(&line);
        let (stored_prefix, _) = split_last(stored_repo);
        let project = c.fixture;
        if pushed.insert(c.fixture) {
            let layout = crate::common::root().join("testdata/layouts").join(c.fixture);
            push_layout(&reg, &layout, |repo| format!("{project}/{}", split_last(repo).1));
        }
        let tmp = Scratch::new();
        let list = tmp.write("images.txt", &format!("{line}\n"));
        let common_args = |report: &str, failed: &str| -> Vec<String> {
            let mut a: Vec<String> =
                ["-f", &list, "-p", c.key, "--report", report, "-o", failed].iter().map(|s| s.to_string()).collect();
            a.extend(c.extra.iter().map(|s| s.to_string()));
            a
        };
        let mut offline: Vec<String> = vec!["verify-archive".into(), format!("testdata/layouts/{}", c.fixture)];
        offline.extend(common_args(&tmp.s("offline.json"), &tmp.s("offline-failed.txt")));
        let mut remote: Vec<String> = vec!["validate".into(), "--registry".into(), reg.addr.clone()];
        remote.extend(["--project".into(), project.into(), "--tls-verify=false".into()]);
        remote.extend(common_args(&tmp.s("remote.json"), &tmp.s("remote-failed.txt")));
        match c.ident {
            Ident::Remap => {
                offline.extend(["--signed-identity".into(), "match-repo-digest-or-exact".into()]);
                remote.extend(["--signed-identity".into(), format!("remap:{}/{project}={stored_prefix}", reg.addr)]);
            }
            Ident::Same(args) => {
                offline.extend(args.iter().map(|s| s.to_string()));
                remote.extend(args.iter().map(|s| s.to_string()));
            }
        }
        let (off_out, _) = run(&offline, &[], None);
        let (rem_out, _) = run(&remote, &[], None);
        let ident = match c.ident {
            Ident::Remap => "remap/match-repo-digest-or-exact".to_string(),
            Ident::Same(a) => format!("{a:?}"),
        };
        let label = format!("case {i}: {} key={} {:?} identity={ident}", c.fixture, c.key, c.extra);
        let off = std::fs::read(tmp.path("offline.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let rem = std::fs::read(tmp.path("remote.json")).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let off = off.and_then(|r| outcome(&off_out, &r, &line));
        let rem = rem.and_then(|r| outcome(&rem_out, &r, &line));
        let (Some(off), Some(rem)) = (off, rem) else {
            problems.push(format!(
                "{label}: no result for {line:?}\noffline {offline:?}\n{}\nremote {remote:?}\n{}",
                off_out.describe(),
                rem_out.describe()
            ));
            continue;
        };
        eprintln!("{label}: {} {:?} {:?}", rem.status, rem.kinds, rem.digests.len()); // --nocapture
        let expected_ok = match c.fails {
            None => off.status == "pass" && off.exit == 0,
            Some(kind) => off.status == "fail" && off.exit == 1 && off.kinds.contains(kind),
        };
        if !expected_ok {
            problems.push(format!("{label}: offline run is not {:?}: {off:?}\n{}", c.fails, off_out.describe()));
        }
        if off != rem {
            problems.push(format!(
                "{label}: registry run differs from the offline run\n  offline {off:?}\n  remote  {rem:?}\n{}\n--- registry log tail\n{}",
                rem_out.describe(),
                tail(&reg.log(), 20)
            ));
        }
    }
    assert!(problems.is_empty(), "{} of {} cases wrong:\n\n{}", problems.len(), cases.len(), problems.join("\n\n"));
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---- 2. hangar's documented scenario ------------------------------------------------------------

#[test]
fn hangar_copied_signature_fails_until_exact_repository_is_given() {
    let reg = Registry::start(Mode::Plain);
    // copied-repo: the image under mirror/, carrying the signature made for airlock/single:v1
    push_layout(&reg, &crate::common::root().join("testdata/layouts/copied-repo"), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().to_string()
    });
    let tmp = Scratch::new();
    let line = "registry.airlock.test/mirror/single:v1";
    let list = tmp.write("list", &format!("{line}\n"));
    let key = crate::common::root().join(KEY);
    let key = key.to_str().unwrap();
    // hangar's command line, run in an empty folder so the default sign-failed.txt lands there
    let args = ["sign", "validate", "-f", &list, "-p", key, "--registry", &reg.addr, "--tls-verify=false"];
    let (out, _) = run(&args, &[], Some(tmp.0.path()));
    assert_eq!(out.code, 1, "{}", out.describe());
    let image = format!("{}/mirror/single:v1", reg.addr);
    let fail = out.line_for(&image).unwrap_or_else(|| panic!("no line for {image}\n{}", out.describe()));
    assert!(fail.starts_with("FAIL"), "{}", out.describe());
    assert!(
        out.stdout.contains(r#"Signature for identity "registry.airlock.test/airlock/single:v1" is not accepted"#),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("identity-mismatch"), "{}", out.describe());
    let failed = std::fs::read_to_string(tmp.path("sign-failed.txt")).expect("sign-failed.txt written");
    assert_eq!(failed, format!("{line}\n"), "the failed list keeps the original line");

    let mut with_exact = args.to_vec();
    with_exact.extend(["--exact-repository", "registry.airlock.test/airlock/single", "-o"]);
    let failed2 = tmp.s("second-failed.txt");
    with_exact.push(&failed2);
    let (out, _) = run(&with_exact, &[], Some(tmp.0.path()));
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.line_for(&image).is_some_and(|l| l.starts_with("PASS")), "{}", out.describe());
}

// ---- shared: one image in a registry with auth or TLS -------------------------------------------

/// Pushes signed-p256 as `airlock/single:v1` (and its `.sig`) keeping the stored path.
fn load_single(reg: &Registry) {
    push_layout(reg, &crate::common::root().join("testdata/layouts/signed-p256"), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().to_string()
    });
}

/// `validate` one line against `reg` with the remap that gives the layout's identity; returns the
/// output and the report.
fn validate(reg_addr: &str, lines: &[&str], extra: &[&str], env: &[(&str, &str)]) -> (Output, Value, Duration) {
    let tmp = Scratch::new();
    let list = tmp.write("list", &(lines.join("\n") + "\n"));
    let report = tmp.s("report.json");
    let failed = tmp.s("failed.txt");
    let remap = format!("remap:{reg_addr}=registry.airlock.test");
    let mut args = vec!["validate", "-f", &list, "-p", KEY, "--registry", reg_addr, "--signed-identity", &remap];
    args.extend(["--report", &report, "-o", &failed]);
    args.extend(extra);
    let (out, elapsed) = run(&args, env, None);
    let v = read_report(Path::new(&report), &out);
    (out, v, elapsed)
}

fn assert_passes(reg_addr: &str, extra: &[&str], env: &[(&str, &str)], what: &str) {
    let (out, report, _) = validate(reg_addr, &[SINGLE], extra, env);
    assert_eq!(out.code, 0, "{what}\n{}", out.describe());
    assert_eq!(only_result(&report, &out)["status"], "pass", "{what}\n{}", out.describe());
}

/// exit 1, the one image FAILs with kind `error` and a message containing one of `needles`
/// (case-insensitive); returns the messages.
fn assert_error(out: &Output, report: &Value, needles: &[&str], what: &str) -> String {
    show(what, out);
    assert_eq!(out.code, 1, "{what}\n{}", out.describe());
    let r = only_result(report, out);
    assert_eq!(r["status"], "fail", "{what}\n{}", out.describe());
    assert!(kinds(&r).contains(&"error".to_string()), "{what}: kind `error` expected\n{}", out.describe());
    let m = messages(&r);
    let lower = m.to_lowercase();
    assert!(
        needles.iter().any(|n| lower.contains(&n.to_lowercase())),
        "{what}: message should name {needles:?}: {m}\n{}",
        out.describe()
    );
    m
}

// ---- 3. TLS -------------------------------------------------------------------------------------

#[test]
fn tls_registry_needs_its_ca() {
    let reg = Registry::start(Mode::Tls);
    load_single(&reg);
    let ca = reg.cert_dir.clone().unwrap();
    assert_passes(&reg.addr, &["--cert-dir", ca.to_str().unwrap()], &[], "TLS with --cert-dir");
    assert_passes(&reg.addr, &["--tls-verify=false"], &[], "TLS with --tls-verify=false");
    for extra in [&[][..], &["--tls-verify=true"][..]] {
        let (out, failed) = unreachable(&reg.addr, extra);
        assert!(
            out.stderr.contains("is not trusted (UnknownIssuer)") && out.stderr.contains("--cert-dir"),
            "{}",
            out.describe()
        );
        assert!(!failed, "no failed list when nothing could be checked");
    }
}

/// A self-signed server certificate placed in --cert-dir is trusted as itself (Go's rule; webpki alone
/// refuses a CA certificate as a server's leaf).
#[test]
fn a_self_signed_certificate_in_cert_dir_is_trusted_as_itself() {
    let reg = Registry::start(Mode::SelfSigned);
    load_single(&reg);
    let certs = reg.cert_dir.clone().unwrap();
    assert_passes(&reg.addr, &["--cert-dir", certs.to_str().unwrap()], &[], "self-signed with --cert-dir");
    let (out, _) = unreachable(&reg.addr, &[]);
    assert!(out.stderr.contains("is not trusted") && out.stderr.contains("--cert-dir"), "{}", out.describe());
    // another registry's self-signed certificate does not vouch for this one
    let other = Registry::start(Mode::SelfSigned);
    let other_certs = other.cert_dir.clone().unwrap();
    let (out, _) = unreachable(&reg.addr, &["--cert-dir", other_certs.to_str().unwrap()]);
    assert!(out.stderr.contains("is not trusted"), "{}", out.describe());
}

/// A registry that cannot be reached ends the run before any image, with one message: exit 2.
fn unreachable(addr: &str, extra: &[&str]) -> (Output, bool) {
    let tmp = Scratch::new();
    let list = tmp.write("list", &format!("{SINGLE}\nregistry.airlock.test/airlock/multi:v1\n"));
    let failed = tmp.s("failed.txt");
    let mut args = vec!["validate", "-f", &list, "-p", KEY, "--registry", addr, "-o", &failed];
    args.extend(extra);
    let (out, _) = run(&args, &[], None);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert_eq!(out.stderr.matches("airlock: error:").count(), 1, "one message\n{}", out.describe());
    assert!(!out.stdout.contains("FAIL "), "{}", out.describe());
    (out, Path::new(&failed).exists())
}

#[test]
fn unreachable_hosts_get_one_message_and_exit_2() {
    // nothing listens on this port
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let (out, _) = unreachable(&addr, &[]);
    assert!(out.stderr.contains(&format!("the connection to {addr} was refused")), "{}", out.describe());
    // a plain-HTTP registry where HTTPS was expected
    let reg = Registry::start(Mode::Plain);
    let (out, _) = unreachable(&reg.addr, &[]);
    assert!(
        out.stderr.contains("does not speak TLS") && out.stderr.contains("--tls-verify=false"),
        "{}",
        out.describe()
    );
}

// ---- 4. Basic auth ------------------------------------------------------------------------------

#[test]
fn basic_auth_credentials_from_every_source() {
    let reg = Registry::start(Mode::Basic);
    load_single(&reg);
    let insecure = "--tls-verify=false";
    let (out, report, _) = validate(&reg.addr, &[SINGLE], &[insecure], &[]);
    assert_error(&out, &report, &["401", "unauthorized"], "no credentials");
    let (out, report, _) = validate(&reg.addr, &[SINGLE], &[insecure, "--creds", "airlock:wrong-password"], &[]);
    assert_error(&out, &report, &["401", "unauthorized"], "wrong password");

    assert_passes(&reg.addr, &[insecure, "--creds", &reg.creds_arg()], &[], "--creds");

    let tmp = Scratch::new();
    let (user, password) = reg.creds.clone().unwrap();
    let authfile = tmp.path("auth.json");
    write_auth_file(&authfile, &reg.addr, &user, &password);
    assert_passes(&reg.addr, &[insecure, "--authfile", authfile.to_str().unwrap()], &[], "--authfile");
    assert_passes(&reg.addr, &[insecure], &[("REGISTRY_AUTH_FILE", authfile.to_str().unwrap())], "$REGISTRY_AUTH_FILE");

    let xdg = tmp.path("xdg");
    write_auth_file(&xdg.join("containers/auth.json"), &reg.addr, &user, &password);
    assert_passes(
        &reg.addr,
        &[insecure],
        &[("XDG_RUNTIME_DIR", xdg.to_str().unwrap())],
        "$XDG_RUNTIME_DIR/containers/auth.json",
    );

    let home = tmp.path("home");
    write_auth_file(&home.join(".docker/config.json"), &reg.addr, &user, &password);
    assert_passes(&reg.addr, &[insecure], &[("HOME", home.to_str().unwrap())], "~/.docker/config.json");

    // --creds wins over a wrong auth file
    let wrong = tmp.path("wrong.json");
    write_auth_file(&wrong, &reg.addr, &user, "not-it");
    assert_passes(
        &reg.addr,
        &[insecure, "--authfile", wrong.to_str().unwrap(), "--creds", &reg.creds_arg()],
        &[],
        "--creds over --authfile",
    );
}

// ---- 5. Bearer tokens ---------------------------------------------------------------------------

#[test]
fn bearer_tokens_are_fetched_once_per_scope() {
    let reg = Registry::start(Mode::Token);
    let root = crate::common::root().join("testdata/layouts");
    for fixture in ["signed-p256", "signed-multi-all", "signed-layers3"] {
        push_layout(&reg, &root.join(fixture), |r| r.strip_prefix("registry.airlock.test/").unwrap().to_string());
    }
    let lines = [
        SINGLE,
        "registry.airlock.test/airlock/multi:v1",
        "registry.airlock.test/airlock/layers3:v1",
        // a second image in a repository already seen: its token is the cached one
        &format!("registry.airlock.test/airlock/single@{SINGLE_DIGEST}"),
    ];
    let creds = reg.creds_arg();
    reg.clear_token_requests();
    let (out, report, _) = validate(&reg.addr, &lines, &["--tls-verify=false", "--creds", &creds, "-j", "1"], &[]);
    assert_eq!(out.code, 0, "{}\n--- registry log\n{}", out.describe(), tail(&reg.log(), 30));
    assert_eq!(report["summary"]["passed"], 4, "{}", out.describe());
    let requests = reg.token_requests();
    eprintln!("token requests: {requests:?}");
    assert!(requests.iter().all(|r| r.authorized), "every token request carried the credentials: {requests:?}");
    let mut per_scope: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for r in &requests {
        let mut s = r.scopes.clone();
        s.sort();
        *per_scope.entry(s).or_default() += 1;
    }
    assert!(
        per_scope.values().all(|n| *n == 1),
        "a scope was asked for twice (tokens are cached per scope): {per_scope:?}"
    );
    let repo_scopes: BTreeSet<&str> = requests.iter().flat_map(|r| r.scopes.iter().map(String::as_str)).collect();
    assert!(requests.len() <= 3 + 1, "{} token requests for 3 repositories: {requests:?}", requests.len());
    for repo in ["airlock/single", "airlock/multi", "airlock/layers3"] {
        assert!(
            repo_scopes.contains(format!("repository:{repo}:pull").as_str()),
            "no pull token for {repo}: {requests:?}"
        );
    }

    // in parallel too (default jobs): still passes
    let (out, _, _) = validate(&reg.addr, &lines, &["--tls-verify=false", "--creds", &creds], &[]);
    assert_eq!(out.code, 0, "{}", out.describe());

    // anonymous: the endpoint hands out a token without access; the registry refuses it
    let (out, report, _) = validate(&reg.addr, &[SINGLE], &["--tls-verify=false"], &[]);
    assert_error(&out, &report, &["401", "unauthorized", "denied", "insufficient"], "token without access");
    // wrong password: the token endpoint itself says 401
    let (out, report, _) = validate(&reg.addr, &[SINGLE], &["--tls-verify=false", "--creds", "airlock:nope"], &[]);
    assert_error(&out, &report, &["401", "unauthorized"], "wrong password at the token endpoint");
}

/// `--debug` before the subcommand (where hangar puts it) traces every request, the token requests too,
/// and never prints the password, the Basic header's value or a token.
#[test]
fn debug_traces_each_request_with_credentials_redacted() {
    let reg = Registry::start(Mode::Token);
    load_single(&reg);
    let (user, password) = reg.creds.clone().unwrap();
    let tmp = Scratch::new();
    let list = tmp.write("list", &format!("{SINGLE}\n"));
    let remap = format!("remap:{}=registry.airlock.test", reg.addr);
    let creds = reg.creds_arg();
    let args = [
        "--debug",
        "validate",
        "-f",
        &list,
        "-p",
        KEY,
        "--registry",
        &reg.addr,
        "--signed-identity",
        &remap,
        "--tls-verify=false",
        "--creds",
        &creds,
        "-o",
        &tmp.s("failed.txt"),
    ];
    let (out, _) = run(&args, &[], None);
    assert_eq!(out.code, 0, "{}", out.describe());
    let traces: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("airlock: debug: ")).collect();
    let manifest = format!("GET http://{}/v2/airlock/single/manifests/v1", reg.addr);
    let has = |needle: &str| traces.iter().any(|l| l.contains(needle));
    assert!(has(&manifest), "no trace of the manifest request:\n{}", out.stderr);
    assert!(has("(Authorization: Bearer <redacted>) -> HTTP 200 in "), "no authorized request traced:\n{}", out.stderr);
    assert!(has("-> HTTP 401 in "), "the first, unauthorized answer is not traced:\n{}", out.stderr);
    assert!(
        has("scope=repository:airlock/single:pull (Authorization: Basic <redacted>) -> HTTP 200"),
        "{}",
        out.stderr
    );
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{user}:{password}"));
    for secret in [password.as_str(), basic.as_str(), "eyJ"] {
        assert!(!out.stderr.contains(secret), "stderr holds a credential ({secret}):\n{}", out.stderr);
    }
    // without --debug, nothing is traced
    let quiet: Vec<&str> = args[1..].to_vec();
    let (out, _) = run(&quiet, &[], None);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(!out.stderr.contains("airlock: debug:"), "{}", out.stderr);
}

// ---- 6. a hostile registry ----------------------------------------------------------------------

/// signed-p256 served as `airlock/single`.
fn single_content() -> Content {
    Content::layout(&crate::common::root().join("testdata/layouts/signed-p256"), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().to_string()
    })
}

fn multi_content() -> Content {
    Content::layout(&crate::common::root().join("testdata/layouts/signed-multi-all"), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().to_string()
    })
}

/// `validate` one line against a hostile server (plain HTTP).
fn hostile_run(server: &Hostile, line: &str, extra: &[&str]) -> (Output, Value, Duration) {
    let mut args = vec!["--tls-verify=false", "--timeout", "30s"];
    args.extend(extra);
    validate(&server.addr, &[line], &args, &[])
}

/// Prints the first output line (seen with `--nocapture`).
fn show(what: &str, out: &Output) {
    eprintln!("[{what}] {}", out.stdout.lines().next().unwrap_or_default());
}

/// exit 1, FAIL with `kind`, a message naming one of `needles`.
fn assert_fails(out: &Output, report: &Value, kind: &str, needles: &[&str], what: &str) {
    show(what, out);
    assert_eq!(out.code, 1, "{what}\n{}", out.describe());
    let r = only_result(report, out);
    assert_eq!(r["status"], "fail", "{what}\n{}", out.describe());
    assert!(
        kinds(&r).contains(&kind.to_string()),
        "{what}: kind `{kind}` expected, got {:?}\n{}",
        kinds(&r),
        out.describe()
    );
    let m = messages(&r).to_lowercase();
    assert!(
        needles.iter().any(|n| m.contains(&n.to_lowercase())),
        "{what}: message should name {needles:?}\n{}",
        out.describe()
    );
}

#[test]
fn hostile_baseline_serves_a_valid_image() {
    // the scripted server speaks enough of the protocol: unmodified content PASSES, and the image
    // without its .sig (404 MANIFEST_UNKNOWN) is `unsigned`, not an error
    let content = single_content();
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) = hostile_run(&server, SINGLE, &["--blobs", "verify"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(only_result(&report, &out)["status"], "pass");

    let mut content = single_content();
    content.tags.retain(|(_, tag), _| !tag.ends_with(".sig"));
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_fails(&out, &report, "unsigned", &["no signature"], "no .sig");
    assert!(!kinds(&only_result(&report, &out)).contains(&"error".to_string()), "{}", out.describe());
}

#[test]
fn hostile_manifest_bytes_that_do_not_match_the_digest() {
    // a digest reference: the bytes served (one byte more) are not the digest asked for, while
    // Docker-Content-Digest claims they are
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path() == format!("/v2/airlock/single/manifests/{SINGLE_DIGEST}") {
            let (media, digest, mut bytes) = content.manifest("airlock/single", SINGLE_DIGEST).unwrap();
            bytes.push(b'\n');
            return Response::bytes(200, &media, bytes).header("Docker-Content-Digest", &digest);
        }
        content.respond(req)
    });
    let line = format!("registry.airlock.test/airlock/single@{SINGLE_DIGEST}");
    let (out, report, _) = hostile_run(&server, &line, &[]);
    assert_fails(&out, &report, "corrupt", &[&SINGLE_DIGEST[..20]], "manifest bytes differ from the digest reference");

    // a platform manifest fetched by digest from an index
    let content = multi_content();
    let server = Hostile::start(move |req| {
        if req.path() == format!("/v2/airlock/multi/manifests/{MULTI_AMD64}") {
            let (media, digest, bytes) = content.manifest("airlock/multi", MULTI_AMD64).unwrap();
            let mut v: Value = serde_json::from_slice(&bytes).unwrap();
            v["annotations"] = json!({"evil": "yes"});
            return Response::bytes(200, &media, v.to_string()).header("Docker-Content-Digest", &digest);
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, "registry.airlock.test/airlock/multi:v1", &[]);
    assert_fails(
        &out,
        &report,
        "corrupt",
        &[&MULTI_AMD64[..20]],
        "platform manifest bytes differ from the index's digest",
    );
}

#[test]
fn hostile_wrong_content_type_on_a_manifest() {
    for content_type in [OCI_INDEX, "application/vnd.docker.distribution.manifest.v2+json", "text/html"] {
        let content = single_content();
        let ct = content_type.to_string();
        let server = Hostile::start(move |req| {
            if req.path() == "/v2/airlock/single/manifests/v1" {
                let (_, _, bytes) = content.manifest("airlock/single", "v1").unwrap();
                return Response::bytes(200, &ct, bytes);
            }
            content.respond(req)
        });
        let (out, report, _) = hostile_run(&server, SINGLE, &[]);
        assert_fails(&out, &report, "malformed", &["media type", "mediatype", "content-type"], content_type);
    }
}

/// signed-p256's `.sig` manifest with its first layer repeated `n` times.
fn sig_with_layers(n: usize) -> Vec<u8> {
    let content = single_content();
    let (_, _, bytes) = content.manifest("airlock/single", SINGLE_SIG_TAG).unwrap();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap();
    let layer = v["layers"][0].clone();
    v["layers"] = Value::Array(vec![layer; n]);
    v.to_string().into_bytes()
}

#[test]
fn hostile_signature_manifest_with_too_many_layers() {
    // 1001 layers (under the 4 MiB cap): the same outcome as the same manifest in a layout
    let evil = sig_with_layers(1001);
    let mut content = single_content();
    content.put_manifest("airlock/single", Some(SINGLE_SIG_TAG), OCI_MANIFEST, evil.clone());
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    show("1001 signature layers", &out);
    assert_eq!(out.code, 1, "{}", out.describe());
    let remote = only_result(&report, &out);
    assert!(messages(&remote).contains("limit"), "{}", out.describe());

    let (_tmp, layout) = copy_fixture("layouts/signed-p256");
    let hex = sha256_hex(&evil);
    std::fs::write(layout.join("blobs/sha256").join(&hex), &evil).unwrap();
    let mut index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    for m in index["manifests"].as_array_mut().unwrap() {
        if m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap().ends_with(".sig") {
            m["digest"] = json!(format!("sha256:{hex}"));
            m["size"] = json!(evil.len());
        }
    }
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let scratch = Scratch::new();
    let list = scratch.write("list", &format!("{SINGLE}\n"));
    let report_path = scratch.s("offline.json");
    let (off_out, _) =
        run(&["verify-archive", layout.to_str().unwrap(), "-f", &list, "-p", KEY, "--report", &report_path], &[], None);
    let offline = only_result(&read_report(Path::new(&report_path), &off_out), &off_out);
    assert_eq!(kinds(&remote), kinds(&offline), "remote vs offline\n{}\n{}", out.describe(), off_out.describe());

    // 100 000 layers: over the 4 MiB manifest cap before the layer limit is even reached
    let mut content = single_content();
    content.put_manifest("airlock/single", Some(SINGLE_SIG_TAG), OCI_MANIFEST, sig_with_layers(100_000));
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, elapsed) = hostile_run(&server, SINGLE, &[]);
    show("100 000 signature layers", &out);
    assert_eq!(out.code, 1, "{}", out.describe());
    let r = only_result(&report, &out);
    assert!(!kinds(&r).is_empty() && messages(&r).to_lowercase().contains("limit"), "{}", out.describe());
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}

/// A small non-signature referrer (an SBOM-like artifact) of single.
fn sbom_referrer() -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": SINGLE_DIGEST, "size": 401},
    })
    .to_string()
    .into_bytes()
}

fn referrers_index(entries: usize, sbom_digest: &str, sbom_len: usize) -> Vec<u8> {
    let d = json!({"mediaType": OCI_MANIFEST, "digest": sbom_digest, "size": sbom_len,
        "artifactType": "application/vnd.example.sbom+json"});
    json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": vec![d; entries]}).to_string().into_bytes()
}

#[test]
fn hostile_endless_referrers() {
    let referrers_path = format!("/v2/airlock/single/referrers/{SINGLE_DIGEST}");
    // no .sig: only referrers could sign the image, and none of them is a signature
    let base = || {
        let mut c = single_content();
        c.tags.retain(|(_, tag), _| !tag.ends_with(".sig"));
        let sbom = sbom_referrer();
        c.blobs
            .insert("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(), b"{}".to_vec());
        let digest = c.put_manifest("airlock/single", None, OCI_MANIFEST, sbom.clone());
        (c, digest, sbom.len())
    };

    // a `Link: rel="next"` that never ends
    let (content, sbom_digest, sbom_len) = base();
    let page = referrers_index(1, &sbom_digest, sbom_len);
    let rp = referrers_path.clone();
    let pages = Arc::new(AtomicUsize::new(0));
    let pages2 = pages.clone();
    let server = Hostile::start(move |req| {
        if req.path() == rp {
            let n = pages2.fetch_add(1, Ordering::SeqCst);
            return Response::bytes(200, OCI_INDEX, page.clone())
                .header("Link", &format!("<{rp}?n=1&last=page{n}>; rel=\"next\""));
        }
        content.respond(req)
    });
    let (out, report, elapsed) = hostile_run(&server, SINGLE, &[]);
    show("endless referrers pages", &out);
    assert_eq!(out.code, 1, "{}", out.describe());
    let r = only_result(&report, &out);
    // fail closed at the page limit, naming the referrers list
    assert_eq!(kinds(&r), ["malformed"], "endless referrers pages\n{}", out.describe());
    assert!(messages(&r).contains("referrers pagination beyond 20 pages"), "{}", out.describe());
    let n = pages.load(Ordering::SeqCst);
    assert!(n <= 20, "{n} referrers pages fetched: the list must be bounded");
    assert!(elapsed < Duration::from_secs(90), "took {elapsed:?}");

    // one page listing 1001 referrers (over the limit of 1000, under 4 MiB), and one listing
    // 100 000 (over the 4 MiB cap): fail closed, never `unsigned` alone
    for entries in [1001, 100_000] {
        let (content, sbom_digest, sbom_len) = base();
        let body = referrers_index(entries, &sbom_digest, sbom_len);
        let rp = referrers_path.clone();
        let server = Hostile::start(move |req| {
            if req.path() == rp {
                return Response::bytes(200, OCI_INDEX, body.clone());
            }
            content.respond(req)
        });
        let (out, report, elapsed) = hostile_run(&server, SINGLE, &[]);
        show(&format!("{entries} referrers"), &out);
        assert_eq!(out.code, 1, "{entries} referrers\n{}", out.describe());
        let r = only_result(&report, &out);
        // fail closed naming the limit: the count of referrers, or the size of the list
        let limit =
            if entries == 1001 { "more than 1000 referrers" } else { "response larger than the 4194304-byte limit" };
        assert_eq!(kinds(&r), ["malformed"], "{entries} referrers\n{}", out.describe());
        assert!(messages(&r).contains(limit) && messages(&r).contains("/referrers/"), "{}", out.describe());
        assert!(elapsed < Duration::from_secs(90), "took {elapsed:?}");
        let fetched = server.count("/v2/airlock/single/manifests/sha256:");
        assert!(fetched <= 1001, "{fetched} referrer manifests fetched");
    }
}

#[test]
fn hostile_huge_manifest_is_cut_at_the_cap() {
    for chunked in [false, true] {
        let content = single_content();
        let server = Hostile::start(move |req| {
            if req.path() == "/v2/airlock/single/manifests/v1" {
                return Response::new(200).header("Content-Type", OCI_MANIFEST).body(Body::Repeat {
                    byte: b' ',
                    len: 50 << 20,
                    chunked,
                });
            }
            content.respond(req)
        });
        let (out, report, elapsed) = hostile_run(&server, SINGLE, &[]);
        let what = if chunked { "50 MiB chunked" } else { "50 MiB with Content-Length" };
        show(what, &out);
        assert_eq!(out.code, 1, "{what}\n{}", out.describe());
        let r = only_result(&report, &out);
        let m = messages(&r).to_lowercase();
        assert!(m.contains("limit") || m.contains("mib"), "{what}: message should name the cap\n{}", out.describe());
        assert!(server.bytes_sent() < 20 << 20, "{what}: airlock read {} bytes", server.bytes_sent());
        assert!(elapsed < Duration::from_secs(30), "{what}: took {elapsed:?}");
    }
}

#[test]
fn hostile_429_is_retried_after_retry_after() {
    let content = single_content();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let server = Hostile::start(move |req: &Request| {
        if req.path() == "/v2/airlock/single/manifests/v1" {
            let mut s = seen2.lock().unwrap();
            s.push(req.at);
            if s.len() == 1 {
                return Response::error(429, "TOOMANYREQUESTS", "slow down").header("Retry-After", "1");
            }
        }
        content.respond(req)
    });
    let (out, _, _) = hostile_run(&server, SINGLE, &[]);
    assert_eq!(out.code, 0, "429 then success\n{}", out.describe());
    let times = seen.lock().unwrap().clone();
    assert!(times.len() >= 2, "retried: {times:?}");
    let gap = times[1] - times[0];
    assert!(gap >= Duration::from_millis(900), "Retry-After: 1 honoured, retried after {gap:?}");

    // always 429 on the signature: bounded retries, then fail closed
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path().ends_with(".sig") {
            return Response::error(429, "TOOMANYREQUESTS", "slow down").header("Retry-After", "1");
        }
        content.respond(req)
    });
    let (out, report, elapsed) = hostile_run(&server, SINGLE, &[]);
    assert_fails(&out, &report, "error", &["429", "too many"], "endless 429");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert!(server.count(&format!("/v2/airlock/single/manifests/{SINGLE_SIG_TAG}")) <= 10, "retries are bounded");
}

#[test]
fn hostile_500_on_the_signature_fails_closed() {
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path().ends_with(".sig") {
            return Response::error(500, "UNKNOWN", "internal error");
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_fails(&out, &report, "error", &["500"], "500 on the .sig tag");
    assert!(
        !kinds(&only_result(&report, &out)).contains(&"unsigned".to_string()),
        "a 500 is not \"no signature\"\n{}",
        out.describe()
    );
}

#[test]
fn hostile_stalled_manifest_hits_the_timeout() {
    // headers, 100 bytes of the manifest, then nothing
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path() == "/v2/airlock/single/manifests/v1" {
            let (media, _, bytes) = content.manifest("airlock/single", "v1").unwrap();
            return Response::new(200)
                .header("Content-Type", &media)
                .body(Body::Stall { declared: bytes.len() as u64, prefix: bytes[..100].to_vec() });
        }
        content.respond(req)
    });
    let (out, report, elapsed) = validate(&server.addr, &[SINGLE], &["--tls-verify=false", "--timeout", "1s"], &[]);
    assert!(
        elapsed < Duration::from_secs(10),
        "stall after headers: --timeout 1s took {elapsed:?}\n{}",
        out.describe()
    );
    assert_fails(&out, &report, "error", &["timed out", "timeout", "deadline"], "stall after headers");
}

#[test]
fn hostile_silent_tag_resolve_hits_the_timeout() {
    // no answer at all to the first request for the image (resolving its tag)
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path() == "/v2/airlock/single/manifests/v1" {
            return Response::new(200).delay(Duration::from_secs(60));
        }
        content.respond(req)
    });
    let (out, report, elapsed) = validate(&server.addr, &[SINGLE], &["--tls-verify=false", "--timeout", "1s"], &[]);
    assert!(elapsed < Duration::from_secs(10), "silent tag: --timeout 1s took {elapsed:?}\n{}", out.describe());
    assert_fails(&out, &report, "error", &["timed out", "timeout", "deadline"], "silent tag");
}

#[test]
fn hostile_silent_signature_tag_hits_the_timeout() {
    // no answer at all on the signature tag: fail closed, not "unsigned"
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path().ends_with(".sig") {
            return Response::new(200).delay(Duration::from_secs(100));
        }
        content.respond(req)
    });
    let (out, report, elapsed) = validate(&server.addr, &[SINGLE], &["--tls-verify=false", "--timeout", "1s"], &[]);
    assert!(elapsed < Duration::from_secs(10), "stall on the .sig: --timeout 1s took {elapsed:?}\n{}", out.describe());
    assert_fails(&out, &report, "error", &["timed out", "timeout", "deadline"], "stall on the .sig");
}

#[test]
fn hostile_stalled_blob_hits_the_timeout() {
    // a blob body that stops half way (--blobs verify)
    let content = single_content();
    let layer = "sha256:dfcaf4028413b329e92cc5da3d024f4f62bccd11e9e8d9a534bcde8bf018e6a8";
    let server = Hostile::start(move |req| {
        if req.method == "GET" && req.path().ends_with(layer) {
            let bytes = content.blobs[layer].clone();
            return Response::new(200).body(Body::Stall { declared: bytes.len() as u64, prefix: bytes[..10].to_vec() });
        }
        content.respond(req)
    });
    let (out, report, elapsed) =
        validate(&server.addr, &[SINGLE], &["--tls-verify=false", "--timeout", "1s", "--blobs", "verify"], &[]);
    assert!(elapsed < Duration::from_secs(10), "stall in a blob: --timeout 1s took {elapsed:?}\n{}", out.describe());
    assert_fails(&out, &report, "error", &["timed out", "timeout", "deadline"], "stall in a blob");
}

#[test]
fn hostile_redirect_to_another_host_gets_no_credentials() {
    // blobs live on "another host" (127.0.0.2, another port), as registries redirect to a CDN
    let content = single_content();
    let cdn_content = content.clone();
    let cdn = Hostile::start_on("127.0.0.2", move |req| match req.path().strip_prefix("/cdn/") {
        Some(digest) => match cdn_content.blobs.get(digest) {
            Some(b) => Response::bytes(200, "application/octet-stream", b.clone()),
            None => Response::new(404),
        },
        None => Response::new(404),
    });
    let cdn_addr = cdn.addr.clone();
    let expected = format!("Basic {}", {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("airlock:hunter2")
    });
    let expected2 = expected.clone();
    let registry = Hostile::start(move |req| {
        if req.header("authorization") != Some(expected2.as_str()) {
            return Response::error(401, "UNAUTHORIZED", "authentication required")
                .header("WWW-Authenticate", "Basic realm=\"hostile\"");
        }
        if let Some((_, digest)) = req.path().rsplit_once("/blobs/") {
            return Response::new(302).header("Location", &format!("http://{cdn_addr}/cdn/{digest}"));
        }
        content.respond(req)
    });
    let (out, _, _) = hostile_run(&registry, SINGLE, &["--creds", "airlock:hunter2", "--blobs", "verify"]);
    let at_registry = registry.requests();
    assert!(
        at_registry.iter().any(|r| r.header("authorization") == Some(expected.as_str())),
        "the credentials were used at the registry"
    );
    let at_cdn = cdn.requests();
    assert!(!at_cdn.is_empty(), "the redirect was followed\n{}", out.describe());
    let leaked: Vec<&Request> = at_cdn.iter().filter(|r| r.header("authorization").is_some()).collect();
    assert!(leaked.is_empty(), "credentials sent to another host after a redirect: {leaked:?}");
    assert_eq!(out.code, 0, "blobs served by the other host verify\n{}", out.describe());
}

#[test]
fn missing_registry_tool_message_is_clear() {
    // the harness fails (never skips) when a tool is missing, naming the package to install
    let msg = registry::missing_tool_message("airlock-no-such-tool", "no-such-package").expect("missing");
    assert!(msg.contains("apt-get install -y no-such-package") && msg.contains(".ci/run"), "{msg}");
    registry::require_tool(registry::REGISTRY_BIN, "docker-registry");
}

#[test]
fn hostile_redirect_target_asking_for_credentials_gets_none() {
    // a Basic-auth registry redirects a blob to another host, which answers with a Bearer challenge
    // whose realm is itself: the origin's credentials must not follow (SPEC §5.3)
    let content = single_content();
    let cdn = Hostile::start_on("127.0.0.2", move |req| {
        let realm = format!("http://{}/token", req.local);
        if req.path() == "/token" {
            return Response::json(200, &json!({"token": "stolen"}));
        }
        Response::error(401, "UNAUTHORIZED", "authentication required")
            .header("WWW-Authenticate", &format!("Bearer realm=\"{realm}\",service=\"cdn\""))
    });
    let cdn_addr = cdn.addr.clone();
    let basic = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("airlock:hunter2"))
    };
    let registry = Hostile::start(move |req| {
        if req.path() != "/v2/" && req.header("authorization") != Some(basic.as_str()) {
            return Response::error(401, "UNAUTHORIZED", "authentication required")
                .header("WWW-Authenticate", "Basic realm=\"hostile\"");
        }
        if let Some((_, digest)) = req.path().rsplit_once("/blobs/") {
            return Response::new(307).header("Location", &format!("http://{cdn_addr}/cdn/{digest}"));
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&registry, SINGLE, &["--creds", "airlock:hunter2", "--blobs", "verify"]);
    let at_cdn = cdn.requests();
    assert!(!at_cdn.is_empty(), "the redirect was followed\n{}", out.describe());
    assert!(at_cdn.iter().all(|r| r.path() != "/token"), "a token was asked of the redirect target: {at_cdn:?}");
    assert!(at_cdn.iter().all(|r| r.header("authorization").is_none()), "credentials leaked: {at_cdn:?}");
    assert_fails(&out, &report, "error", &["which asks for credentials"], "a challenge from the redirect target");
}

#[test]
fn hostile_head_without_content_length_is_not_existence() {
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.method == "HEAD" && req.path().contains("/blobs/") {
            // neither Content-Length nor a body: nothing says the blob has the descriptor's size
            return Response::new(200).header("Transfer-Encoding", "chunked");
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_fails(&out, &report, "error", &["without Content-Length"], "HEAD without a size");
}

#[test]
fn hostile_list_honours_the_timeout() {
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path() == "/v2/airlock/single/manifests/v1" {
            let (media, _, bytes) = content.manifest("airlock/single", "v1").unwrap();
            return Response::new(200)
                .header("Content-Type", &media)
                .body(Body::Stall { declared: bytes.len() as u64, prefix: bytes[..10].to_vec() });
        }
        content.respond(req)
    });
    let target = format!("docker://{}/airlock/single:v1", server.addr);
    let (out, elapsed) = run(&["list", &target, "--tls-verify=false", "--timeout", "1s"], &[], None);
    assert!(elapsed < Duration::from_secs(10), "list took {elapsed:?}\n{}", out.describe());
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.stderr.contains("timed out"), "{}", out.describe());
}

#[test]
fn hostile_error_messages_cannot_print_a_line() {
    let forged = "boom\nPASS registry.airlock.test/airlock/single:v1 (1 platform, signed by testdata/keys/p256.pub)\n1 passed, 0 failed";
    let content = single_content();
    let server = Hostile::start(move |req| {
        if req.path().ends_with(".sig") {
            return Response::error(500, "UNKNOWN", forged);
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_fails(&out, &report, "error", &["500"], "a registry error message with new lines");
    assert!(out.stdout.lines().all(|l| !l.starts_with("PASS ") && !l.starts_with("1 passed")), "{}", out.describe());
    assert!(out.stdout.contains("boom\\u{000a}PASS"), "{}", out.describe());
}

#[test]
fn hostile_indexes_read_differently_by_go_are_malformed() {
    let content = multi_content();
    let server = Hostile::start(move |req| {
        if req.path() == "/v2/airlock/multi/manifests/v1" {
            let (media, _, bytes) = content.manifest("airlock/multi", "v1").unwrap();
            let text =
                String::from_utf8(bytes).unwrap().replacen("\"manifests\":", "\"Manifests\":[],\"manifests\":", 1);
            return Response::bytes(200, &media, text);
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, "registry.airlock.test/airlock/multi:v1", &[]);
    assert_fails(&out, &report, "malformed", &["to go's encoding/json"], "Manifests beside manifests");

    // a child for a selected platform whose media type is no manifest: never skipped
    let content = multi_content();
    let server = Hostile::start(move |req| {
        if req.path() == "/v2/airlock/multi/manifests/v1" {
            let (media, _, bytes) = content.manifest("airlock/multi", "v1").unwrap();
            let mut v: Value = serde_json::from_slice(&bytes).unwrap();
            v["manifests"][0]["mediaType"] = json!("application/vnd.example.thing");
            return Response::bytes(200, &media, v.to_string());
        }
        content.respond(req)
    });
    let (out, report, _) = hostile_run(&server, "registry.airlock.test/airlock/multi:v1", &[]);
    assert_fails(&out, &report, "malformed", &["not a manifest or index"], "a platform child of another type");
}

#[test]
fn basic_auth_at_j8_never_fails_spuriously() {
    let reg = Registry::start(Mode::Basic);
    let layout = crate::common::root().join("testdata/layouts/signed-p256");
    push_layouts(&reg, &layout, 16, |i, repo| {
        repo.replace("registry.airlock.test/airlock/single", &format!("airlock/single{i}"))
    });
    let lines: Vec<String> = (0..16).map(|i| format!("registry.airlock.test/airlock/single{i}:v1")).collect();
    let tmp = Scratch::new();
    let list = tmp.write("list", &(lines.join("\n") + "\n"));
    let report = tmp.s("report.json");
    let failed = tmp.s("failed.txt");
    let creds = reg.creds_arg();
    let args = [
        "validate",
        "-f",
        &list,
        "-p",
        KEY,
        "--registry",
        &reg.addr,
        "--tls-verify=false",
        "--creds",
        &creds,
        "-j",
        "8",
        "--exact-repository",
        "registry.airlock.test/airlock/single",
        "--report",
        &report,
        "-o",
        &failed,
    ];
    for round in 0..5 {
        let (out, _) = run(&args, &[], None);
        let report = read_report(Path::new(&report), &out);
        assert_eq!(out.code, 0, "round {round}\n{}", out.describe());
        assert_eq!(report["summary"]["passed"], 16, "round {round}\n{}", out.describe());
    }
}

#[test]
fn the_referrers_capability_is_learnt_once_per_registry() {
    // a multi-arch image without `.sig` attachments: referrers are looked up for the index and each
    // selected platform manifest
    let mut content = multi_content();
    content.tags.retain(|(_, tag), _| !tag.ends_with(".sig"));
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) =
        hostile_run(&server, "registry.airlock.test/airlock/multi:v1", &["--signature-scope", "all"]);
    assert_fails(&out, &report, "unsigned", &["no signature exists"], "no signatures at all");
    let asked: Vec<String> =
        server.requests().iter().filter(|r| r.path().contains("/referrers/")).map(|r| r.target.clone()).collect();
    assert_eq!(asked.len(), 1, "the referrers API is asked once, then the tag fallback is used: {asked:?}");
    assert!(server.count("/v2/airlock/multi/manifests/sha256-") >= 3, "the fallback tag is still looked up");
}

/// An accepted `.sig` signature ends the search: referrers are not fetched for it.
#[test]
fn an_accepted_attachment_signature_needs_no_referrer_lookup() {
    let content = single_content();
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(only_result(&report, &out)["status"], "pass");
    let paths: Vec<String> = server.requests().iter().map(|r| format!("{} {}", r.method, r.path())).collect();
    let referrer_lookup =
        |p: &String| p.contains("/referrers/") || (p.contains("/manifests/sha256-") && !p.ends_with(".sig"));
    assert!(!paths.iter().any(referrer_lookup), "{paths:#?}");
    // the tag, the .sig manifest, its payload, the config and the layer: 5 requests, plus /v2/ once
    assert_eq!(paths.len(), 6, "{paths:#?}");
}

#[test]
fn the_audit_record_says_where_it_looked() {
    let content = single_content();
    let server = Hostile::start(move |req| content.respond(req));
    let (out, report, _) = hostile_run(&server, SINGLE, &[]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let mode = &report["mode"];
    assert_eq!(mode["registry"]["hosts"], json!([server.addr]), "{mode:#}");
    assert_eq!(mode["registry"]["tls_verify"], false, "{mode:#}");
    assert_eq!(mode["blobs"], "exist", "{mode:#}");
    assert_eq!(mode["signature_scope"], "auto", "{mode:#}");
    assert_eq!(mode["identity"], format!("remap:{}=registry.airlock.test", server.addr), "{mode:#}");
    assert!(mode["command_line"].as_array().unwrap().iter().any(|a| a == "validate"), "{mode:#}");
}

/// Lines as they happen (SPEC §7): with the second image's manifest held back 1.5 s a request, the first image's PASS line
/// is on stdout long before the run ends, and the lines keep the list's order (the slow copy fails on its
/// identity: it is signed for another repository).
#[test]
fn lines_are_printed_as_each_image_is_decided() {
    use std::io::BufRead;
    let content = single_content();
    let server = Hostile::start(move |req| {
        // a second repository with the same content, whose manifest is slow
        let slow = req.path().starts_with("/v2/airlock/slow/");
        let mut req = req.clone();
        req.target = req.target.replacen("/v2/airlock/slow/", "/v2/airlock/single/", 1);
        let response = content.respond(&req);
        if slow && req.path().contains("/manifests/") { response.delay(Duration::from_millis(1500)) } else { response }
    });
    let tmp = Scratch::new();
    let list = tmp.write("list", &format!("{SINGLE}\nairlock/slow:v1\n"));
    let remap = format!("remap:{}=registry.airlock.test", server.addr);
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["validate", "-f", &list, "-p", KEY, "--registry", &server.addr, "--tls-verify=false"])
        .args(["--signed-identity", &remap])
        .args(["-o", &tmp.s("failed.txt")])
        .current_dir(crate::common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("airlock");
    let stdout = child.stdout.take().expect("stdout");
    let lines: Vec<(Duration, String)> =
        std::io::BufReader::new(stdout).lines().map(|l| (started.elapsed(), l.expect("line"))).collect();
    child.wait().expect("wait");
    let first = lines.first().expect("a first line");
    assert!(first.1.starts_with(&format!("PASS {}/airlock/single:v1", server.addr)), "{lines:?}");
    assert!(first.0 < Duration::from_secs(1), "the first line waited for the slow image: {lines:?}");
    let end = lines.last().expect("the summary").0;
    assert!(end >= Duration::from_millis(1500), "the slow image was not slow: {lines:?}");
    assert!(lines[1].1.contains("/airlock/slow:v1"), "list order: {lines:?}");
}

/// Ctrl-C (SPEC §7): the image in flight finishes, no new one starts, the report and the failed list hold
/// what was decided (the report marked incomplete), and the exit status is 130.
#[test]
fn ctrl_c_writes_what_was_decided_and_exits_130() {
    use std::io::BufRead;
    let server = slow_server(Duration::from_millis(700));
    let tmp = Scratch::new();
    let list = tmp.write("list", &format!("{SINGLE}\nairlock/slow1:v1\nairlock/slow2:v1\n"));
    let (report, failed) = (tmp.s("report.json"), tmp.s("failed.txt"));
    let remap = format!("remap:{}=registry.airlock.test", server.addr);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["validate", "-f", &list, "-p", KEY, "--registry", &server.addr, "--tls-verify=false", "-j", "1"])
        .args(["--signed-identity", &remap, "--report", &report, "-o", &failed])
        .current_dir(crate::common::root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("airlock");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("utf8");
    assert!(first.starts_with("PASS "), "{first}");
    // the second image is in flight (its manifests are slow): stop the run
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: signalling our own child process, which is still running (its stdout is open)
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let rest: Vec<String> = lines.map(|l| l.expect("utf8")).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130), "{first}\n{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "the summary says so: {rest:?}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("the report")).expect("json");
    assert_eq!(v["incomplete"], true, "{v:#}");
    let refs: Vec<&str> =
        v["results"].as_array().expect("results").iter().filter_map(|r| r["reference"].as_str()).collect();
    assert!(refs.len() < 3 && !refs.iter().any(|r| r.ends_with("slow2:v1")), "the last image never started: {refs:?}");
    crate::common::schema::check_report(&v);
    let listed = std::fs::read_to_string(&failed).unwrap_or_default();
    assert!(!listed.contains("slow2"), "an image not verified is not a failed one: {listed}");
}

/// A registry serving `single` as itself and as `airlock/slow1` and `airlock/slow2`, whose manifests
/// answer after `delay`.
fn slow_server(delay: Duration) -> Hostile {
    let content = single_content();
    Hostile::start(move |req| {
        let slow = req.path().starts_with("/v2/airlock/slow");
        let mut req = req.clone();
        for repo in ["/v2/airlock/slow1/", "/v2/airlock/slow2/"] {
            req.target = req.target.replacen(repo, "/v2/airlock/single/", 1);
        }
        let response = content.respond(&req);
        if slow && req.path().contains("/manifests/") { response.delay(delay) } else { response }
    })
}

/// Ctrl-C typed at a terminal (a real pty, made by util-linux `script`; the pty's line discipline turns
/// the ^C byte into SIGINT for the foreground job): the progress bar was on, the PASS line before it is
/// kept, the report is marked incomplete, and the exit status is 130.
#[test]
fn ctrl_c_at_a_terminal_stops_the_run_with_130() {
    use std::io::Write;
    let server = slow_server(Duration::from_secs(1));
    let tmp = Scratch::new();
    let list = tmp.write("list", &format!("{SINGLE}\nairlock/slow1:v1\nairlock/slow2:v1\n"));
    let (report, log) = (tmp.s("report.json"), tmp.s("tty.log"));
    let command = format!(
        "{} validate -f {list} -p {KEY} --registry {addr} --tls-verify=false -j 1 --signed-identity \
         remap:{addr}=registry.airlock.test --report {report} -o {}",
        env!("CARGO_BIN_EXE_airlock"),
        tmp.s("failed.txt"),
        addr = server.addr,
    );
    let mut script = std::process::Command::new("script")
        .args(["-qfec", &command, &log])
        .current_dir(crate::common::root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs the command on a pty");
    let started = std::time::Instant::now();
    let seen = |needle: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(needle);
    while !seen("PASS ") {
        let tty = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(20), "no PASS line on the terminal: {tty}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut keys = script.stdin.take().expect("the pty's input");
    keys.write_all(b"\x03").expect("type ^C");
    keys.flush().expect("flush");
    let status = script.wait().expect("wait");
    drop(keys);
    let tty = std::fs::read_to_string(&log).expect("the pty log");
    assert_eq!(status.code(), Some(130), "{tty}");
    assert!(tty.contains("images, ETA"), "no progress bar on the terminal: {tty}");
    assert!(tty.contains("interrupted: the images not listed were not verified"), "{tty}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("the report")).expect("json");
    assert_eq!(v["incomplete"], true, "{v:#}");
    let refs: Vec<&str> = v["results"].as_array().unwrap().iter().filter_map(|r| r["reference"].as_str()).collect();
    assert!(!refs.iter().any(|r| r.ends_with("slow2:v1")), "the last image never started: {refs:?}\n{tty}");
}
