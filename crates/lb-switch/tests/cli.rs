//! End-to-end tests of the lb-switch binary against the moto emulator: an
//! application load balancer with a listener forwarding to blue and green
//! target groups, a second load balancer with its own group. Every state check
//! is an independent read with the SDK, not the tool's own.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic

use std::process::{Command, Output, Stdio};

use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig, ProtocolEnum,
    RuleCondition, TargetDescription, TargetGroupTuple,
};
use serde_json::Value;
use testkit::{
    Emulator, EmulatorGuard, code, json_lines_of, json_stdout, offline_env, stderr, words,
};

const BIN: &str = env!("CARGO_BIN_EXE_lb-switch");

fn run(emu: &EmulatorGuard, args: &[&str]) -> Output {
    testkit::run_on_emulator(BIN, emu, args)
}

const REGION: &str = testkit::sdk::REGION;

/// The load balancers the tests work on, made with the SDK (and the AWS CLI
/// for the default VPC's subnets: there is no EC2 SDK in the workspace).
struct Fixture {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_elasticloadbalancingv2::Client,
    listener: String,
    blue: String,
    green: String,
    /// A group serving another load balancer.
    other: String,
    /// A group serving no load balancer yet.
    spare: String,
}

fn forward(tgs: &[(&str, i32)]) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(
                    tgs.iter()
                        .map(|(arn, w)| {
                            TargetGroupTuple::builder()
                                .target_group_arn(*arn)
                                .weight(*w)
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        )
        .build()
}

impl Fixture {
    fn new(emu: &EmulatorGuard) -> Fixture {
        let rt = testkit::runtime();
        let client = aws_sdk_elasticloadbalancingv2::Client::new(&testkit::sdk_config(emu));
        let out = testkit::aws_cli_raw(
            emu,
            &[
                "--region",
                REGION,
                "ec2",
                "describe-subnets",
                "--filters",
                "Name=default-for-az,Values=true",
                "--query",
                "Subnets[].[SubnetId,VpcId]",
                "--output",
                "text",
            ],
        );
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        let subnets: Vec<String> = rows.iter().take(2).map(|r| r[0].to_owned()).collect();
        let vpc = rows[0][1].to_owned();
        let c = client.clone();
        let (listener, blue, green, other, spare) = rt.block_on(async move {
            let lb = |name: &'static str| {
                let c = c.clone();
                let subnets = subnets.clone();
                async move {
                    c.create_load_balancer()
                        .name(name)
                        .set_subnets(Some(subnets))
                        .send()
                        .await
                        .unwrap()
                        .load_balancers
                        .unwrap()[0]
                        .load_balancer_arn
                        .clone()
                        .unwrap()
                }
            };
            let tg = |name: &'static str| {
                let c = c.clone();
                let vpc = vpc.clone();
                async move {
                    c.create_target_group()
                        .name(name)
                        .protocol(ProtocolEnum::Http)
                        .port(80)
                        .vpc_id(vpc)
                        .send()
                        .await
                        .unwrap()
                        .target_groups
                        .unwrap()[0]
                        .target_group_arn
                        .clone()
                        .unwrap()
                }
            };
            let web = lb("web").await;
            let shop = lb("shop").await;
            let blue = tg("blue").await;
            let green = tg("green").await;
            let other = tg("other").await;
            let spare = tg("spare").await;
            let listener = c
                .create_listener()
                .load_balancer_arn(&web)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .default_actions(forward(&[(&blue, 100), (&green, 0)]))
                .send()
                .await
                .unwrap()
                .listeners
                .unwrap()[0]
                .listener_arn
                .clone()
                .unwrap();
            c.create_listener()
                .load_balancer_arn(&shop)
                .protocol(ProtocolEnum::Http)
                .port(80)
                .default_actions(forward(&[(&other, 1)]))
                .send()
                .await
                .unwrap();
            // An API rule that must survive maintenance on/off untouched.
            c.create_rule()
                .listener_arn(&listener)
                .priority(10)
                .conditions(
                    RuleCondition::builder()
                        .field("path-pattern")
                        .values("/api/*")
                        .build(),
                )
                .actions(forward(&[(&blue, 1)]))
                .send()
                .await
                .unwrap();
            for (tg, ids) in [(&blue, ["i-b1", "i-b2"]), (&green, ["i-g1", "i-g2"])] {
                c.register_targets()
                    .target_group_arn(tg)
                    .set_targets(Some(
                        ids.iter()
                            .map(|id| TargetDescription::builder().id(*id).port(80).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .unwrap();
            }
            (listener, blue, green, other, spare)
        });
        Fixture {
            rt,
            client,
            listener,
            blue,
            green,
            other,
            spare,
        }
    }

    /// (priority, first action's type) of every rule, as ELB lists them.
    fn rules(&self) -> Vec<(String, String)> {
        self.rt.block_on(async {
            let o = self
                .client
                .describe_rules()
                .listener_arn(&self.listener)
                .send()
                .await
                .unwrap();
            let mut v: Vec<(String, String)> = o
                .rules
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r.priority().unwrap().to_owned(),
                        r.actions()[0].r#type().unwrap().as_str().to_owned(),
                    )
                })
                .collect();
            v.sort();
            v
        })
    }

    /// The default action's weights by target group ARN.
    fn weights(&self) -> Vec<(String, i32)> {
        self.rt.block_on(async {
            let o = self
                .client
                .describe_listeners()
                .listener_arns(&self.listener)
                .send()
                .await
                .unwrap();
            let l = &o.listeners.unwrap()[0];
            let mut v: Vec<(String, i32)> = l.default_actions()[0]
                .forward_config()
                .unwrap()
                .target_groups()
                .iter()
                .map(|g| {
                    (
                        g.target_group_arn().unwrap().to_owned(),
                        g.weight().unwrap(),
                    )
                })
                .collect();
            v.sort();
            v
        })
    }

    /// lb-switch `sub` (its words) `--listener <this fixture's> MORE...`.
    fn run(&self, emu: &EmulatorGuard, sub: &str, more: &[&str]) -> Output {
        let mut argv: Vec<&str> = sub.split_whitespace().collect();
        argv.extend(["--listener", self.listener.as_str()]);
        argv.extend_from_slice(more);
        run(emu, &argv)
    }

    fn add_rule(&self, priority: i32, body: &str) {
        self.rt.block_on(async {
            self.client
                .create_rule()
                .listener_arn(&self.listener)
                .priority(priority)
                .conditions(
                    RuleCondition::builder()
                        .field("path-pattern")
                        .values("/other/*")
                        .build(),
                )
                .actions(
                    Action::builder()
                        .r#type(ActionTypeEnum::FixedResponse)
                        .fixed_response_config(
                            FixedResponseActionConfig::builder()
                                .status_code("200")
                                .content_type("text/plain")
                                .message_body(body)
                                .build(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        });
    }
}

fn page(dir: &tempfile::TempDir, bytes: usize) -> String {
    let p = dir.path().join(format!("page-{bytes}.html"));
    std::fs::write(&p, "x".repeat(bytes)).unwrap();
    p.display().to_string()
}

const L: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";

#[test]
fn bad_input_exits_2_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let big = page(&dir, 1025);
    let small = page(&dir, 10);
    // Each case's words (split at white space), then what the one line says.
    let mut cases: Vec<(Vec<String>, &str)> = [
        ("show --listener garbage".to_owned(), "not a listener ARN"),
        ("show".to_owned(), "--listener ARN or --load-balancer"),
        (
            format!("maintenance on --listener {L} --body {big}"),
            "at most 1024 bytes",
        ),
        (
            format!("maintenance on --listener {L} --body {small} --content-type image/png"),
            "--content-type",
        ),
        (
            format!("maintenance on --listener {L} --body {small} --status 302"),
            "--status",
        ),
        (format!("maintenance on --listener {L}"), "--body FILE"),
        ("maintenance on --load-balancer web".to_owned(), "--port"),
        (
            format!("shift --listener {L} --to green --steps 10,50"),
            "end at 100",
        ),
        (
            format!("shift --listener {L} --to green --steps 50,10,100"),
            "increasing",
        ),
        (
            format!(
                "shift --listener {L} --to arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x"
            ),
            "--to",
        ),
        (
            format!("shift --listener {L} --to green --min-healthy 120%"),
            "--min-healthy",
        ),
        (
            format!("shift --rule {L} --to green"),
            "not a listener rule ARN",
        ),
        (
            format!("health --target-group {L}"),
            "not a target group ARN",
        ),
    ]
    .into_iter()
    .map(|(line, want)| (line.split_whitespace().map(str::to_owned).collect(), want))
    .collect();
    // Arguments with white space in them.
    let args = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    cases.push((
        args(&[
            "shift",
            "--listener",
            L,
            "--to",
            "bad name!",
            "--steps",
            "100",
        ]),
        "--to",
    ));
    cases.push((
        args(&["shift", "--listener", L, "--to", "green", "--gate-cmd", " "]),
        "--gate-cmd",
    ));
    for (args, want) in cases {
        let o = Command::new(BIN)
            .envs(offline_env())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn show_lists_rules_weights_and_target_health() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = run(&emu, &words("show --load-balancer web --output json"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["load_balancer"]["name"], "web");
    let l = &v["listeners"][0];
    assert_eq!(l["arn"], f.listener.as_str());
    assert_eq!(l["port"], 80);
    let tgs = l["default_actions"][0]["target_groups"].as_array().unwrap();
    assert_eq!(tgs.len(), 2);
    assert!(
        tgs.iter()
            .any(|g| g["arn"] == f.blue.as_str() && g["weight"] == 100)
    );
    assert!(
        tgs.iter()
            .any(|g| g["arn"] == f.green.as_str() && g["weight"] == 0)
    );
    assert_eq!(l["rules"][0]["priority"], 10);
    let groups = v["target_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{v}");
    assert_eq!(groups[0]["targets"].as_array().unwrap().len(), 2);
    assert!(v["elbv2_calls"].as_u64().unwrap() >= 4);
}

#[test]
fn maintenance_on_is_one_read_and_one_create_and_off_restores_the_rules() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("m.html");
    std::fs::write(&body, "<h1>Back soon</h1>").unwrap();
    let before = f.rules();
    let o = f.run(
        &emu,
        "maintenance on",
        &[
            "--body",
            body.to_str().unwrap(),
            "--content-type",
            "text/html",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["changed"], true);
    assert_eq!(v["priority"], 9, "just above the API rule at 10");
    assert_eq!(v["elbv2_calls"], 2, "{v}");
    assert_eq!(v["mutating_calls"], 1, "{v}");
    let rules = f.rules();
    assert!(
        rules.contains(&("9".into(), "fixed-response".into())),
        "{rules:?}"
    );
    assert_eq!(rules.len(), before.len() + 1);

    // On again: already on, nothing sent.
    let o = f.run(&emu, "maintenance on", &["--body", body.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["mutating_calls"], 0);
    assert_eq!(f.rules().len(), before.len() + 1);

    let o = f.run(&emu, "maintenance off", &["--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["calls_planned"][0]["call"], "DeleteRule", "{v}");
    assert_eq!(v["mutating_calls"], 1);
    assert_eq!(f.rules(), before);

    // The journal holds before and after of both changes.
    let entries = testkit::journal_entries(&emu);
    let on = entries
        .iter()
        .find(|e| e["action"] == "lb.maintenance-on" && e["phase"] == "outcome")
        .unwrap();
    assert_eq!(on["outcome"], "ok");
    assert_eq!(on["after"]["rules"][0]["priority"], 9);
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "lb.maintenance-off" && e["outcome"] == "ok")
    );
}

#[test]
fn maintenance_off_refuses_to_clobber_someone_elses_rule_unless_forced() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let dir = tempfile::tempdir().unwrap();
    let body = page(&dir, 1024); // exactly the limit is fine
    let before = f.rules();
    let o = f.run(&emu, "maintenance on", &["--body", &body]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // Someone adds a rule while the site is in maintenance.
    f.add_rule(20, "theirs");
    let changed = f.rules();
    let o = f.run(&emu, "maintenance off", &["--output", "json"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("changed by someone else"),
        "{}",
        stderr(&o)
    );
    let v = json_stdout(&o);
    let conflict = v["conflict"].as_array().unwrap();
    assert!(
        conflict
            .iter()
            .any(|c| c.as_str().unwrap().contains("priority 20")),
        "{v}"
    );
    assert_eq!(v["mutating_calls"], 0);
    assert_eq!(f.rules(), changed, "nothing was touched");

    let o = f.run(&emu, "maintenance off", &["--force", "--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        json_stdout(&o)["mutating_calls"],
        2,
        "delete ours and theirs"
    );
    assert_eq!(f.rules(), before, "exactly the recorded rules");
}

#[test]
fn maintenance_on_with_a_target_group_of_another_load_balancer_exits_2_unchanged() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.rules();
    let o = f.run(&emu, "maintenance on", &["--target-group", &f.other]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("another load balancer"),
        "{}",
        stderr(&o)
    );
    assert_eq!(f.rules(), before);
    // Unknown by name: exit 2 too.
    let o = f.run(&emu, "maintenance on", &["--target-group", "nope"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    // A group serving no load balancer yet is fine.
    let o = f.run(&emu, "maintenance on", &["--target-group", "spare"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(f.rules().contains(&("9".into(), "forward".into())));
    let _ = &f.spare;
}

#[test]
fn shift_moves_the_weights_step_by_step_and_undo_puts_them_back() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let start = f.weights();
    let o = f.run(
        &emu,
        "shift",
        &[
            "--to",
            "green",
            "--steps",
            "10,50,100",
            "--bake",
            "0s",
            "--gate-cmd",
            "test \"$LB_SWITCH_PERCENT\" -le 100",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines = json_lines_of(&o, "lb-switch", "shift");
    let steps: Vec<&Value> = lines.iter().filter(|l| l["event"] == "step").collect();
    assert_eq!(steps.len(), 3);
    assert_eq!(steps[0]["weights"]["green"], 10);
    assert_eq!(steps[0]["weights"]["blue"], 90);
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "completed", "{summary}");
    assert_eq!(summary["listener"], f.listener.as_str());
    let mut want = vec![(f.blue.clone(), 0), (f.green.clone(), 100)];
    want.sort();
    assert_eq!(f.weights(), want);

    let o = f.run(&emu, "undo", &["--output", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        json_stdout(&o)["calls_planned"][0]["call"],
        "ModifyListener"
    );
    assert_eq!(f.weights(), start);
}

#[test]
fn a_gate_failing_after_the_first_step_reverts_and_exits_6() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let dir = tempfile::tempdir().unwrap();
    let gate = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; [ $n -lt 2 ]",
        c = dir.path().join("n").display()
    );
    let start = f.weights();
    let o = f.run(
        &emu,
        "shift",
        &[
            "--to",
            &f.green,
            "--steps",
            "10,50,100",
            "--bake",
            "0s",
            "--gate-cmd",
            &gate,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 6, "{}", stderr(&o));
    let summary = json_lines_of(&o, "lb-switch", "shift").pop().unwrap();
    assert_eq!(summary["result"], "reverted");
    assert_eq!(summary["steps_applied"], 1);
    assert_eq!(f.weights(), start, "back to the starting weights");
}

#[test]
fn a_shift_to_a_group_of_another_load_balancer_or_an_unknown_one_exits_2_unchanged() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let start = f.weights();
    let o = f.run(
        &emu,
        "shift",
        &["--to", &f.other, "--steps", "100", "--bake", "0s"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("another load balancer"),
        "{}",
        stderr(&o)
    );
    // Another last digit than green's own (a fixed '0' was green itself 1 time in 16).
    let last = if f.green.ends_with('0') { '1' } else { '0' };
    let unknown = format!("{}{last}", &f.green[..f.green.len() - 1]);
    let o = f.run(
        &emu,
        "shift",
        &["--to", &unknown, "--steps", "100", "--bake", "0s"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(f.weights(), start);
    // A spare group not yet in the action joins at weight 0 and takes it all.
    let o = f.run(
        &emu,
        "shift",
        &["--to", &f.spare, "--steps", "100", "--bake", "0s"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        f.weights().contains(&(f.spare.clone(), 100)),
        "{:?}",
        f.weights()
    );
}

#[test]
fn health_exits_4_below_the_threshold() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = run(
        &emu,
        &[
            "health",
            "--target-group",
            &f.blue,
            "--target-group",
            &f.green,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["target_groups"][0]["healthy"], 2);
    // No target registered: 0 % healthy, below any threshold.
    let o = run(
        &emu,
        &[
            "health",
            "--target-group",
            &f.spare,
            "--min-healthy",
            "50%",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["passed"], false);
}
