//! Which stacks, in which order: selection by name or glob, the dependency
//! graph between the selected stacks, cycle detection and the phases
//! (topological levels). Pure; every problem is a usage error (exit 2).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use globset::{Glob, GlobMatcher};

use common::{Error, Result};

use crate::manifest::Assembly;

/// Which stacks of which assembly (the flags `plan`, `deploy` and `status` share).
#[derive(Debug, Clone, clap::Args)]
pub struct Selection {
    /// The cloud assembly directory (holds manifest.json).
    #[arg(long, value_name = "DIR", default_value = "cdk.out")]
    pub app: PathBuf,
    /// Stack names or globs ('LightningTalk-*-prod'); artifact ids or stack names.
    #[arg(value_name = "STACK")]
    pub stacks: Vec<String>,
    /// Every stack in the assembly.
    #[arg(long)]
    pub all: bool,
    /// Also take every stack the named ones depend on.
    #[arg(long)]
    pub with_deps: bool,
}

/// The selected stacks and the edges between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    /// Artifact ids in manifest order.
    pub nodes: Vec<String>,
    /// node -> the selected nodes it needs first.
    pub deps: HashMap<String, Vec<String>>,
    /// node -> dependencies outside the selection (assumed already deployed).
    pub external: HashMap<String, Vec<String>>,
}

/// Resolves the command-line selection to artifact ids (manifest order).
/// Patterns match the artifact id or the stack name; globs use `*` and `?`.
/// With `with_deps`, every upstream dependency is added too.
pub fn select(
    assembly: &Assembly,
    patterns: &[String],
    all: bool,
    with_deps: bool,
) -> Result<Vec<String>> {
    if all && !patterns.is_empty() {
        return Err(Error::usage("give stack names or --all, not both"));
    }
    if !all && patterns.is_empty() {
        return Err(Error::usage(
            "name the stacks to act on (names or globs like 'LightningTalk-*-prod') or pass --all",
        ));
    }
    let mut chosen: BTreeSet<usize> = BTreeSet::new();
    if all {
        chosen.extend(0..assembly.stacks.len());
    }
    for p in patterns {
        let matcher = matcher(p)?;
        let hits: Vec<usize> = assembly
            .stacks
            .iter()
            .enumerate()
            .filter(|(_, s)| matcher.is_match(&s.id) || matcher.is_match(&s.stack_name))
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            let known: Vec<&str> = assembly.stacks.iter().map(|s| s.id.as_str()).collect();
            return Err(Error::usage(format!(
                "no stack matches {} (the assembly's stacks: {})",
                common::quote(p),
                known.join(", ")
            )));
        }
        chosen.extend(hits);
    }
    if with_deps {
        let index: HashMap<&str, usize> = assembly
            .stacks
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut todo: Vec<usize> = chosen.iter().copied().collect();
        while let Some(i) = todo.pop() {
            for d in &assembly.stacks[i].depends_on {
                if let Some(&j) = index.get(d.as_str())
                    && chosen.insert(j)
                {
                    todo.push(j);
                }
            }
        }
    }
    Ok(chosen
        .into_iter()
        .map(|i| assembly.stacks[i].id.clone())
        .collect())
}

fn matcher(pattern: &str) -> Result<GlobMatcher> {
    if pattern.trim().is_empty() {
        return Err(Error::usage("empty stack name"));
    }
    Glob::new(pattern)
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::usage(format!("bad stack pattern {pattern:?}: {e}")))
}

impl Graph {
    /// The graph over `selected` (artifact ids); edges to unselected stacks are
    /// kept aside as `external`.
    pub fn build(assembly: &Assembly, selected: &[String]) -> Result<Graph> {
        let mut deps = HashMap::new();
        let mut external = HashMap::new();
        for id in selected {
            let s = assembly
                .stack(id)
                .ok_or_else(|| Error::usage(format!("unknown stack {id:?}")))?;
            let (inside, outside): (Vec<String>, Vec<String>) = s
                .depends_on
                .iter()
                .cloned()
                .partition(|d| selected.contains(d));
            deps.insert(id.clone(), inside);
            if !outside.is_empty() {
                external.insert(id.clone(), outside);
            }
        }
        let g = Graph {
            nodes: selected.to_vec(),
            deps,
            external,
        };
        g.levels()?;
        Ok(g)
    }

    /// From explicit edges (tests, other callers).
    pub fn from_edges(nodes: &[&str], edges: &[(&str, &str)]) -> Result<Graph> {
        let mut deps: HashMap<String, Vec<String>> =
            nodes.iter().map(|n| (n.to_string(), Vec::new())).collect();
        for (from, to) in edges {
            deps.get_mut(*from)
                .ok_or_else(|| Error::usage(format!("unknown stack {from:?}")))?
                .push(to.to_string());
            if !deps.contains_key(*to) {
                return Err(Error::usage(format!("unknown stack {to:?}")));
            }
        }
        let g = Graph {
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            deps,
            external: HashMap::new(),
        };
        g.levels()?;
        Ok(g)
    }

