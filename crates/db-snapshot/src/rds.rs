//! The RDS client this tool uses (with a counter of requests sent, reported in
//! results and used by the bench), the source being protected (an instance or an
//! Aurora cluster), and snapshots and instances reduced to what the commands need.

use std::collections::BTreeMap;

use aws_sdk_rds::Client;
use aws_sdk_rds::types::{DbClusterSnapshot, DbSnapshot};
use chrono::{DateTime, Utc};
use serde::Serialize;

use common::calls::CallCounter;
use common::{AwsError, AwsResultExt, Error, Result};

use crate::naming::{self, Kind};

/// An RDS client plus the number of HTTP requests it has sent (retries included).
#[derive(Debug, Clone)]
pub struct Rds {
    pub client: Client,
    calls: CallCounter,
}

impl Rds {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let calls = CallCounter::default();
        let conf = aws_sdk_rds::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        Rds {
            client: Client::from_conf(conf),
            calls,
        }
    }

    /// Wraps an existing client (tests with SDK mocks); requests are not counted.
    pub fn from_client(client: Client) -> Self {
        Rds {
            client,
            calls: CallCounter::default(),
        }
    }

    /// RDS requests sent so far by this process.
    pub fn calls(&self) -> u64 {
        self.calls.total()
    }
}

/// What is being snapshotted or restored: an RDS DB instance or an Aurora cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Source {
    Instance(String),
    Cluster(String),
}

impl Source {
    pub fn id(&self) -> &str {
        match self {
            Source::Instance(id) | Source::Cluster(id) => id,
        }
    }

    pub fn flag(&self) -> String {
        match self {
            Source::Instance(id) => format!("--instance {id}"),
            Source::Cluster(id) => format!("--cluster {id}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Instance(id) => format!("DB instance {id}"),
            Source::Cluster(id) => format!("DB cluster {id}"),
        }
    }

    pub fn journal_target(&self) -> String {
        match self {
            Source::Instance(id) => format!("rds:instance/{id}"),
            Source::Cluster(id) => format!("rds:cluster/{id}"),
        }
    }

    pub fn snapshot_target(&self, snapshot: &str) -> String {
        match self {
            Source::Instance(_) => format!("rds:snapshot/{snapshot}"),
            Source::Cluster(_) => format!("rds:cluster-snapshot/{snapshot}"),
        }
    }
}

/// `--instance` / `--cluster`, one of them required.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// RDS DB instance identifier, e.g. ltc-db-prod.
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,

    /// Aurora DB cluster identifier, e.g. ltc-aurora-prod.
    #[arg(long, value_name = "ID")]
    pub cluster: Option<String>,
}

impl SourceArgs {
    /// The validated source (exit 2 on a bad identifier, before any call).
    pub fn source(&self) -> Result<Source> {
        match (&self.instance, &self.cluster) {
            (Some(id), None) => {
                naming::validate(Kind::Instance, id)?;
                Ok(Source::Instance(id.clone()))
            }
            (None, Some(id)) => {
                naming::validate(Kind::Cluster, id)?;
                Ok(Source::Cluster(id.clone()))
            }
            _ => Err(Error::usage("give exactly one of --instance or --cluster")),
        }
    }
}

/// A DB snapshot or DB cluster snapshot, as the commands show it.
#[derive(Debug, Clone, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Snap {
    pub snapshot_id: String,
    /// The instance or cluster it was taken from.
    pub source: String,
    /// manual, automated, ...
    pub snapshot_type: String,
    pub status: String,
    /// RFC 3339, UTC.
    #[schemars(with = "Option<String>")]
    pub created: Option<DateTime<Utc>>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    /// Allocated storage of the source in GiB (RDS reports no snapshot byte size).
    pub allocated_storage_gib: Option<i32>,
    pub percent_progress: Option<i32>,
    pub tags: BTreeMap<String, String>,
}

impl Snap {
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    pub fn is_manual(&self) -> bool {
        self.snapshot_type == "manual"
    }

    /// Status with percent when RDS reports one: `creating (42%)`.
    pub fn progress_text(&self) -> String {
        match self.percent_progress {
            Some(p) if !self.is_available() => format!("{} ({p}%)", self.status),
            _ => self.status.clone(),
        }
    }
}

pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

impl From<&DbSnapshot> for Snap {
    fn from(s: &DbSnapshot) -> Self {
        Snap {
            snapshot_id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            source: s.db_instance_identifier().unwrap_or_default().to_owned(),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or("unknown").to_owned(),
            created: s.snapshot_create_time().and_then(to_chrono),
            engine: s.engine().map(str::to_owned),
            engine_version: s.engine_version().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            percent_progress: s.percent_progress(),
            tags: tags(s.tag_list()),
        }
    }
}

