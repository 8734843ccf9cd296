//! ecs-revert's Application Auto Scaling commands against the moto emulator,
//! and the journal shared between machines through one state folder. Fixtures
//! are made with the SDK; every change is checked with an independent SDK read.

use std::path::Path;

use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension, ScalableTargetAction, ServiceNamespace, SuspendedState,
    TargetTrackingScalingPolicyConfiguration,
};
use serde_json::Value;
use support::{CLUSTER, cmd, emulator, journal_at, on, run};
use testkit::{
    EmulatorGuard, json_stdout, offline_env, runtime as rt, sdk_config as config, stderr,
};

mod support;

const ROLE: &str = "arn:aws:iam::123456789012:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService";

struct World {
    ecs: aws_sdk_ecs::Client,
    aas: aws_sdk_applicationautoscaling::Client,
}

/// A cluster, services api and worker (revisions 1..=4, on 4, desired 2);
/// api has a scalable target (min 1, max 4, suspended as given), a target
/// tracking policy `cpu` and a scheduled action `night`; worker has none.
fn fixture(emu: &EmulatorGuard, suspended: SuspendedState) -> World {
    let conf = config(emu);
    let w = World {
        ecs: aws_sdk_ecs::Client::new(&conf),
        aas: aws_sdk_applicationautoscaling::Client::new(&conf),
    };
    support::services(&w.ecs, &["api", "worker"]);
    rt().block_on(async {
        w.aas
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id("service/ltc/api")
            .min_capacity(1)
            .max_capacity(4)
            .role_arn(ROLE)
            .suspended_state(suspended)
            .send()
            .await
            .expect("scalable target");
        w.aas
            .put_scaling_policy()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id("service/ltc/api")
            .policy_name("cpu")
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(60.0)
                    .predefined_metric_specification(
                        aws_sdk_applicationautoscaling::types::PredefinedMetricSpecification::builder()
                            .predefined_metric_type(
                                aws_sdk_applicationautoscaling::types::MetricType::EcsServiceAverageCpuUtilization,
                            )
                            .build()
                            .expect("metric"),
                    )
                    .build()
                    .expect("policy configuration"),
            )
            .send()
            .await
            .expect("policy");
        w.aas
            .put_scheduled_action()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id("service/ltc/api")
            .scheduled_action_name("night")
            .schedule("cron(0 22 * * ? *)")
            .scalable_target_action(
                ScalableTargetAction::builder()
                    .min_capacity(1)
                    .max_capacity(1)
                    .build(),
            )
            .send()
            .await
            .expect("scheduled action");
    });
    w
}

fn none() -> SuspendedState {
    suspended(false, false, false)
}

fn suspended(scale_in: bool, out: bool, scheduled: bool) -> SuspendedState {
    SuspendedState::builder()
        .dynamic_scaling_in_suspended(scale_in)
        .dynamic_scaling_out_suspended(out)
        .scheduled_scaling_suspended(scheduled)
        .build()
}

/// api's target read independently: (min, max, (in, out, scheduled)).
fn api_target(w: &World) -> (i32, i32, (bool, bool, bool)) {
    let out = rt()
        .block_on(
            w.aas
                .describe_scalable_targets()
                .service_namespace(ServiceNamespace::Ecs)
                .resource_ids("service/ltc/api")
                .send(),
        )
        .expect("describe targets");
    let t = &out.scalable_targets()[0];
    let s = t.suspended_state();
    let f = |v: Option<bool>| v.unwrap_or(false);
    (
        t.min_capacity(),
        t.max_capacity(),
        (
            f(s.and_then(|s| s.dynamic_scaling_in_suspended())),
            f(s.and_then(|s| s.dynamic_scaling_out_suspended())),
            f(s.and_then(|s| s.scheduled_scaling_suspended())),
        ),
    )
}

fn service_td(w: &World, service: &str) -> String {
    support::service_td(&w.ecs, service)
}

