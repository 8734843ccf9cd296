//! health-gate: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(health_gate::run)
}
