//! Connectivity gates: a TCP connect, with a timeout, to HOST:PORT, to an RDS
//! instance's endpoint found from its id (DescribeDBInstances), to every node of
//! an ElastiCache cluster (DescribeCacheClusters with node info; a memcached
//! cluster's configuration endpoint) or to a replication group's primary or
//! configuration endpoint (DescribeReplicationGroups). The value is the (slowest)
//! connect time in ms; a refused or timed-out connect fails the gate. No TLS
//! handshake (see the notes).

use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use common::{AwsError, AwsResultExt};

use crate::evaluate::Observation;
use crate::gatesfile::TcpTarget;

pub fn describe_gate(target: &TcpTarget, timeout: Duration) -> String {
    let t = common::duration::format_duration(timeout);
    match target {
        TcpTarget::Address(a) => format!("tcp connect {a} (timeout {t})"),
        TcpTarget::RdsInstance(id) => format!("tcp connect to RDS {id}'s endpoint (timeout {t})"),
        TcpTarget::CacheCluster(id) => {
            format!("tcp connect to ElastiCache cluster {id}'s nodes (timeout {t})")
        }
        TcpTarget::ReplicationGroup(id) => {
            format!("tcp connect to ElastiCache replication group {id}'s endpoint (timeout {t})")
        }
    }
}

fn fail(detail: String) -> Observation {
    Observation::Fail {
        value: None,
        detail,
    }
}

fn host_port(e: &aws_sdk_elasticache::types::Endpoint) -> Option<String> {
    match (e.address(), e.port()) {
        (Some(a), Some(p)) if !a.is_empty() && p > 0 => Some(format!("{a}:{p}")),
        _ => None,
    }
}

fn cache_error(e: AwsError, what: &str) -> Observation {
    if e.has_code("CacheClusterNotFound")
        || e.has_code("CacheClusterNotFoundFault")
        || e.has_code("ReplicationGroupNotFoundFault")
    {
        fail(format!("no {what}"))
    } else {
        Observation::NoData(e.to_string())
    }
}

/// The node endpoints of an ElastiCache cluster (a memcached cluster's
/// configuration endpoint when it has one), or why there are none.
pub async fn cache_cluster_endpoints(
    ec: &aws_sdk_elasticache::Client,
    id: &str,
) -> Result<Vec<String>, Observation> {
    let o = ec
        .describe_cache_clusters()
        .cache_cluster_id(id)
        .show_cache_node_info(true)
        .send()
        .await
        .aws("DescribeCacheClusters")
        .map_err(|e| cache_error(e, &format!("ElastiCache cluster {id}")))?;
    let what = format!("ElastiCache cluster {id}");
    let c = o
        .cache_clusters()
        .first()
        .ok_or_else(|| fail(format!("no {what}")))?;
    endpoints(
        &what,
        c.configuration_endpoint(),
        c.cache_nodes().iter().filter_map(|n| n.endpoint()),
        "node",
        c.cache_cluster_status(),
    )
}

/// A replication group's configuration endpoint (cluster mode) or each node
/// group's primary endpoint, or why there is none.
pub async fn replication_group_endpoints(
    ec: &aws_sdk_elasticache::Client,
    id: &str,
) -> Result<Vec<String>, Observation> {
    let o = ec
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .aws("DescribeReplicationGroups")
        .map_err(|e| cache_error(e, &format!("ElastiCache replication group {id}")))?;
    let what = format!("ElastiCache replication group {id}");
    let g = o
        .replication_groups()
        .first()
        .ok_or_else(|| fail(format!("no {what}")))?;
    endpoints(
        &what,
        g.configuration_endpoint(),
        g.node_groups().iter().filter_map(|n| n.primary_endpoint()),
        "primary",
        g.status(),
    )
}

/// The configuration endpoint when there is one, else every `kind` endpoint,
/// as HOST:PORT; none at all fails the gate with the status.
fn endpoints<'a>(
    what: &str,
    configuration: Option<&aws_sdk_elasticache::types::Endpoint>,
    each: impl Iterator<Item = &'a aws_sdk_elasticache::types::Endpoint>,
    kind: &str,
    status: Option<&str>,
) -> Result<Vec<String>, Observation> {
    if let Some(a) = configuration.and_then(host_port) {
        return Ok(vec![a]);
    }
    let found: Vec<String> = each.filter_map(host_port).collect();
    if found.is_empty() {
        return Err(fail(format!(
            "{what} has no {kind} endpoint (status {})",
            status.unwrap_or("?")
        )));
    }
    Ok(found)
}

