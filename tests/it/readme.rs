//! The README runs: every fenced `sh` block is run by bash (`-e -o pipefail`) in a fresh copy of
//! `testdata/examples/`, with the airlock under test first on `PATH` and `REGISTRY`/`CERT_DIR` naming a real
//! `docker-registry` (TLS, its own CA) on 127.0.0.1 that holds the example images. Each block must exit 0
//! and print no FAIL or DAMAGED line. Every `make TARGET` the README names must be a Makefile target.

use crate::common::registry::{Mode, Registry, push_layout};
use crate::common::{copy_dir, root};
use std::path::Path;
use std::process::Command;

/// The fenced blocks of `markdown`: (line of the opening fence, info string, text).
fn fenced_blocks(markdown: &str) -> Vec<(usize, String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((i + 1, info.trim().to_string(), String::new())),
            (Some(_), Some("")) => blocks.push(open.take().unwrap()),
            (Some((_, _, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "README.md: a fenced block is never closed");
    blocks
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

#[test]
fn every_sh_block_of_the_readme_runs_on_the_examples() {
    let blocks: Vec<_> = fenced_blocks(&readme()).into_iter().filter(|(_, info, _)| info == "sh").collect();
    assert!(blocks.len() >= 6, "only {} sh blocks in README.md: the workflow sections lost theirs", blocks.len());
    let reg = Registry::start(Mode::Tls);
    push_layout(&reg, &root().join("testdata/examples/bundle"), |r| {
        r.strip_prefix("registry.airlock.test/").unwrap().to_string()
    });
    let bin = Path::new(env!("CARGO_BIN_EXE_airlock")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let cert_dir = reg.cert_dir.clone().expect("a TLS registry has a CA folder");
    for (line, _, text) in &blocks {
        let tmp = tempfile::tempdir().unwrap();
        let examples = tmp.path().join("examples");
        copy_dir(&root().join("testdata/examples"), &examples);
        let out = Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", text])
            .current_dir(&examples)
            .env("PATH", &path)
            .env("REGISTRY", &reg.addr)
            .env("CERT_DIR", &cert_dir)
            .env_remove("JOB_COMPLETION_INDEX")
            .output()
            .expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown =
            format!("README.md:{line}:\n{text}--- exit {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}", out.status);
        assert!(out.status.success(), "{shown}");
        assert!(!stdout.lines().any(|l| l.starts_with("FAIL ") || l.starts_with("DAMAGED ")), "{shown}");
        assert!(stdout.contains("PASS ") || text.contains("report merge"), "nothing was verified\n{shown}");
    }
}

/// A block that stops with an error fails the test: the harness is not a no-op.
#[test]
fn a_failing_block_is_seen_as_failing() {
    let (_, _, text) = &fenced_blocks("```sh\nairlock verify-archive no-such-dir/\n```\n")[0];
    let bin = Path::new(env!("CARGO_BIN_EXE_airlock")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c", text])
        .current_dir(root().join("testdata/examples"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_make_target_the_readme_names_exists() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let targets: Vec<&str> =
        makefile.lines().filter_map(|l| l.split_once(':').map(|(t, _)| t)).filter(|t| !t.contains(' ')).collect();
    let text = readme();
    let mut named = 0;
    for word in text.split('`').flat_map(|span| span.lines()) {
        let Some(rest) = word.trim().strip_prefix("make ") else { continue };
        let target = rest.split_whitespace().next().unwrap_or_default();
        assert!(targets.contains(&target), "README names `make {target}`, which the Makefile does not have");
        named += 1;
    }
    assert!(named >= 4, "README names only {named} make targets");
}
