//! stack-deploy: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(stack_deploy::run)
}
