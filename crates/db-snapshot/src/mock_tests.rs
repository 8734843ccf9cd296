//! What the emulator cannot show (everything there is available at once): a
//! snapshot that takes minutes, a restore that fails, a swap that fails between
//! its two renames, and the polling cadence. SDK-level mocks (aws-smithy-mocks)
//! against the real client types, with tokio's paused clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::Client;
use aws_sdk_rds::error::ErrorMetadata;
use aws_sdk_rds::operation::create_db_snapshot::CreateDbSnapshotOutput;
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::describe_db_snapshots::{
    DescribeDBSnapshotsError, DescribeDbSnapshotsOutput,
};
use aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::{
    RestoreDBInstanceFromDBSnapshotError, RestoreDbInstanceFromDbSnapshotOutput,
};
use aws_sdk_rds::types::error::{
    DbInstanceNotFoundFault, DbSnapshotNotFoundFault, InsufficientDbInstanceCapacityFault,
};
use aws_sdk_rds::types::{DbInstance, DbSnapshot, Endpoint};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::output::Captured;
use common::{Context, GlobalArgs, HumanDuration, Output};
use tokio::time::Instant;

use crate::rds::{InstanceInfo, Rds, Source};
use crate::restore::{SnapshotSpec, Validated};
use crate::swap::SwapPlan;

pub(crate) struct Harness {
    pub(crate) ctx: Context,
    pub(crate) stdout: Captured,
    pub(crate) stderr: Captured,
    pub(crate) dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let globals = GlobalArgs {
            journal: Some(dir.path().join("journal.jsonl")),
            ..Default::default()
        };
        let (out, stdout, stderr) = Output::captured(true);
        Harness {
            ctx: Context::with_output("db-snapshot", &globals, out),
            stdout,
            stderr,
            dir,
        }
    }

    /// (action, outcome) of every journal line, in order.
    pub(crate) fn journal(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.dir.path().join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["action"].as_str().unwrap_or_default().to_owned(),
                    v["outcome"].as_str().unwrap_or("intent").to_owned(),
                )
            })
            .collect()
    }
}

pub(crate) fn instance(id: &str, status: &str, resource_id: &str) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_status(status)
        .engine("postgres")
        .db_instance_class("db.t3.small")
        .dbi_resource_id(resource_id)
        .endpoint(
            Endpoint::builder()
                .address(format!("{id}.abc.ap-northeast-1.rds.amazonaws.com"))
                .port(5432)
                .build(),
        )
        .build()
}

pub(crate) fn described(i: DbInstance) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder().db_instances(i).build()
}

pub(crate) fn instance_not_found() -> DescribeDBInstancesError {
    DescribeDBInstancesError::DbInstanceNotFoundFault(
        DbInstanceNotFoundFault::builder()
            .meta(
                ErrorMetadata::builder()
                    .code("DBInstanceNotFound")
                    .message("DBInstance not found")
                    .build(),
            )
            .build(),
    )
}

pub(crate) fn snapshot(id: &str, status: &str, percent: i32) -> DbSnapshot {
    DbSnapshot::builder()
        .db_snapshot_identifier(id)
        .db_instance_identifier("ltc-db")
        .snapshot_type("manual")
        .status(status)
        .engine("postgres")
        .allocated_storage(100)
        .percent_progress(percent)
        .snapshot_create_time(aws_smithy_types::DateTime::from_secs(1_795_000_000))
        .build()
}

