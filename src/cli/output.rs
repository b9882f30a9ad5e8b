//! What the operator sees and what is written: PASS/FAIL lines, notes and warnings (escaped), the
//! summary, progress bars on a TTY, the report and the failed list.

use super::request::{FailedList, Presentation};
use airlock::report::{self, escape};
use airlock::session::{Message, Run};
use anyhow::{Context as _, Result, anyhow, bail};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// A warning, note or debug line on stderr.
pub fn message(m: &Message) {
    match m {
        Message::Warning(w) => eprintln!("airlock: warning: {}", escape(w)),
        Message::Note(n) => eprintln!("airlock: note: {}", escape(n)),
        Message::Debug(d) => eprintln!("airlock: debug: {}", escape(d)),
    }
}

/// access(2) with W_OK: the kernel's answer for this process (root and read-only file systems included),
/// without creating anything in the folder.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call; access(2) only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Checks an explicitly given output path before any work starts.
pub fn check_writable(path: &Path, flag: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let meta =
        std::fs::metadata(&dir).with_context(|| format!("{flag} {}: folder {}", path.display(), dir.display()))?;
    if !meta.is_dir() || !writable(&dir) {
        bail!("{flag} {}: folder {} is not writable", path.display(), dir.display());
    }
    Ok(())
}

/// A bytes progress bar for the one hashing pass (a compressed archive, a folder), only when stderr is a
/// terminal.
pub fn bytes_progress(what: &str) -> Option<airlock::source::archive::Progress> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{elapsed_precise}} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{binary_bytes_per_sec}}, ETA {{eta}}"
    ))
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(std::sync::Arc::new(move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
        }
    }))
}

/// An images progress bar on stderr, only when stderr is a terminal.
pub fn images_progress() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} images, ETA {eta} {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}

/// Prints each image's line (and its notes) as it is decided, in plan order, above the progress bar when
/// there is one; `--report -` sends the lines to stderr so stdout is the document alone.
pub fn result_printer(p: &Presentation, bar: Option<indicatif::ProgressBar>) -> airlock::session::ResultHook {
    let (quiet, to_stderr) = (p.quiet, p.report.as_ref().is_some_and(|r| r.as_os_str() == "-"));
    Box::new(move |r, facts, planned| {
        let print = || {
            if !(quiet && r.passed()) {
                let line = report::line(r, facts);
                // a closed pipe ends the output, not the verification
                let _ = if to_stderr {
                    writeln!(std::io::stderr().lock(), "{line}")
                } else {
                    writeln!(std::io::stdout().lock(), "{line}")
                };
            }
            if !quiet {
                for n in &r.notes {
                    message(&Message::Note(format!("{}: {n}", r.reference)));
                }
            }
        };
        match &bar {
            Some(bar) => {
                bar.set_length(planned as u64);
                bar.suspend(print);
                bar.set_message(r.reference.clone());
                bar.inc(1);
            }
            None => print(),
        }
    })
}

/// Prints what follows the lines and writes the report and the failed list; returns the exit status.
pub fn finish(run: &Run, p: &Presentation) -> Result<u8> {
    let engine = &run.found;
    // `--report -`: stdout is the document alone, the human lines go to stderr (SPEC §1).
    let report_on_stdout = p.report.as_ref().is_some_and(|r| r.as_os_str() == "-");
    let mut out: Box<dyn Write> =
        if report_on_stdout { Box::new(std::io::stderr().lock()) } else { Box::new(std::io::stdout().lock()) };
    // the PASS/FAIL lines were printed as each image was decided (`result_printer`)
    if let Some(signer) = &run.facts.archive_signature {
        message(&Message::Note(format!("archive signature verified with {signer}")));
    }
    for line in report::damage_lines(engine) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", report::summary(engine, &run.facts))?;
    if run.nothing {
        writeln!(out, "nothing verified")?;
    }
    if let Some(path) = &p.report {
        let text = report::render(engine, &run.facts, p.format);
        if report_on_stdout {
            drop(out);
            out = Box::new(std::io::stdout().lock());
            out.write_all(text.as_bytes())?;
        } else {
            report::write_atomic(path, text.as_bytes()).with_context(|| format!("--report {}", path.display()))?;
        }
    }
    drop(out);
    if let Some(failed) = &p.failed {
        write_failed(failed, engine)?;
    }
    Ok(run.exit_code())
}

fn write_failed(failed: &FailedList, run: &airlock::verify::Run) -> Result<()> {
    let (FailedList::Explicit(path) | FailedList::Default(path)) = failed;
    match report::write_failed(path, run) {
        Ok(true) => message(&Message::Note(format!("failed images written to {}", path.display()))),
        Ok(false) if path.exists() => {
            message(&Message::Warning(format!("{} is from an earlier run (nothing failed this time)", path.display())))
        }
        Ok(false) => {}
        Err(e) if matches!(failed, FailedList::Default(_)) => {
            message(&Message::Warning(format!("could not write {}: {e}", path.display())))
        }
        Err(e) => return Err(anyhow!(e).context(format!("--failed {}", path.display()))),
    }
    Ok(())
}