    pub fn deps_of(&self, id: &str) -> &[String] {
        self.deps.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// Topological levels: level 0 needs nothing selected, level n needs
    /// something at level n-1. Within a level, manifest order. A cycle is a
    /// usage error naming the stacks on it.
    pub fn levels(&self) -> Result<Vec<Vec<String>>> {
        let mut level: HashMap<&str, usize> = HashMap::new();
        let mut remaining: Vec<&str> = self.nodes.iter().map(String::as_str).collect();
        while !remaining.is_empty() {
            let mut progressed = false;
            let mut still = Vec::new();
            for n in remaining {
                let deps = self.deps_of(n);
                if deps.iter().all(|d| level.contains_key(d.as_str())) {
                    let l = deps
                        .iter()
                        .map(|d| level[d.as_str()] + 1)
                        .max()
                        .unwrap_or(0);
                    level.insert(n, l);
                    progressed = true;
                } else {
                    still.push(n);
                }
            }
            if !progressed {
                return Err(Error::usage(format!(
                    "dependency cycle between stacks: {}",
                    self.find_cycle(&still).join(" -> ")
                )));
            }
            remaining = still;
        }
        let depth = level.values().copied().max().map_or(0, |m| m + 1);
        let mut out = vec![Vec::new(); depth];
        for n in &self.nodes {
            out[level[n.as_str()]].push(n.clone());
        }
        Ok(out)
    }

    /// One cycle among `stuck` nodes, closed (first name repeated at the end).
    fn find_cycle(&self, stuck: &[&str]) -> Vec<String> {
        let Some(&start) = stuck.first() else {
            return Vec::new();
        };
        let mut path: Vec<&str> = vec![start];
        let mut cur = start;
        loop {
            let Some(next) = self
                .deps_of(cur)
                .iter()
                .map(String::as_str)
                .find(|d| stuck.contains(d))
            else {
                return path.iter().map(|s| s.to_string()).collect();
            };
            if let Some(pos) = path.iter().position(|p| *p == next) {
                let mut cycle: Vec<String> = path[pos..].iter().map(|s| s.to_string()).collect();
                cycle.push(next.to_owned());
                return cycle;
            }
            path.push(next);
            cur = next;
        }
    }

    /// Nodes that (transitively) depend on `id`.
    pub fn dependents_of(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![id.to_owned()];
        while let Some(x) = todo.pop() {
            for n in &self.nodes {
                if self.deps_of(n).contains(&x) && !out.contains(n) {
                    out.push(n.clone());
                    todo.push(n.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::fixture;

    fn n(names: &[&str]) -> Vec<String> {
        names
            .iter()
            .map(|s| format!("LightningTalk-{s}-prod"))
            .collect()
    }

    #[test]
    fn fixture_phases_follow_the_strategy() {
        let a = fixture();
        let sel = select(&a, &[], true, false).unwrap();
        let g = Graph::build(&a, &sel).unwrap();
        assert_eq!(
            g.levels().unwrap(),
            vec![
                n(&["Database", "Security"]),
                n(&["Api"]),
                n(&["StaticSite"]),
                n(&["Monitoring", "Observability", "DisasterRecovery"]),
            ]
        );
    }

    #[test]
    fn globs_names_and_unknown_names() {
        let a = fixture();
        let sel = select(&a, &["LightningTalk-*Site*".into()], false, false).unwrap();
        assert_eq!(sel, n(&["StaticSite"]));
        let sel = select(&a, &["LightningTalk-Api-prod".into()], false, true).unwrap();
        assert_eq!(sel, n(&["Database", "Security", "Api"]));
        let e = select(&a, &["LightningTalk-Nope-prod".into()], false, false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("LightningTalk-Nope-prod"), "{e}");
        assert_eq!(select(&a, &[], false, false).unwrap_err().exit_code(), 2);
        assert_eq!(
            select(&a, &["x".into()], true, false)
                .unwrap_err()
                .exit_code(),
            2
        );
    }

    #[test]
    fn partial_selection_keeps_external_dependencies_aside() {
        let a = fixture();
        let sel = select(&a, &["LightningTalk-Api-prod".into()], false, false).unwrap();
        let g = Graph::build(&a, &sel).unwrap();
        assert_eq!(g.levels().unwrap(), vec![n(&["Api"])]);
        assert_eq!(
            g.external["LightningTalk-Api-prod"],
            n(&["Database", "Security"])
        );
    }

    #[test]
    fn cycles_are_rejected_with_the_path() {
        let e =
            Graph::from_edges(&["a", "b", "c"], &[("a", "b"), ("b", "c"), ("c", "a")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains("cycle"), "{msg}");
        assert!(msg.contains("a -> b -> c -> a"), "{msg}");
        let e = Graph::from_edges(&["a"], &[("a", "a")]).unwrap_err();
        assert!(e.to_string().contains("a -> a"), "{e}");
    }

    #[test]
    fn levels_use_the_longest_path() {
        let g = Graph::from_edges(&["a", "b", "c", "d"], &[("b", "a"), ("c", "b"), ("d", "a")])
            .unwrap();
        assert_eq!(
            g.levels().unwrap(),
            vec![vec!["a"], vec!["b", "d"], vec!["c"]]
        );
        assert_eq!(g.dependents_of("a").len(), 3);
    }
}