pub(crate) fn snapshots(s: DbSnapshot) -> DescribeDbSnapshotsOutput {
    DescribeDbSnapshotsOutput::builder().db_snapshots(s).build()
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_that_takes_minutes_is_waited_for_with_percent_progress() {
    let h = Harness::new();
    let source_rule = mock!(Client::describe_db_instances)
        .then_output(|| described(instance("ltc-db", "available", "db-ORIG")));
    let create_rule = mock!(Client::create_db_snapshot).then_output(|| {
        CreateDbSnapshotOutput::builder()
            .db_snapshot(snapshot("snap-1", "creating", 0))
            .build()
    });
    let mut seq = mock!(Client::describe_db_snapshots).sequence().error(|| {
        DescribeDBSnapshotsError::DbSnapshotNotFoundFault(
            DbSnapshotNotFoundFault::builder()
                .meta(ErrorMetadata::builder().code("DBSnapshotNotFound").build())
                .build(),
        )
    });
    for pct in [0, 0, 15, 15, 40, 40, 70, 95] {
        seq = seq.output(move || snapshots(snapshot("snap-1", "creating", pct)));
    }
    let describe_rule = seq
        .output(|| snapshots(snapshot("snap-1", "available", 100)))
        .repeatedly()
        .build();
    let client = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&source_rule, &create_rule, &describe_rule]
    );
    let started = Instant::now();
    let result = crate::create::create(
        &h.ctx,
        &Rds::from_client(client),
        &Source::Instance("ltc-db".into()),
        "snap-1",
        BTreeMap::new(),
        HumanDuration(Duration::from_secs(3600)),
    )
    .await
    .expect("snapshot becomes available");
    assert_eq!(result.status, "available");
    assert!(result.created);
    assert_eq!(create_rule.num_calls(), 1);
    // 1 existence check + 9 looks while it was being made.
    assert_eq!(describe_rule.num_calls(), 10);
    assert!(started.elapsed() > Duration::from_secs(5));
    let err = h.stderr.text();
    for line in [
        "creating (0%)",
        "creating (15%)",
        "creating (40%)",
        "creating (95%)",
    ] {
        assert!(err.contains(line), "missing {line:?} in:\n{err}");
    }
    assert_eq!(
        h.journal(),
        [
            ("db.snapshot.create".to_owned(), "intent".to_owned()),
            ("db.snapshot.create".to_owned(), "ok".to_owned())
        ]
    );
}

/// The figure the bench reports: how often a 10-minute snapshot is polled.
#[tokio::test(start_paused = true)]
async fn polling_cadence_for_a_ten_minute_snapshot() {
    let h = Harness::new();
    let start = Instant::now();
    let looks: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let seen = looks.clone();
    let rule = mock!(Client::describe_db_snapshots).then_compute_output(move |_| {
        let t = start.elapsed();
        seen.lock().unwrap_or_else(|p| p.into_inner()).push(t);
        if t < Duration::from_secs(600) {
            let pct = (t.as_secs() * 100 / 600) as i32;
            snapshots(snapshot("snap-1", "creating", pct))
        } else {
            snapshots(snapshot("snap-1", "available", 100))
        }
    });
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
    crate::wait::snapshot_available(
        &h.ctx,
        &Rds::from_client(client),
        &Source::Instance("ltc-db".into()),
        "snap-1",
        Duration::from_secs(3600),
    )
    .await
    .expect("available after 10 minutes");
    let looks = looks.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let n = looks.len();
    let first_minute = looks
        .iter()
        .filter(|t| **t < Duration::from_secs(60))
        .count();
    let last_five = looks
        .iter()
        .filter(|t| **t >= Duration::from_secs(300))
        .count();
    println!(
        "polling cadence (mocked 10-minute snapshot): {n} DescribeDBSnapshots calls in {:.1} min = {:.1}/min; first minute {first_minute}, steady state {:.1}/min",
        looks.last().map_or(0.0, |t| t.as_secs_f64() / 60.0),
        n as f64 / 10.0,
        last_five as f64 / 5.0
    );
    // 250 ms growing x1.5 to a 10 s cap: ~12 quick looks, then 6 a minute.
    assert!((60..=75).contains(&n), "{n} looks");
    assert!((5..=7).contains(&last_five.div_euclid(5)), "{last_five}");
}

