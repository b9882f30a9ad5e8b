//! The airlock binary: glue around the library.
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
