//! Connectivity gates: a TCP connect, with a timeout, to HOST:PORT or to an RDS
//! instance's endpoint found from its id (DescribeDBInstances). The value is the
//! connect time in ms; a refused or timed-out connect fails the gate. No TLS
//! handshake: PostgreSQL and Redis negotiate TLS inside their own protocol, so a
//! plain TLS client would prove nothing (see the notes).

use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use common::AwsResultExt;

use crate::evaluate::Observation;
use crate::gatesfile::TcpTarget;

pub fn describe_gate(target: &TcpTarget, timeout: Duration) -> String {
    let t = common::duration::format_duration(timeout);
    match target {
        TcpTarget::Address(a) => format!("tcp connect {a} (timeout {t})"),
        TcpTarget::RdsInstance(id) => format!("tcp connect to RDS {id}'s endpoint (timeout {t})"),
    }
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

pub async fn evaluate(rds: Option<&Client>, target: &TcpTarget, timeout: Duration) -> Observation {
    let address = match target {
        TcpTarget::Address(a) => a.clone(),
        TcpTarget::RdsInstance(id) => match rds {
            None => return Observation::NoData("no RDS client".into()),
            Some(rds) => match rds_endpoint(rds, id).await {
                Ok(a) => a,
                Err(obs) => return obs,
            },
        },
    };
    connect(&address, timeout).await
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
            Some(&rds),
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
            Some(&rds),
            &TcpTarget::RdsInstance("ltc-db".into()),
            Duration::from_secs(2),
        )
        .await;
        assert!(
            matches!(&obs, Observation::Fail { detail, .. } if detail.contains("no endpoint (status creating)")),
            "{obs:?}"
        );
    }
}