pub(crate) fn restore_validated() -> Validated {
    Validated {
        source: Source::Instance("ltc-db".into()),
        target: "ltc-db-r1".into(),
        snapshot: SnapshotSpec::Id("snap-1".into()),
        swap: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_restore_asks_for_the_settings_rds_would_otherwise_reset() {
    // RDS restores with IAM auth off, no log exports and default flags unless asked;
    // the application of a rolled-back database must still be able to log in.
    let h = Harness::new();
    let source = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db"))
        .then_output(|| {
            let mut i = instance("ltc-db", "available", "db-ORIG");
            i.endpoint = Some(Endpoint::builder().address("ltc-db.x").port(6543).build());
            i.iam_database_authentication_enabled = Some(true);
            i.enabled_cloudwatch_logs_exports = Some(vec!["upgrade".into(), "postgresql".into()]);
            i.publicly_accessible = Some(false);
            i.auto_minor_version_upgrade = Some(false);
            i.copy_tags_to_snapshot = Some(true);
            i.ca_certificate_identifier = Some("rds-ca-rsa2048-g1".into());
            described(i)
        });
    let target = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db-r1"))
        .sequence()
        .error(instance_not_found)
        .output(|| described(instance("ltc-db-r1", "available", "db-NEW")))
        .repeatedly()
        .build();
    let snap = mock!(Client::describe_db_snapshots)
        .then_output(|| snapshots(snapshot("snap-1", "available", 100)));
    let asked: Arc<Mutex<Vec<aws_sdk_rds::operation::restore_db_instance_from_db_snapshot::RestoreDbInstanceFromDbSnapshotInput>>> = Arc::default();
    let seen = asked.clone();
    let restore =
        mock!(Client::restore_db_instance_from_db_snapshot).then_compute_output(move |i| {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(i.clone());
            RestoreDbInstanceFromDbSnapshotOutput::builder()
                .db_instance(instance("ltc-db-r1", "creating", "db-NEW"))
                .build()
        });
    let client = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&source, &target, &snap, &restore]
    );
    crate::restore::restore(
        &h.ctx,
        &Rds::from_client(client),
        &restore_validated(),
        None,
        HumanDuration(Duration::from_secs(3600)),
    )
    .await
    .expect("the restore succeeds");
    let asked = asked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(asked.len(), 1);
    let r = &asked[0];
    assert_eq!(r.port(), Some(6543));
    assert_eq!(r.enable_iam_database_authentication(), Some(true));
    assert_eq!(
        r.enable_cloudwatch_logs_exports(),
        ["postgresql", "upgrade"]
    );
    assert_eq!(r.publicly_accessible(), Some(false));
    assert_eq!(r.auto_minor_version_upgrade(), Some(false));
    assert_eq!(r.copy_tags_to_snapshot(), Some(true));
    assert_eq!(r.ca_certificate_identifier(), Some("rds-ca-rsa2048-g1"));
    // IOPS and throughput come from the snapshot.
    assert_eq!((r.iops(), r.storage_throughput()), (None, None));
}

