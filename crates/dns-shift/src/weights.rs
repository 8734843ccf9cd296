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

use std::collections::BTreeMap;

/// Weight per set identifier, ordered by identifier.
pub type Weights = BTreeMap<String, u32>;

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

/// Parses `--steps`: percentages of the total, strictly increasing, each in
/// 1..=100, the last exactly 100 (a shift ends with all traffic on the target).
pub fn parse_steps(raw: &str) -> Result<Vec<u8>, String> {
    let mut steps: Vec<u8> = Vec::new();
    for part in raw.split(',') {
        let p = part.trim().trim_end_matches('%');
        let n: i128 = p
            .parse()
            .map_err(|_| format!("--steps: {} is not a whole percentage", crate::quoted(part)))?;
        if !(1..=100).contains(&n) {
            return Err(format!("--steps: each step must be 1..100, got {n}"));
        }
        let n = n as u8;
        if let Some(&prev) = steps.last()
            && n <= prev
        {
            return Err(format!(
                "--steps must be strictly increasing: {n} follows {prev}"
            ));
        }
        steps.push(n);
    }
    match steps.last() {
        Some(100) => Ok(steps),
        Some(last) => Err(format!(
            "--steps must end at 100 (all traffic on the target), last is {last}"
        )),
        None => Err("--steps is empty".into()),
    }
}

pub fn total(weights: &Weights) -> u32 {
    weights.values().sum()
}

/// Each set's share of traffic in percent. With every weight at 0 Route 53
/// answers for all sets with equal probability, so each gets an equal share.
pub fn shares(weights: &Weights) -> BTreeMap<String, f64> {
    let t = total(weights);
    let n = weights.len();
    weights
        .iter()
        .map(|(id, &w)| {
            let share = if t == 0 {
                if n == 0 { 0.0 } else { 100.0 / n as f64 }
            } else {
                100.0 * f64::from(w) / f64::from(t)
            };
            (id.clone(), round2(share))
        })
        .collect()
}

/// One set's share of traffic in percent (0 for an unknown set).
pub fn share_of(weights: &Weights, id: &str) -> f64 {
    shares(weights).get(id).copied().unwrap_or(0.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The total that step weights add up to (see the module comment).
pub fn working_total(start_total: u32) -> u32 {
    start_total.clamp(100, MAX_WEIGHT)
}

/// The weights that put `pct` % of traffic on `target`, computed from `start`.
pub fn weights_at(start: &Weights, target: &str, pct: u8) -> Result<Weights, String> {
    if !start.contains_key(target) {
        return Err(format!("no weighted set {target:?}"));
    }
    if pct > 100 {
        return Err(format!("{pct} % is more than 100 %"));
    }
    let w_total = working_total(total(start));
    let target_w = (w_total * u32::from(pct) + 50) / 100;
    let remainder = w_total - target_w;

    let others: Vec<(&String, u32)> = start
        .iter()
        .filter(|(id, w)| id.as_str() != target && **w > 0)
        .map(|(id, w)| (id, *w))
        .collect();
    let others_sum: u32 = others.iter().map(|(_, w)| w).sum();
    if remainder > 0 && others_sum == 0 {
        return Err(format!(
            "no other set carries weight to take the remaining {} %",
            100 - pct
        ));
    }

    let mut out: Weights = start.keys().map(|id| (id.clone(), 0)).collect();
    out.insert(target.to_owned(), target_w);
    if remainder > 0 {
        // Largest-remainder split of `remainder` by the starting weights.
        let mut parts: Vec<(&String, u32, u32)> = others
            .iter()
            .map(|(id, w)| {
                let num = remainder * w;
                (*id, num / others_sum, num % others_sum)
            })
            .collect();
        let given: u32 = parts.iter().map(|p| p.1).sum();
        let mut left = remainder - given;
        let mut order: Vec<usize> = (0..parts.len()).collect();
        // Stable sort: equal fractions keep identifier order.
        order.sort_by(|&a, &b| parts[b].2.cmp(&parts[a].2));
        for i in order {
            if left == 0 {
                break;
            }
            parts[i].1 += 1;
            left -= 1;
        }
        for (id, w, _) in parts {
            out.insert(id.clone(), w);
        }
    }
    Ok(out)
}

/// One step of a planned shift.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// Requested share of the target, in percent.
    pub pct: u8,
    pub weights: Weights,
}

/// The steps that actually move traffic: steps at or below the target's current
/// share are skipped (a shift only ever increases), and so is a step whose
/// weights equal the previous ones.
pub fn plan_shift(start: &Weights, target: &str, steps: &[u8]) -> Result<Vec<Step>, String> {
    if !start.contains_key(target) {
        return Err(format!("no weighted set {target:?}"));
    }
    let current = share_of(start, target);
    let mut planned: Vec<Step> = Vec::new();
    for &pct in steps {
        if f64::from(pct) <= current + 1e-9 {
            continue;
        }
        let weights = weights_at(start, target, pct)?;
        let prev = planned.last().map(|s| &s.weights).unwrap_or(start);
        if &weights == prev {
            continue;
        }
        planned.push(Step { pct, weights });
    }
    Ok(planned)
}

/// The sets whose weight differs between `from` and `to`.
pub fn changed_sets(from: &Weights, to: &Weights) -> Vec<String> {
    to.iter()
        .filter(|(id, w)| from.get(*id) != Some(*w))
        .map(|(id, _)| id.clone())
        .collect()
}

/// `blue=90 green=10` for messages.
pub fn describe(weights: &Weights) -> String {
    weights
        .iter()
        .map(|(id, w)| format!("{id}={w}"))
        .collect::<Vec<_>>()
        .join(" ")
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
