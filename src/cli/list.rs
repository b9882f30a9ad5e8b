//! `airlock list PATH|docker://REF`: what a source holds, one row per image, as an aligned table with a
//! header (human sizes, short digests, signatures on the top digest and on its platforms, the PATH, what is
//! wrong) or as JSON (every field whole).

use airlock::reference::DockerRef;
use airlock::{listing, report, session};
use anyhow::{Result, anyhow};
use std::io::Write;
use std::path::PathBuf;

use super::args::{ListArgs, ListFormat};
use super::request;

pub fn run(args: ListArgs, debug: bool) -> Result<u8> {
    let mut rows = Vec::new();
    let (remote, local): (Vec<&String>, Vec<&String>) = args.paths.iter().partition(|p| p.starts_with("docker://"));
    if !remote.is_empty() {
        let registry = session::registry(&request::registry_request(&args.registry, debug)?).map_err(|e| anyhow!(e))?;
        for r in remote {
            let reference = DockerRef::parse(&r["docker://".len()..]).map_err(|e| anyhow!("{r}: {e}"))?;
            let row = airlock::deadline::scope(Some(args.timeout), || -> Result<listing::Row> {
                let desc =
                    airlock::source::Source::resolve(&registry, &reference).map_err(|e| anyhow!("{reference}: {e}"))?;
                let desc = desc.ok_or_else(|| anyhow!("{reference}: not found"))?;
                Ok(listing::row(&registry, reference.to_string(), Some(&reference), &desc, None))
            })?;
            rows.push(row);
        }
    }
    if !local.is_empty() {
        let paths: Vec<PathBuf> = local.iter().map(PathBuf::from).collect();
        let sources = session::open_paths(&paths, &Default::default()).map_err(|e| anyhow!(e))?;
        let source = session::one_source(sources);
        for e in source.entries() {
            let name = e
                .full_names
                .first()
                .map(|r| r.to_string())
                .or(e.stored_name.clone())
                .unwrap_or_else(|| "(unnamed)".into());
            match &e.descriptor {
                Ok(desc) => rows.push(airlock::deadline::scope(Some(args.timeout), || {
                    listing::row(source.as_ref(), name, e.identity(), desc, Some(e.origin.clone()))
                })),
                Err(err) => rows.push(listing::broken(name, err, Some(e.origin.clone()))),
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Table => write!(out, "{}", table(&rows))?,
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    Ok(0)
}

const HEADER: [&str; 7] = ["REFERENCE", "DIGEST", "PLATFORMS", "SIZE", "SIGNATURES", "PATH", "PROBLEM"];

/// The rows as an aligned table under a header; every field from the input escaped on its own.
fn table(rows: &[listing::Row]) -> String {
    let cells: Vec<[String; 7]> = rows.iter().map(cells).collect();
    let mut widths = HEADER.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |fields: &[String]| {
        let padded: Vec<String> = fields.iter().zip(widths).map(|(f, w)| format!("{f:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&HEADER.map(String::from));
    for row in &cells {
        text.push_str(&line(row));
    }
    text
}

fn cells(r: &listing::Row) -> [String; 7] {
    let esc = |s: &str| report::escape(s).into_owned();
    let digest = match r.digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}", &hex[..12]),
        _ => r.digest.clone(),
    };
    let platforms = if r.platforms.is_empty() { "-".to_string() } else { r.platforms.join(",") };
    let below = r.signatures - r.signatures_top;
    let signatures =
        if below == 0 { r.signatures.to_string() } else { format!("{} ({} on platforms)", r.signatures, below) };
    [
        esc(&r.reference),
        esc(&digest),
        esc(&platforms),
        airlock::report::human_bytes(r.bytes),
        signatures,
        esc(r.path.as_deref().unwrap_or("-")),
        esc(r.problem.as_deref().unwrap_or("-")),
    ]
}
