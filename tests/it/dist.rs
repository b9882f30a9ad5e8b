//! `make dist`: the stripped release binary for old air-gapped hosts (glibc 2.17: RHEL 7/8, SLES 12/15).
//!
//! The test builds it itself (`make dist`, cargo-zigbuild with zig as linker and C compiler), so a fresh
//! CI machine checks what it ships: a cold build takes about 5 minutes on 2 cores, a warm one a second or
//! two, and one after a source change under a minute (only airlock itself is rebuilt). It runs under
//! `nice` so that the rest of the suite, running beside it, keeps its pace. Then the binary must run,
//! print the crate's version, import no glibc symbol version newer than 2.17, and match its `.sha256`.
//! It fails, never skips, when cargo-zigbuild, zig or objdump is missing.

use crate::common::{root, sha256_hex};
use std::process::Command;
use std::time::Instant;

const HINT: &str = "make dist needs cargo-zigbuild and zig: pip install ziglang cargo-zigbuild (the versions \
                    .ci/run pins), and strip/objdump from binutils";
/// The newest glibc the dist binary may need (RHEL 7's).
const GLIBC_MAX: [u32; 2] = [2, 17];

fn dist_name() -> String {
    format!("airlock-{}-x86_64-linux-gnu", env!("CARGO_PKG_VERSION"))
}

/// Runs `make dist` in the crate root (at a lower priority) and panics with its output and the install
/// hint when it fails.
fn make_dist() {
    eprintln!("dist: building dist/{} with `make dist` (cargo zigbuild --release; cold: ~5 min)", dist_name());
    let started = Instant::now();
    let out = Command::new("nice")
        .args(["-n", "10", "make", "--no-print-directory", "dist"])
        .current_dir(root())
        // The nested make and cargo are their own: no jobserver or make flags from a calling make.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap_or_else(|e| panic!("cannot run `nice make dist` ({e}); {HINT}"));
    assert!(
        out.status.success(),
        "`make dist` failed ({}) after {:?}; {HINT}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        started.elapsed(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("dist: `make dist` took {:?}", started.elapsed());
}

/// `GLIBC_2.2.5` → `[2, 2, 5]`; `None` for a name that is not a numbered glibc version.
fn glibc_version(name: &str) -> Option<Vec<u32>> {
    name.strip_prefix("GLIBC_")?.split('.').map(|p| p.parse().ok()).collect()
}

#[test]
fn make_dist_builds_a_binary_for_glibc_2_17_with_its_sha256() {
    // One dist test at a time in this tree (two `make test` at once run two): the lock is held from the
    // build through the checks, so that the other run cannot replace the files in between.
    let dir = root().join("dist");
    std::fs::create_dir_all(&dir).expect("mkdir dist");
    let lock = std::fs::File::create(dir.join(".test.lock")).expect("create dist/.test.lock");
    lock.lock().expect("lock dist/.test.lock");
    make_dist();
    let name = dist_name();
    let bin = dir.join(&name);

    // It runs, and says which version it is.
    let out = Command::new(&bin).arg("--version").output().unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} --version: {}\n{stdout}{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!("airlock {} ", env!("CARGO_PKG_VERSION"));
    assert!(stdout.starts_with(&want), "{} --version printed {stdout:?}, not {want:?}…", bin.display());

    // dist/airlock is the same binary.
    let plain = dir.join("airlock");
    assert_eq!(
        std::fs::read(&plain).unwrap_or_else(|e| panic!("read {}: {e}", plain.display())),
        std::fs::read(&bin).expect("read the dist binary"),
        "dist/airlock is not dist/{name}"
    );

    // The glibc symbol versions it imports (`-T`) and requires (`-p`, its version references, where a
    // version tied to no symbol such as GLIBC_ABI_DT_RELR shows too): none newer than 2.17, none private,
    // and every strong undefined symbol versioned (an unversioned one would bind to whatever the host
    // has, or to nothing).
    let out = Command::new("objdump")
        .args(["-T", "-p"])
        .arg(&bin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run objdump ({e}): apt-get install binutils"));
    assert!(out.status.success(), "objdump -T -p {}: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let mut newest: Option<Vec<u32>> = None;
    let mut count = 0;
    for line in table.lines() {
        for (i, _) in line.match_indices("GLIBC_") {
            let tok: String =
                line[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.').collect();
            let v = glibc_version(&tok).unwrap_or_else(|| panic!("{name} imports {tok}: {line}"));
            count += 1;
            if newest.as_ref().is_none_or(|n| v > *n) {
                newest = Some(v);
            }
        }
        // `<address> <flags> *UND* <size> [(<version>)] <name>`
        if let Some((flags, rest)) = line.split_once("*UND*") {
            let weak = flags.split_whitespace().any(|f| f == "w");
            let versioned = rest.split_whitespace().count() >= 3;
            assert!(weak || versioned, "{name}: a strong undefined symbol with no version: {line}");
        }
    }
    let newest = newest.unwrap_or_else(|| panic!("objdump -T -p {name} shows no GLIBC_ version\n{table}"));
    let shown = newest.iter().map(u32::to_string).collect::<Vec<_>>().join(".");
    eprintln!("dist: {name}: {count} glibc imports, the newest GLIBC_{shown}");
    assert!(newest.as_slice() <= GLIBC_MAX.as_slice(), "{name} needs GLIBC_{shown}, newer than 2.17");

    // The .sha256 is sha256sum's line for it (so `sha256sum -c` works beside it).
    let sums = dir.join(format!("{name}.sha256"));
    let text = std::fs::read_to_string(&sums).unwrap_or_else(|e| panic!("read {}: {e}", sums.display()));
    let want = format!("{}  {name}\n", sha256_hex(&std::fs::read(&bin).expect("read the dist binary")));
    assert_eq!(text, want, "{} is not sha256sum's line for {name}", sums.display());
}
