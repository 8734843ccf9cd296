//! run-state: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(run_state::run)
}
