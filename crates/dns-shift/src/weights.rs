//! The weight arithmetic, with no AWS in it: validating weights and steps, the
//! share of traffic each weighted set gets, and the weights for each step of a
//! shift.
//!
//! How a step maps to weights (the rule `shift` and `maintenance on` follow):
//! - The working total is the sum of the starting weights, kept as it is when it
//!   lies in 100..=255. A smaller total is raised to 100 (so 10 % steps are
//!   representable) and a larger one lowered to 255 (so 100 % fits in one set,
//!   whose weight cannot exceed 255).
//! - At step `p` % the target set gets `round(total * p / 100)`.
//! - The remainder is split among the *other* sets that carried weight at the
//!   start, in proportion to their starting weights (largest-remainder rounding,
//!   ties to the set id that sorts first), so the weights always add up to the
//!   working total exactly.
//! - Sets at weight 0 at the start (a maintenance set, a drained set) stay at 0.
//!
//! Every step is computed from the starting weights, never from the previous
//! step, so rounding does not drift and a revert goes back to the exact start.
//!
//! The arithmetic itself is `common::shift`'s (shared with lb-switch, whose
//! forward actions allow weights up to 999); here it is bound to Route 53's 255.

/// Weight per set identifier, ordered by identifier.
pub use common::shift::Weights;

/// Route 53's largest weight.
pub const MAX_WEIGHT: u32 = 255;

/// Parses one weight, 0..=255. Route 53 refuses more, but the emulator does not,
/// so the tool checks itself.
pub fn parse_weight(raw: &str) -> Result<u32, String> {
    let t = raw.trim();
    match t.parse::<i128>() {
        Ok(w) if (0..=i128::from(MAX_WEIGHT)).contains(&w) => Ok(w as u32),
        Ok(w) => Err(format!("weight must be 0-255, got {w}")),
        Err(_) => Err(format!(
            "weight must be a whole number 0-255, got {}",
            crate::quoted(t)
        )),
    }
}

/// Parses `ID=W` as given to `--weight`.
pub fn parse_weight_arg(raw: &str) -> Result<(String, u32), String> {
    let (id, w) = raw
        .split_once('=')
        .ok_or_else(|| format!("--weight expects SET_ID=WEIGHT, got {}", crate::quoted(raw)))?;
    let id = id.trim();
    validate_set_id(id).map_err(|e| format!("--weight: {e}"))?;
    let w = parse_weight(w).map_err(|e| format!("--weight {}: {e}", crate::quoted(id)))?;
    Ok((id.to_owned(), w))
}