#[tokio::test(start_paused = true)]
async fn a_restore_that_fails_exits_3_and_leaves_the_source_alone() {
    let h = Harness::new();
    let source = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db"))
        .then_output(|| described(instance("ltc-db", "available", "db-ORIG")));
    let target = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db-r1"))
        .sequence()
        .error(instance_not_found)
        .output(|| described(instance("ltc-db-r1", "creating", "db-NEW")))
        .times(3)
        .output(|| described(instance("ltc-db-r1", "failed", "db-NEW")))
        .repeatedly()
        .build();
    let snap = mock!(Client::describe_db_snapshots)
        .then_output(|| snapshots(snapshot("snap-1", "available", 100)));
    let restore = mock!(Client::restore_db_instance_from_db_snapshot).then_output(|| {
        RestoreDbInstanceFromDbSnapshotOutput::builder()
            .db_instance(instance("ltc-db-r1", "creating", "db-NEW"))
            .build()
    });
    let client = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&source, &target, &snap, &restore]
    );
    let err = crate::restore::restore(
        &h.ctx,
        &Rds::from_client(client),
        &restore_validated(),
        None,
        HumanDuration(Duration::from_secs(3600)),
    )
    .await
    .expect_err("the restore fails");
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("ltc-db-r1 is failed"), "{err}");
    assert!(
        h.stderr
            .text()
            .contains("ltc-db was not touched and still serves under its own name")
    );
    assert_eq!(restore.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_restore_call_rejected_by_rds_is_journaled_as_failed() {
    let h = Harness::new();
    let source = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db"))
        .then_output(|| described(instance("ltc-db", "available", "db-ORIG")));
    let target = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-db-r1"))
        .then_error(instance_not_found);
    let snap = mock!(Client::describe_db_snapshots)
        .then_output(|| snapshots(snapshot("snap-1", "available", 100)));
    let restore = mock!(Client::restore_db_instance_from_db_snapshot).then_error(|| {
        RestoreDBInstanceFromDBSnapshotError::InsufficientDbInstanceCapacityFault(
            InsufficientDbInstanceCapacityFault::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("InsufficientDBInstanceCapacity")
                        .message("no db.t3.small capacity in ap-northeast-1a")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&source, &target, &snap, &restore]
    );
    let err = crate::restore::restore(
        &h.ctx,
        &Rds::from_client(client),
        &restore_validated(),
        None,
        HumanDuration(Duration::from_secs(3600)),
    )
    .await
    .expect_err("RDS refuses");
    assert_eq!(err.exit_code(), 3);
    assert!(
        err.to_string().contains("InsufficientDBInstanceCapacity"),
        "{err}"
    );
    assert_eq!(
        h.journal(),
        [
            ("db.restore".to_owned(), "intent".to_owned()),
            ("db.restore".to_owned(), "failed".to_owned())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_swap_failing_between_the_renames_exits_7_naming_who_is_who() {
    let h = Harness::new();
    let plan = SwapPlan::new("ltc-db", "ltc-db-r1").expect("plan");
    let aside = plan.aside.clone();
    let world = crate::fault_tests::World::new(&[
        ("ltc-db", "db-ORIG", "available"),
        ("ltc-db-r1", "db-NEW", "available"),
    ]);
    // The second rename is refused (the restored instance is being backed up).
    world
        .refuse
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push("ltc-db-r1".into());
    let (rds, rules) = world.client();
    let original = InstanceInfo::from(&instance("ltc-db", "available", "db-ORIG"));
    let replacement = InstanceInfo::from(&instance("ltc-db-r1", "available", "db-NEW"));
    let err = crate::swap::swap(
        &h.ctx,
        &rds,
        &plan,
        &original,
        &replacement,
        Duration::from_secs(600),
    )
    .await
    .expect_err("second rename fails");
    let msg = err.to_string();
    assert_eq!(err.exit_code(), 7, "{msg}");
    assert!(
        msg.contains(&format!(
            "the original instance is named {aside} (available)"
        )),
        "{msg}"
    );
    assert!(
        msg.contains("the restored instance is named ltc-db-r1 (available)"),
        "{msg}"
    );
    assert!(
        msg.contains("nothing is named ltc-db;") || msg.contains("nothing is named ltc-db."),
        "{msg}"
    );
    assert!(msg.contains("InvalidDBInstanceState"), "{msg}");
    assert!(
        msg.contains("--db-instance-identifier ltc-db-r1 --new-db-instance-identifier ltc-db"),
        "{msg}"
    );
    // One call per rename: the aside, then the refused promote.
    assert_eq!(rules.last().map(|r| r.num_calls()), Some(2));
    assert_eq!(world.holder(&aside).as_deref(), Some("db-ORIG"));
    assert_eq!(
        h.journal(),
        [
            ("db.swap".to_owned(), "intent".to_owned()),
            ("db.swap.aside".to_owned(), "intent".to_owned()),
            ("db.swap.aside".to_owned(), "ok".to_owned()),
            ("db.swap.promote".to_owned(), "intent".to_owned()),
            ("db.swap.promote".to_owned(), "failed".to_owned()),
            ("db.swap".to_owned(), "revert-failed".to_owned())
        ]
    );
    // The inventory is also the JSON on stdout.
    let v: serde_json::Value = serde_json::from_str(h.stdout.text().trim()).expect("json");
    assert_eq!(v["outcome"], "human-needed");
    assert_eq!(
        v["inventory"]["resume"],
        "db-snapshot swap --resume --instance ltc-db"
    );
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_still_creating_at_the_timeout_exits_5_with_the_reattach_command() {
    let h = Harness::new();
    let rule = mock!(Client::describe_db_snapshots)
        .then_output(|| snapshots(snapshot("snap-1", "creating", 30)));
    let client = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&rule]);
    let err = crate::wait::snapshot_available(
        &h.ctx,
        &Rds::from_client(client),
        &Source::Instance("ltc-db".into()),
        "snap-1",
        Duration::from_secs(300),
    )
    .await
    .expect_err("times out");
    assert_eq!(err.exit_code(), 5, "{err}");
    assert!(
        err.to_string()
            .contains("re-attach with: db-snapshot wait --instance ltc-db --snapshot snap-1"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_whose_writer_cannot_be_added_exits_7_and_says_what_is_where() {
    use aws_sdk_rds::operation::create_db_instance::CreateDBInstanceError;
    use aws_sdk_rds::operation::describe_db_cluster_snapshots::DescribeDbClusterSnapshotsOutput;
    use aws_sdk_rds::operation::describe_db_clusters::{
        DescribeDBClustersError, DescribeDbClustersOutput,
    };
    use aws_sdk_rds::operation::restore_db_cluster_from_snapshot::RestoreDbClusterFromSnapshotOutput;
    use aws_sdk_rds::types::error::DbClusterNotFoundFault;
    use aws_sdk_rds::types::{DbCluster, DbClusterMember, DbClusterSnapshot};

    let h = Harness::new();
    let cluster = |id: &str, writer: Option<&str>| {
        let mut b = DbCluster::builder()
            .db_cluster_identifier(id)
            .status("available")
            .engine("aurora-postgresql")
            .endpoint(format!("{id}.cluster-x"))
            .port(5432);
        if let Some(w) = writer {
            b = b.db_cluster_members(
                DbClusterMember::builder()
                    .db_instance_identifier(w)
                    .is_cluster_writer(true)
                    .build(),
            );
        }
        DescribeDbClustersOutput::builder()
            .db_clusters(b.build())
            .build()
    };
    let source = mock!(Client::describe_db_clusters)
        .match_requests(|r| r.db_cluster_identifier() == Some("ltc-aurora"))
        .then_output(move || cluster("ltc-aurora", Some("ltc-aurora-1")));
    let target = mock!(Client::describe_db_clusters)
        .match_requests(|r| r.db_cluster_identifier() == Some("ltc-aurora-r1"))
        .sequence()
        .error(|| {
            DescribeDBClustersError::DbClusterNotFoundFault(
                DbClusterNotFoundFault::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("DBClusterNotFoundFault")
                            .build(),
                    )
                    .build(),
            )
        })
        .output(move || cluster("ltc-aurora-r1", None))
        .repeatedly()
        .build();
    let writer = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-aurora-1"))
        .then_output(|| described(instance("ltc-aurora-1", "available", "db-W")));
    // The failed create is read back: no writer instance was made.
    let no_writer = mock!(Client::describe_db_instances)
        .match_requests(|r| r.db_instance_identifier() == Some("ltc-aurora-r1-writer"))
        .then_error(instance_not_found);
    let snap = mock!(Client::describe_db_cluster_snapshots).then_output(|| {
        DescribeDbClusterSnapshotsOutput::builder()
            .db_cluster_snapshots(
                DbClusterSnapshot::builder()
                    .db_cluster_snapshot_identifier("csnap-1")
                    .db_cluster_identifier("ltc-aurora")
                    .snapshot_type("manual")
                    .status("available")
                    .engine("aurora-postgresql")
                    .percent_progress(100)
                    .snapshot_create_time(aws_smithy_types::DateTime::from_secs(1_795_000_000))
                    .build(),
            )
            .build()
    });
    let restore = mock!(Client::restore_db_cluster_from_snapshot)
        .then_output(|| RestoreDbClusterFromSnapshotOutput::builder().build());
    let create = mock!(Client::create_db_instance).then_error(|| {
        CreateDBInstanceError::InsufficientDbInstanceCapacityFault(
            InsufficientDbInstanceCapacityFault::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("InsufficientDBInstanceCapacity")
                        .message("no db.t3.small capacity")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [
            &source, &target, &writer, &no_writer, &snap, &restore, &create
        ]
    );
    let v = Validated {
        source: Source::Cluster("ltc-aurora".into()),
        target: "ltc-aurora-r1".into(),
        snapshot: SnapshotSpec::Id("csnap-1".into()),
        swap: None,
    };
    let err = crate::restore::restore(
        &h.ctx,
        &Rds::from_client(client),
        &v,
        None,
        HumanDuration(Duration::from_secs(3600)),
    )
    .await
    .expect_err("the writer cannot be added");
    // Half made (a cluster nobody can connect to): a person decides (exit 7).
    assert_eq!(err.exit_code(), 7, "{err}");
    assert!(
        err.to_string()
            .contains("aws rds delete-db-cluster --db-cluster-identifier ltc-aurora-r1"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(h.stdout.text().trim()).expect("json");
    assert_eq!(v["status"], "partial");
    assert_eq!(v["inventory"]["writer"]["id"], "ltc-aurora-r1-writer");
    assert!(
        err.to_string().contains("InsufficientDBInstanceCapacity"),
        "{err}"
    );
    assert!(
        h.stderr
            .text()
            .contains("cluster ltc-aurora-r1 was restored but has no instance"),
        "{}",
        h.stderr.text()
    );
    assert_eq!(create.num_calls(), 1);
    // Both changes are in the journal: the cluster restore ok, the writer failed.
    assert_eq!(
        h.journal(),
        [
            ("db.restore".to_owned(), "intent".to_owned()),
            ("db.restore".to_owned(), "ok".to_owned()),
            ("db.restore.writer".to_owned(), "intent".to_owned()),
            ("db.restore.writer".to_owned(), "failed".to_owned()),
        ]
    );
}
