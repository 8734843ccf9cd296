//! `critical-path-floor spread ASSEMBLY_DIR LOW_MS HIGH_MS [RUNS]`: the
//! expected wall time of the bound's round trips alone under a latency spread.
//! The bench's bound multiplies the median latency by the longest chain's
//! round trips; a real deploy waits for the slowest of its parallel branches,
//! each a sum of random latencies. This draws every latency uniformly from
//! LOW-HIGH for exactly the calls the floor client makes (file assets up
//! front; per stack one create and one read that sees it complete, started
//! when its dependencies and assets are done) and prints the mean in ms.

use anyhow::{Context as _, Result, bail};
use stack_deploy::graph::Graph;
use stack_deploy::manifest::Assembly;

/// Mean finish time in ms over `runs` draws (fixed seed: the bench's figure repeats).
pub fn mean_ms(assembly: &Assembly, low: f64, high: f64, runs: u32) -> Result<f64> {
    if !(0.0 <= low && low <= high) || runs == 0 {
        bail!("spread takes 0 <= LOW <= HIGH and RUNS > 0");
    }
    let ids: Vec<String> = assembly.stacks.iter().map(|s| s.id.clone()).collect();
    let graph = Graph::build(assembly, &ids)?;
    // Levels are a topological order: every stack comes after its dependencies.
    let order: Vec<String> = graph.levels()?.into_iter().flatten().collect();
    let needs_upload = |id: &str| {
        assembly
            .stack(id)
            .is_some_and(|s| s.file_assets.iter().any(crate::uploaded))
    };
    let mut rng = fastrand::Rng::with_seed(22);
    let mut latency = || low + rng.f64() * (high - low);
    let mut total = 0.0;
    for _ in 0..runs {
        let upload = latency();
        let mut done = std::collections::HashMap::<&str, f64>::new();
        for id in &order {
            let ready = graph
                .deps_of(id)
                .iter()
                .map(|d| done[d.as_str()])
                .chain(needs_upload(id).then_some(upload))
                .fold(0.0, f64::max);
            done.insert(id, ready + latency() + latency());
        }
        total += done.values().copied().fold(0.0, f64::max);
    }
    Ok(total / f64::from(runs))
}

/// The subcommand: arguments after `spread`.
pub fn run(mut args: impl Iterator<Item = String>) -> Result<()> {
    const USAGE: &str = "usage: critical-path-floor spread ASSEMBLY_DIR LOW_MS HIGH_MS [RUNS]";
    let app = args.next().context(USAGE)?;
    let low: f64 = args.next().context(USAGE)?.parse().context(USAGE)?;
    let high: f64 = args.next().context(USAGE)?.parse().context(USAGE)?;
    let runs: u32 = args
        .next()
        .map_or(Ok(100_000), |r| r.parse())
        .context(USAGE)?;
    let assembly = Assembly::load(std::path::Path::new(&app))?;
    println!("{}", mean_ms(&assembly, low, high, runs)?.round());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Assembly {
        Assembly::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/cdk.out"),
        )
        .unwrap()
    }

    // No spread: the chain's round trips times the latency exactly (the
    // fixture's longest chain is 4 stacks, 2 round trips each).
    #[test]
    fn without_spread_it_is_the_bound() {
        assert_eq!(mean_ms(&fixture(), 80.0, 80.0, 10).unwrap(), 640.0);
    }

    // With spread the slowest branch decides: above the median bound, below the worst case.
    #[test]
    fn with_spread_it_is_above_the_median_bound_and_below_the_worst_chain() {
        let m = mean_ms(&fixture(), 40.0, 120.0, 20_000).unwrap();
        assert!(m > 650.0 && m < 960.0, "{m}");
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(mean_ms(&fixture(), 120.0, 40.0, 10).is_err());
        assert!(mean_ms(&fixture(), 40.0, 120.0, 0).is_err());
    }
}
