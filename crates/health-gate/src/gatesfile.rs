//! The gates file (TOML): what to measure, where, and the threshold that fails it.
//! Everything is checked here, before any AWS call: unknown sources, metrics and
//! statistics, thresholds out of range and duplicate names are usage errors (exit 2)
//! with the line and column. `${VAR}` in string values is taken from the environment.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use common::{Error, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// GetMetricData takes at most 500 queries; one evaluation is one call.
pub const MAX_METRIC_QUERIES: usize = 500;

/// How bad a failing gate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the check (exit 4).
    Critical,
    /// Reported; fails the check only with `--strict`.
    Warning,
    /// Reported, never fails.
    Info,
}

/// Fails when `value <comparison> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }

    pub fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::Greater => value > threshold,
            Comparison::GreaterOrEqual => value >= threshold,
            Comparison::Less => value < threshold,
            Comparison::LessOrEqual => value <= threshold,
        }
    }
}

/// The failing condition of a gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub comparison: Comparison,
    pub threshold: f64,
}

impl Rule {
    pub fn label(&self, unit: &str) -> String {
        format!(
            "{} {}{unit}",
            self.comparison.symbol(),
            trim_float(self.threshold)
        )
    }
}

pub fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A CloudWatch statistic.
#[derive(Debug, Clone, PartialEq)]
pub enum Statistic {
    /// Average, Sum, Minimum, Maximum, SampleCount.
    Plain(String),
    /// A percentile such as `p95` or `p99.9`.
    Percentile(String),
}

impl Statistic {
    pub fn as_str(&self) -> &str {
        match self {
            Statistic::Plain(s) | Statistic::Percentile(s) => s,
        }
    }
}

/// What a CloudWatch gate's value is.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// The newest datapoint of one metric in the window.
    Single { metric: String, stat: Statistic },
    /// 100 * sum(numerator sums) / sum(denominator sums) over the window, in %,
    /// computed here from plain Sum statistics (no metric math on the server).
    Ratio {
        numerator: Vec<String>,
        denominator: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricGate {
    pub namespace: String,
    pub dimensions: Vec<(String, String)>,
    pub value: MetricValue,
    /// Seconds, a multiple of 60 (or 1, 5, 10, 30 for high-resolution metrics).
    pub period: i32,
    pub window: Duration,
    /// The value is multiplied by this (e.g. 1000: TargetResponseTime seconds -> ms).
    pub scale: f64,
    pub unit: String,
}

/// Where a TCP gate connects.
#[derive(Debug, Clone, PartialEq)]
pub enum TcpTarget {
    Address(String),
    /// The endpoint of an RDS instance, found with DescribeDBInstances.
    RdsInstance(String),
    /// Every node endpoint of an ElastiCache cluster (or its configuration
    /// endpoint), found with DescribeCacheClusters.
    CacheCluster(String),
    /// The primary (or configuration) endpoint of an ElastiCache replication
    /// group, found with DescribeReplicationGroups.
    ReplicationGroup(String),
}

/// An alarm NAME or PREFIX*: the same spec dns-shift's `--alarm` takes.
pub use common::gate::AlarmSpec;

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Metric(MetricGate),
    Alarm(Vec<AlarmSpec>),
    Ecs {
        cluster: String,
        services: Vec<String>,
    },
    Tcp {
        target: TcpTarget,
        timeout: Duration,
    },
    Command {
        command: String,
        /// Values shown as `***` wherever the command or its output is printed.
        secrets: Vec<String>,
        timeout: Duration,
    },
    /// ELBv2 target groups (names or ARNs): the healthy share of registered
    /// targets, in %, of the worst group.
    TargetHealth {
        target_groups: Vec<String>,
    },
    /// Application Auto Scaling activities started within the window.
    Scaling {
        namespace: String,
        /// Resource ids (e.g. `service/CLUSTER/SERVICE`); empty = the whole namespace.
        resources: Vec<String>,
        window: Duration,
    },
    /// GuardDuty findings of at least `min_severity` updated within the window.
    GuardDuty {
        /// None: every detector of the region (ListDetectors).
        detector: Option<String>,
        min_severity: i64,
        window: Duration,
    },
}

