//! health-gate against the moto emulator (started with MOTO_ECS_SERVICE_RUNNING=2,
//! so every ECS service reports two running tasks) and real loopback listeners.
//! Metrics are published with PutMetricData; the shipped rehearsal gates file is
//! what most tests check.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_ecs::types::ContainerDefinition;
use serde_json::Value;
use testkit::{
    Emulator, EmulatorGuard, closed_port, json_lines_of, json_stdout, offline_env, runtime as rt,
    sdk_config, stderr,
};

const ALB: &str = "app/ltc-rehearsal/0123456789abcdef";

fn emulator() -> EmulatorGuard {
    // The first call in this test binary decides the server's environment.
    Emulator::shared_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")])
}

fn rehearsal_gates() -> PathBuf {
    testkit::workspace_root().join("env/rehearsal.gates.toml")
}

/// One datapoint now, per (namespace, dimension, metric, value).
fn publish(emu: &EmulatorGuard, points: &[(&str, (&str, &str), &str, f64)]) {
    let cw = aws_sdk_cloudwatch::Client::new(&sdk_config(emu));
    rt().block_on(async {
        for (ns, (dn, dv), metric, value) in points {
            cw.put_metric_data()
                .namespace(*ns)
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(*metric)
                        .dimensions(Dimension::builder().name(*dn).value(*dv).build())
                        .value(*value)
                        .unit(StandardUnit::None)
                        .timestamp(aws_smithy_types::DateTime::from(
                            std::time::SystemTime::now(),
                        ))
                        .build(),
                )
                .send()
                .await
                .expect("put metric data");
        }
    });
}

/// The rehearsal's metrics, healthy except where `db_cpu` says otherwise.
fn publish_rehearsal(emu: &EmulatorGuard, db_cpu: Option<f64>) {
    let alb = ("LoadBalancer", ALB);
    let mut points = vec![
        ("AWS/ApplicationELB", alb, "RequestCount", 1000.0),
        ("AWS/ApplicationELB", alb, "HTTPCode_Target_5XX_Count", 10.0),
        ("AWS/ApplicationELB", alb, "TargetResponseTime", 0.35),
        (
            "AWS/ElastiCache",
            ("CacheClusterId", "ltc-rehearsal-cache-001"),
            "CacheHits",
            900.0,
        ),
        (
            "AWS/ElastiCache",
            ("CacheClusterId", "ltc-rehearsal-cache-001"),
            "CacheMisses",
            100.0,
        ),
    ];
    if let Some(cpu) = db_cpu {
        points.push((
            "AWS/RDS",
            ("DBInstanceIdentifier", "ltc-db"),
            "CPUUtilization",
            cpu,
        ));
    }
    publish(emu, &points);
}

/// The rehearsal's ECS cluster with its two services (desired per service).
fn ecs_fixture(emu: &EmulatorGuard, desired: &[(&str, i32)]) {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config(emu));
    rt().block_on(async {
        ecs.create_cluster()
            .cluster_name("ltc-rehearsal")
            .send()
            .await
            .expect("cluster");
        for (svc, n) in desired {
            ecs.register_task_definition()
                .family(*svc)
                .container_definitions(
                    ContainerDefinition::builder()
                        .name("app")
                        .image("ltc/app:1")
                        .memory(128)
                        .build(),
                )
                .send()
                .await
                .expect("task definition");
            ecs.create_service()
                .cluster("ltc-rehearsal")
                .service_name(*svc)
                .task_definition(format!("{svc}:1"))
                .desired_count(*n)
                .send()
                .await
                .expect("service");
        }
    });
}

/// Loopback listeners standing in for the rehearsal's database and cache (its tcp
/// gates read their addresses from the environment), alive for the whole test run.
fn stand_ins() -> &'static (String, String) {
    static STAND_INS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    STAND_INS.get_or_init(|| {
        let addr = || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap().to_string();
            // Kept open (never accepted from): the kernel completes connects.
            std::mem::forget(l);
            a
        };
        (addr(), addr())
    })
}

fn bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("health-gate"));
    let (db, cache) = stand_ins();
    c.stdin(Stdio::null())
        .env("LTC_REHEARSAL_DB_ADDRESS", db)
        .env("LTC_REHEARSAL_CACHE_ADDRESS", cache);
    c
}

fn cmd(emu: &EmulatorGuard) -> Command {
    let mut c = bin();
    emu.configure(&mut c);
    c.args(["--output", "json"]);
    c
}

