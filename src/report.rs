//! Rendering results: PASS/FAIL lines and the summary (SPEC §7), the failed-image list (atomic, list
//! order), and the structured report as JSON, YAML or CSV.

use crate::verify::Run;
use crate::verify::result::ImageResult;
use serde::Serialize;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Csv,
    /// JUnit XML for CI systems: one `<testcase>` per image, its reasons in `<failure>`.
    Junit,
}

/// Facts about the run that the report records besides the results.
#[derive(Clone)]
pub struct Context {
    pub paths: Vec<String>,
    /// SHA-256 of each source file, when the source is a file.
    pub file_sha256: Vec<(String, String)>,
    /// (key file, sha256 of its DER SubjectPublicKeyInfo)
    pub keys: Vec<(String, String)>,
    pub signatures_checked: bool,
    /// Every blob was read and hashed (`--blobs verify`); `exist` and `skip` are not that.
    pub blobs_checked: bool,
    /// The image list (`-f`) and its SHA-256, as read.
    pub list: Option<(String, String)>,
    /// The key that verified `--archive-signature`, when one did.
    pub archive_signature: Option<String>,
    /// Ctrl-C stopped the run: the results are what was decided before it.
    pub incomplete: bool,
    /// Image-list lines skipped (each warned about).
    pub list_lines_skipped: usize,
    /// How the run was made (SPEC §7 "the mode of the run").
    pub mode: Mode,
}

/// The options that decide what a PASS means, recorded in the audit record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Mode {
    pub command_line: Vec<String>,
    /// `verify`, `exist` or `skip`.
    pub blobs: String,
    pub signature_scope: String,
    pub identity: String,
    pub platforms: Vec<String>,
    /// Registry runs: the hosts asked and how TLS was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryMode>,
    pub duration_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RegistryMode {
    pub hosts: Vec<String>,
    pub tls_verify: bool,
    pub cert_dir: Option<String>,
}

/// One line per image: `PASS ref (…)` or `FAIL ref: kind: reason; …`.
/// Text from the input (names, annotations, file names, registry messages) as it may be printed: control
/// characters and bidirectional overrides written as `\u{…}`, so no input can start a line of its own or
/// disguise one (SPEC §7). airlock's own text has none of them.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One `DAMAGED <path>: kind: reason; …` line per damaged PATH, escaped.
pub fn damage_lines(run: &Run) -> Vec<String> {
    let mut paths: Vec<&str> = run.damage.iter().map(|d| d.path.as_str()).collect();
    paths.dedup();
    let mut seen = Vec::new();
    paths
        .into_iter()
        .filter(|p| {
            let new = !seen.contains(p);
            seen.push(p);
            new
        })
        .map(|path| {
            let reasons: Vec<String> =
                run.damage.iter().filter(|d| d.path == path).map(|d| format!("{}: {}", d.kind, d.message)).collect();
            escape(&format!("DAMAGED {path}: {}", reasons.join("; "))).into_owned()
        })
        .collect()
}

/// The one line printed for an image, escaped.
pub fn line(r: &ImageResult, ctx: &Context) -> String {
    escape(&raw_line(r, ctx)).into_owned()
}

fn raw_line(r: &ImageResult, ctx: &Context) -> String {
    // with several PATHs, each line names the one its image came from
    let reference = match (&r.path, ctx.paths.len() > 1) {
        (Some(path), true) => format!("{} [{path}]", r.reference),
        _ => r.reference.clone(),
    };
    if r.passed() {
        let mut parts = Vec::new();
        if r.artifact {
            parts.push("artifact".to_string());
        } else {
            let n = r.platform_count();
            parts.push(format!("{n} platform{}", if n == 1 { "" } else { "s" }));
        }
        if ctx.signatures_checked {
            parts.push(format!("signed by {}", r.signed_by.join(", ")));
        }
        if !ctx.blobs_checked {
            parts.push(blobs_caveat(ctx).into());
        }
        match &r.pushed {
            Some(p) => format!("PASS {reference} ({}) {}", parts.join(", "), pushed_part(p)),
            None => format!("PASS {reference} ({})", parts.join(", ")),
        }
    } else {
        let reasons: Vec<String> = r.errors.iter().map(|e| format!("{}: {}", e.kind, e.message)).collect();
        format!("FAIL {reference}: {}", reasons.join("; "))
    }
}

/// Bytes in binary units, one decimal: `692 B`, `1.5 KiB`, `3.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `imported as REF (…)`, or `would be imported as REF (…)` in a dry run.
fn pushed_part(p: &crate::import::Pushed) -> String {
    let signatures = match p.signatures.len() {
        1 => "1 signature manifest".to_string(),
        n => format!("{n} signature manifests"),
    };
    if p.dry_run {
        let blobs = format!("{} blobs, {}", p.blobs_uploaded, human_bytes(p.bytes));
        return format!("would be imported as {} ({blobs}, {signatures})", p.reference);
    }
    let blobs = format!(
        "{} blobs uploaded ({}), {} present, {} mounted",
        p.blobs_uploaded,
        human_bytes(p.bytes),
        p.blobs_present,
        p.blobs_mounted
    );
    format!("imported as {} ({blobs}, {signatures})", p.reference)
}

