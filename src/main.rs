//! The airlock binary: glue around the library.
fn main() -> std::process::ExitCode {
    airlock::cli::main()
}