/// A set identifier as Route 53 allows it: 1 to 128 characters.
pub fn validate_set_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty set identifier".into());
    }
    if id.chars().count() > 128 {
        return Err(format!(
            "set identifier {} is longer than 128 characters",
            crate::quoted(id)
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(format!(
            "set identifier {} contains control characters",
            crate::quoted(id)
        ));
    }
    Ok(())
}

/// Parses `--steps` (see `common::shift::parse_steps`).
pub use common::shift::{Step, changed_sets, describe, parse_steps, share_of, shares, total};

/// The total that step weights add up to (see the module comment).
pub fn working_total(start_total: u32) -> u32 {
    common::shift::working_total(start_total, MAX_WEIGHT)
}

/// The weights that put `pct` % of traffic on `target`, computed from `start`.
pub fn weights_at(start: &Weights, target: &str, pct: u8) -> Result<Weights, String> {
    common::shift::weights_at(start, target, pct, MAX_WEIGHT)
}

/// The steps that actually move traffic: steps at or below the target's current
/// share are skipped (a shift only ever increases), and so is a step whose
/// weights equal the previous ones.
pub fn plan_shift(start: &Weights, target: &str, steps: &[u8]) -> Result<Vec<Step>, String> {
    common::shift::plan_shift(start, target, steps, MAX_WEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, u32)]) -> Weights {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn weights_are_checked_against_route53_range() {
        assert_eq!(parse_weight("0"), Ok(0));
        assert_eq!(parse_weight("255"), Ok(255));
        // The emulator accepts 300; the tool must not.
        assert!(parse_weight("300").unwrap_err().contains("0-255"));
        assert!(parse_weight("-1").is_err());
        assert!(parse_weight("ten").is_err());
        assert_eq!(parse_weight_arg("blue=10"), Ok(("blue".into(), 10)));
        assert!(parse_weight_arg("blue").is_err());
        assert!(parse_weight_arg("=10").is_err());
        assert!(parse_weight_arg("blue=256").is_err());
    }

    #[test]
    fn steps_must_increase_stay_in_range_and_end_at_100() {
        assert_eq!(parse_steps("10,25,50,100"), Ok(vec![10, 25, 50, 100]));
        assert_eq!(parse_steps("100"), Ok(vec![100]));
        assert_eq!(parse_steps(" 5%, 100% "), Ok(vec![5, 100]));
        assert!(parse_steps("10,10,100").unwrap_err().contains("increasing"));
        assert!(parse_steps("50,25,100").unwrap_err().contains("increasing"));
        assert!(parse_steps("10,150").unwrap_err().contains("1..100"));
        assert!(parse_steps("0,100").unwrap_err().contains("1..100"));
        assert!(parse_steps("10,50").unwrap_err().contains("end at 100"));
        assert!(parse_steps("").is_err());
        assert!(parse_steps("10,,100").is_err());
        assert!(parse_steps("a,100").is_err());
    }

    #[test]
    fn shares_are_percent_of_total_and_equal_when_all_zero() {
        let s = shares(&w(&[("blue", 75), ("green", 25), ("maintenance", 0)]));
        assert_eq!(s["blue"], 75.0);
        assert_eq!(s["green"], 25.0);
        assert_eq!(s["maintenance"], 0.0);
        let s = shares(&w(&[("a", 1), ("b", 2)]));
        assert_eq!(s["a"], 33.33);
        assert_eq!(s["b"], 66.67);
        let s = shares(&w(&[("a", 0), ("b", 0)]));
        assert_eq!(s["a"], 50.0);
        assert!(shares(&Weights::new()).is_empty());
    }

    #[test]
    fn green_at_25_percent_with_blue_green_maintenance() {
        let start = w(&[("blue", 100), ("green", 0), ("maintenance", 0)]);
        let at = weights_at(&start, "green", 25).unwrap();
        assert_eq!(at, w(&[("blue", 75), ("green", 25), ("maintenance", 0)]));
        assert_eq!(share_of(&at, "green"), 25.0);
    }

    #[test]
    fn total_is_kept_between_100_and_255() {
        let start = w(&[("blue", 200), ("green", 0), ("maintenance", 0)]);
        let at = weights_at(&start, "green", 10).unwrap();
        assert_eq!(at, w(&[("blue", 180), ("green", 20), ("maintenance", 0)]));
        // Small totals are raised to 100 so 10 % is representable.
        let at = weights_at(&w(&[("blue", 1), ("green", 0)]), "green", 10).unwrap();
        assert_eq!(at, w(&[("blue", 90), ("green", 10)]));
        // Large totals are lowered to 255 so 100 % fits in one set.
        let start = w(&[("blue", 255), ("green", 255)]);
        let at = weights_at(&start, "green", 100).unwrap();
        assert_eq!(at, w(&[("blue", 0), ("green", 255)]));
        for pct in 1..=100u8 {
            let at = weights_at(&start, "green", pct).unwrap();
            assert_eq!(total(&at), 255, "at {pct} %");
            assert!(at.values().all(|&v| v <= MAX_WEIGHT));
        }
    }

    #[test]
    fn remainder_splits_by_starting_weights_and_sums_exactly() {
        let start = w(&[("a", 50), ("b", 30), ("c", 20), ("green", 0), ("m", 0)]);
        let at = weights_at(&start, "green", 50).unwrap();
        assert_eq!(
            at,
            w(&[("a", 25), ("b", 15), ("c", 10), ("green", 50), ("m", 0)])
        );
        // 100 - 33 = 67 split 1:1:1 -> 23, 22, 22 (extra to the first id).
        let start = w(&[("a", 10), ("b", 10), ("c", 10), ("green", 0)]);
        let at = weights_at(&start, "green", 33).unwrap();
        assert_eq!(at, w(&[("a", 23), ("b", 22), ("c", 22), ("green", 33)]));
        assert_eq!(total(&at), 100);
    }

    #[test]
    fn target_already_carrying_weight_keeps_the_total() {
        let start = w(&[("blue", 90), ("green", 10), ("maintenance", 0)]);
        let at = weights_at(&start, "green", 50).unwrap();
        assert_eq!(at, w(&[("blue", 50), ("green", 50), ("maintenance", 0)]));
    }

    #[test]
    fn maintenance_at_100_percent_zeroes_the_others() {
        let start = w(&[("blue", 70), ("green", 30), ("maintenance", 0)]);
        let at = weights_at(&start, "maintenance", 100).unwrap();
        assert_eq!(at, w(&[("blue", 0), ("green", 0), ("maintenance", 100)]));
    }

    #[test]
    fn nowhere_to_put_the_remainder_is_an_error() {
        let start = w(&[("green", 0), ("maintenance", 0)]);
        assert!(weights_at(&start, "green", 50).is_err());
        assert!(weights_at(&start, "nope", 50).is_err());
        // All on the target already: 100 % is fine.
        let start = w(&[("blue", 0), ("green", 40)]);
        assert_eq!(
            weights_at(&start, "green", 100).unwrap(),
            w(&[("blue", 0), ("green", 100)])
        );
    }

    #[test]
    fn plan_skips_steps_already_reached_and_never_decreases() {
        let start = w(&[("blue", 100), ("green", 0), ("maintenance", 0)]);
        let plan = plan_shift(&start, "green", &[10, 25, 50, 100]).unwrap();
        let pcts: Vec<u8> = plan.iter().map(|s| s.pct).collect();
        assert_eq!(pcts, vec![10, 25, 50, 100]);
        assert_eq!(
            plan[3].weights,
            w(&[("blue", 0), ("green", 100), ("maintenance", 0)])
        );
        let mut prev = 0.0;
        for s in &plan {
            let share = share_of(&s.weights, "green");
            assert!(share > prev);
            prev = share;
        }
        let start = w(&[("blue", 75), ("green", 25)]);
        let plan = plan_shift(&start, "green", &[10, 25, 50, 100]).unwrap();
        assert_eq!(
            plan.iter().map(|s| s.pct).collect::<Vec<_>>(),
            vec![50, 100]
        );
        let done = w(&[("blue", 0), ("green", 100)]);
        assert!(plan_shift(&done, "green", &[10, 100]).unwrap().is_empty());
    }

    #[test]
    fn changed_sets_lists_only_differences() {
        let a = w(&[("blue", 100), ("green", 0), ("m", 0)]);
        let b = w(&[("blue", 90), ("green", 10), ("m", 0)]);
        assert_eq!(changed_sets(&a, &b), vec!["blue", "green"]);
        assert!(changed_sets(&a, &a).is_empty());
        assert_eq!(describe(&b), "blue=90 green=10 m=0");
    }
}
