//! Policy parity (issue 8, SPEC §6.3): `airlock validate --policy` decides exactly as containers-image
//! (skopeo 1.18) does for the same registry and policy.
//!
//! `testdata/policy-matrix/make-matrix.sh` recorded skopeo's decision on every row of
//! `testdata/policy-matrix/cases.tsv` (policy × image reference × `--all`) against a registry at the FIXED
//! address 127.0.0.7:5007 (sigstore signatures embed host:port, and ECDSA signatures are not
//! reproducible), and exported that registry's storage as `registry.tar.gz`. This test serves those very
//! bytes at that very address (Debian's `docker-registry`, CNCF distribution 2.8), runs
//! `airlock validate -f LIST --policy POLICY --tls-verify=false` once per policy (with and without
//! `--all`), LIST holding every reference of those rows, from the directory skopeo ran in (relative key
//! paths resolve against the working directory in containers-image), and compares per row, by the
//! report's results for the row's list line:
//!
//! * skopeo accepted ⇔ every result for the line is `pass`;
//! * skopeo rejected the image ⇔ a result for the line is `fail`;
//! * skopeo refused the policy ("Error loading trust policy") ⇔ airlock exits 2.
//!
//! The run's exit status must agree with its rows (0 when all pass, 1 when one fails, 2 for a policy
//! error); a run where it does not fails every row of the policy.
//!
//! Platforms: skopeo without `--all` checks only the linux/amd64 instance, so those rows run with
//! `--arch amd64`; `--all` rows check every platform the images have (`amd64,arm64,arm/v7`).
//!
//! Two-segment references (SPEC §4): `127.0.0.7:5007/two:v1` is `127.0.0.7:5007/two:v1` to
//! containers-image and `127.0.0.7:5007/library/two:v1` to hangar; airlock verifies every candidate that
//! exists and all must pass. The registry holds both repositories, and the matrix always records the
//! `library/` twin with the same policy, so the expected airlock decision for such a row is skopeo's
//! decision for the row combined with skopeo's decision for its twin row (any policy error → policy
//! error; any rejection → rejection). Both recorded decisions are printed with a disagreement.
//!
//! Every disagreement is printed; the test then asserts there are none ("N/N rows agree"). It is the
//! measurement of issue 8: it fails while airlock has gaps, and must not be weakened or ignored.

use crate::common::registry::{http, require_tool};
use crate::common::run;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Where the matrix was recorded, and where the replay must serve it.
const ADDR: &str = "127.0.0.7:5007";
/// Platforms of the images in the matrix (for `--all` rows).
const ALL_ARCHES: &str = "amd64,arm64,arm/v7";

fn matrix_dir() -> PathBuf {
    crate::common::root().join("testdata").join("policy-matrix")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Decision {
    Accept,
    Reject,
    PolicyError,
}

impl Decision {
    fn parse(s: &str) -> Decision {
        match s {
            "accept" => Decision::Accept,
            "reject" => Decision::Reject,
            "policy-error" => Decision::PolicyError,
            other => panic!("cases.tsv: unknown decision {other:?}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Decision::Accept => "accept",
            Decision::Reject => "reject",
            Decision::PolicyError => "policy-error",
        }
    }

    /// Both candidates of a two-segment line must pass: the stronger refusal wins.
    fn and(self, other: Decision) -> Decision {
        self.max(other)
    }
}

/// One row of cases.tsv.
#[derive(Clone, Debug)]
struct Case {
    id: String,
    policy: String,
    reference: String,
    all: bool,
    skopeo_exit: i32,
    decision: Decision,
    message: String,
}

fn load_cases() -> Vec<Case> {
    let path = matrix_dir().join("cases.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("cases.tsv has a header");
    assert_eq!(header, "id\tpolicy\treference\tall\tskopeo_exit\tdecision\tskopeo_message", "cases.tsv header changed");
    let cases: Vec<Case> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 7, "cases.tsv: not 7 fields: {l:?}");
            Case {
                id: f[0].to_string(),
                policy: f[1].to_string(),
                reference: f[2].to_string(),
                all: match f[3] {
                    "0" => false,
                    "1" => true,
                    other => panic!("cases.tsv: all = {other:?}"),
                },
                skopeo_exit: f[4].parse().unwrap_or_else(|_| panic!("cases.tsv: skopeo_exit {:?}", f[4])),
                decision: Decision::parse(f[5]),
                message: f[6].to_string(),
            }
        })
        .collect();
    assert!(cases.len() >= 150, "cases.tsv has only {} rows", cases.len());
    cases
}