#[test]
fn scaling_show_lists_limits_suspended_state_policies_and_scheduled_actions() {
    let emu = emulator();
    fixture(&emu, none());
    let o = on(&emu, "scaling show", "api,worker", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    let api = &v["targets"][0];
    assert_eq!(api["service"], "api");
    assert_eq!(api["resource_id"], "service/ltc/api");
    assert_eq!(api["registered"], true);
    assert_eq!(
        (api["min"].as_i64(), api["max"].as_i64()),
        (Some(1), Some(4))
    );
    assert_eq!(api["suspended"]["dynamic_scaling_in"], false);
    assert_eq!(api["policies"][0]["name"], "cpu");
    assert_eq!(api["policies"][0]["policy_type"], "TargetTrackingScaling");
    assert_eq!(api["scheduled_actions"][0]["name"], "night");
    assert_eq!(api["scheduled_actions"][0]["max"], 1);
    let worker = &v["targets"][1];
    assert_eq!(worker["registered"], false);
    assert!(worker["min"].is_null());
    // 1 DescribeScalableTargets + policies and scheduled actions of api.
    assert_eq!(v["autoscaling_calls"], 3);
}

#[test]
fn suspend_and_resume_are_journaled_and_idempotent() {
    let emu = emulator();
    let w = fixture(&emu, none());
    let suspend = [
        "scaling",
        "suspend",
        "--cluster",
        CLUSTER,
        "--service",
        "api,worker",
    ];

    // A dry run changes nothing and writes no journal.
    let o = cmd(&emu)
        .args(suspend)
        .arg("--dry-run")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["services"][0]["state"], "would-update");
    assert_eq!(api_target(&w).2, (false, false, false));
    assert!(journal_at(&emu.journal_path()).is_empty());

    let o = run(&emu, &suspend);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["state"], "updated");
    assert_eq!(v["services"][1]["state"], "not-registered");
    assert!(
        stderr(&o).contains("worker: no scalable target; nothing to suspend"),
        "{}",
        stderr(&o)
    );
    assert_eq!(api_target(&w), (1, 4, (true, true, true)));
    let j = journal_at(&emu.journal_path());
    assert_eq!(j.len(), 2, "{j:?}");
    assert_eq!(j[0]["action"], "ecs.scaling.suspend");
    assert_eq!(j[0]["target"], "ecs:ltc/api");
    assert_eq!(j[0]["before"]["suspended"]["dynamic_scaling_out"], false);
    assert_eq!(j[1]["outcome"], "ok");
    assert_eq!(j[1]["after"]["suspended"]["scheduled_scaling"], true);

    // Again: no call, nothing journaled.
    let o = run(&emu, &suspend);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["services"][0]["state"], "unchanged");
    assert_eq!(journal_at(&emu.journal_path()).len(), 2);

    let o = on(&emu, "scaling resume", "api", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(api_target(&w), (1, 4, (false, false, false)));
    let j = journal_at(&emu.journal_path());
    assert_eq!(j.len(), 4);
    assert_eq!(j[2]["action"], "ecs.scaling.resume");
    assert_eq!(j[3]["outcome"], "ok");
}