fn offline() -> Command {
    let mut c = bin();
    c.env_remove("AWS_PROFILE")
        .env_remove("LTC_DEADLINE")
        .envs(offline_env())
        .args(["--output", "json"]);
    c
}

/// `health-gate check --gates GATES MORE...` on the emulator.
fn check(emu: &EmulatorGuard, gates: impl AsRef<std::ffi::OsStr>, more: &[&str]) -> Output {
    cmd(emu)
        .args(["check", "--gates"])
        .arg(gates)
        .args(more)
        .output()
        .expect("run")
}

/// The emulator with the rehearsal's metrics published (database CPU as
/// given) and its services ltc-api and ltc-worker, 2 tasks each.
fn rehearsal(db_cpu: Option<f64>) -> EmulatorGuard {
    let emu = emulator();
    publish_rehearsal(&emu, db_cpu);
    ecs_fixture(&emu, &[("ltc-api", 2), ("ltc-worker", 2)]);
    emu
}

fn gate<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no gate {name} in {v}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write gates file");
    p
}

#[test]
fn the_rehearsal_gates_pass_on_healthy_metrics_with_one_get_metric_data_call() {
    let emu = rehearsal(Some(45.0));
    let out = check(&emu, rehearsal_gates(), &["--env", "rehearsal"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(v["passed"], true, "{v}");
    assert_eq!(v["env"], "rehearsal");
    for g in v["gates"].as_array().unwrap() {
        assert_eq!(g["verdict"], "pass", "{g}");
    }
    assert_eq!(gate(&v, "api-error-rate")["value"], 1.0);
    assert_eq!(gate(&v, "api-error-rate")["threshold"], "> 5%");
    assert_eq!(gate(&v, "api-p95-critical")["value"], 350.0);
    assert_eq!(gate(&v, "db-cpu-critical")["value"], 45.0);
    assert_eq!(gate(&v, "cache-hit-rate")["value"], 90.0);
    assert_eq!(gate(&v, "ecs-unhealthy-tasks")["value"], 0.0);
    assert_eq!(gate(&v, "db-reachable")["source"], "tcp");
    assert_eq!(gate(&v, "cache-reachable")["verdict"], "pass");
    assert_eq!(gate(&v, "db-cpu-critical")["severity"], "critical");
    assert_eq!(gate(&v, "db-cpu-critical")["source"], "cloudwatch");
    assert!(
        gate(&v, "db-cpu-critical")["query"]
            .as_str()
            .unwrap()
            .contains("AWS/RDS/CPUUtilization [DBInstanceIdentifier=ltc-db] Average"),
        "{v}"
    );
    // Six metric gates, nine series: one call.
    assert_eq!(v["calls_by_operation"]["GetMetricData"], 1, "{v}");
    assert_eq!(v["calls_by_operation"]["DescribeServices"], 1, "{v}");
    // Task health: one ListTasks for the cluster, not one per service.
    assert_eq!(v["calls_by_operation"]["ListTasks"], 1, "{v}");
    // The table for people is on stderr.
    let err = stderr(&out);
    assert!(
        err.contains("GATE") && err.contains("db-cpu-critical"),
        "{err}"
    );
}

#[test]
fn database_cpu_at_95_percent_fails_critical_with_exit_4() {
    let emu = rehearsal(Some(95.0));
    let out = check(&emu, rehearsal_gates(), &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(v["passed"], false);
    assert_eq!(gate(&v, "db-cpu-critical")["verdict"], "fail");
    assert_eq!(gate(&v, "db-cpu-critical")["value"], 95.0);
    assert_eq!(gate(&v, "db-cpu-warning")["verdict"], "fail");
    assert_eq!(gate(&v, "api-error-rate")["verdict"], "pass");
    assert_eq!(v["failed"], serde_json::json!(["db-cpu-critical"]));
    assert!(
        stderr(&out).contains("error: failed: db-cpu-critical"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_warning_alone_fails_only_with_strict() {
    let emu = rehearsal(Some(85.0));
    let run = |strict: bool| {
        let mut c = cmd(&emu);
        c.args(["check", "--gates"]).arg(rehearsal_gates());
        if strict {
            c.arg("--strict");
        }
        c.output().expect("run")
    };
    let out = run(false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(gate(&v, "db-cpu-warning")["verdict"], "fail");
    assert_eq!(v["warnings"], serde_json::json!(["db-cpu-warning"]));
    let out = run(true);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[test]
fn no_data_is_inconclusive_never_pass() {
    let emu = rehearsal(None);
    let out = check(&emu, rehearsal_gates(), &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json_stdout(&out);
    let cpu = gate(&v, "db-cpu-critical");
    assert_eq!(cpu["verdict"], "inconclusive", "{cpu}");
    assert_eq!(cpu["value"], Value::Null);
    assert!(
        cpu["detail"]
            .as_str()
            .unwrap()
            .contains("no CPUUtilization datapoints"),
        "{cpu}"
    );
    assert_eq!(
        v["inconclusive_counted"],
        serde_json::json!(["db-cpu-critical"])
    );

    // Tolerating one inconclusive critical gate is a setting of the file.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(rehearsal_gates())
        .unwrap()
        .replace("inconclusive_limit = 0", "inconclusive_limit = 1");
    let tolerant = write(dir.path(), "g.toml", &text);
    let out = check(&emu, &tolerant, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn ecs_unhealthy_share_above_half_fails_and_a_missing_service_fails_closed() {
    let emu = emulator();
    publish_rehearsal(&emu, Some(45.0));
    // 2 running of 5 desired: 60 % unhealthy.
    ecs_fixture(&emu, &[("ltc-api", 5), ("ltc-worker", 2)]);
    let out = check(&emu, rehearsal_gates(), &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json_stdout(&out);
    let g = gate(&v, "ecs-unhealthy-tasks");
    assert_eq!(g["verdict"], "fail", "{g}");
    assert_eq!(g["value"], 60.0, "{g}");
    assert!(
        g["detail"]
            .as_str()
            .unwrap()
            .contains("ltc-api: 2/5 running"),
        "{g}"
    );

    let dir = tempfile::tempdir().unwrap();
    let gates = write(
        dir.path(),
        "g.toml",
        "[[gate]]\nname = \"ecs\"\nseverity = \"critical\"\nsource = \"ecs\"\ncluster = \"ltc-rehearsal\"\nservices = [\"ltc-api\", \"ltc-typo\"]\nthreshold = 50\ncomparison = \">\"\n",
    );
    let out = check(&emu, &gates, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let g = gate(&json_stdout(&out), "ecs").clone();
    assert_eq!(g["verdict"], "fail", "{g}");
    assert!(g["detail"].as_str().unwrap().contains("MISSING"), "{g}");
}

#[test]
fn alarm_gates_fail_on_alarm_and_on_a_name_that_matches_nothing() {
    let emu = emulator();
    let config = sdk_config(&emu);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    rt().block_on(async {
        for name in ["ltc-critical-5xx", "ltc-critical-db"] {
            testkit::sdk::put_metric_alarm(&config, name).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let gates = write(
        dir.path(),
        "g.toml",
        "[[gate]]\nname = \"critical\"\nseverity = \"critical\"\nsource = \"alarm\"\nalarms = [\"ltc-critical-*\"]\n\n\
         [[gate]]\nname = \"typo\"\nseverity = \"warning\"\nsource = \"alarm\"\nalarms = [\"ltc-crit1cal-db\"]\n",
    );
    let out = check(&emu, &gates, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(gate(&v, "critical")["verdict"], "pass", "{v}");
    assert_eq!(gate(&v, "typo")["verdict"], "fail", "{v}");
    assert!(
        gate(&v, "typo")["detail"]
            .as_str()
            .unwrap()
            .contains("no such alarm")
    );

    rt().block_on(
        cw.set_alarm_state()
            .alarm_name("ltc-critical-db")
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("test")
            .send(),
    )
    .expect("set state");
    let out = check(&emu, &gates, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(gate(&v, "critical")["verdict"], "fail");
    assert_eq!(gate(&v, "critical")["detail"], "in ALARM: ltc-critical-db");
}

fn tcp_gates(dir: &Path, port: u16) -> PathBuf {
    write(
        dir,
        "tcp.toml",
        &format!(
            "[[gate]]\nname = \"db-reachable\"\nseverity = \"critical\"\nsource = \"tcp\"\naddress = \"127.0.0.1:{port}\"\ntimeout = \"2s\"\n"
        ),
    )
}

#[test]
fn tcp_gate_passes_on_a_listener_and_fails_on_a_closed_port_without_aws() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = offline()
        .args(["check", "--gates"])
        .arg(tcp_gates(dir.path(), port))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    let g = gate(&v, "db-reachable");
    assert_eq!(g["verdict"], "pass");
    assert_eq!(g["unit"], "ms");
    assert!(g["value"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        v["calls_by_operation"],
        serde_json::json!({}),
        "no AWS call for TCP gates"
    );

    let out = offline()
        .args(["check", "--gates"])
        .arg(tcp_gates(dir.path(), closed_port()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let g = gate(&json_stdout(&out), "db-reachable").clone();
    assert_eq!(g["verdict"], "fail");
    assert!(g["detail"].as_str().unwrap().contains("refused"), "{g}");
}

#[test]
fn command_gate_masks_secrets_in_query_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let gates = write(
        dir.path(),
        "cmd.toml",
        "[[gate]]\nname = \"db-query\"\nseverity = \"critical\"\nsource = \"command\"\ncommand = \"echo login with ${DB_PASSWORD} refused; exit 3\"\n",
    );
    let out = offline()
        .env("DB_PASSWORD", "hunter2-secret")
        .args(["check", "--gates"])
        .arg(&gates)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains("hunter2"), "secret printed: {all}");
    let g = gate(&json_stdout(&out), "db-query").clone();
    assert_eq!(g["query"], "sh -c echo login with *** refused; exit 3");
    assert_eq!(g["detail"], "exit 3: login with *** refused");
}

#[test]
fn mistakes_in_the_gates_file_exit_2_with_line_and_column_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(rehearsal_gates()).unwrap();
    for (from, to, want) in [
        (
            "metric = \"CPUUtilization\"",
            "metric = \"CPUUtilisation\"",
            "unknown metric",
        ),
        (
            "statistic = \"Average\"",
            "statistic = \"Mean\"",
            "unknown statistic",
        ),
        ("threshold = 90", "threshold = 900", "out of range"),
        ("source = \"ecs\"", "source = \"ec2\"", "unknown source"),
        (
            "name = \"db-cpu-warning\"",
            "name = \"db-cpu-critical\"",
            "duplicate gate name",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let gates = write(dir.path(), "bad.toml", &text.replacen(from, to, 1));
        let out = offline()
            .args(["check", "--gates"])
            .arg(&gates)
            .output()
            .expect("run");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{to}: {err}");
        assert!(
            err.contains(want) && err.contains("line ") && err.contains("column "),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = offline()
        .args(["check", "--gates", "/nonexistent/g.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn watch_stops_after_the_failure_limit_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = offline()
        .args([
            "watch",
            "--for",
            "1m",
            "--interval",
            "1s",
            "--failure-limit",
            "2",
            "--gates",
        ])
        .arg(tcp_gates(dir.path(), closed_port()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let lines = json_lines_of(&out, "health-gate", "watch");
    assert_eq!(lines.len(), 3, "two evaluations and the summary: {lines:?}");
    assert_eq!(lines[0]["type"], "evaluation");
    assert_eq!(lines[0]["consecutive_failures"], 1);
    assert_eq!(lines[1]["consecutive_failures"], 2);
    assert!(lines[0]["at"].as_str().is_some());
    assert_eq!(lines[2]["type"], "summary");
    assert_eq!(lines[2]["result"], "breached");
    assert_eq!(lines[2]["evaluations"], 2);
    assert!(
        stderr(&out).contains("failed in a row 2/2"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn watch_runs_for_the_time_when_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = offline()
        .args(["watch", "--for", "2500ms", "--interval", "1s", "--gates"])
        .arg(tcp_gates(dir.path(), port))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines_of(&out, "health-gate", "watch");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[..3].iter().all(|l| l["passed"] == true));
    assert_eq!(lines[3]["result"], "healthy");
    assert_eq!(lines[3]["evaluations"], 3);
}

#[test]
fn watch_interrupted_exits_130_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = offline()
        .args(["watch", "--for", "10m", "--interval", "1m", "--gates"])
        .arg(tcp_gates(dir.path(), port))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).expect("first evaluation");
    let first: Value = serde_json::from_str(&first).expect("a JSON line");
    assert_eq!(first["type"], "evaluation");
    testkit::interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let summary: Value = serde_json::from_str(rest.trim()).expect("the summary line");
    assert_eq!(summary["result"], "interrupted");
    assert_eq!(summary["evaluations"], 1);
    testkit::schema::check_events_if_published("health-gate", "watch", &[first, summary]);
}

#[test]
fn source_selects_the_connectivity_gates_and_an_empty_selection_is_refused() {
    let out = offline()
        .args(["check", "--source", "tcp", "--gates"])
        .arg(rehearsal_gates())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    let names: Vec<&str> = v["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-reachable", "cache-reachable"]);
    assert_eq!(
        v["calls_by_operation"],
        serde_json::json!({}),
        "no AWS call: {v}"
    );

    for (source, want) in [
        ("guardduty", "no gate of source guardduty"),
        ("tpc", "--source \"tpc\": use one of"),
    ] {
        let out = offline()
            .args(["check", "--source", source, "--gates"])
            .arg(rehearsal_gates())
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
    }
}

// moto reports every registered target healthy: the pass and the fail-closed
// paths here; unhealthy shares are tested with SDK mocks (src/targets.rs).
#[test]
fn target_health_of_named_groups_and_a_group_that_does_not_exist() {
    let emu = emulator();
    let config = sdk_config(&emu);
    let aws = testkit::workspace_root().join(".venv/bin/aws");
    let mut vpc = Command::new(&aws);
    emu.configure(&mut vpc);
    // The CLI (v1) reads the region from AWS_DEFAULT_REGION.
    let vpc = vpc
        .env("AWS_DEFAULT_REGION", "ap-northeast-1")
        .args([
            "ec2",
            "create-vpc",
            "--cidr-block",
            "10.0.0.0/16",
            "--query",
            "Vpc.VpcId",
            "--output",
            "text",
        ])
        .output()
        .expect("aws ec2 create-vpc");
    assert!(vpc.status.success(), "{}", stderr(&vpc));
    let vpc = String::from_utf8(vpc.stdout).unwrap().trim().to_owned();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    rt().block_on(async {
        let tg = elb
            .create_target_group()
            .name("ltc-api")
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
            .send()
            .await
            .expect("target group");
        let arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
        let mut req = elb.register_targets().target_group_arn(arn);
        for ip in ["10.0.0.1", "10.0.0.2"] {
            req = req.targets(
                aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                    .id(ip)
                    .port(80)
                    .build(),
            );
        }
        req.send().await.expect("register");
    });
    let dir = tempfile::tempdir().unwrap();
    let file = |groups: &str| {
        write(
            dir.path(),
            "tg.toml",
            &format!(
                "[[gate]]\nname = \"api-targets\"\nseverity = \"critical\"\nsource = \"target-health\"\ntarget_groups = [{groups}]\nthreshold = 50\ncomparison = \"<\"\n"
            ),
        )
    };
    let out = cmd(&emu)
        .args(["check", "--gates"])
        .arg(file("\"ltc-api\""))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json_stdout(&out);
    let g = gate(&v, "api-targets");
    assert_eq!(g["value"], 100.0, "{g}");
    assert_eq!(g["detail"], "ltc-api: 2/2 healthy", "{g}");
    assert_eq!(g["threshold"], "< 50%");
    assert_eq!(v["calls_by_operation"]["DescribeTargetGroups"], 1, "{v}");
    assert_eq!(v["calls_by_operation"]["DescribeTargetHealth"], 1, "{v}");

    let out = cmd(&emu)
        .args(["check", "--gates"])
        .arg(file("\"ltc-api\", \"ltc-apl\""))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let g = gate(&json_stdout(&out), "api-targets").clone();
    assert_eq!(g["verdict"], "fail", "{g}");
    assert!(
        g["detail"]
            .as_str()
            .unwrap()
            .contains("no such target group"),
        "{g}"
    );
}

// moto's cache clusters have no node endpoints: the gate fails closed (without a
// connect attempt), as it does for a cluster that does not exist.
#[test]
fn cache_cluster_without_endpoint_or_missing_fails_closed() {
    let emu = emulator();
    let ec = aws_sdk_elasticache::Client::new(&sdk_config(&emu));
    rt().block_on(
        ec.create_cache_cluster()
            .cache_cluster_id("ltc-cache")
            .engine("redis")
            .cache_node_type("cache.t3.micro")
            .num_cache_nodes(1)
            .send(),
    )
    .expect("cache cluster");
    let dir = tempfile::tempdir().unwrap();
    let gates = write(
        dir.path(),
        "cache.toml",
        "[[gate]]\nname = \"cache\"\nseverity = \"critical\"\nsource = \"tcp\"\ncache_cluster = \"ltc-cache\"\n\n\
         [[gate]]\nname = \"typo\"\nseverity = \"critical\"\nsource = \"tcp\"\ncache_cluster = \"ltc-cahce\"\n",
    );
    let out = check(&emu, &gates, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v = json_stdout(&out);
    assert_eq!(
        gate(&v, "cache")["detail"],
        "ElastiCache cluster ltc-cache has no node endpoint (status available)"
    );
    assert_eq!(
        gate(&v, "typo")["detail"],
        "no ElastiCache cluster ltc-cahce"
    );
    assert_eq!(gate(&v, "typo")["verdict"], "fail");
    assert_eq!(v["calls_by_operation"]["DescribeCacheClusters"], 2, "{v}");
}
