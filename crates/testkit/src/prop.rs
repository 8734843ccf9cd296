//! Shared pieces of the parsers' property tests (`tests/parsers_prop.rs` of each
//! crate): the odd inputs an operator or a runbook's typo may pass, and the one
//! promise every parser makes about them: a value, or ONE short line (exit 2
//! where the error carries an exit code), never a panic.

use proptest::prelude::*;
use proptest::strategy::Union;

/// Any text, weighted alike: any Unicode string, each of `shapes` (regexes of
/// what the parser under test is close to accepting), then a long line of
/// anything (`.{200,long_max}`) to check that nothing is echoed whole.
pub fn any_text(shapes: &[&str], long_max: usize) -> BoxedStrategy<String> {
    let mut arms = vec![any::<String>().boxed()];
    for shape in shapes {
        arms.push(regex(shape));
    }
    arms.push(regex(&format!(".{{200,{long_max}}}")));
    Union::new(arms).boxed()
}

/// Strings matching `pattern` (a test's own constant: a bad one is a test bug).
pub fn regex(pattern: &str) -> BoxedStrategy<String> {
    proptest::string::string_regex(pattern)
        .unwrap_or_else(|e| panic!("bad test regex {pattern:?}: {e}"))
        .boxed()
}

/// JSON values that a well-formed document would not hold where one is
/// replaced: null, any integer, a string of up to 2000 characters, plus
/// `extra` (e.g. `[]`, `{}`), weighted alike.
pub fn odd_json(extra: Vec<serde_json::Value>) -> BoxedStrategy<serde_json::Value> {
    let mut arms = vec![
        Just(serde_json::Value::Null).boxed(),
        any::<i64>().prop_map(|n| serde_json::json!(n)).boxed(),
        regex(".{0,2000}")
            .prop_map(serde_json::Value::String)
            .boxed(),
    ];
    arms.extend(extra.into_iter().map(|v| Just(v).boxed()));
    Union::new(arms).boxed()
}

/// A refused input: exit code 2 (a usage error) and a message of one line of
/// at most `max_chars` characters.
/// (`exit_code` of any integer type: the crates' error types differ.)
pub fn assert_refused(exit_code: impl Into<i64>, msg: &str, max_chars: usize) {
    assert_eq!(exit_code.into(), 2, "exit code for {msg:?}");
    crate::assert_one_short_line(msg, max_chars);
}
