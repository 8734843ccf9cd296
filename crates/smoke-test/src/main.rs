//! smoke-test: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::main(smoke_test::run)
}
