//! The command line is glue: parse the flags (`args`), turn them into a library `Request` (`request`),
//! run it (`airlock::session`), render what it found (`output`). Exit status: 0 every selected image
//! verified, 1 something failed or nothing was verified, 2 airlock could not run.

mod args;
mod blob;
mod list;
mod man;
mod output;
mod request;

use airlock::report;
use airlock::session;
use anyhow::{Result, anyhow};
use args::{Cli, Command, ReportCommand, SignCommand};
use clap::{CommandFactory, Parser};
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
        Command::Import(i) => verify(request::import(*i, cli.debug)?),
        Command::VerifyBlob(b) => blob::run(&b),
        Command::List(l) => list::run(l, cli.debug),
        Command::Report { command: ReportCommand::Merge { reports, output } } => merge_reports(&reports, &output),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "airlock", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { subcommand } => man::run(subcommand.as_deref()),
    }
}

fn verify((mut req, presentation): (session::Request, request::Presentation)) -> Result<u8> {
    let bar = presentation.progress.then(output::images_progress).flatten();
    req.on_result = Some(output::result_printer(&presentation, bar.clone()));
    airlock::interrupt::install();
    let run = session::run(req).map_err(|e| anyhow!(e))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    output::finish(&run, &presentation)
}

/// `airlock report merge`: exit 0 merged, 2 refused (with the reason).
fn merge_reports(files: &[std::path::PathBuf], output: &std::path::Path) -> Result<u8> {
    let mut reports = Vec::new();
    for f in files {
        let text = std::fs::read(f).map_err(|e| anyhow!("{}: {e}", f.display()))?;
        let value: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| anyhow!("{}: not a JSON report: {e}", f.display()))?;
        reports.push((f.display().to_string(), value));
    }
    let merged = airlock::merge::merge(&reports).map_err(|e| anyhow!(e))?;
    let text = format!("{}\n", serde_json::to_string_pretty(&merged)?);
    if output.as_os_str() == "-" {
        std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    } else {
        report::write_atomic(output, text.as_bytes()).map_err(|e| anyhow!("--output {}: {e}", output.display()))?;
    }
    Ok(0)
}
