//! ecs-revert: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(ecs_revert::run)
}