#[test]
fn record_then_restore_puts_limits_and_suspended_state_back_and_names_policies_it_does_not_touch() {
    let emu = emulator();
    let w = fixture(&emu, suspended(true, false, false));
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("state");
    let state = state.to_str().expect("utf-8");
    let run_id = "20261202T000000.000Z-deploy-abc123";
    let record = [
        "scaling",
        "record",
        "--cluster",
        CLUSTER,
        "--service",
        "api,worker",
        "--state",
        state,
    ];

    // The run id comes from LTC_RUN_ID (as in a runbook).
    let o = cmd(&emu)
        .args(record)
        .env("LTC_RUN_ID", run_id)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["record"], "scaling-ltc.json");
    assert_eq!(v["already_recorded"], false);
    let location = v["location"].as_str().expect("location").to_owned();
    let kept: Value =
        serde_json::from_slice(&std::fs::read(&location).expect("record file")).expect("json");
    assert_eq!(kept["kind"], "ecs-revert.scaling/1");
    assert_eq!(kept["run_id"], run_id);
    assert_eq!(kept["targets"][0]["min"], 1);
    assert_eq!(kept["targets"][0]["suspended"]["dynamic_scaling_in"], true);
    assert_eq!(kept["targets"][1]["registered"], false);

    // A resumed deploy step records again: the first record is kept, exit 0.
    let o = cmd(&emu)
        .args(record)
        .env("LTC_RUN_ID", run_id)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["already_recorded"], true);

    // The deploy (or someone) changes the limits, resumes scaling and drops the policy.
    rt().block_on(async {
        w.aas
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id("service/ltc/api")
            .min_capacity(3)
            .max_capacity(10)
            .suspended_state(none())
            .send()
            .await
            .expect("register");
        w.aas
            .delete_scaling_policy()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id("service/ltc/api")
            .policy_name("cpu")
            .send()
            .await
            .expect("delete policy");
    });
    assert_eq!(api_target(&w), (3, 10, (false, false, false)));

    let restore = [
        "scaling",
        "restore",
        "--cluster",
        CLUSTER,
        "--run",
        run_id,
        "--state",
        state,
    ];
    let o = run(&emu, &restore);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["services"][0]["state"], "updated");
    assert_eq!(v["services"][1]["state"], "not-registered");
    assert_eq!(api_target(&w), (1, 4, (true, false, false)));
    let nr = v["not_restored"].to_string();
    assert!(
        nr.contains("scaling policy cpu was there before and is gone (not recreated)"),
        "{nr}"
    );
    assert!(
        stderr(&o).contains("scaling policy cpu was there before and is gone"),
        "{}",
        stderr(&o)
    );
    let j = journal_at(&emu.journal_path());
    assert_eq!(j.len(), 2, "{j:?}");
    assert_eq!(j[0]["action"], "ecs.scaling.restore");
    assert_eq!(j[0]["before"]["max"], 10);
    assert_eq!(j[1]["after"]["max"], 4);

    // Again: nothing to do.
    let o = run(&emu, &restore);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["services"][0]["state"], "unchanged");
    assert_eq!(journal_at(&emu.journal_path()).len(), 2);

    // A run without the record: exit 3, one line naming it.
    let o = run(
        &emu,
        &[
            "scaling",
            "restore",
            "--cluster",
            CLUSTER,
            "--run",
            "no-such-run",
            "--state",
            state,
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("has no record scaling-ltc.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn revert_suspends_scaling_during_the_revert_and_puts_the_previous_state_back() {
    let emu = emulator();
    let w = fixture(&emu, suspended(false, false, true));
    let o = on(&emu, "revert", "api,worker", &["--to", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(service_td(&w, "api"), "api:3");
    assert_eq!(service_td(&w, "worker"), "worker:3");
    // Only api has a target; it was suspended, then put back as it was.
    assert_eq!(v["scaling"]["suspend"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["scaling"]["suspend"][0]["state"], "updated");
    assert_eq!(v["scaling"]["restore"][0]["state"], "updated");
    assert_eq!(api_target(&w), (1, 4, (false, false, true)));
    let actions: Vec<(String, String)> = journal_at(&emu.journal_path())
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["phase"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("ecs.scaling.suspend", "intent"),
        ("ecs.scaling.suspend", "outcome"),
    ]
    .iter()
    .map(|(a, p)| ((*a).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(actions[..2], want[..], "suspended first: {actions:?}");
    assert_eq!(actions.iter().filter(|(a, _)| a == "ecs.revert").count(), 4);
    // Put back after the UpdateService calls and the wait (before the
    // revert's outcomes are written).
    let resume = actions
        .iter()
        .position(|(a, p)| a == "ecs.scaling.resume" && p == "intent")
        .expect("resume journaled");
    let last_revert_intent = actions
        .iter()
        .rposition(|(a, p)| a == "ecs.revert" && p == "intent")
        .expect("revert intents");
    assert!(resume > last_revert_intent, "{actions:?}");
    assert_eq!(
        actions[resume + 1],
        ("ecs.scaling.resume".to_owned(), "outcome".to_owned())
    );

    // --no-suspend-scaling leaves auto scaling alone.
    let before = journal_at(&emu.journal_path()).len();
    let o = on(
        &emu,
        "revert",
        "api",
        &["--to", "2", "--no-suspend-scaling"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(json_stdout(&o).get("scaling").is_none());
    assert_eq!(journal_at(&emu.journal_path()).len(), before + 2);
    assert_eq!(service_td(&w, "api"), "api:2");

    // A dry run lists the suspension and changes nothing.
    let o = on(&emu, "revert", "api", &["--to", "1", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        json_stdout(&o)["scaling"]["suspend"][0]["state"],
        "would-update"
    );
    assert_eq!(api_target(&w), (1, 4, (false, false, true)));
    assert_eq!(service_td(&w, "api"), "api:2");
}

#[test]
fn scale_outside_the_limits_warns_and_adjust_limits_widens_them() {
    let emu = emulator();
    let w = fixture(&emu, none());
    let o = on(&emu, "scale", "api", &["--desired", "6"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("api: desired 6 is outside its auto scaling limits min 1 max 4"),
        "{}",
        stderr(&o)
    );
    assert!(json_stdout(&o)["warnings"][0].as_str().is_some());
    assert_eq!(api_target(&w), (1, 4, (false, false, false)));

    let o = on(&emu, "scale", "api", &["--desired", "8", "--adjust-limits"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["limits"][0]["state"], "updated");
    assert_eq!(api_target(&w), (1, 8, (false, false, false)));
    let j = journal_at(&emu.journal_path());
    let limits: Vec<&Value> = j
        .iter()
        .filter(|e| e["action"] == "ecs.scaling.limits")
        .collect();
    assert_eq!(limits.len(), 2, "{j:?}");
    assert_eq!(limits[0]["before"]["max"], 4);
    assert_eq!(limits[0]["before"]["requested"]["max"], 8);
    assert_eq!(limits[1]["after"]["max"], 8);
}

#[test]
fn scaling_bad_input_is_exit_2_before_any_call() {
    for args in [
        vec![
            "scaling",
            "record",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
        ],
        vec![
            "scaling",
            "record",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
            "--run",
            "../x",
        ],
        vec!["scaling", "restore", "--cluster", CLUSTER, "--run", "a/b"],
        vec![
            "scaling",
            "suspend",
            "--cluster",
            "bad name",
            "--service",
            "api",
        ],
    ] {
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin!("ecs-revert"))
            .envs(offline_env())
            .env_remove("LTC_RUN_ID")
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
}

// Issue 19 (with issue 15): a revert on another machine (its own journal
// file, the same state folder) finds what a colleague's revert recorded.
#[test]
fn history_and_revert_read_everyones_journal_from_the_shared_state() {
    let emu = emulator();
    let w = fixture(&emu, none());
    let dir = tempfile::tempdir().expect("dir");
    let shared = dir.path().join("shared-state");
    let as_machine = |m: &str, state: &Path, args: &[&str]| {
        cmd(&emu)
            .env("LTC_JOURNAL", dir.path().join(format!("{m}.jsonl")))
            .arg("--state")
            .arg(state)
            .args(args)
            .output()
            .expect("run")
    };
    let o = as_machine(
        "a",
        &shared,
        &[
            "revert",
            "--cluster",
            CLUSTER,
            "--service",
            "api",
            "--to",
            "2",
            "--no-suspend-scaling",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(service_td(&w, "api"), "api:2");

    let history = ["history", "--cluster", CLUSTER, "--service", "api"];
    let o = as_machine("b", &shared, &history);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["deployed_before"]["task_definition"], "api:4");
    assert_eq!(v["deployed_before"]["source"], "journal");

    // B's plain revert would undo A's revert: refused, nothing changed.
    let o = as_machine(
        "b",
        &shared,
        &["revert", "--cluster", CLUSTER, "--service", "api"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--to api:4"), "{}", stderr(&o));
    assert_eq!(service_td(&w, "api"), "api:2");

    // Control: with another state folder B knows nothing of A's revert.
    let o = as_machine("b", &dir.path().join("other-state"), &history);
    let v = json_stdout(&o);
    assert_eq!(v["deployed_before"]["source"], "revision-1");
    assert_eq!(v["deployed_before"]["task_definition"], "api:1");
    // B only read: its own journal file was never written.
    assert!(!dir.path().join("b.jsonl").exists());
}