/// The endpoint of an RDS instance as HOST:PORT, or why there is none.
pub async fn rds_endpoint(rds: &Client, id: &str) -> Result<String, Observation> {
    let o = rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .aws("DescribeDBInstances");
    let o = match o {
        Ok(o) => o,
        Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => {
            return Err(Observation::Fail {
                value: None,
                detail: format!("no RDS instance {id}"),
            });
        }
        Err(e) => return Err(Observation::NoData(e.to_string())),
    };
    let Some(db) = o.db_instances().first() else {
        return Err(Observation::Fail {
            value: None,
            detail: format!("no RDS instance {id}"),
        });
    };
    match db.endpoint().and_then(|e| Some((e.address()?, e.port()?))) {
        Some((host, port)) => Ok(format!("{host}:{port}")),
        None => Err(Observation::Fail {
            value: None,
            detail: format!(
                "RDS instance {id} has no endpoint (status {})",
                db.db_instance_status().unwrap_or("?")
            ),
        }),
    }
}

/// Connects once; the connection is closed at once.
pub async fn connect(address: &str, timeout: Duration) -> Observation {
    let started = Instant::now();
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(stream)) => {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| address.to_owned());
            drop(stream);
            Observation::Value {
                value: ms,
                detail: format!("connected to {peer}"),
            }
        }
        Ok(Err(e)) => Observation::Fail {
            value: None,
            detail: format!("{address}: {e}"),
        },
        Err(_) => Observation::Fail {
            value: None,
            detail: format!(
                "{address}: no connection within {}",
                common::duration::format_duration(timeout)
            ),
        },
    }
}

/// The clients a TCP gate may need to find its endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lookup<'a> {
    pub rds: Option<&'a Client>,
    pub elasticache: Option<&'a aws_sdk_elasticache::Client>,
}