impl From<&DbClusterSnapshot> for Snap {
    fn from(s: &DbClusterSnapshot) -> Self {
        Snap {
            snapshot_id: s
                .db_cluster_snapshot_identifier()
                .unwrap_or_default()
                .to_owned(),
            source: s.db_cluster_identifier().unwrap_or_default().to_owned(),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or("unknown").to_owned(),
            created: s.snapshot_create_time().and_then(to_chrono),
            engine: s.engine().map(str::to_owned),
            engine_version: s.engine_version().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            percent_progress: s.percent_progress(),
            tags: tags(s.tag_list()),
        }
    }
}

/// Settings of a DB instance that a restore copies and `verify` compares.
#[derive(Debug, Clone, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct InstanceInfo {
    pub instance_id: String,
    pub status: String,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub instance_class: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_groups: Vec<String>,
    pub option_groups: Vec<String>,
    pub multi_az: Option<bool>,
    pub storage_type: Option<String>,
    pub allocated_storage_gib: Option<i32>,
    pub deletion_protection: Option<bool>,
    /// The port it listens on (the endpoint's; while creating, `DbInstancePort`).
    pub port: Option<i32>,
    /// IAM database authentication; RDS turns it off on a restore unless asked.
    pub iam_auth: Option<bool>,
    /// Log types exported to CloudWatch Logs; none on a restore unless asked.
    pub log_exports: Vec<String>,
    pub publicly_accessible: Option<bool>,
    pub auto_minor_version_upgrade: Option<bool>,
    pub copy_tags_to_snapshot: Option<bool>,
    pub ca_certificate: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub endpoint: Option<Endpoint>,
    /// Stays the same across renames: tells which instance holds which name.
    pub resource_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct Endpoint {
    pub address: String,
    pub port: Option<i32>,
}

impl From<&aws_sdk_rds::types::DbInstance> for InstanceInfo {
    fn from(i: &aws_sdk_rds::types::DbInstance) -> Self {
        let mut security_groups: Vec<String> = i
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect();
        security_groups.sort();
        InstanceInfo {
            instance_id: i.db_instance_identifier().unwrap_or_default().to_owned(),
            status: i.db_instance_status().unwrap_or("unknown").to_owned(),
            engine: i.engine().map(str::to_owned),
            engine_version: i.engine_version().map(str::to_owned),
            instance_class: i.db_instance_class().map(str::to_owned),
            subnet_group: i
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .map(str::to_owned),
            security_groups,
            parameter_groups: i
                .db_parameter_groups()
                .iter()
                .filter_map(|g| g.db_parameter_group_name().map(str::to_owned))
                .collect(),
            option_groups: i
                .option_group_memberships()
                .iter()
                .filter_map(|g| g.option_group_name().map(str::to_owned))
                .collect(),
            multi_az: i.multi_az(),
            storage_type: i.storage_type().map(str::to_owned),
            allocated_storage_gib: i.allocated_storage(),
            deletion_protection: i.deletion_protection(),
            port: i
                .endpoint()
                .and_then(|e| e.port())
                .or(i.db_instance_port().filter(|p| *p > 0)),
            iam_auth: i.iam_database_authentication_enabled(),
            log_exports: {
                let mut l = i.enabled_cloudwatch_logs_exports().to_vec();
                l.sort();
                l
            },
            publicly_accessible: i.publicly_accessible(),
            auto_minor_version_upgrade: i.auto_minor_version_upgrade(),
            copy_tags_to_snapshot: i.copy_tags_to_snapshot(),
            ca_certificate: i.ca_certificate_identifier().map(str::to_owned),
            tags: tags(i.tag_list()),
            endpoint: i.endpoint().and_then(|e| {
                Some(Endpoint {
                    address: e.address()?.to_owned(),
                    port: e.port(),
                })
            }),
            resource_id: i.dbi_resource_id().map(str::to_owned),
        }
    }
}

/// Settings of an Aurora cluster, for restore and verify.
#[derive(Debug, Clone, PartialEq, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct ClusterInfo {
    pub cluster_id: String,
    pub status: String,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub subnet_group: Option<String>,
    pub security_groups: Vec<String>,
    pub parameter_group: Option<String>,
    pub deletion_protection: Option<bool>,
    pub port: Option<i32>,
    pub tags: BTreeMap<String, String>,
    pub endpoint: Option<String>,
    /// The writer instance, when the cluster has one.
    pub writer: Option<String>,
}

impl From<&aws_sdk_rds::types::DbCluster> for ClusterInfo {
    fn from(c: &aws_sdk_rds::types::DbCluster) -> Self {
        let mut security_groups: Vec<String> = c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect();
        security_groups.sort();
        ClusterInfo {
            cluster_id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
            status: c.status().unwrap_or("unknown").to_owned(),
            engine: c.engine().map(str::to_owned),
            engine_version: c.engine_version().map(str::to_owned),
            subnet_group: c.db_subnet_group().map(str::to_owned),
            security_groups,
            parameter_group: c.db_cluster_parameter_group().map(str::to_owned),
            deletion_protection: c.deletion_protection(),
            port: c.port(),
            tags: tags(c.tag_list()),
            endpoint: c.endpoint().map(str::to_owned),
            writer: c
                .db_cluster_members()
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_instance_identifier())
                .map(str::to_owned),
        }
    }
}

