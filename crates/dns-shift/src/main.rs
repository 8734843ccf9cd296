//! dns-shift: entry point; the logic lives in the library.
fn main() -> std::process::ExitCode {
    common::cli::main(dns_shift::run)
}
