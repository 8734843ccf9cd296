//! ecs-revert: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::main(ecs_revert::run)
}
