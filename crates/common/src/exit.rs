//! The exit-code table shared by every binary. It is part of the public contract:
//! runbooks branch on these numbers (they read them from `<binary> exit-codes`,
//! not from a copy), and the README documents them.

use serde::Serialize;

/// Success.
pub const SUCCESS: u8 = 0;
/// Unexpected internal error (a bug: please report it).
pub const INTERNAL: u8 = 1;
/// Usage error or bad input; nothing was called or changed.
pub const USAGE: u8 = 2;
/// An AWS call (or local I/O such as the journal) failed; what was changed is
/// recorded in the journal.
pub const AWS: u8 = 3;
/// A check failed: an assertion, a threshold or a gate.
pub const CHECK_FAILED: u8 = 4;
/// Timed out waiting; the operation may still be running.
pub const TIMEOUT: u8 = 5;
/// A change failed and was reverted cleanly.
pub const REVERTED: u8 = 6;
/// A change failed and the revert failed too, the change is partial, or its
/// outcome is unknown: a human is needed (the inventory is printed).
pub const REVERT_FAILED: u8 = 7;
/// Same number as [`REVERT_FAILED`], named for partial and unknown outcomes.
pub const HUMAN_NEEDED: u8 = 7;
/// Refused: another run holds the environment's lock, or the environment is
/// frozen. Nothing was changed.
pub const REFUSED: u8 = 8;
/// Interrupted by SIGINT, SIGTERM or SIGHUP (the outcome is journaled).
pub const INTERRUPTED: u8 = 130;

/// One row of the table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ExitCode {
    pub code: u8,
    pub name: &'static str,
    pub meaning: &'static str,
}

/// The whole table, in order; `<binary> exit-codes` prints it.
pub const TABLE: &[ExitCode] = &[
    ExitCode {
        code: SUCCESS,
        name: "ok",
        meaning: "success",
    },
    ExitCode {
        code: INTERNAL,
        name: "internal",
        meaning: "internal error (a bug)",
    },
    ExitCode {
        code: USAGE,
        name: "usage",
        meaning: "bad input; nothing was called or changed",
    },
    ExitCode {
        code: AWS,
        name: "aws",
        meaning: "an AWS call or local I/O failed",
    },
    ExitCode {
        code: CHECK_FAILED,
        name: "check-failed",
        meaning: "a check failed",
    },
    ExitCode {
        code: TIMEOUT,
        name: "timeout",
        meaning: "timed out waiting; the operation may still be running",
    },
    ExitCode {
        code: REVERTED,
        name: "reverted",
        meaning: "the change failed and was reverted cleanly",
    },
    ExitCode {
        code: REVERT_FAILED,
        name: "human-needed",
        meaning: "revert failed, change partial or outcome unknown: a human is needed",
    },
    ExitCode {
        code: REFUSED,
        name: "refused",
        meaning: "refused: another run holds the lock or the environment is frozen; nothing was changed",
    },
    ExitCode {
        code: INTERRUPTED,
        name: "interrupted",
        meaning: "interrupted; the outcome is in the journal",
    },
];

/// The meaning of an exit code in a few words, for messages and `--help`.
pub fn meaning(code: i32) -> &'static str {
    TABLE
        .iter()
        .find(|e| i32::from(e.code) == code)
        .map_or("unknown exit code", |e| e.meaning)
}

/// The table as printed at the end of every binary's `--help`.
pub const HELP_TABLE: &str = "Exit codes: 0 success, 1 internal error, 2 bad input (nothing changed), \
3 AWS call failed, 4 check failed, 5 timed out waiting, 6 failed and reverted, \
7 human needed (revert failed, partial or unknown), 8 refused (lock held or frozen; nothing changed), \
130 interrupted. `exit-codes` prints them as JSON.";

/// `<binary> exit-codes`: the table as tab-separated lines (`CODE NAME MEANING`),
/// or as JSON when `json` is set.
pub fn listing(json: bool) -> String {
    if json {
        serde_json::to_string_pretty(TABLE).unwrap_or_default()
    } else {
        TABLE
            .iter()
            .map(|e| format!("{}\t{}\t{}", e.code, e.name, e.meaning))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ordered_unique_and_matches_meaning() {
        let codes: Vec<u8> = TABLE.iter().map(|e| e.code).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert_eq!(meaning(8), TABLE[8].meaning);
        assert_eq!(meaning(42), "unknown exit code");
        assert!(
            listing(false)
                .lines()
                .any(|l| l.starts_with("8\trefused\t"))
        );
        let v: serde_json::Value = serde_json::from_str(&listing(true)).unwrap();
        assert_eq!(v[9]["code"], 130);
    }
}