impl Kind {
    pub fn source(&self) -> &'static str {
        match self {
            Kind::Metric(_) => "cloudwatch",
            Kind::Alarm(_) => "alarm",
            Kind::Ecs { .. } => "ecs",
            Kind::Tcp { .. } => "tcp",
            Kind::Command { .. } => "command",
            Kind::TargetHealth { .. } => "target-health",
            Kind::Scaling { .. } => "autoscaling",
            Kind::GuardDuty { .. } => "guardduty",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub name: String,
    pub severity: Severity,
    pub rule: Option<Rule>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How many inconclusive gates that count (critical, and warning with
    /// `--strict`) a check tolerates before it fails. Default 0: no data fails.
    pub inconclusive_limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GateSet {
    pub settings: Settings,
    pub gates: Vec<Gate>,
}

impl GateSet {
    pub fn metric_query_count(&self) -> usize {
        self.gates
            .iter()
            .map(|g| match &g.kind {
                Kind::Metric(m) => match &m.value {
                    MetricValue::Single { .. } => 1,
                    MetricValue::Ratio {
                        numerator,
                        denominator,
                    } => distinct(numerator, denominator).len(),
                },
                _ => 0,
            })
            .sum()
    }
}

/// The metric names a ratio needs, each once (hits appear in both halves of a hit rate).
pub fn distinct<'a>(a: &'a [String], b: &'a [String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for m in a.iter().chain(b) {
        if !out.contains(&m.as_str()) {
            out.push(m);
        }
    }
    out
}

// ---- raw form, as written ----

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    settings: Option<RawSettings>,
    #[serde(default)]
    gate: Vec<S<RawGate>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    inconclusive_limit: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    name: S<String>,
    severity: S<String>,
    source: S<String>,
    threshold: Option<S<toml::Value>>,
    comparison: Option<S<String>>,
    // cloudwatch
    namespace: Option<S<String>>,
    metric: Option<S<String>>,
    statistic: Option<S<String>>,
    dimensions: Option<S<BTreeMap<String, S<String>>>>,
    numerator: Option<S<Vec<S<String>>>>,
    denominator: Option<S<Vec<S<String>>>>,
    period: Option<S<String>>,
    window: Option<S<String>>,
    scale: Option<S<toml::Value>>,
    unit: Option<S<String>>,
    // alarm
    alarms: Option<S<Vec<S<String>>>>,
    // ecs
    cluster: Option<S<String>>,
    services: Option<S<Vec<S<String>>>>,
    // tcp
    address: Option<S<String>>,
    rds_instance: Option<S<String>>,
    cache_cluster: Option<S<String>>,
    replication_group: Option<S<String>>,
    timeout: Option<S<String>>,
    // command
    command: Option<S<String>>,
    mask: Option<S<Vec<S<String>>>>,
    // target-health
    target_groups: Option<S<Vec<S<String>>>>,
    // autoscaling
    service_namespace: Option<S<String>>,
    resources: Option<S<Vec<S<String>>>>,
    // guardduty
    detector_id: Option<S<String>>,
    min_severity: Option<S<toml::Value>>,
}

pub const SOURCES: &[&str] = &[
    "cloudwatch",
    "alarm",
    "ecs",
    "target-health",
    "autoscaling",
    "guardduty",
    "tcp",
    "command",
];

/// Metrics known per AWS namespace, and whether each is a percentage (0-100).
/// Custom namespaces (not starting with `AWS/`) take any metric name.
const KNOWN_METRICS: &[(&str, &[(&str, bool)])] = &[
    (
        "AWS/ApplicationELB",
        &[
            ("RequestCount", false),
            ("HTTPCode_Target_5XX_Count", false),
            ("HTTPCode_Target_4XX_Count", false),
            ("HTTPCode_Target_2XX_Count", false),
            ("HTTPCode_ELB_5XX_Count", false),
            ("HTTPCode_ELB_4XX_Count", false),
            ("TargetResponseTime", false),
            ("HealthyHostCount", false),
            ("UnHealthyHostCount", false),
            ("ActiveConnectionCount", false),
            ("NewConnectionCount", false),
            ("RejectedConnectionCount", false),
            ("TargetConnectionErrorCount", false),
        ],
    ),
    (
        "AWS/RDS",
        &[
            ("CPUUtilization", true),
            ("DatabaseConnections", false),
            ("FreeableMemory", false),
            ("FreeStorageSpace", false),
            ("ReadLatency", false),
            ("WriteLatency", false),
            ("ReadIOPS", false),
            ("WriteIOPS", false),
            ("ReplicaLag", false),
            ("DiskQueueDepth", false),
            ("SwapUsage", false),
        ],
    ),
    (
        "AWS/ElastiCache",
        &[
            ("CacheHits", false),
            ("CacheMisses", false),
            ("CacheHitRate", true),
            ("CPUUtilization", true),
            ("EngineCPUUtilization", true),
            ("DatabaseMemoryUsagePercentage", true),
            ("CurrConnections", false),
            ("Evictions", false),
            ("ReplicationLag", false),
            ("FreeableMemory", false),
        ],
    ),
    (
        "AWS/ECS",
        &[("CPUUtilization", true), ("MemoryUtilization", true)],
    ),
    (
        "AWS/CloudFront",
        &[
            ("Requests", false),
            ("4xxErrorRate", true),
            ("5xxErrorRate", true),
            ("TotalErrorRate", true),
            ("BytesDownloaded", false),
        ],
    ),
];

const PLAIN_STATS: &[&str] = &["Average", "Sum", "Minimum", "Maximum", "SampleCount"];