fn is_not_found(e: &AwsError) -> bool {
    matches!(
        e.code.as_deref(),
        Some(
            "DBInstanceNotFound"
                | "DBInstanceNotFoundFault"
                | "DBSnapshotNotFound"
                | "DBSnapshotNotFoundFault"
                | "DBClusterNotFoundFault"
                | "DBClusterSnapshotNotFoundFault"
        )
    )
}

/// The instance, or `None` when RDS says it does not exist.
pub async fn find_instance(rds: &Rds, id: &str) -> Result<Option<InstanceInfo>> {
    match rds
        .client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .aws("DescribeDBInstances")
    {
        Ok(out) => Ok(out.db_instances().first().map(InstanceInfo::from)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The instance; exit 3 with a clear line when it does not exist.
pub async fn get_instance(rds: &Rds, id: &str) -> Result<InstanceInfo> {
    find_instance(rds, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("DB instance {id} not found")))
}

pub async fn find_cluster(rds: &Rds, id: &str) -> Result<Option<ClusterInfo>> {
    match rds
        .client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .aws("DescribeDBClusters")
    {
        Ok(out) => Ok(out.db_clusters().first().map(ClusterInfo::from)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn get_cluster(rds: &Rds, id: &str) -> Result<ClusterInfo> {
    find_cluster(rds, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("DB cluster {id} not found")))
}

/// Confirms the source exists (exit 3 otherwise) and returns its engine.
pub async fn source_engine(rds: &Rds, source: &Source) -> Result<Option<String>> {
    Ok(match source {
        Source::Instance(id) => get_instance(rds, id).await?.engine,
        Source::Cluster(id) => get_cluster(rds, id).await?.engine,
    })
}

/// One snapshot of the given kind, or `None` when it does not exist.
pub async fn find_snapshot(rds: &Rds, source: &Source, snapshot_id: &str) -> Result<Option<Snap>> {
    let res = match source {
        Source::Instance(_) => rds
            .client
            .describe_db_snapshots()
            .db_snapshot_identifier(snapshot_id)
            .send()
            .await
            .aws("DescribeDBSnapshots")
            .map(|o| o.db_snapshots().first().map(Snap::from)),
        Source::Cluster(_) => rds
            .client
            .describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(snapshot_id)
            .send()
            .await
            .aws("DescribeDBClusterSnapshots")
            .map(|o| o.db_cluster_snapshots().first().map(Snap::from)),
    };
    match res {
        Ok(s) => Ok(s),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every manual and automated snapshot of the source, all pages, in RDS's order.
pub async fn list_snapshots(rds: &Rds, source: &Source) -> Result<Vec<Snap>> {
    let mut out = Vec::new();
    match source {
        Source::Instance(id) => {
            let mut pages = rds
                .client
                .describe_db_snapshots()
                .db_instance_identifier(id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.aws("DescribeDBSnapshots")?;
                out.extend(page.db_snapshots().iter().map(Snap::from));
            }
        }
        Source::Cluster(id) => {
            let mut pages = rds
                .client
                .describe_db_cluster_snapshots()
                .db_cluster_identifier(id)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.aws("DescribeDBClusterSnapshots")?;
                out.extend(page.db_cluster_snapshots().iter().map(Snap::from));
            }
        }
    }
    Ok(out)
}

/// A call a dry run would have made.
#[derive(Debug, Clone, Serialize, common::schemars::JsonSchema)]
#[schemars(crate = "common::schemars")]
pub struct PlannedCall {
    pub operation: String,
    pub params: serde_json::Value,
}

impl PlannedCall {
    pub fn new(operation: &str, params: serde_json::Value) -> Self {
        PlannedCall {
            operation: operation.to_owned(),
            params,
        }
    }
}

/// Prints each call a dry run skips, on stderr.
pub fn announce(out: &common::Output, planned: &[PlannedCall]) {
    for p in planned {
        out.info(format!("dry run: would call {} {}", p.operation, p.params));
    }
}

/// Turns `KEY=VALUE` pairs into RDS tags.
pub fn to_tags(pairs: &BTreeMap<String, String>) -> Vec<aws_sdk_rds::types::Tag> {
    pairs
        .iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// A tag value RDS accepts: allowed characters kept, others replaced, at most 256.
pub fn tag_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_keep_arns_and_replace_the_rest() {
        assert_eq!(
            tag_value("arn:aws:iam::123456789012:user/ops"),
            "arn:aws:iam::123456789012:user/ops"
        );
        assert_eq!(tag_value("deploy #42, v2!"), "deploy _42_ v2_");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }
}
