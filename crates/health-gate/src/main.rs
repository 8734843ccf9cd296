//! health-gate: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::main(health_gate::run)
}