/// `HOST/NAME:TAG` (two path segments after a registry host) → `HOST/library/NAME:TAG`, the hangar
/// candidate (SPEC §4); None for any other shape.
fn hangar_twin(reference: &str) -> Option<String> {
    let (host, rest) = reference.split_once('/')?;
    if !(host.contains('.') || host.contains(':') || host == "localhost") || rest.contains('/') {
        return None;
    }
    Some(format!("{host}/library/{rest}"))
}

// ---------------------------------------------------------------------------------------------------
// The registry: docker-registry at the fixed address over an unpacked copy of registry.tar.gz

struct FixedRegistry {
    /// Held while the registry runs: one fixed address, so test runs of several checkouts take turns.
    _lock: std::fs::File,
    watchdog: Child,
    pid: u32,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl FixedRegistry {
    fn start() -> FixedRegistry {
        require_tool("docker-registry", "docker-registry");
        let lock = std::fs::File::create(std::env::temp_dir().join("airlock-policy-matrix.lock")).expect("lock file");
        // SAFETY: flock(2) on a file descriptor this process owns; blocks until the other run is done.
        let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
        if TcpStream::connect_timeout(&ADDR.parse().expect("addr"), Duration::from_millis(300)).is_ok() {
            panic!(
                "something already listens on {ADDR}; the policy matrix must be served there (stop it: is \
                 testdata/policy-matrix/make-matrix.sh running?)"
            );
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let storage = tmp.path().join("storage");
        std::fs::create_dir_all(&storage).expect("mkdir storage");
        let tarball = matrix_dir().join("registry.tar.gz");
        let file = std::fs::File::open(&tarball).unwrap_or_else(|e| panic!("{}: {e}", tarball.display()));
        tar::Archive::new(flate2::read::GzDecoder::new(file))
            .unpack(&storage)
            .unwrap_or_else(|e| panic!("unpack {}: {e}", tarball.display()));
        let config = tmp.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      \
                 enabled: false\nhttp:\n  addr: {ADDR}\n  secret: airlock-policy-matrix\n",
                storage.display()
            ),
        )
        .expect("write config");
        let log = tmp.path().join("registry.log");
        // the registry runs under a watchdog shell that kills it when this test process is gone
        const SCRIPT: &str = r#"P=$1; L=$2; shift 2
"$@" >"$L" 2>&1 &
C=$!
echo "$C"
while kill -0 "$P" 2>/dev/null && [ -d "/proc/$C" ] && ! grep -q '^State:.*Z' "/proc/$C/status" 2>/dev/null; do sleep 0.5; done
kill -9 "$C" 2>/dev/null
wait "$C" 2>/dev/null
exit 0"#;
        let mut watchdog = Command::new("sh")
            .args(["-c", SCRIPT, "airlock-policy-matrix-registry"])
            .arg(std::process::id().to_string())
            .arg(&log)
            .args(["docker-registry", "serve"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh for docker-registry");
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().expect("stdout")).read_line(&mut line).expect("read pid");
        let pid = line.trim().parse().unwrap_or_else(|_| panic!("watchdog did not report a pid: {line:?}"));
        let reg = FixedRegistry { _lock: lock, watchdog, pid, log, _tmp: tmp };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = http(ADDR, "GET", "/v2/", &[], b"")
                .is_ok_and(|r| r.status == 200 && r.header("docker-distribution-api-version").is_some());
            if up && reg.alive() {
                return reg;
            }
            if !reg.alive() || Instant::now() > deadline {
                panic!("docker-registry did not start on {ADDR}:\n{}", reg.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .is_ok_and(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FixedRegistry {
    fn drop(&mut self) {
        if matches!(self.watchdog.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-9", &self.pid.to_string()]).status();
            let until = Instant::now() + Duration::from_secs(5);
            while Instant::now() < until && matches!(self.watchdog.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.watchdog.kill();
        }
        let _ = self.watchdog.wait();
    }
}

// ---------------------------------------------------------------------------------------------------
// Running airlock for one row

/// What airlock did on one row: the run's exit status, and the results of the row's list line.
#[derive(Clone)]
struct Outcome {
    code: i32,
    /// The status of each result for the row's line (none when no report was written).
    statuses: Vec<String>,
    /// The first error (`kind: message`) of those results, or the first stderr line that says something.
    first_error: String,
}

impl Outcome {
    fn decision(&self) -> Option<Decision> {
        let all_pass = !self.statuses.is_empty() && self.statuses.iter().all(|s| s == "pass");
        let some_fail = self.statuses.iter().any(|s| s == "fail");
        match self.code {
            0 | 1 if all_pass => Some(Decision::Accept),
            1 if some_fail => Some(Decision::Reject),
            2 => Some(Decision::PolicyError),
            _ => None,
        }
    }

    fn describe(&self) -> String {
        let status = if self.statuses.is_empty() { "no report".to_string() } else { self.statuses.join(",") };
        format!("exit {}, status {status}: {}", self.code, self.first_error)
    }
}

/// The rows of one policy, with or without `--all`: one airlock run checks all their references.
struct Group {
    policy: String,
    all: bool,
    rows: Vec<usize>,
}

fn groups(cases: &[Case]) -> Vec<Group> {
    let mut by: BTreeMap<(String, bool), Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        by.entry((c.policy.clone(), c.all)).or_default().push(i);
    }
    by.into_iter().map(|((policy, all), rows)| Group { policy, all, rows }).collect()
}

/// Runs airlock once for a group; returns each row's outcome, in the group's order. The run's exit
/// status must agree with the rows: 2 for all (a policy error is the whole file's), 0 when every row
/// passes, 1 otherwise; a run that disagrees gives every row an outcome no decision matches.
fn run_group(cases: &[Case], group: &Group) -> Vec<Outcome> {
    let references: Vec<&str> = group.rows.iter().map(|&i| cases[i].reference.as_str()).collect();
    let (code, by_line, said) = run_airlock(&group.policy, group.all, &references);
    let mut outcomes: Vec<Outcome> = references
        .iter()
        .map(|r| {
            let results = by_line.get(*r).cloned().unwrap_or_default();
            let first_error = results.iter().find(|(_, e)| !e.is_empty()).map(|(_, e)| e.clone());
            Outcome {
                code,
                statuses: results.into_iter().map(|(s, _)| s).collect(),
                first_error: first_error.unwrap_or_else(|| said.clone()),
            }
        })
        .collect();
    let all_pass = outcomes.iter().all(|o| o.decision() == Some(Decision::Accept));
    let consistent = match code {
        2 => true,
        0 => all_pass,
        1 => !all_pass,
        _ => false,
    };
    if !consistent {
        for o in &mut outcomes {
            o.first_error = format!("exit {code} disagrees with the run's results; {}", o.first_error);
            o.code = -1;
        }
    }
    outcomes
}

/// One airlock run over `references` (one list line each): its exit status, (status, first error) of the
/// results of each line, and what it said when no result explains itself.
type Run = (i32, HashMap<String, Vec<(String, String)>>, String);

fn run_airlock(policy: &str, all: bool, references: &[&str]) -> Run {
    let scratch = tempfile::tempdir().expect("tempdir");
    let list = scratch.path().join("images.txt");
    std::fs::write(&list, references.iter().map(|r| format!("{r}\n")).collect::<String>()).expect("write list");
    let report = scratch.path().join("report.json");
    let failed = scratch.path().join("failed.txt");
    let (list, report_arg, failed) =
        (list.display().to_string(), report.display().to_string(), failed.display().to_string());
    let arch = if all { ALL_ARCHES } else { "amd64" };
    let args = [
        "validate",
        "-f",
        &list,
        "--policy",
        policy,
        "--tls-verify=false",
        "--report",
        &report_arg,
        "--format",
        "json",
        "--no-progress",
        "-o",
        &failed,
        "--arch",
        arch,
    ];
    // skopeo ran in the matrix folder: relative keyPaths and the policy path resolve against it; a hang
    // or a panic fails the test there and then (common::run)
    let (out, _) = run(&args, &[], Some(&matrix_dir()));
    let (code, stdout, stderr) = (out.code, out.stdout, out.stderr);
    let mut by_line: HashMap<String, Vec<(String, String)>> = HashMap::new();
    if let Ok(bytes) = std::fs::read(&report)
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
    {
        crate::common::schema::check_report(&v);
        for r in v["results"].as_array().into_iter().flatten() {
            let line = r["line"].as_str().unwrap_or_default().to_string();
            let error = r["errors"].as_array().and_then(|a| a.first()).map_or(String::new(), |e| {
                format!("{}: {}", e["kind"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("?"))
            });
            by_line.entry(line).or_default().push((r["status"].as_str().unwrap_or("?").to_string(), error));
        }
    }
    // what airlock said (stderr first, then stdout)
    let said = stderr
        .lines()
        .find(|l| l.contains("error"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty() && !l.contains("warning:")))
        .or_else(|| stdout.lines().find(|l| l.starts_with("FAIL ") || l.starts_with("PASS ")))
        .map(one_line)
        .unwrap_or_default();
    (code, by_line, said)
}

fn one_line(s: &str) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 300 { format!("{}…", s.chars().take(300).collect::<String>()) } else { s }
}

// ---------------------------------------------------------------------------------------------------

#[test]
fn airlock_decides_every_policy_matrix_row_as_skopeo_did() {
    let cases = load_cases();
    let _registry = FixedRegistry::start();

    // the twin of a two-segment reference: same policy, same --all, REG/library/NAME
    let by_key: HashMap<(String, bool, String), &Case> =
        cases.iter().map(|c| ((c.policy.clone(), c.all, c.reference.clone()), c)).collect();
    let expected = |c: &Case| -> (Decision, Option<&Case>) {
        let twin = hangar_twin(&c.reference).and_then(|t| by_key.get(&(c.policy.clone(), c.all, t)).copied());
        match twin {
            Some(t) => (c.decision.and(t.decision), Some(t)),
            None => (c.decision, None),
        }
    };

    let groups = groups(&cases);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new((0..cases.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let g = next.fetch_add(1, Ordering::SeqCst);
                    let Some(group) = groups.get(g) else { break };
                    let run = run_group(&cases, group);
                    let mut all = outcomes.lock().unwrap_or_else(|p| p.into_inner());
                    for (&i, o) in group.rows.iter().zip(run) {
                        all[i] = Some(o);
                    }
                }
            });
        }
    });
    let outcomes: Vec<Outcome> =
        outcomes.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().map(|o| o.expect("ran")).collect();

    let mut disagreements = 0usize;
    let mut per_policy: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (c, o) in cases.iter().zip(&outcomes) {
        let (want, twin) = expected(c);
        let agree = o.decision() == Some(want);
        let e = per_policy.entry(c.policy.as_str()).or_default();
        e.0 += 1;
        if agree {
            continue;
        }
        e.1 += 1;
        disagreements += 1;
        let mut line = format!(
            "DISAGREE {} {} {}{}: skopeo {} (exit {}){}",
            c.id,
            c.policy,
            c.reference,
            if c.all { " --all" } else { "" },
            c.decision.name(),
            c.skopeo_exit,
            if c.message.is_empty() { String::new() } else { format!(": {}", c.message) },
        );
        if let Some(t) = twin {
            line.push_str(&format!(
                " | twin {} {}: skopeo {}{} | expected {}",
                t.id,
                t.reference,
                t.decision.name(),
                if t.message.is_empty() { String::new() } else { format!(": {}", t.message) },
                want.name()
            ));
        }
        line.push_str(&format!(" | airlock {}", o.describe()));
        println!("{line}");
    }
    println!("--- disagreements per policy (rows, disagreeing)");
    for (p, (n, bad)) in &per_policy {
        if *bad > 0 {
            println!("{p}: {bad}/{n}");
        }
    }
    let total = cases.len();
    println!("{}/{} rows agree", total - disagreements, total);
    assert_eq!(disagreements, 0, "{}/{total} rows agree; every disagreement is printed above", total - disagreements);
}

#[test]
fn the_matrix_is_complete() {
    // every policy file the rows name exists, and every committed policy has rows
    let cases = load_cases();
    let dir = matrix_dir();
    for c in &cases {
        assert!(dir.join(&c.policy).is_file(), "{}: {} is missing", c.id, c.policy);
        assert!(
            c.reference.starts_with(&format!("{ADDR}/")),
            "{}: {} is not in the matrix registry",
            c.id,
            c.reference
        );
    }
    let mut named: Vec<&str> = cases.iter().map(|c| c.policy.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    let mut files: Vec<String> = std::fs::read_dir(dir.join("policies"))
        .expect("policies/")
        .map(|e| format!("policies/{}", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    files.sort();
    assert_eq!(named, files.iter().map(String::as_str).collect::<Vec<_>>(), "policies/ and cases.tsv disagree");
    // the decisions cover all three outcomes, with and without --all
    for d in [Decision::Accept, Decision::Reject, Decision::PolicyError] {
        assert!(cases.iter().any(|c| c.decision == d), "no {} row", d.name());
    }
    assert!(cases.iter().any(|c| c.all) && cases.iter().any(|c| !c.all));
    // a two-segment row always has its library/ twin (the replay's expectation needs both)
    let refs: std::collections::HashSet<(&str, bool, &str)> =
        cases.iter().map(|c| (c.policy.as_str(), c.all, c.reference.as_str())).collect();
    for c in &cases {
        if c.reference.starts_with(&format!("{ADDR}/two")) {
            let twin = hangar_twin(&c.reference).expect("two-segment");
            assert!(
                refs.contains(&(c.policy.as_str(), c.all, twin.as_str())),
                "{}: no twin row for {}",
                c.id,
                c.reference
            );
        }
    }
}