/// Reads and checks a gates file. `lookup` gives environment variables.
pub fn parse(text: &str, file: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<GateSet> {
    let p = Parser { text, file, lookup };
    p.parse()
}

struct Parser<'a> {
    text: &'a str,
    file: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn at(&self, span: Range<usize>, msg: impl AsRef<str>) -> Error {
        let (line, col) = line_col(self.text, span.start);
        Error::usage(format!(
            "{}: line {line}, column {col}: {}",
            self.file,
            msg.as_ref()
        ))
    }

    fn parse(&self) -> Result<GateSet> {
        let raw: RawFile = toml::from_str(self.text).map_err(|e| {
            let where_ = e
                .span()
                .map(|s| {
                    let (l, c) = line_col(self.text, s.start);
                    format!("line {l}, column {c}: ")
                })
                .unwrap_or_default();
            Error::usage(format!("{}: {where_}{}", self.file, e.message().trim_end()))
        })?;
        let inconclusive_limit = match raw.settings.and_then(|s| s.inconclusive_limit) {
            None => 0,
            Some(v) => u32::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| {
                    self.at(
                        v.span(),
                        "inconclusive_limit must be a whole number from 0 to 1000",
                    )
                })?,
        };
        if raw.gate.is_empty() {
            return Err(Error::usage(format!(
                "{}: no [[gate]] defined: a gates file with nothing to check would always pass",
                self.file
            )));
        }
        let mut gates: Vec<Gate> = Vec::new();
        let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
        for g in raw.gate {
            let g = g.into_inner();
            let name = g.name.get_ref().trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(self.at(g.name.span(), "a gate name is 1 to 100 characters"));
            }
            if let Some(first) = seen.get(&name) {
                let (l, c) = line_col(self.text, first.start);
                return Err(self.at(
                    g.name.span(),
                    format!(
                        "duplicate gate name {} (first at line {l}, column {c})",
                        common::quote(&name)
                    ),
                ));
            }
            seen.insert(name.clone(), g.name.span());
            gates.push(self.gate(name, g)?);
        }
        let set = GateSet {
            settings: Settings { inconclusive_limit },
            gates,
        };
        let n = set.metric_query_count();
        if n > MAX_METRIC_QUERIES {
            return Err(Error::usage(format!(
                "{}: {n} CloudWatch queries; one GetMetricData call takes at most {MAX_METRIC_QUERIES}",
                self.file
            )));
        }
        Ok(set)
    }

    fn gate(&self, name: String, g: RawGate) -> Result<Gate> {
        let severity = match g.severity.get_ref().as_str() {
            "critical" => Severity::Critical,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            other => {
                return Err(self.at(
                    g.severity.span(),
                    format!(
                        "unknown severity {}: use critical, warning or info",
                        common::quote(other)
                    ),
                ));
            }
        };
        let source = g.source.get_ref().as_str();
        if !SOURCES.contains(&source) {
            return Err(self.at(
                g.source.span(),
                format!(
                    "unknown source {}: use one of {}",
                    common::quote(source),
                    SOURCES.join(", ")
                ),
            ));
        }
        self.only_fields(&g, source)?;
        let kind = match source {
            "cloudwatch" => Kind::Metric(self.metric(&g)?),
            "alarm" => Kind::Alarm(self.alarms(&g)?),
            "ecs" => {
                let cluster = self.required_str(&g.cluster, &g.source, "cluster")?;
                let services = self.list(&g.services, &g.source, "services")?;
                Kind::Ecs { cluster, services }
            }
            "tcp" => {
                let given: Vec<&S<String>> = [
                    &g.address,
                    &g.rds_instance,
                    &g.cache_cluster,
                    &g.replication_group,
                ]
                .into_iter()
                .flatten()
                .collect();
                if given.len() != 1 {
                    return Err(self.at(
                        given.get(1).map_or(g.source.span(), |s| s.span()),
                        "a tcp gate needs exactly one of address (HOST:PORT), rds_instance, cache_cluster or replication_group",
                    ));
                }
                let target = match (&g.address, &g.rds_instance) {
                    (Some(a), None) => {
                        let v = self.expand(a)?;
                        let ok = v.rsplit_once(':').is_some_and(|(h, p)| {
                            !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0)
                        });
                        if !ok {
                            return Err(self.at(
                                a.span(),
                                format!("address {} is not HOST:PORT", common::quote(&v)),
                            ));
                        }
                        TcpTarget::Address(v)
                    }
                    (None, Some(r)) => TcpTarget::RdsInstance(self.nonempty(r, "rds_instance")?),
                    _ => match (&g.cache_cluster, &g.replication_group) {
                        (Some(c), _) => TcpTarget::CacheCluster(self.nonempty(c, "cache_cluster")?),
                        (_, Some(r)) => {
                            TcpTarget::ReplicationGroup(self.nonempty(r, "replication_group")?)
                        }
                        _ => unreachable!("exactly one target was checked above"),
                    },
                };
                Kind::Tcp {
                    target,
                    timeout: self.duration(&g.timeout, Duration::from_secs(3), "timeout")?,
                }
            }
            "target-health" => {
                let target_groups = self.list(&g.target_groups, &g.source, "target_groups")?;
                for (tg, raw) in target_groups.iter().zip(
                    g.target_groups
                        .as_ref()
                        .map(|l| l.get_ref().as_slice())
                        .unwrap_or_default(),
                ) {
                    let ok = if tg.starts_with("arn:") {
                        tg.contains(":targetgroup/")
                    } else {
                        (1..=32).contains(&tg.len())
                            && tg.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                            && !tg.starts_with('-')
                            && !tg.ends_with('-')
                    };
                    if !ok {
                        return Err(self.at(
                            raw.span(),
                            format!(
                                "target group {}: give a target group ARN or name (1-32 letters, digits, hyphens)",
                                common::quote(tg)
                            ),
                        ));
                    }
                }
                Kind::TargetHealth { target_groups }
            }
            "autoscaling" => {
                let namespace = match &g.service_namespace {
                    None => "ecs".to_owned(),
                    Some(n) => {
                        let v = self.expand(n)?;
                        let known =
                            aws_sdk_applicationautoscaling::types::ServiceNamespace::values();
                        if !known.contains(&v.as_str()) {
                            return Err(self.at(
                                n.span(),
                                format!(
                                    "unknown service_namespace {}: use one of {}",
                                    common::quote(&v),
                                    known.join(", ")
                                ),
                            ));
                        }
                        v
                    }
                };
                let resources = match &g.resources {
                    None => Vec::new(),
                    Some(_) => self.list(&g.resources, &g.source, "resources")?,
                };
                Kind::Scaling {
                    namespace,
                    resources,
                    window: self.window(&g, Duration::from_secs(3600))?,
                }
            }
            "guardduty" => {
                let detector = match &g.detector_id {
                    None => None,
                    Some(d) => {
                        let v = self.nonempty(d, "detector_id")?;
                        if v.len() > 300 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
                            return Err(self.at(
                                d.span(),
                                format!(
                                    "detector_id {} is not a GuardDuty detector id",
                                    common::quote(&v)
                                ),
                            ));
                        }
                        Some(v)
                    }
                };
                let min_severity = match &g.min_severity {
                    None => 7,
                    Some(v) => match v.get_ref() {
                        toml::Value::Integer(i) if (1..=10).contains(i) => *i,
                        _ => {
                            return Err(self.at(
                                v.span(),
                                "min_severity must be a whole number from 1 to 10 (GuardDuty: 7 and above is high)",
                            ));
                        }
                    },
                };
                Kind::GuardDuty {
                    detector,
                    min_severity,
                    window: self.window(&g, Duration::from_secs(3600))?,
                }
            }
            _ => {
                let raw = g.command.as_ref().ok_or_else(|| {
                    self.at(g.source.span(), "a command gate needs command = \"...\"")
                })?;
                let (command, mut secrets) = self.expand_collect(raw)?;
                if let Some(mask) = &g.mask {
                    for m in mask.get_ref() {
                        let v = self.expand(m)?;
                        if !v.is_empty() {
                            secrets.push(v);
                        }
                    }
                }
                Kind::Command {
                    command,
                    secrets,
                    timeout: self.duration(&g.timeout, Duration::from_secs(30), "timeout")?,
                }
            }
        };
        let rule = self.rule(&g, &kind)?;
        Ok(Gate {
            name,
            severity,
            rule,
            kind,
        })
    }

    /// Fields that belong to another source are errors, not silently ignored.
    fn only_fields(&self, g: &RawGate, source: &str) -> Result<()> {
        let present: Vec<(&str, Option<Range<usize>>)> = vec![
            ("namespace", g.namespace.as_ref().map(Spanned::span)),
            ("metric", g.metric.as_ref().map(Spanned::span)),
            ("statistic", g.statistic.as_ref().map(Spanned::span)),
            ("dimensions", g.dimensions.as_ref().map(Spanned::span)),
            ("numerator", g.numerator.as_ref().map(Spanned::span)),
            ("denominator", g.denominator.as_ref().map(Spanned::span)),
            ("period", g.period.as_ref().map(Spanned::span)),
            ("window", g.window.as_ref().map(Spanned::span)),
            ("scale", g.scale.as_ref().map(Spanned::span)),
            ("unit", g.unit.as_ref().map(Spanned::span)),
            ("alarms", g.alarms.as_ref().map(Spanned::span)),
            ("cluster", g.cluster.as_ref().map(Spanned::span)),
            ("services", g.services.as_ref().map(Spanned::span)),
            ("address", g.address.as_ref().map(Spanned::span)),
            ("rds_instance", g.rds_instance.as_ref().map(Spanned::span)),
            ("cache_cluster", g.cache_cluster.as_ref().map(Spanned::span)),
            (
                "replication_group",
                g.replication_group.as_ref().map(Spanned::span),
            ),
            ("target_groups", g.target_groups.as_ref().map(Spanned::span)),
            (
                "service_namespace",
                g.service_namespace.as_ref().map(Spanned::span),
            ),
            ("resources", g.resources.as_ref().map(Spanned::span)),
            ("detector_id", g.detector_id.as_ref().map(Spanned::span)),
            ("min_severity", g.min_severity.as_ref().map(Spanned::span)),
            ("timeout", g.timeout.as_ref().map(Spanned::span)),
            ("command", g.command.as_ref().map(Spanned::span)),
            ("mask", g.mask.as_ref().map(Spanned::span)),
            ("threshold", g.threshold.as_ref().map(Spanned::span)),
            ("comparison", g.comparison.as_ref().map(Spanned::span)),
        ];
        let allowed: &[&str] = match source {
            "cloudwatch" => &[
                "namespace",
                "metric",
                "statistic",
                "dimensions",
                "numerator",
                "denominator",
                "period",
                "window",
                "scale",
                "unit",
                "threshold",
                "comparison",
            ],
            "alarm" => &["alarms"],
            "ecs" => &["cluster", "services", "threshold", "comparison"],
            "tcp" => &[
                "address",
                "rds_instance",
                "cache_cluster",
                "replication_group",
                "timeout",
                "threshold",
                "comparison",
            ],
            "target-health" => &["target_groups", "threshold", "comparison"],
            "autoscaling" => &[
                "service_namespace",
                "resources",
                "window",
                "threshold",
                "comparison",
            ],
            "guardduty" => &[
                "detector_id",
                "min_severity",
                "window",
                "threshold",
                "comparison",
            ],
            _ => &["command", "mask", "timeout"],
        };
        for (field, span) in present {
            if let Some(span) = span
                && !allowed.contains(&field)
            {
                return Err(self.at(span, format!("{field} is not a setting of a {source} gate")));
            }
        }
        Ok(())
    }

    fn metric(&self, g: &RawGate) -> Result<MetricGate> {
        let ns_raw = g
            .namespace
            .as_ref()
            .ok_or_else(|| self.at(g.source.span(), "a cloudwatch gate needs namespace"))?;
        let namespace = self.expand(ns_raw)?;
        let known = KNOWN_METRICS.iter().find(|(ns, _)| *ns == namespace);
        if namespace.starts_with("AWS/") && known.is_none() {
            let names: Vec<&str> = KNOWN_METRICS.iter().map(|(n, _)| *n).collect();
            return Err(self.at(
                ns_raw.span(),
                format!(
                    "unknown namespace {}: known AWS namespaces are {} (custom namespaces without AWS/ take any metric)",
                    common::quote(&namespace),
                    names.join(", ")
                ),
            ));
        }
        let check_metric = |m: &S<String>| -> Result<(String, bool)> {
            let name = self.expand(m)?;
            if name.is_empty() || name.len() > 255 {
                return Err(self.at(m.span(), "a metric name is 1 to 255 characters"));
            }
            match known {
                None => Ok((name, false)),
                Some((_, metrics)) => match metrics.iter().find(|(n, _)| *n == name) {
                    Some((_, pct)) => Ok((name, *pct)),
                    None => Err(self.at(
                        m.span(),
                        format!(
                            "unknown metric {} in {namespace}: known are {}",
                            common::quote(&name),
                            metrics
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                },
            }
        };
        let mut dimensions = Vec::new();
        if let Some(d) = &g.dimensions {
            for (k, v) in d.get_ref() {
                dimensions.push((k.clone(), self.expand(v)?));
            }
        }
        let period_d = self.duration(&g.period, Duration::from_secs(60), "period")?;
        let period = period_d.as_secs();
        if period_d.subsec_nanos() != 0 || !(period % 60 == 0 || [1, 5, 10, 30].contains(&period)) {
            return Err(self.at(
                g.period.as_ref().map(Spanned::span).unwrap_or(g.source.span()),
                "period must be a multiple of 60s (or 1s, 5s, 10s, 30s for high-resolution metrics)",
            ));
        }
        let window = self.duration(&g.window, Duration::from_secs(300), "window")?;
        if window < period_d || window > Duration::from_secs(24 * 3600) {
            return Err(self.at(
                g.window
                    .as_ref()
                    .map(Spanned::span)
                    .unwrap_or(g.source.span()),
                "window must be at least one period and at most 24h",
            ));
        }
        let scale = match &g.scale {
            None => 1.0,
            Some(s) => number(s.get_ref())
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(|| self.at(s.span(), "scale must be a number above 0"))?,
        };
        let (value, unit_default) = match (&g.metric, &g.numerator, &g.denominator) {
            (Some(m), None, None) => {
                let (metric, pct) = check_metric(m)?;
                let stat = self.statistic(g)?;
                let unit = if pct { "%" } else { "" };
                (MetricValue::Single { metric, stat }, unit)
            }
            (None, Some(num), Some(den)) => {
                if let Some(s) = &g.statistic
                    && s.get_ref() != "Sum"
                {
                    return Err(self.at(
                        s.span(),
                        "a ratio is computed from Sum statistics; leave statistic out or say \"Sum\"",
                    ));
                }
                let mut numerator = Vec::new();
                for m in num.get_ref() {
                    numerator.push(check_metric(m)?.0);
                }
                let mut denominator = Vec::new();
                for m in den.get_ref() {
                    denominator.push(check_metric(m)?.0);
                }
                if numerator.is_empty() || denominator.is_empty() {
                    return Err(self.at(
                        num.span(),
                        "numerator and denominator each need at least one metric",
                    ));
                }
                (
                    MetricValue::Ratio {
                        numerator,
                        denominator,
                    },
                    "%",
                )
            }
            _ => {
                return Err(self.at(
                    g.source.span(),
                    "a cloudwatch gate needs either metric, or numerator and denominator (a ratio in %)",
                ));
            }
        };
        let unit = match &g.unit {
            Some(u) => self.expand(u)?,
            None => unit_default.to_owned(),
        };
        Ok(MetricGate {
            namespace,
            dimensions,
            value,
            period: i32::try_from(period).unwrap_or(60),
            window,
            scale,
            unit,
        })
    }

    fn statistic(&self, g: &RawGate) -> Result<Statistic> {
        let Some(s) = &g.statistic else {
            return Err(self.at(
                g.source.span(),
                "a cloudwatch metric gate needs statistic (Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p95)",
            ));
        };
        let v = s.get_ref().trim();
        if PLAIN_STATS.contains(&v) {
            return Ok(Statistic::Plain(v.to_owned()));
        }
        if let Some(p) = v.strip_prefix('p')
            && !p.is_empty()
            && p.chars().all(|c| c.is_ascii_digit() || c == '.')
            && p.parse::<f64>().is_ok_and(|x| x > 0.0 && x < 100.0)
        {
            return Ok(Statistic::Percentile(v.to_owned()));
        }
        Err(self.at(
            s.span(),
            format!(
                "unknown statistic {}: use Average, Sum, Minimum, Maximum, SampleCount or pNN (e.g. p95, p99.9)",
                common::quote(v)
            ),
        ))
    }

    fn alarms(&self, g: &RawGate) -> Result<Vec<AlarmSpec>> {
        let Some(list) = &g.alarms else {
            return Err(self.at(
                g.source.span(),
                "an alarm gate needs alarms = [\"NAME\", \"PREFIX*\"]",
            ));
        };
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), "alarms is empty"));
        }
        let mut out = Vec::new();
        for a in list.get_ref() {
            let v = self.expand(a)?;
            let t = v.trim();
            let spec = match t.strip_suffix('*') {
                Some(p) => AlarmSpec::Prefix(p.to_owned()),
                None => AlarmSpec::Name(t.to_owned()),
            };
            let inner = match &spec {
                AlarmSpec::Name(n) | AlarmSpec::Prefix(n) => n,
            };
            if inner.is_empty() || inner.contains('*') || inner.chars().count() > 255 {
                return Err(self.at(
                    a.span(),
                    format!(
                        "alarm {}: give a name, or a prefix followed by one trailing *",
                        common::quote(&v)
                    ),
                ));
            }
            out.push(spec);
        }
        Ok(out)
    }

    fn rule(&self, g: &RawGate, kind: &Kind) -> Result<Option<Rule>> {
        let (threshold, comparison) = (&g.threshold, &g.comparison);
        let needs = matches!(
            kind,
            Kind::Metric(_) | Kind::Ecs { .. } | Kind::TargetHealth { .. }
        );
        let counts = matches!(kind, Kind::Scaling { .. } | Kind::GuardDuty { .. });
        let (t, c) = match (threshold, comparison) {
            // A count with no rule would always pass: any event fails by default.
            (None, None) if counts => {
                return Ok(Some(Rule {
                    comparison: Comparison::Greater,
                    threshold: 0.0,
                }));
            }
            (None, None) if !needs => return Ok(None),
            (Some(t), Some(c)) => (t, c),
            _ => {
                return Err(self.at(
                    g.source.span(),
                    "give both threshold (a number) and comparison (\">\", \">=\", \"<\" or \"<=\"): the gate fails when value <comparison> threshold",
                ));
            }
        };
        let comparison = match c.get_ref().as_str() {
            ">" => Comparison::Greater,
            ">=" => Comparison::GreaterOrEqual,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            other => {
                return Err(self.at(
                    c.span(),
                    format!(
                        "unknown comparison {}: use \">\", \">=\", \"<\" or \"<=\"",
                        common::quote(other)
                    ),
                ));
            }
        };
        let value = number(t.get_ref())
            .filter(|v| v.is_finite())
            .ok_or_else(|| self.at(t.span(), "threshold must be a number"))?;
        let (lo, hi, what) = match kind {
            Kind::Metric(m) => {
                let pct = m.scale == 1.0
                    && (matches!(m.value, MetricValue::Ratio { .. }) || m.unit == "%");
                if pct {
                    (0.0, 100.0, "a percentage")
                } else {
                    (0.0, f64::MAX, "a metric value")
                }
            }
            Kind::Ecs { .. } => (0.0, 100.0, "the unhealthy share in %"),
            Kind::TargetHealth { .. } => (0.0, 100.0, "the healthy share in %"),
            Kind::Scaling { .. } | Kind::GuardDuty { .. } => (0.0, 1_000_000.0, "a count"),
            _ => (0.0, 3_600_000.0, "the connect time in ms"),
        };
        if value < lo || value > hi {
            let range = if hi == f64::MAX {
                format!("at least {lo}")
            } else {
                format!("from {lo} to {}", trim_float(hi))
            };
            return Err(self.at(
                t.span(),
                format!(
                    "threshold {} is out of range: {what} is {range}",
                    trim_float(value)
                ),
            ));
        }
        Ok(Some(Rule {
            comparison,
            threshold: value,
        }))
    }

    /// A string value that must not be empty after `${VAR}` expansion.
    fn nonempty(&self, s: &S<String>, field: &str) -> Result<String> {
        let v = self.expand(s)?;
        if v.trim().is_empty() {
            return Err(self.at(s.span(), format!("{field} is empty")));
        }
        Ok(v.trim().to_owned())
    }

    /// The `window` of an event-counting gate (autoscaling, guardduty).
    fn window(&self, g: &RawGate, default: Duration) -> Result<Duration> {
        self.duration(&g.window, default, "window")
    }

    fn required_str(&self, v: &Option<S<String>>, at: &S<String>, field: &str) -> Result<String> {
        match v {
            Some(s) => {
                let x = self.expand(s)?;
                if x.trim().is_empty() {
                    Err(self.at(s.span(), format!("{field} is empty")))
                } else {
                    Ok(x)
                }
            }
            None => Err(self.at(at.span(), format!("a {} gate needs {field}", at.get_ref()))),
        }
    }

    fn list(
        &self,
        v: &Option<S<Vec<S<String>>>>,
        at: &S<String>,
        field: &str,
    ) -> Result<Vec<String>> {
        let Some(list) = v else {
            return Err(self.at(
                at.span(),
                format!("a {} gate needs {field} = [..]", at.get_ref()),
            ));
        };
        if list.get_ref().is_empty() {
            return Err(self.at(list.span(), format!("{field} is empty")));
        }
        list.get_ref().iter().map(|s| self.expand(s)).collect()
    }

    fn duration(&self, v: &Option<S<String>>, default: Duration, field: &str) -> Result<Duration> {
        match v {
            None => Ok(default),
            Some(s) => {
                let d: common::HumanDuration = s
                    .get_ref()
                    .parse()
                    .map_err(|e: String| self.at(s.span(), format!("{field}: {e}")))?;
                if d.0.is_zero() || d.0 > Duration::from_secs(24 * 3600) {
                    return Err(
                        self.at(s.span(), format!("{field} must be above 0 and at most 24h"))
                    );
                }
                Ok(d.0)
            }
        }
    }

    fn expand(&self, s: &S<String>) -> Result<String> {
        self.expand_collect(s).map(|(v, _)| v)
    }

    /// `${VAR}` from the environment; returns the text and the values of variables
    /// whose names look secret (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL).
    fn expand_collect(&self, s: &S<String>) -> Result<(String, Vec<String>)> {
        let raw = s.get_ref();
        let mut out = String::new();
        let mut secrets = Vec::new();
        let mut rest = raw.as_str();
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                return Err(self.at(s.span(), "unclosed ${ (write ${NAME})"));
            };
            let var = &after[..end];
            let valid = !var.is_empty()
                && var
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(self.at(s.span(), format!("${{{}}} is not a variable name", var)));
            }
            match (self.lookup)(var) {
                Some(v) if !v.is_empty() => {
                    if looks_secret(var) {
                        secrets.push(v.clone());
                    }
                    out.push_str(&v);
                }
                _ => {
                    return Err(self.at(
                        s.span(),
                        format!("${{{var}}} is not set (or empty) in the environment"),
                    ));
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok((out, secrets))
    }
}

