//! site-restore: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::main(site_restore::run)
}
