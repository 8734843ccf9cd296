//! smoke-test: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(smoke_test::run)
}
