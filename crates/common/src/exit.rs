//! The exit-code table shared by every binary. It is part of the public contract:
//! runbooks branch on these numbers, and the README documents them.

/// Success.
pub const SUCCESS: u8 = 0;
/// Unexpected internal error (a bug: please report it).
pub const INTERNAL: u8 = 1;
/// Usage error or bad input; nothing was called or changed.
pub const USAGE: u8 = 2;
/// An AWS call failed: credentials, access denied, not found, throttled beyond retries.
pub const AWS: u8 = 3;
/// A check failed: an assertion, a threshold or a gate.
pub const CHECK_FAILED: u8 = 4;
/// Timed out waiting; the operation may still be running.
pub const TIMEOUT: u8 = 5;
/// A change failed and was reverted cleanly.
pub const REVERTED: u8 = 6;
/// A change failed and the revert failed too, or the state is unknown: a human is needed.
pub const REVERT_FAILED: u8 = 7;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// The meaning of an exit code in a few words, for runbook messages and `--help`.
pub fn meaning(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "internal error",
        2 => "usage error or bad input (nothing was changed)",
        3 => "AWS call failed",
        4 => "check failed",
        5 => "timed out waiting (may still be running)",
        6 => "change failed and was reverted",
        7 => "change failed and revert failed or state unknown (human needed)",
        130 => "interrupted",
        _ => "unknown exit code",
    }
}

/// The table as printed at the end of every binary's `--help`.
pub const HELP_TABLE: &str = "Exit codes: 0 success, 1 internal error, 2 bad input (nothing changed), \
3 AWS call failed, 4 check failed, 5 timed out waiting, 6 failed and reverted, \
7 failed and revert failed (human needed), 130 interrupted.";