/// `N passed, M failed` plus what was not checked.
pub fn summary(run: &Run, ctx: &Context) -> String {
    let failed = run.failed();
    let mut s = format!("{} passed, {} failed", run.results.len() - failed, failed);
    if ctx.list_lines_skipped > 0 {
        let n = ctx.list_lines_skipped;
        s.push_str(&format!(", {n} list line{} skipped", if n == 1 { "" } else { "s" }));
    }
    let damaged = run.damaged_sources();
    if damaged > 0 {
        s.push_str(&format!(", {damaged} source{} damaged", if damaged == 1 { "" } else { "s" }));
    }
    if !ctx.signatures_checked {
        s.push_str(", signatures not checked");
    }
    if ctx.incomplete {
        s.push_str(", interrupted: the images not listed were not verified");
    }
    if !ctx.blobs_checked {
        s.push_str(", ");
        s.push_str(blobs_caveat(ctx));
    }
    s
}

/// What a run that did not hash every blob says about them.
fn blobs_caveat(ctx: &Context) -> &'static str {
    if ctx.mode.blobs == "exist" { "blobs: existence only" } else { "blobs not checked" }
}

/// Writes the failed list atomically (temp file + rename), one original line (or reference) per
/// failed image, in list order. Returns `false` when nothing failed and nothing was written.
pub fn write_failed(path: &Path, run: &Run) -> std::io::Result<bool> {
    let mut lines: Vec<String> = Vec::new();
    let mut written_lines = std::collections::HashSet::new();
    for r in run.results.iter().filter(|r| !r.passed()) {
        // A list line verified in two readings is one line of the list.
        if r.line_no.is_some_and(|n| !written_lines.insert(n)) {
            continue;
        }
        lines.push(r.line.clone().unwrap_or_else(|| r.reference.clone()));
    }
    if run.failed() == 0 {
        return Ok(false);
    }
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())?;
    Ok(true)
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tmp, mut file) = exclusive_temp(&dir)?;
    let result = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new file in `dir` under an unpredictable name, created exclusively (`O_CREAT|O_EXCL`: never a file or
/// symlink someone planted there, SPEC §8 "Output files").
fn exclusive_temp(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    for _ in 0..16 {
        let mut random = [0u8; 12];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| std::io::Error::other("no random numbers"))?;
        let tmp = dir.join(format!(".airlock-{}.tmp", hex::encode(random)));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!("could not create a temporary file in {}", dir.display())))
}

#[derive(Serialize)]
struct Summary {
    images: usize,
    artifacts: usize,
    passed: usize,
    failed: usize,
    /// Damaged source PATHs.
    damaged: usize,
    list_lines_skipped: usize,
    blobs: u64,
    bytes: u64,
}

/// The report as a JSON value (the one shape every format renders).
pub fn report_value(run: &Run, ctx: &Context) -> Value {
    let artifacts = run.results.iter().filter(|r| r.artifact).count();
    let failed = run.failed();
    let summary = Summary {
        images: run.results.iter().filter(|r| !r.artifact).count(),
        artifacts,
        passed: run.results.len() - failed,
        failed,
        damaged: run.damaged_sources(),
        list_lines_skipped: ctx.list_lines_skipped,
        blobs: run.blobs,
        bytes: run.bytes,
    };
    let sha: serde_json::Map<String, Value> =
        ctx.file_sha256.iter().map(|(p, h)| (p.clone(), Value::String(h.clone()))).collect();
    let mut value = json!({
        "tool": "airlock",
        "version": crate::VERSION,
        "time": now_rfc3339(),
        "source": {"paths": ctx.paths, "sha256": sha, "signature": ctx.archive_signature.as_ref().map(|k| json!({"verified_by": k}))},
        "keys": ctx.keys.iter().map(|(f, s)| json!({"file": f, "sha256_spki": s})).collect::<Vec<_>>(),
        "list": ctx.list.as_ref().map(|(path, sha)| json!({"path": path, "sha256": sha})),
        "signatures_checked": ctx.signatures_checked,
        "blobs_checked": ctx.blobs_checked,
        "mode": ctx.mode,
        "summary": summary,
        "results": run.results,
        "damage": run.damage,
    });
    if ctx.incomplete {
        value["incomplete"] = Value::Bool(true);
    }
    value
}

/// Renders the report in `format`.
pub fn render(run: &Run, ctx: &Context, format: Format) -> String {
    let value = report_value(run, ctx);
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&value).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Yaml => {
            let mut out = String::new();
            yaml(&value, 0, &mut out);
            out
        }
        Format::Csv => csv(run),
        Format::Junit => junit(run, ctx),
    }
}

