//! The fault proxy in front of the real emulator: each fault kind happens, in
//! the protocol's shape, and a lost response's change reached moto.

#![allow(clippy::unwrap_used)] // a failed fixture call should panic

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ssm::error::ProvideErrorMetadata;
use testkit::fault_proxy::{Config, Fault, FaultProxy};
use testkit::{Emulator, EmulatorGuard};

fn upstream(emu: &EmulatorGuard) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], emu.port()))
}

async fn proxy(emu: &EmulatorGuard, rate: f64, faults: &[Fault]) -> FaultProxy {
    let config = Config {
        seed: 7,
        fault_rate: rate,
        faults: faults.to_vec(),
        ..Config::default()
    };
    FaultProxy::start(upstream(emu), "127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("start the proxy")
}

/// SSM (JSON protocol) with the SDK's retries off, so each fault is seen once.
fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-northeast-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_ssm::Client::from_conf(conf)
}

/// RDS (query protocol), retries off.
fn rds(endpoint: &str) -> aws_sdk_rds::Client {
    let conf = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-northeast-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_sdk_rds::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_rds::Client::from_conf(conf)
}

async fn put(client: &aws_sdk_ssm::Client, name: &str) -> Result<(), String> {
    client
        .put_parameter()
        .name(name)
        .value("v")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{}", aws_sdk_ssm::error::DisplayErrorContext(&e)))
}

async fn exists(client: &aws_sdk_ssm::Client, name: &str) -> bool {
    match client.get_parameter().name(name).send().await {
        Ok(_) => true,
        Err(e) if e.code() == Some("ParameterNotFound") => false,
        Err(e) => panic!(
            "read back {name}: {}",
            aws_sdk_ssm::error::DisplayErrorContext(&e)
        ),
    }
}

#[tokio::test]
async fn throttle_is_answered_in_the_json_and_query_shapes_without_forwarding() {
    let emu = Emulator::shared();
    let p = proxy(&emu, 1.0, &[Fault::Throttle]).await;

    let err = ssm(&p.url())
        .put_parameter()
        .name("/t/json")
        .value("v")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");

    let err = rds(&p.url())
        .create_db_snapshot()
        .db_instance_identifier("db")
        .db_snapshot_identifier("snap")
        .send()
        .await
        .expect_err("throttled");
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");

    let s = p.stats();
    assert_eq!((s.requests, s.forwarded), (2, 0));
    assert_eq!(s.of("PutParameter", "throttle"), 1);
    assert_eq!(s.of("CreateDBSnapshot", "throttle"), 1);
    assert!(
        !exists(&ssm(&emu.endpoint()), "/t/json").await,
        "a throttled call must not reach moto"
    );
}

#[tokio::test]
async fn unavailable_answers_503_and_does_not_forward() {
    let emu = Emulator::shared();
    let p = proxy(&emu, 1.0, &[Fault::Unavailable]).await;
    let err = put(&ssm(&p.url()), "/t/503").await.expect_err("503");
    assert!(err.contains("503"), "{err}");
    assert_eq!(p.stats().forwarded, 0);
    assert_eq!(p.stats().faults["unavailable"], 1);
    assert!(!exists(&ssm(&emu.endpoint()), "/t/503").await);
}

#[tokio::test]
async fn reset_before_forwarding_breaks_the_connection_and_changes_nothing() {
    let emu = Emulator::shared();
    let p = proxy(&emu, 1.0, &[Fault::Reset]).await;
    let err = put(&ssm(&p.url()), "/t/reset").await.expect_err("reset");
    assert!(
        err.contains("dispatch failure") || err.contains("io error"),
        "{err}"
    );
    assert_eq!(p.stats().forwarded, 0);
    assert_eq!(p.stats().faults["reset"], 1);
    assert!(!exists(&ssm(&emu.endpoint()), "/t/reset").await);
}

#[tokio::test]
async fn lost_response_reaches_moto_but_the_caller_sees_a_broken_connection() {
    let emu = Emulator::shared();
    let p = proxy(&emu, 1.0, &[Fault::LostResponse]).await;
    let err = put(&ssm(&p.url()), "/t/lost")
        .await
        .expect_err("answer lost");
    assert!(
        err.contains("dispatch failure") || err.contains("io error"),
        "{err}"
    );
    let s = p.stats();
    assert_eq!((s.forwarded, s.faults["lost_response"]), (1, 1));
    assert!(
        exists(&ssm(&emu.endpoint()), "/t/lost").await,
        "the change happened although its answer was lost"
    );
    // The SDK's retry of the same create then meets "already exists".
    let p2 = proxy(&emu, 0.0, &[]).await;
    let err = put(&ssm(&p2.url()), "/t/lost").await.expect_err("exists");
    assert!(err.contains("ParameterAlreadyExists"), "{err}");
}