pub async fn evaluate(clients: Lookup<'_>, target: &TcpTarget, timeout: Duration) -> Observation {
    let addresses = match target {
        TcpTarget::Address(a) => Ok(vec![a.clone()]),
        TcpTarget::RdsInstance(id) => match clients.rds {
            None => return Observation::NoData("no RDS client".into()),
            Some(rds) => rds_endpoint(rds, id).await.map(|a| vec![a]),
        },
        TcpTarget::CacheCluster(id) => match clients.elasticache {
            None => return Observation::NoData("no ElastiCache client".into()),
            Some(ec) => cache_cluster_endpoints(ec, id).await,
        },
        TcpTarget::ReplicationGroup(id) => match clients.elasticache {
            None => return Observation::NoData("no ElastiCache client".into()),
            Some(ec) => replication_group_endpoints(ec, id).await,
        },
    };
    let addresses = match addresses {
        Ok(a) => a,
        Err(obs) => return obs,
    };
    // Every endpoint concurrently; one that fails fails the gate, the value is the slowest.
    let results = futures::future::join_all(addresses.iter().map(|a| connect(a, timeout))).await;
    let mut slowest: Option<f64> = None;
    let mut details = Vec::new();
    for r in results {
        match r {
            Observation::Value { value, detail } => {
                slowest = Some(slowest.map_or(value, |s: f64| s.max(value)));
                details.push(detail);
            }
            other => return other,
        }
    }
    match slowest {
        Some(value) => Observation::Value {
            value,
            detail: details.join("; "),
        },
        None => Observation::NoData("no endpoint to connect to".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
    use aws_sdk_rds::types::{DbInstance, Endpoint};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    // The endpoint is found from the id, then connected to (a loopback listener
    // stands in for the database).
    #[tokio::test]
    async fn an_rds_instance_is_found_by_id_and_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let rule = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("ltc-db"))
            .then_output(move || {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier("ltc-db")
                            .db_instance_status("available")
                            .endpoint(
                                Endpoint::builder()
                                    .address("127.0.0.1")
                                    .port(i32::from(port))
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        let obs = evaluate(
            Lookup {
                rds: Some(&rds),
                elasticache: None,
            },
            &TcpTarget::RdsInstance("ltc-db".into()),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&obs, Observation::Value { detail, .. } if detail == &format!("connected to 127.0.0.1:{port}")),
            "{obs:?}"
        );
    }

    #[tokio::test]
    async fn an_instance_without_an_endpoint_fails() {
        let rule = mock!(Client::describe_db_instances).then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(
                    DbInstance::builder()
                        .db_instance_identifier("ltc-db")
                        .db_instance_status("creating")
                        .build(),
                )
                .build()
        });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
        let obs = evaluate(
            Lookup {
                rds: Some(&rds),
                elasticache: None,
            },
            &TcpTarget::RdsInstance("ltc-db".into()),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail.contains("no endpoint (status creating)")),
            "{obs:?}"
        );
    }
    fn ec_endpoint(port: u16) -> aws_sdk_elasticache::types::Endpoint {
        aws_sdk_elasticache::types::Endpoint::builder()
            .address("127.0.0.1")
            .port(i32::from(port))
            .build()
    }

    // Every node of a cache cluster is connected to; one closed node fails the gate.
    #[tokio::test]
    async fn every_node_of_a_cache_cluster_is_connected_to() {
        use aws_sdk_elasticache::operation::describe_cache_clusters::DescribeCacheClustersOutput;
        use aws_sdk_elasticache::types::{CacheCluster, CacheNode};
        let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up_port = up.local_addr().unwrap().port();
        // A port that was listening and is closed now: connection refused.
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cluster = move |ports: Vec<u16>| {
            let mut c = CacheCluster::builder()
                .cache_cluster_id("ltc-cache-001")
                .cache_cluster_status("available");
            for p in ports {
                c = c.cache_nodes(CacheNode::builder().endpoint(ec_endpoint(p)).build());
            }
            DescribeCacheClustersOutput::builder()
                .cache_clusters(c.build())
                .build()
        };
        let healthy = mock!(aws_sdk_elasticache::Client::describe_cache_clusters)
            .match_requests(|r| {
                r.cache_cluster_id() == Some("ltc-cache-001")
                    && r.show_cache_node_info() == Some(true)
            })
            .then_output(move || cluster(vec![up_port, up_port]));
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&healthy]);
        let lookup = Lookup {
            rds: None,
            elasticache: Some(&ec),
        };
        let target = TcpTarget::CacheCluster("ltc-cache-001".into());
        let obs = evaluate(lookup, &target, Duration::from_secs(2)).await;
        assert!(
            matches!(&obs, Observation::Value { detail, .. } if detail == &format!("connected to 127.0.0.1:{up_port}; connected to 127.0.0.1:{up_port}")),
            "{obs:?}"
        );
        let one_down = mock!(aws_sdk_elasticache::Client::describe_cache_clusters)
            .then_output(move || cluster(vec![up_port, closed_port]));
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&one_down]);
        let lookup = Lookup {
            rds: None,
            elasticache: Some(&ec),
        };
        let obs = evaluate(lookup, &target, Duration::from_secs(2)).await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail.starts_with(&format!("127.0.0.1:{closed_port}: "))),
            "{obs:?}"
        );
    }

    #[tokio::test]
    async fn a_replication_group_is_reached_through_its_primary_endpoint() {
        use aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput;
        use aws_sdk_elasticache::types::{NodeGroup, ReplicationGroup};
        let up = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = up.local_addr().unwrap().port();
        let rule = mock!(aws_sdk_elasticache::Client::describe_replication_groups)
            .match_requests(|r| r.replication_group_id() == Some("ltc-cache"))
            .then_output(move || {
                DescribeReplicationGroupsOutput::builder()
                    .replication_groups(
                        ReplicationGroup::builder()
                            .replication_group_id("ltc-cache")
                            .status("available")
                            .node_groups(
                                NodeGroup::builder()
                                    .node_group_id("0001")
                                    .primary_endpoint(ec_endpoint(port))
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let missing =
            mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(|| {
                DescribeReplicationGroupsOutput::builder()
                    .replication_groups(
                        ReplicationGroup::builder()
                            .replication_group_id("ltc-new")
                            .status("creating")
                            .build(),
                    )
                    .build()
            });
        let ec = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&rule, &missing]);
        let lookup = Lookup {
            rds: None,
            elasticache: Some(&ec),
        };
        let obs = evaluate(
            lookup,
            &TcpTarget::ReplicationGroup("ltc-cache".into()),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&obs, Observation::Value { detail, .. } if detail == &format!("connected to 127.0.0.1:{port}")),
            "{obs:?}"
        );
        let obs = evaluate(
            lookup,
            &TcpTarget::ReplicationGroup("ltc-new".into()),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail == "ElastiCache replication group ltc-new has no primary endpoint (status creating)"),
            "{obs:?}"
        );
    }
}