/// JUnit XML: a `<testsuite>` for the run, a `<testcase>` per image (`classname` its PATH, or `registry`), a
/// `<failure>` with its reasons when it failed, and one failing case per damaged source.
fn junit(run: &Run, ctx: &Context) -> String {
    let x = |s: &str| xml_escape(s);
    let damaged = run.damaged_sources();
    let mut cases = String::new();
    for r in &run.results {
        let class = r.path.as_deref().unwrap_or("registry");
        cases.push_str(&format!("  <testcase classname=\"{}\" name=\"{}\"", x(class), x(&r.reference)));
        if r.passed() {
            cases.push_str("/>\n");
            continue;
        }
        let reasons: Vec<String> = r.errors.iter().map(|e| format!("{}: {}", e.kind, e.message)).collect();
        let kind = r.errors.first().map(|e| e.kind.to_string()).unwrap_or_default();
        cases.push_str(&format!(
            ">\n    <failure type=\"{}\" message=\"{}\">{}</failure>\n  </testcase>\n",
            x(&kind),
            x(&reasons.join("; ")),
            x(&reasons.join("\n"))
        ));
    }
    for line in damage_lines(run) {
        cases.push_str(&format!(
            "  <testcase classname=\"source\" name=\"{}\">\n    <failure type=\"damaged\" message=\"{}\"/>\n  </testcase>\n",
            x(line.split(':').next().unwrap_or_default()),
            x(&line)
        ));
    }
    let tests = run.results.len() + damaged;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"airlock\" tests=\"{tests}\" failures=\"{}\" time=\"{:.3}\">\n{cases}</testsuite>\n",
        run.failed() + damaged,
        ctx.mode.duration_seconds
    )
}

/// Text for XML attributes and content: the five markup characters as entities; control characters (which
/// XML 1.0 cannot carry) as their escaped form.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in escape(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// CSV, one row per platform manifest; hangar v2's leading columns first.
fn csv(run: &Run) -> String {
    let mut out =
        String::from("image,arch,os,payload,digest,tlogVerify,mediaType,status,signature,identity,key_sha256,errors\n");
    for r in &run.results {
        let errors: Vec<String> = r.errors.iter().map(|e| format!("{}: {}", e.kind, e.message)).collect();
        let rows: Vec<_> = r.platforms.iter().collect();
        if rows.is_empty() {
            let cells = [r.reference.as_str(), "", "", "", "", "", "", status(r), "", "", "", &errors.join("; ")];
            push_row(&mut out, &cells);
        }
        for p in rows {
            let platform = p.platform.clone().unwrap_or_default();
            let mut parts = platform.splitn(3, '/');
            let os = parts.next().unwrap_or_default().to_string();
            let arch = parts.next().map(|a| match parts.next() {
                Some(v) => format!("{a}/{v}"),
                None => a.to_string(),
            });
            let sig = p.signature.as_ref();
            let cells = [
                r.reference.clone(),
                arch.unwrap_or_default(),
                os,
                String::new(),
                p.digest.to_string(),
                sig.map(|s| s.rekor.to_string()).unwrap_or_default(),
                p.media_type.clone(),
                status(r).to_string(),
                sig.map(|s| s.status.clone()).unwrap_or_default(),
                sig.and_then(|s| s.identity.clone()).unwrap_or_default(),
                sig.and_then(|s| s.key_sha256.clone()).unwrap_or_default(),
                errors.join("; "),
            ];
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            push_row(&mut out, &refs);
        }
    }
    out
}

fn status(r: &ImageResult) -> &'static str {
    if r.passed() { "pass" } else { "fail" }
}

fn push_row(out: &mut String, cells: &[&str]) {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.to_string() })
        .collect();
    out.push_str(&quoted.join(","));
    out.push('\n');
}

/// A small YAML emitter for JSON values (block style, every string quoted as JSON, which YAML accepts).
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, val) in map {
                out.push_str(&format!("{pad}{}:", Value::String(k.clone())));
                scalar_or_block(val, indent, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        yaml(item, indent + 2, out);
                    }
                    _ => scalar_or_block(item, indent, out),
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&other.to_string());
            out.push('\n');
        }
    }
}

fn scalar_or_block(val: &Value, indent: usize, out: &mut String) {
    match val {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml(val, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml(val, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&other.to_string());
            out.push('\n');
        }
    }
}

/// The current UTC time as RFC 3339.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn yaml_renders_nested_values() {
        let mut out = String::new();
        yaml(&json!({"a": [1, {"b": "x"}], "c": {}}), 0, &mut out);
        assert_eq!(out, "\"a\":\n  - 1\n  -\n    \"b\": \"x\"\n\"c\": {}\n");
    }

    #[test]
    fn csv_quotes_cells() {
        let mut out = String::new();
        push_row(&mut out, &["a,b", "c\"d", "e"]);
        assert_eq!(out, "\"a,b\",\"c\"\"d\",e\n");
    }

    #[test]
    fn time_is_rfc3339() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20);
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }
}
