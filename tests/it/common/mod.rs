//! The test harness: run the airlock binary as a user would and read what it said.

pub mod hostile;
pub mod registry;
pub mod schema;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The one PASS/FAIL line about `reference` (on stdout, or on stderr under `--report -`).
    pub fn line_for(&self, reference: &str) -> Option<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .find(|l| (l.starts_with("PASS ") || l.starts_with("FAIL ")) && l[5..].starts_with(reference))
    }

    /// The `DAMAGED <path>: …` line about a source whose path starts with `path` (any, for "").
    pub fn damage_line(&self, path: &str) -> Option<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .find(|l| l.strip_prefix("DAMAGED ").is_some_and(|r| r.starts_with(path)))
    }

    /// The report written to stdout by `--report -` (the document alone), checked against the schema.
    pub fn report(&self) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not the report alone ({e})\n{}", self.describe()));
        schema::check_report(&v);
        v
    }

    pub fn describe(&self) -> String {
        format!("exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs airlock with `args` in the crate root (through [`run`]).
pub fn airlock<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    airlock_env(args, &[])
}

/// Runs airlock with extra environment variables (through [`run`]).
pub fn airlock_env<I, S>(args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    run(&args, env, None).0
}

// ---------------------------------------------------------------------------------------------------
// The one runner

/// How long one airlock run may take before the test calls it a hang and kills it.
const HANG_LIMIT: Duration = Duration::from_secs(180);

/// Runs airlock in the crate root (or `cwd`) with a hermetic environment: a fresh empty `HOME`, no
/// `REGISTRY_AUTH_FILE`/`XDG_RUNTIME_DIR`/`DOCKER_CONFIG`/`SSL_CERT_*`, no proxies; then `env` on
/// top. Returns the output and the wall time. A run longer than `HANG_LIMIT` is killed and panics.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)], cwd: Option<&Path>) -> (Output, Duration) {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.args(args).current_dir(cwd.map_or_else(root, Path::to_path_buf)).env_remove("RUST_BACKTRACE");
    for v in [
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "DOCKER_CONFIG",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("HOME", home.path()).env("NO_PROXY", "*").env("no_proxy", "*");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run airlock");
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait airlock") {
            break Some(s);
        }
        if started.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // most runs take milliseconds: poll often at first, then every 20 ms
        std::thread::sleep((started.elapsed() / 10).clamp(Duration::from_millis(1), Duration::from_millis(20)));
    };
    let elapsed = started.elapsed();
    let out = Output {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned(),
    };
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    assert!(status.is_some(), "airlock hung (killed after {HANG_LIMIT:?}): {args:?}\n{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "airlock panicked: {args:?}\n{}", out.describe());
    (out, elapsed)
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a testdata folder into a fresh temp dir (for tests that damage it) and returns both.
pub fn copy_fixture(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dst = tmp.path().join(Path::new(rel).file_name().expect("name"));
    copy_dir(&root().join("testdata").join(rel), &dst);
    (tmp, dst)
}

pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir") {
        let e = e.expect("entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
