//! The ready pool: starts each stack as soon as everything it depends on has
//! finished well, at most `concurrency` at a time, longest remaining chain
//! first. After the first failure nothing new starts; running work finishes.
//! Generic over the work so it can be tested with injected delays.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::graph::Graph;

/// How each node ended; `None` in the result map means it never started.
pub type Outcomes<T> = HashMap<String, Option<T>>;

/// Runs `start(node)` for every node of `graph` in dependency order. The
/// future's `bool` says whether the node succeeded (dependents may start).
pub async fn run<T, F, Fut>(graph: &Graph, concurrency: usize, mut start: F) -> Outcomes<T>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (T, bool)>,
{
    let concurrency = concurrency.max(1);
    let height = heights(graph);
    let order: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut results: Outcomes<T> = graph.nodes.iter().map(|n| (n.clone(), None)).collect();
    let mut started: HashSet<String> = HashSet::new();
    let mut succeeded: HashSet<String> = HashSet::new();
    let mut failed = false;
    let mut running = FuturesUnordered::new();

    loop {
        if !failed {
            let mut ready: Vec<&String> = graph
                .nodes
                .iter()
                .filter(|n| !started.contains(*n))
                .filter(|n| graph.deps_of(n).iter().all(|d| succeeded.contains(d)))
                .collect();
            ready.sort_by_key(|n| (std::cmp::Reverse(height[n.as_str()]), order[n.as_str()]));
            for n in ready {
                if running.len() >= concurrency {
                    break;
                }
                started.insert(n.clone());
                let id = n.clone();
                let fut = start(id.clone());
                running.push(async move { (id, fut.await) });
            }
        }
        let Some((id, (value, ok))) = running.next().await else {
            break;
        };
        if ok {
            succeeded.insert(id.clone());
        } else {
            failed = true;
        }
        results.insert(id, Some(value));
    }
    results
}

/// Longest chain of dependents below each node (1 for a leaf), so the
/// critical path is started first when the pool is full.
fn heights(graph: &Graph) -> HashMap<String, usize> {
    let mut h: HashMap<String, usize> = HashMap::new();
    // Levels are a topological order; walk them backwards.
    let levels = graph.levels().unwrap_or_default();
    for level in levels.iter().rev() {
        for n in level {
            let below = graph
                .nodes
                .iter()
                .filter(|m| graph.deps_of(m).contains(n))
                .map(|m| h.get(m).copied().unwrap_or(1))
                .max()
                .unwrap_or(0);
            h.insert(n.clone(), below + 1);
        }
    }
    for n in &graph.nodes {
        h.entry(n.clone()).or_insert(1);
    }
    h
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    /// The strategy's graph with per-stack durations (seconds).
    fn strategy() -> (Graph, HashMap<String, u64>) {
        let g = Graph::from_edges(
            &["db", "sec", "api", "site", "mon", "obs", "dr"],
            &[
                ("api", "db"),
                ("api", "sec"),
                ("site", "api"),
                ("mon", "site"),
                ("obs", "site"),
                ("dr", "db"),
                ("dr", "site"),
            ],
        )
        .unwrap();
        let d = [
            ("db", 25),
            ("sec", 5),
            ("api", 30),
            ("site", 20),
            ("mon", 3),
            ("obs", 15),
            ("dr", 10),
        ];
        (g, d.iter().map(|(k, v)| (k.to_string(), *v)).collect())
    }

    fn critical_path(g: &Graph, d: &HashMap<String, u64>) -> u64 {
        let mut finish: HashMap<String, u64> = HashMap::new();
        for level in g.levels().unwrap() {
            for n in level {
                let start = g.deps_of(&n).iter().map(|x| finish[x]).max().unwrap_or(0);
                finish.insert(n.clone(), start + d[&n]);
            }
        }
        finish.values().copied().max().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn total_time_is_the_critical_path_not_the_sum_of_phase_maxima() {
        let (g, d) = strategy();
        let t0 = Instant::now();
        let starts = Arc::new(Mutex::new(HashMap::new()));
        let s = starts.clone();
        let out = run(&g, 4, |id| {
            let secs = d[&id];
            let s = s.clone();
            async move {
                s.lock().unwrap().insert(id.clone(), t0.elapsed().as_secs());
                tokio::time::sleep(Duration::from_secs(secs)).await;
                (id, true)
            }
        })
        .await;
        let total = t0.elapsed().as_secs_f64();
        let cp = critical_path(&g, &d) as f64; // db 25 + api 30 + site 20 + obs 15 = 90
        assert_eq!(cp, 90.0);
        // (In this graph every late stack waits for site, so lock-step phases
        // would also take 90 s; `ready_pool_beats_lock_step_phases` shows the gap.)
        assert!(total <= cp * 1.1, "total {total}s vs critical path {cp}s");
        assert!(out.values().all(Option::is_some));
        let st = starts.lock().unwrap();
        assert_eq!(st["api"], 25, "api starts when db (the slower dep) ends");
        assert_eq!(st["site"], 55);
        assert_eq!(st["mon"], 75);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_pool_beats_lock_step_phases() {
        // a(10) -> c(10); b(30) independent; d needs c. Phases would be
        // [a,b] 30 + [c] 10 + [d] 10 = 50; the pool finishes in 30.
        let g = Graph::from_edges(&["a", "b", "c", "d"], &[("c", "a"), ("d", "c")]).unwrap();
        let d: HashMap<&str, u64> = [("a", 10), ("b", 30), ("c", 10), ("d", 10)].into();
        let t0 = Instant::now();
        run(&g, 4, |id| {
            let secs = d[id.as_str()];
            async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                ((), true)
            }
        })
        .await;
        assert_eq!(t0.elapsed().as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_bounds_the_pool() {
        let g = Graph::from_edges(&["a", "b", "c", "d"], &[]).unwrap();
        let live = Arc::new(Mutex::new((0usize, 0usize)));
        let l = live.clone();
        let t0 = Instant::now();
        run(&g, 2, |_| {
            let l = l.clone();
            async move {
                {
                    let mut g = l.lock().unwrap();
                    g.0 += 1;
                    g.1 = g.1.max(g.0);
                }
                tokio::time::sleep(Duration::from_secs(10)).await;
                l.lock().unwrap().0 -= 1;
                ((), true)
            }
        })
        .await;
        assert_eq!(live.lock().unwrap().1, 2);
        assert_eq!(t0.elapsed().as_secs(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_failure_nothing_new_starts_but_running_work_finishes() {
        // b fails at 5 s while a (20 s) runs; c (needs a) must not start; a finishes.
        let g = Graph::from_edges(&["a", "b", "c"], &[("c", "a")]).unwrap();
        let out = run(&g, 4, |id| async move {
            let (secs, ok) = match id.as_str() {
                "a" => (20, true),
                "b" => (5, false),
                _ => (1, true),
            };
            tokio::time::sleep(Duration::from_secs(secs)).await;
            (id, ok)
        })
        .await;
        assert_eq!(out["a"].as_deref(), Some("a"));
        assert_eq!(out["b"].as_deref(), Some("b"));
        assert_eq!(out["c"], None, "c was skipped");
    }
}
