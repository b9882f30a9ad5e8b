//! The command line is glue: parse the flags (`args`), turn them into a library `Request` (`request`),
//! run it (`airlock::session`), render what it found (`output`). Exit status: 0 every selected image
//! verified, 1 something failed or nothing was verified, 2 airlock could not run.

mod args;
mod blob;
mod output;
mod request;

use airlock::reference::DockerRef;
use airlock::session;
use airlock::{listing, report};
use anyhow::{Result, anyhow};
use args::{Cli, Command, ListArgs, ListFormat, SignCommand};
use clap::{CommandFactory, Parser};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Runs airlock with the process arguments; returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::from(0),
        Err(e) => {
            eprintln!("airlock: error: {}", report::escape(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::VerifyArchive(v) => verify(request::verify_archive(*v, cli.debug)?),
        Command::Validate(v) | Command::Sign { command: SignCommand::Validate(v) } => {
            verify(request::validate(*v, cli.debug)?)
        }
        Command::VerifyBlob(b) => blob::run(&b),
        Command::List(l) => list(l),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "airlock", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(0)
        }
    }
}

fn verify((mut req, presentation): (session::Request, request::Presentation)) -> Result<u8> {
    let bar = presentation.progress.then(output::images_progress).flatten();
    if let Some(bar) = &bar {
        let bar = bar.clone();
        req.on_image = Some(Box::new(move |r| {
            bar.set_message(r.reference.clone());
            bar.inc(1);
        }));
    }
    let run = session::run(req).map_err(|e| anyhow!(e))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    output::finish(&run, &presentation)
}

fn list(args: ListArgs) -> Result<u8> {
    let mut rows = Vec::new();
    let (remote, local): (Vec<&String>, Vec<&String>) = args.paths.iter().partition(|p| p.starts_with("docker://"));
    if !remote.is_empty() {
        let registry = session::registry(&request::registry_request(&args.registry)?).map_err(|e| anyhow!(e))?;
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
                Err(err) => rows.push(listing::broken(name, err)),
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        ListFormat::Table => {
            for r in &rows {
                // each field from the input escaped on its own: the tabs between them are the table's
                let esc = report::escape;
                let problem = r.problem.as_deref().map(|p| format!("  ({})", esc(p))).unwrap_or_default();
                let platforms =
                    if r.platforms.is_empty() { "-".to_string() } else { esc(&r.platforms.join(",")).into_owned() };
                let (reference, digest) = (esc(&r.reference), esc(&r.digest));
                let row = format!(
                    "{reference}\t{digest}\t{platforms}\t{} bytes\t{} signature(s){problem}",
                    r.bytes, r.signatures
                );
                writeln!(out, "{row}")?;
            }
        }
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
    }
    Ok(0)
}
