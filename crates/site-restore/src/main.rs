//! site-restore: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(site_restore::run)
}