fn looks_secret(var: &str) -> bool {
    let v = var.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
        .iter()
        .any(|w| v.contains(w))
}

fn number(v: &toml::Value) -> Option<f64> {
    match v {
        toml::Value::Integer(i) => Some(*i as f64),
        toml::Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        match var {
            "DB_INSTANCE" => Some("ltc-prod-db".into()),
            "DB_PASSWORD" => Some("hunter2".into()),
            _ => None,
        }
    }

    fn parse_ok(text: &str) -> GateSet {
        parse(text, "g.toml", &env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn parse_err(text: &str) -> String {
        match parse(text, "g.toml", &env) {
            Ok(_) => panic!("parsed but should not"),
            Err(e) => {
                assert_eq!(e.exit_code(), 2, "{e}");
                e.to_string()
            }
        }
    }

    const DB_CPU: &str = r#"
[[gate]]
name = "db-cpu"
severity = "critical"
source = "cloudwatch"
namespace = "AWS/RDS"
metric = "CPUUtilization"
statistic = "Average"
dimensions = { DBInstanceIdentifier = "${DB_INSTANCE}" }
threshold = 90
comparison = ">"
"#;

    #[test]
    fn a_metric_gate_is_read_with_the_environment() {
        let set = parse_ok(DB_CPU);
        assert_eq!(set.settings.inconclusive_limit, 0);
        let g = &set.gates[0];
        assert_eq!(g.severity, Severity::Critical);
        assert_eq!(
            g.rule,
            Some(Rule {
                comparison: Comparison::Greater,
                threshold: 90.0
            })
        );
        let Kind::Metric(m) = &g.kind else {
            panic!("{g:?}")
        };
        assert_eq!(
            m.dimensions,
            vec![("DBInstanceIdentifier".into(), "ltc-prod-db".into())]
        );
        assert_eq!(m.period, 60);
        assert_eq!(m.window, Duration::from_secs(300));
        assert_eq!(m.unit, "%");
    }

    #[test]
    fn unknown_source_metric_and_statistic_name_the_line_and_column() {
        let e = parse_err(&DB_CPU.replace("\"cloudwatch\"", "\"cloudwach\""));
        assert!(
            e.contains("line 5, column 10") && e.contains("unknown source"),
            "{e}"
        );
        let e = parse_err(&DB_CPU.replace("\"CPUUtilization\"", "\"CPUUtilisation\""));
        assert!(
            e.contains("line 7, column 10") && e.contains("unknown metric"),
            "{e}"
        );
        let e = parse_err(&DB_CPU.replace("\"Average\"", "\"p100\""));
        assert!(
            e.contains("line 8, column 13") && e.contains("unknown statistic"),
            "{e}"
        );
        let e = parse_err(&DB_CPU.replace("AWS/RDS", "AWS/RDB"));
        assert!(
            e.contains("line 6") && e.contains("unknown namespace"),
            "{e}"
        );
    }

    #[test]
    fn a_threshold_out_of_range_is_refused() {
        let e = parse_err(&DB_CPU.replace("threshold = 90", "threshold = 190"));
        assert!(
            e.contains("line 10, column 13")
                && e.contains("out of range")
                && e.contains("0 to 100"),
            "{e}"
        );
        let e = parse_err(&DB_CPU.replace("threshold = 90", "threshold = \"90\""));
        assert!(e.contains("threshold must be a number"), "{e}");
    }

    #[test]
    fn a_duplicate_name_is_refused_with_both_places() {
        let e = parse_err(&format!("{DB_CPU}{DB_CPU}"));
        assert!(
            e.contains("line 14, column 8") && e.contains("first at line 3, column 8"),
            "{e}"
        );
    }

    #[test]
    fn toml_syntax_and_unknown_fields_name_the_line() {
        let e = parse_err("[[gate]]\nname = \"x\nseverity = 1\n");
        assert!(e.contains("line 2"), "{e}");
        let e = parse_err(&DB_CPU.replace("comparison", "compare"));
        assert!(e.contains("line 11") && e.contains("compare"), "{e}");
    }

    #[test]
    fn an_unset_variable_is_refused() {
        let e = parse_err(&DB_CPU.replace("DB_INSTANCE", "DB_NAME"));
        assert!(
            e.contains("${DB_NAME} is not set") && e.contains("line 9"),
            "{e}"
        );
    }

    #[test]
    fn fields_of_another_source_are_refused() {
        let e = parse_err(&DB_CPU.replace("threshold = 90", "cluster = \"x\"\nthreshold = 90"));
        assert!(
            e.contains("cluster is not a setting of a cloudwatch gate"),
            "{e}"
        );
    }

    #[test]
    fn a_ratio_the_strategy_needs() {
        let set = parse_ok(
            r#"
[settings]
inconclusive_limit = 1

[[gate]]
name = "cache-hit-rate"
severity = "warning"
source = "cloudwatch"
namespace = "AWS/ElastiCache"
numerator = ["CacheHits"]
denominator = ["CacheHits", "CacheMisses"]
threshold = 80
comparison = "<"
"#,
        );
        assert_eq!(set.settings.inconclusive_limit, 1);
        assert_eq!(set.metric_query_count(), 2, "CacheHits asked once");
    }

    #[test]
    fn command_secrets_come_from_secret_looking_variables_and_mask() {
        let set = parse_ok(
            r#"
[[gate]]
name = "db-query"
severity = "critical"
source = "command"
command = "PGPASSWORD=${DB_PASSWORD} psql -h ${DB_INSTANCE} -c 'select 1'"
mask = ["${DB_INSTANCE}"]
"#,
        );
        let Kind::Command { secrets, .. } = &set.gates[0].kind else {
            panic!()
        };
        assert_eq!(
            secrets,
            &vec!["hunter2".to_owned(), "ltc-prod-db".to_owned()]
        );
    }

    #[test]
    fn no_gates_and_bad_settings_are_refused() {
        assert!(parse_err("").contains("no [[gate]]"));
        let e = parse_err(&format!("[settings]\ninconclusive_limit = -1\n{DB_CPU}"));
        assert!(
            e.contains("line 2") && e.contains("inconclusive_limit"),
            "{e}"
        );
    }

    #[test]
    fn tcp_needs_one_target() {
        let e = parse_err(
            "[[gate]]\nname = \"db\"\nseverity = \"critical\"\nsource = \"tcp\"\naddress = \"localhost\"\n",
        );
        assert!(e.contains("not HOST:PORT"), "{e}");
        let e = parse_err("[[gate]]\nname = \"db\"\nseverity = \"critical\"\nsource = \"tcp\"\n");
        assert!(e.contains("exactly one of address"), "{e}");
    }
    #[test]
    fn target_health_autoscaling_and_guardduty_gates() {
        let set = parse_ok(
            r#"
[[gate]]
name = "api-targets"
severity = "critical"
source = "target-health"
target_groups = ["ltc-api", "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/ltc-web/0123"]
threshold = 50
comparison = "<"

[[gate]]
name = "scaling"
severity = "warning"
source = "autoscaling"
resources = ["service/ltc/ltc-api"]
window = "30m"

[[gate]]
name = "security"
severity = "critical"
source = "guardduty"
"#,
        );
        assert_eq!(set.gates[0].kind.source(), "target-health");
        let Kind::Scaling {
            namespace,
            resources,
            window,
        } = &set.gates[1].kind
        else {
            panic!("{:?}", set.gates[1])
        };
        assert_eq!(
            (namespace.as_str(), resources.len(), *window),
            ("ecs", 1, Duration::from_secs(1800))
        );
        // Counting gates fail on any event unless told otherwise.
        let any = Some(Rule {
            comparison: Comparison::Greater,
            threshold: 0.0,
        });
        assert_eq!(set.gates[1].rule, any);
        assert_eq!(set.gates[2].rule, any);
        assert_eq!(
            set.gates[2].kind,
            Kind::GuardDuty {
                detector: None,
                min_severity: 7,
                window: Duration::from_secs(3600)
            }
        );
    }

    #[test]
    fn mistakes_in_the_new_sources_name_the_line() {
        let tg = "[[gate]]\nname = \"t\"\nseverity = \"critical\"\nsource = \"target-health\"\n";
        let e = parse_err(&format!(
            "{tg}target_groups = [\"ltc api\"]\nthreshold = 50\ncomparison = \"<\"\n"
        ));
        assert!(
            e.contains("line 5, column 18") && e.contains("target group"),
            "{e}"
        );
        let e = parse_err(&format!("{tg}target_groups = [\"ltc-api\"]\n"));
        assert!(e.contains("give both threshold"), "{e}");
        let e = parse_err(&format!(
            "{tg}target_groups = [\"ltc-api\"]\nthreshold = 150\ncomparison = \"<\"\n"
        ));
        assert!(e.contains("line 6") && e.contains("healthy share"), "{e}");
        let e = parse_err(
            "[[gate]]\nname = \"s\"\nseverity = \"warning\"\nsource = \"autoscaling\"\nservice_namespace = \"ecz\"\n",
        );
        assert!(
            e.contains("line 5, column 21") && e.contains("unknown service_namespace"),
            "{e}"
        );
        let e = parse_err(
            "[[gate]]\nname = \"g\"\nseverity = \"critical\"\nsource = \"guardduty\"\nmin_severity = 7.5\n",
        );
        assert!(
            e.contains("line 5, column 16") && e.contains("min_severity"),
            "{e}"
        );
        let e = parse_err(
            "[[gate]]\nname = \"g\"\nseverity = \"critical\"\nsource = \"guardduty\"\ncluster = \"x\"\n",
        );
        assert!(
            e.contains("cluster is not a setting of a guardduty gate"),
            "{e}"
        );
    }

    #[test]
    fn tcp_to_elasticache_by_id() {
        let set = parse_ok(
            "[[gate]]\nname = \"cache\"\nseverity = \"critical\"\nsource = \"tcp\"\ncache_cluster = \"${DB_INSTANCE}-cache\"\n",
        );
        assert_eq!(
            set.gates[0].kind,
            Kind::Tcp {
                target: TcpTarget::CacheCluster("ltc-prod-db-cache".into()),
                timeout: Duration::from_secs(3)
            }
        );
        let e = parse_err(
            "[[gate]]\nname = \"cache\"\nseverity = \"critical\"\nsource = \"tcp\"\ncache_cluster = \"a\"\nreplication_group = \"b\"\n",
        );
        assert!(
            e.contains("line 6, column 21") && e.contains("exactly one of"),
            "{e}"
        );
    }
    // The shipped production example must stay a valid gates file with every source
    // the strategy asks for.
    #[test]
    fn the_production_example_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../env/prod.gates.toml.example"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let set = parse(&text, path, &|v: &str| {
            Some(format!("x-{}", v.to_ascii_lowercase().replace('_', "-")))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut sources: Vec<&str> = set.gates.iter().map(|g| g.kind.source()).collect();
        sources.sort_unstable();
        sources.dedup();
        assert_eq!(
            sources,
            [
                "alarm",
                "autoscaling",
                "cloudwatch",
                "ecs",
                "guardduty",
                "target-health",
                "tcp"
            ]
        );
    }
}
