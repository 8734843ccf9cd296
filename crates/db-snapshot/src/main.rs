//! db-snapshot: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::start(db_snapshot::run)
}
