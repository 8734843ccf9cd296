//! lb-switch: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(lb_switch::run)
}