#[tokio::test]
async fn latency_delays_every_request_and_no_fault_forwards_everything() {
    let emu = Emulator::shared();
    let config = Config {
        latency: Some((Duration::from_millis(150), Duration::from_millis(150))),
        ..Config::default()
    };
    let p = FaultProxy::start(upstream(&emu), "127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let started = Instant::now();
    put(&ssm(&p.url()), "/t/slow").await.expect("forwarded");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(exists(&ssm(&emu.endpoint()), "/t/slow").await);
    let s = p.stats();
    assert_eq!((s.requests, s.forwarded, s.faults["latency"]), (1, 1, 1));
}

#[tokio::test]
async fn only_mutating_spares_reads() {
    let emu = Emulator::shared();
    let config = Config {
        fault_rate: 1.0,
        faults: vec![Fault::Throttle],
        only_mutating: true,
        ..Config::default()
    };
    let p = FaultProxy::start(upstream(&emu), "127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let c = ssm(&p.url());
    assert!(!exists(&c, "/t/read").await, "a read goes through");
    c.describe_parameters()
        .send()
        .await
        .expect("describe goes through");
    assert!(put(&c, "/t/read").await.is_err(), "a write is throttled");
    let s = p.stats();
    assert_eq!(s.of("GetParameter", "throttle"), 0);
    assert_eq!(s.of("DescribeParameters", "forwarded"), 1);
    assert_eq!(s.of("PutParameter", "throttle"), 1);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults_and_every_kind_occurs() {
    let emu = Emulator::shared();
    let mut runs = Vec::new();
    for _ in 0..2 {
        let p = proxy(&emu, 0.5, &Fault::ALL).await;
        let c = ssm(&p.url());
        for i in 0..60 {
            let _ = c.get_parameter().name(format!("/t/seed/{i}")).send().await;
        }
        runs.push(p.stats());
    }
    // Everything but the upstream times (the emulator's, not the seed's).
    let counts = |s: &testkit::fault_proxy::Stats| {
        (
            s.requests,
            s.forwarded,
            s.faults.clone(),
            s.operations.clone(),
        )
    };
    assert_eq!(counts(&runs[0]), counts(&runs[1]));
    assert_eq!(
        runs[0].upstream.keys().collect::<Vec<_>>(),
        ["GetParameter"]
    );
    for f in Fault::ALL {
        assert!(
            runs[0].faults.get(f.name()).copied().unwrap_or(0) > 0,
            "{f:?} never happened: {:?}",
            runs[0].faults
        );
    }
    let faulted: u64 = Fault::ALL.iter().map(|f| runs[0].faults[f.name()]).sum();
    assert!(
        (15..=45).contains(&faulted),
        "about half of 60 requests: {faulted}"
    );
}

#[tokio::test]
async fn the_control_path_reports_stats_and_is_not_forwarded() {
    let emu = Emulator::shared();
    let p = proxy(&emu, 0.0, &[]).await;
    put(&ssm(&p.url()), "/t/ctl").await.unwrap();
    let mut s = tokio::net::TcpStream::connect(p.addr()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /__fault-proxy/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let body = buf.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["requests"], 1);
    assert_eq!(v["operations"]["PutParameter"]["forwarded"], 1);
    // One forwarded call: its upstream time is both the sum and the fastest,
    // and it took some time (a real round trip to the emulator).
    let op = &v["upstream"]["PutParameter"];
    let (sum, min) = (op["total_us"].as_u64(), op["min_us"].as_u64());
    assert!(sum.is_some_and(|t| t > 0), "{op}");
    assert_eq!(sum, min, "{op}");
    assert_eq!(p.stats().requests, 1);
}

#[tokio::test]
async fn refuses_anything_but_loopback() {
    let emu = Emulator::shared();
    let err = FaultProxy::start(
        upstream(&emu),
        "0.0.0.0:0".parse().unwrap(),
        Config::default(),
    )
    .await
    .expect_err("0.0.0.0 refused");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    let err = FaultProxy::start(
        "10.0.0.1:80".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Config::default(),
    )
    .await
    .expect_err("non-loopback upstream refused");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}
