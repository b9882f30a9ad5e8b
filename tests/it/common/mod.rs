//! The test harness: run the airlock binary as a user would and read what it said.

pub mod hostile;
pub mod registry;
pub mod schema;

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Runs airlock with `args` in the crate root.
pub fn airlock<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    airlock_env(args, &[])
}

/// Runs airlock with extra environment variables.
pub fn airlock_env<I, S>(args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run airlock");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
