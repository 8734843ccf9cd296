//! End-to-end tests of the dns-shift binary against the moto emulator (zones
//! with blue/green/maintenance weighted sets, CNAME and alias A records), and
//! the foundation checks that prove crates/common works in a real binary.
//! Every state check is an independent read with the SDK, not the tool's own.
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType,
    ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::Value;
use testkit::{
    Emulator, EmulatorGuard, code, json_lines_of, json_stdout, offline_env, stderr, words,
};

const BIN: &str = env!("CARGO_BIN_EXE_dns-shift");

fn bin() -> Command {
    Command::new(BIN)
}

fn on_emulator(emu: &EmulatorGuard, args: &[&str]) -> Command {
    testkit::on_emulator(BIN, emu, args)
}

fn run(emu: &EmulatorGuard, args: &[&str]) -> Output {
    testkit::run_on_emulator(BIN, emu, args)
}

/// The zones the tests work on, made with the SDK itself.
///
/// moto quirk (shared/notes/moto-fidelity.md): a DELETE with a SetIdentifier
/// deletes EVERY record of the zone with that SetIdentifier, across names.
/// dns-shift writes with DELETE (exactly as read) + CREATE, as AWS wants for a
/// conditional change, so on moto a change to www's `blue` would also delete
/// another name's `blue`. Hence: api lives in its own zone (api.example.com)
/// and the neighbour of www has a set id of its own (`shop-blue`). On AWS a
/// DELETE names one record set exactly; nothing here depends on the quirk.
struct Fixture {
    rt: tokio::runtime::Runtime,
    client: aws_sdk_route53::Client,
    zone_id: String,
    api_zone_id: String,
    green_hc: String,
}

const WWW: &str = "www.example.com.";
const API: &str = "api.example.com.";

fn cname(name: &str, id: &str, weight: i64, value: &str, hc: Option<&str>) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::Cname)
        .set_identifier(id)
        .weight(weight)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .set_health_check_id(hc.map(str::to_owned))
        .build()
        .unwrap()
}

fn alias_a(name: &str, id: &str, weight: i64, target: &str, eval: bool) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .set_identifier(id)
        .weight(weight)
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id("Z2FDTNDATAQYW2")
                .dns_name(target)
                .evaluate_target_health(eval)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

impl Fixture {
    fn new(emu: &EmulatorGuard) -> Fixture {
        let rt = testkit::runtime();
        let client = aws_sdk_route53::Client::new(&testkit::sdk_config(emu));
        let (zone_id, api_zone_id, green_hc) = rt.block_on(async {
            let mut ids = Vec::new();
            for name in ["example.com", "api.example.com"] {
                let zone = client
                    .create_hosted_zone()
                    .name(name)
                    .caller_reference(format!("dns-shift-tests-{name}"))
                    .send()
                    .await
                    .unwrap();
                ids.push(
                    zone.hosted_zone
                        .unwrap()
                        .id
                        .trim_start_matches("/hostedzone/")
                        .to_owned(),
                );
            }
            let api_zone_id = ids.pop().unwrap();
            let zone_id = ids.pop().unwrap();
            let hc = client
                .create_health_check()
                .caller_reference("green-hc")
                .health_check_config(
                    HealthCheckConfig::builder()
                        .r#type(HealthCheckType::Http)
                        .fully_qualified_domain_name("green.example.net")
                        .port(80)
                        .resource_path("/health")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap()
                .health_check
                .unwrap()
                .id;
            (zone_id, api_zone_id, hc)
        });
        let f = Fixture {
            rt,
            client,
            zone_id,
            api_zone_id,
            green_hc,
        };
        let hc = f.green_hc.clone();
        f.upsert(vec![
            cname(WWW, "blue", 100, "blue.example.net", None),
            cname(WWW, "green", 0, "green.example.net", Some(&hc)),
            cname(WWW, "maintenance", 0, "maintenance.example.net", None),
            alias_a(API, "blue", 200, "d111.cloudfront.net.", false),
            alias_a(API, "green", 0, "d222.cloudfront.net.", true),
            alias_a(API, "maintenance", 0, "d333.cloudfront.net.", false),
            // A neighbour whose records must never be touched.
            cname(
                "shop.example.com.",
                "shop-blue",
                7,
                "shop-blue.example.net",
                None,
            ),
        ]);
        f
    }

    /// The zone a record name lives in.
    fn zone_of(&self, name: &str) -> &str {
        if name.trim_end_matches('.') == API.trim_end_matches('.') {
            &self.api_zone_id
        } else {
            &self.zone_id
        }
    }

    fn upsert(&self, sets: Vec<ResourceRecordSet>) {
        for zone in [&self.zone_id, &self.api_zone_id] {
            let changes: Vec<Change> = sets
                .iter()
                .filter(|r| self.zone_of(&r.name) == zone.as_str())
                .map(|r| {
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(r.clone())
                        .build()
                        .unwrap()
                })
                .collect();
            if changes.is_empty() {
                continue;
            }
            self.rt
                .block_on(
                    self.client
                        .change_resource_record_sets()
                        .hosted_zone_id(zone)
                        .change_batch(
                            ChangeBatch::builder()
                                .set_changes(Some(changes))
                                .build()
                                .unwrap(),
                        )
                        .send(),
                )
                .unwrap();
        }
    }

    /// Every record set of both zones, read with the SDK, in AWS's order (name,
    /// type, set id): moto lists a re-created set after its siblings.
    fn all(&self) -> Vec<ResourceRecordSet> {
        let mut all = Vec::new();
        for zone in [&self.zone_id, &self.api_zone_id] {
            all.extend(
                self.rt
                    .block_on(
                        self.client
                            .list_resource_record_sets()
                            .hosted_zone_id(zone)
                            .send(),
                    )
                    .unwrap()
                    .resource_record_sets,
            );
        }
        all.sort_by(|a, b| {
            (&a.name, a.r#type.as_str(), &a.set_identifier).cmp(&(
                &b.name,
                b.r#type.as_str(),
                &b.set_identifier,
            ))
        });
        all
    }

    fn sets(&self, name: &str) -> Vec<ResourceRecordSet> {
        self.all().into_iter().filter(|r| r.name == name).collect()
    }

    /// `blue=100 green=0 maintenance=0` for a record, read independently.
    fn weights(&self, name: &str) -> String {
        let mut v: Vec<(String, i64)> = self
            .sets(name)
            .iter()
            // The weighted sets only: api's zone apex also holds its NS and SOA.
            .filter_map(|r| Some((r.set_identifier.clone()?, r.weight?)))
            .collect();
        v.sort();
        v.iter()
            .map(|(k, w)| format!("{k}={w}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn rec(f: &Fixture, name: &str) -> Vec<String> {
    vec![
        "--zone".into(),
        f.zone_of(name).to_owned(),
        "--record".into(),
        name.into(),
    ]
}

fn args<'a>(base: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = vec![];
    v.extend(more.iter().take_while(|a| !a.is_empty()));
    v.extend(base.iter().map(String::as_str));
    v.extend(more.iter().skip_while(|a| !a.is_empty()).skip(1));
    v
}

/// Runs dns-shift on one record of the fixture; `argv` as for [`args`].
fn on_record(emu: &EmulatorGuard, f: &Fixture, name: &str, argv: &[&str]) -> Output {
    run(emu, &args(&rec(f, name), argv))
}

/// `dns-shift shift --zone .. --record NAME --to green --bake 0s MORE...`
fn shift_to_green(emu: &EmulatorGuard, f: &Fixture, name: &str, more: &[&str]) -> Output {
    let mut argv = vec!["shift", "", "--to", "green", "--bake", "0s"];
    argv.extend_from_slice(more);
    on_record(emu, f, name, &argv)
}

// ---------------------------------------------------------------- foundation

#[test]
fn help_shows_examples_and_the_exit_code_table() {
    let o = bin().arg("--help").output().unwrap();
    assert_eq!(code(&o), 0);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Examples:"), "{help}");
    assert!(help.contains("dns-shift shift --zone"), "{help}");
    assert!(help.contains("Exit codes: 0 success"), "{help}");
    assert!(help.contains("6 failed and reverted"), "{help}");
    assert!(help.contains("7 human needed"), "{help}");
    for sub in ["show", "set", "shift", "maintenance", "undo"] {
        assert!(help.contains(sub), "{sub} missing from --help");
    }
    let o = bin().args(["shift", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--gate-cmd",
        "--alarm",
        "--health-check",
        "--revert",
        "--fast-track",
        "--bake",
        "--steps",
    ] {
        assert!(help.contains(flag), "{flag} missing from shift --help");
    }
}

#[test]
fn version_prints_the_crate_version() {
    let o = bin().arg("--version").output().unwrap();
    assert_eq!(code(&o), 0);
    // The version and the commit it was built from (issue 20): "unknown: ..." when
    // built without scripts/install or scripts/package.
    let line = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let head = format!("dns-shift {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&head) && line.ends_with(')'), "{line}");
    assert!(line.len() > head.len() + 1, "{line}");
}

fn offline(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    for v in [
        "AWS_PROFILE",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "LTC_ENV",
        "LTC_DEADLINE",
    ] {
        cmd.env_remove(v);
    }
    let journal = tempfile::tempdir().unwrap();
    cmd.envs(offline_env())
        .env("LTC_JOURNAL", journal.path().join("j.jsonl"))
        .envs(extra_env.iter().copied())
        .args(args)
        .stdin(Stdio::null());
    let o = cmd.output().unwrap();
    // Nothing was journaled: no change was even attempted (the writability check
    // before any call creates nothing).
    assert!(!journal.path().join("j.jsonl").exists());
    o
}

fn assert_usage_one_line(o: &Output, needle: &str) {
    assert_eq!(code(o), 2, "stderr: {}", stderr(o));
    let err = stderr(o);
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{err:?} does not mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn bad_retry_environment_exits_2_with_one_line_and_no_panic() {
    let show = [
        "show",
        "--zone",
        "example.com",
        "--record",
        "www.example.com",
    ];
    let o = offline(&show, &[("AWS_MAX_ATTEMPTS", "abc")]);
    assert_usage_one_line(&o, "AWS_MAX_ATTEMPTS");
    let o = offline(&show, &[("AWS_RETRY_MODE", "legacy")]);
    assert_usage_one_line(&o, "AWS_RETRY_MODE");
}

/// An instance-metadata service that never answers, on loopback: it records
/// the request line of every request it is sent and holds the connection open,
/// so each attempt the SDK makes shows up as one request and none can succeed.
fn silent_metadata_service() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_ok() {
                seen2.lock().unwrap().push(line.trim_end().to_owned());
            }
            held.push(stream);
        }
    });
    (url, seen)
}

#[test]
fn no_credentials_exits_3_after_one_metadata_attempt_naming_how_to_provide_them() {
    // Events, not wall-clock time (scripts/bench.d/dns-shift times this run):
    // the whole credential chain runs (AWS_EC2_METADATA_DISABLED deliberately
    // not set) and its last link, the instance-metadata service, is a silent
    // stand-in on loopback, so nothing leaves the machine. Failing fast means
    // one attempt per metadata request and no retry: the chain's default of
    // three attempts with 1 s timeouts is what made the old run slow.
    let (imds, seen) = silent_metadata_service();
    let home = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "show",
            "--zone",
            "example.com",
            "--record",
            "www.example.com",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_REGION", "ap-northeast-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(&o), 3, "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("AWS_ACCESS_KEY_ID") && err.contains("AWS_PROFILE"),
        "{err}"
    );
    let seen = seen.lock().unwrap().clone();
    eprintln!("metadata requests: {seen:?}");
    assert!(
        !seen.is_empty(),
        "the chain never asked the metadata service"
    );
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "a metadata request was retried: {seen:?}"
    );
}

// ----------------------------------------------------------------- input

#[test]
fn bad_input_exits_2_before_any_call() {
    let base = ["--zone", "example.com", "--record", "www.example.com"];
    let with = |sub: &str, more: &[&str]| -> Vec<String> {
        [sub]
            .iter()
            .chain(base.iter())
            .chain(more.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let set = |more: &[&str]| with("set", more);
    let shift = |more: &[&str]| with("shift", more);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (set(&["--weight", "blue=300"]), "0-255"),
        (set(&["--weight", "blue=-1"]), "0-255"),
        (set(&["--weight", "blue"]), "SET_ID=WEIGHT"),
        (set(&["--weight", "blue=1", "--weight", "blue=2"]), "twice"),
        (set(&["--weight", "blue=1", "--timeout", "10"]), "no unit"),
        (
            shift(&["--to", "green", "--steps", "10,5,100"]),
            "increasing",
        ),
        (shift(&["--to", "green", "--steps", "10,150"]), "1..100"),
        (shift(&["--to", "green", "--steps", "10,50"]), "end at 100"),
        (shift(&["--to", "green", "--bake", "soon"]), "--bake"),
        (shift(&["--to", "green", "--timeout", "5x"]), "--timeout"),
        (shift(&["--to", "green", "--alarm", "a*b"]), "--alarm"),
        (shift(&["--to", ""]), "--to"),
        (with("show", &["--type", "BOGUS"]), "--type"),
        (
            vec![
                "show",
                "--zone",
                "not a zone",
                "--record",
                "www.example.com",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            "--zone",
        ),
        (
            vec!["show", "--zone", "example.com", "--record", "a..b"]
                .into_iter()
                .map(String::from)
                .collect(),
            "--record",
        ),
    ];
    for (argv, needle) in cases {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = offline(&a, &[]);
        assert_usage_one_line(&o, needle);
    }
}

/// Issue 14: names, numbers and sizes that Route 53 would refuse (or that would
/// do harm, like a bake of years) are answered with one plain line and exit 2
/// before any call; an input is quoted at most ~100 characters.
#[test]
fn bad_names_numbers_and_huge_inputs_exit_2_before_any_call() {
    // One command line: the fixed words, then the case's own (kept whole).
    let line = |fixed: &str, more: &[&str]| -> Vec<String> {
        fixed
            .split_whitespace()
            .chain(more.iter().copied())
            .map(str::to_owned)
            .collect()
    };
    let record = |name: &str| line("show --zone example.com --record", &[name]);
    let zone = |z: &str| line("show --zone", &[z, "--record", "www.example.com"]);
    let shift = |more: &[&str]| {
        line(
            "shift --zone example.com --record www.example.com --to green",
            more,
        )
    };
    let set = |w: &str| {
        line(
            "set --zone example.com --record www.example.com --weight",
            &[w],
        )
    };
    let label64 = format!("{}.example.com", "a".repeat(64));
    let l63 = "b".repeat(63);
    let name256 = format!("{l63}.{l63}.{l63}.{l63}");
    let huge = "z".repeat(100_000);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (set("blue=-1"), "weight must be 0-255, got -1"),
        (set("blue=256"), "weight must be 0-255, got 256"),
        (set("blue=-99999999999999999999"), "weight must be 0-255"),
        (shift(&["--steps", "-10,100"]), "1..100, got -10"),
        // Caught by the common duration parser (no flag takes over 7 days) ...
        (
            shift(&["--bake", "9999999999w"]),
            "--bake: duration \"9999999999w\" is longer than the 7 days allowed",
        ),
        // ... and under that by the shift's own 24 h limit.
        (shift(&["--bake", "25h"]), "--bake must be at most 24h"),
        (shift(&["--bake", "-5m"]), "--bake"),
        (shift(&["--timeout", "-1s"]), "--timeout"),
        (record(&label64), "at most 63"),
        (record(&name256), "at most 255"),
        (record("example..test"), "empty label"),
        (record(".www.example.com"), "empty label"),
        (record("www.exa\x07mple.com"), "control character"),
        (record("www.exa\tmple.com"), "control character"),
        (record("www.bücher.example"), "punycode"),
        (zone(&label64), "at most 63"),
        (zone("example..com"), "empty label"),
        (zone(&huge), "--zone"),
        (zone(&format!("{huge}.com")), "--zone"),
        (record(&huge), "--record"),
        (set(&format!("{huge}=1")), "--weight"),
        (set(&format!("blue={huge}")), "--weight"),
        (shift(&["--bake", &huge]), "--bake"),
        (shift(&["--steps", &huge]), "--steps"),
        (shift(&["--alarm", &format!("{huge}*x")]), "--alarm"),
    ];
    for (argv, needle) in cases {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = offline(&a, &[]);
        assert_usage_one_line(&o, needle);
        // Quoted short: the line stays far below the 100 kB inputs.
        let err = stderr(&o);
        assert!(
            err.len() < 400,
            "{} bytes: {}",
            err.len(),
            err.chars().take(400).collect::<String>()
        );
    }
}

#[test]
fn unknown_zone_record_and_set_exit_2_and_change_nothing() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    let o = run(
        &emu,
        &["show", "--zone", "nowhere.example.org", "--record", WWW],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no hosted zone named nowhere.example.org."));
    let o = run(&emu, &["show", "--zone", "ZNOSUCHZONE1", "--record", WWW]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = on_record(&emu, &f, "nope.example.com", &["show", ""]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no record named nope.example.com."),
        "{}",
        stderr(&o)
    );
    let o = on_record(&emu, &f, WWW, &["set", "", "--weight", "purple=5"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no weighted set \"purple\""),
        "{}",
        stderr(&o)
    );
    let o = on_record(
        &emu,
        &f,
        WWW,
        &["shift", "", "--to", "purple", "--bake", "0s"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = on_record(&emu, &f, WWW, &["set", "", "--weight", "blue=0"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-zero-total"), "{}", stderr(&o));
    assert_eq!(f.all(), before);
}

#[test]
fn several_weighted_types_are_ambiguous_without_type() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    f.upsert(vec![
        ResourceRecordSet::builder()
            .name(API)
            .r#type(RrType::Aaaa)
            .set_identifier("blue")
            .weight(1)
            .ttl(60)
            .resource_records(
                ResourceRecord::builder()
                    .value("2001:db8::1")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap(),
    ]);
    let o = on_record(&emu, &f, API, &["show", ""]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("pass --type"), "{}", stderr(&o));
    let o = on_record(&emu, &f, API, &["show", "", "--type", "aaaa"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["type"], "AAAA");
}

// ----------------------------------------------------------------- show

#[test]
fn show_lists_weights_shares_targets_and_health() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    // By domain name, record without the trailing dot.
    let o = run(
        &emu,
        &words("show --zone example.com --record WWW.example.com"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["zone_id"], f.zone_id.as_str());
    assert_eq!(v["record"], WWW);
    assert_eq!(v["type"], "CNAME");
    assert_eq!(v["total_weight"], 100);
    let sets = v["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 3);
    let green = sets.iter().find(|s| s["set_id"] == "green").unwrap();
    assert_eq!(green["weight"], 0);
    assert_eq!(green["share_pct"], 0.0);
    assert_eq!(green["target"], "green.example.net");
    assert_eq!(green["health_check_id"], f.green_hc.as_str());
    assert_eq!(green["health"]["status"], "healthy");
    let blue = sets.iter().find(|s| s["set_id"] == "blue").unwrap();
    assert_eq!(blue["share_pct"], 100.0);
    assert!(blue.get("health").is_none());

    let o = on_record(&emu, &f, API, &["show", "", "--output", "text"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("alias d111.cloudfront.net."), "{text}");
    assert!(text.contains("100.00 %"), "{text}");
}

// ----------------------------------------------------------------- set

#[test]
fn set_changes_only_weights_in_one_batch_and_journals_it() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.sets(WWW);
    let shop = f.sets("shop.example.com.");
    let o = on_record(
        &emu,
        &f,
        WWW,
        &["set", "", "--weight", "blue=90", "--weight", "green=10"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["changed"], true);
    assert_eq!(v["after"]["green"], 10);
    assert_eq!(v["shares"]["green"], 10.0);
    // Conditional: each changed set DELETEd exactly as read, then CREATEd with
    // its new weight (maintenance keeps its weight and is not written).
    let changes = v["change_batch"]["ChangeBatch"]["Changes"]
        .as_array()
        .unwrap();
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["DELETE", "CREATE", "DELETE", "CREATE"]);
    assert_eq!(f.weights(WWW), "blue=90 green=10 maintenance=0");
    // Everything but the weight is as it was: TTL, values, health check id.
    for r in f.sets(WWW) {
        let mut orig = before
            .iter()
            .find(|b| b.set_identifier == r.set_identifier)
            .unwrap()
            .clone();
        orig.weight = r.weight;
        assert_eq!(r, orig);
    }
    assert_eq!(f.sets("shop.example.com."), shop);

    let entries = testkit::journal_entries(&emu);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["phase"], "intent");
    assert_eq!(entries[0]["action"], "dns.set-weights");
    assert_eq!(entries[0]["before"]["weights"]["blue"], 100);
    assert_eq!(
        entries[0]["before"]["record_sets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(entries[1]["outcome"], "ok");
    assert_eq!(entries[1]["after"]["weights"]["green"], 10);
    assert_eq!(
        entries[1]["after"]["record_sets"][1]["HealthCheckId"],
        f.green_hc.as_str()
    );
}

#[test]
fn dry_run_prints_the_change_batch_and_changes_nothing() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    let o = on_record(
        &emu,
        &f,
        API,
        &["set", "", "--weight", "green=50", "--dry-run"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = json_stdout(&o);
    assert_eq!(v["dry_run"], true);
    let changes = v["change_batch"]["ChangeBatch"]["Changes"]
        .as_array()
        .unwrap();
    assert_eq!(changes.len(), 2);
    let green: Vec<&Value> = changes
        .iter()
        .filter(|c| c["ResourceRecordSet"]["SetIdentifier"] == "green")
        .collect();
    assert_eq!(green.len(), 2);
    assert_eq!(green[0]["Action"], "DELETE");
    assert_eq!(green[0]["ResourceRecordSet"]["Weight"], 0);
    assert_eq!(green[1]["Action"], "CREATE");
    assert_eq!(green[1]["ResourceRecordSet"]["Weight"], 50);
    for g in &green {
        assert_eq!(
            g["ResourceRecordSet"]["AliasTarget"]["DNSName"],
            "d222.cloudfront.net."
        );
    }

    let o = shift_to_green(&emu, &f, WWW, &["--dry-run", "--gate-cmd", "exit 1"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines = json_lines_of(&o, "dns-shift", "shift");
    let steps: Vec<&Value> = lines.iter().filter(|l| l["event"] == "step").collect();
    assert_eq!(steps.len(), 4);
    assert_eq!(
        steps[1]["change_batch"]["ChangeBatch"]["Changes"][0]["Action"],
        "DELETE"
    );
    assert_eq!(lines.last().unwrap()["result"], "dry-run");
    assert_eq!(
        lines.last().unwrap()["calls"]["route53:ChangeResourceRecordSets"],
        Value::Null
    );

    let o = on_record(&emu, &f, WWW, &["maintenance", "on", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["after"]["maintenance"], 100);

    assert_eq!(f.all(), before);
    assert!(!emu.journal_path().exists(), "a dry run wrote the journal");
}

#[test]
fn production_without_yes_exits_2_and_changes_nothing() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    for argv in [
        vec!["set", "", "--weight", "green=10"],
        vec!["shift", "", "--to", "green", "--bake", "0s"],
        vec!["maintenance", "on", ""],
    ] {
        let mut cmd = on_emulator(&emu, &args(&rec(&f, WWW), &argv));
        cmd.env("LTC_ENV", "prod");
        // stdin is not a terminal: the refusal is the exit 2 itself with no
        // prompt, and no record changed (checked below); not a measured time.
        let o = cmd.output().unwrap();
        assert_eq!(code(&o), 2, "{argv:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    }
    assert_eq!(f.all(), before);
    // With --yes it goes ahead.
    let mut cmd = on_emulator(
        &emu,
        &args(&rec(&f, WWW), &["set", "", "--weight", "green=10", "--yes"]),
    );
    cmd.env("LTC_ENV", "prod");
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=100 green=10 maintenance=0");
}

// ----------------------------------------------------------------- shift

#[test]
fn shift_with_passing_gate_reaches_100_percent_and_reports_calls() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = shift_to_green(
        &emu,
        &f,
        WWW,
        &[
            "--gate-cmd",
            "test \"$DNS_SHIFT_TO\" = green",
            "--health-check",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=0 green=100 maintenance=0");
    let lines = json_lines_of(&o, "dns-shift", "shift");
    assert_eq!(lines[0]["event"], "start");
    let pcts: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "step")
        .map(|l| l["percent"].as_u64().unwrap())
        .collect();
    assert_eq!(pcts, vec![10, 25, 50, 100]);
    let step2 = lines
        .iter()
        .find(|l| l["event"] == "step" && l["step"] == 2)
        .unwrap();
    assert_eq!(step2["weights"]["blue"], 75);
    assert_eq!(step2["weights"]["green"], 25);
    // Gates before each of 4 steps and once after: command + health check.
    assert_eq!(lines.iter().filter(|l| l["event"] == "gate").count(), 10);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["result"], "completed");
    assert_eq!(summary["calls"]["route53:ChangeResourceRecordSets"], 4);
    assert_eq!(summary["calls"]["route53:GetChange"], 4);
    // The first read, and a fresh one right before each step (a change made by
    // someone else during gates or bake stops the shift).
    assert_eq!(summary["calls"]["route53:ListResourceRecordSets"], 5);
    assert_eq!(summary["calls"]["route53:GetHealthCheckStatus"], 5);
    // The zone was given by id: no zone lookup.
    assert_eq!(summary["calls"].get("route53:ListHostedZonesByName"), None);
    assert_eq!(summary["route53_calls"], 18);
}

/// A gate command that runs `then` on its second run only, counting runs in a
/// file under `dir`; it passes unless `then` fails.
fn on_second_gate_run(dir: &std::path::Path, then: &str) -> String {
    format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; if [ $n -eq 2 ]; then {then}; fi",
        c = dir.join("n").display()
    )
}

/// `dns-shift maintenance on` for www by someone the run lock does not stop: a
/// colleague whose state and journal live elsewhere (like a console edit), under
/// `dir`. The record-level check is what protects the shift from them.
fn maintenance_on_by_hand(f: &Fixture, dir: &std::path::Path) -> String {
    format!(
        "{bin} maintenance on --zone {zone} --record {WWW} --state {d}/elsewhere --journal {d}/elsewhere.jsonl >/dev/null",
        bin = env!("CARGO_BIN_EXE_dns-shift"),
        zone = f.zone_id,
        d = dir.display(),
    )
}

/// Shifts www to green in 10/50/100 % steps with no bake, behind `gate`.
fn shift_www_to_green_gated(emu: &EmulatorGuard, f: &Fixture, gate: &str) -> Output {
    on_record(
        emu,
        f,
        WWW,
        &[
            "shift",
            "",
            "--to",
            "green",
            "--steps",
            "10,50,100",
            "--bake",
            "0s",
            "--gate-cmd",
            gate,
        ],
    )
}

// Issue 15: a second operator who shares the environment's state is refused by the
// run lock (exit 8, nothing changed) while a shift holds it; the shift completes.
#[test]
fn a_second_operator_sharing_the_state_is_refused_while_a_shift_runs() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let dir = tempfile::tempdir().unwrap();
    let second = format!(
        "{bin} maintenance on --zone {zone} --record {WWW} >/dev/null 2>{d}/err; echo $? > {d}/code",
        bin = env!("CARGO_BIN_EXE_dns-shift"),
        zone = f.zone_id,
        d = dir.path().display(),
    );
    let gate = on_second_gate_run(dir.path(), &second);
    let o = shift_www_to_green_gated(&emu, &f, &gate);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let theirs = std::fs::read_to_string(dir.path().join("code")).unwrap();
    assert_eq!(theirs.trim(), "8", "the second operator was refused");
    let err = std::fs::read_to_string(dir.path().join("err")).unwrap();
    assert!(
        err.contains("is locked: ") && err.contains("dns-shift shift"),
        "{err}"
    );
    assert_eq!(f.weights(WWW), "blue=0 green=100 maintenance=0");
}

#[test]
fn a_change_by_someone_else_mid_shift_stops_it_without_reverting() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    assert_eq!(f.weights(WWW), "blue=100 green=0 maintenance=0");
    let dir = tempfile::tempdir().unwrap();
    // The second gate run plays a second operator who puts the site into maintenance
    // while the shift bakes; the gate itself passes.
    let gate = on_second_gate_run(dir.path(), &maintenance_on_by_hand(&f, dir.path()));
    let o = shift_www_to_green_gated(&emu, &f, &gate);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("changed by someone else: expected blue=90 green=10 maintenance=0"),
        "{err}"
    );
    assert!(err.contains("without reverting"), "{err}");
    // Their maintenance weights stay; step 2 never went out, nothing was reverted.
    assert_eq!(f.weights(WWW), "blue=0 green=0 maintenance=100");
    let lines = json_lines_of(&o, "dns-shift", "shift");
    assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 1);
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "stopped-conflict");
    assert_eq!(summary["steps_applied"], 1);
    assert_eq!(summary["final_weights"]["maintenance"], 100);
    assert_eq!(summary["calls"]["route53:ChangeResourceRecordSets"], 1);
    // The journal records the shift as failed with the live (their) weights.
    let outcome = testkit::journal_entries(&emu)
        .into_iter()
        .rfind(|e| e["action"] == "dns.shift" && e["phase"] == "outcome")
        .unwrap();
    assert_eq!(outcome["outcome"], "failed", "{outcome}");
    assert_eq!(outcome["after"]["weights"]["maintenance"], 100, "{outcome}");
}

#[test]
fn a_failing_gate_after_someone_else_changed_the_record_does_not_revert_over_them() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let dir = tempfile::tempdir().unwrap();
    // The second gate run finds the release broken after a second operator has
    // already put the site into maintenance: it fails.
    let gate = on_second_gate_run(
        dir.path(),
        &format!("{}; exit 1", maintenance_on_by_hand(&f, dir.path())),
    );
    let o = shift_www_to_green_gated(&emu, &f, &gate);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("gate failed"), "{err}");
    assert!(
        err.contains("NOT reverted: the weights were changed by someone else meanwhile (found blue=0 green=0 maintenance=100)"),
        "{err}"
    );
    assert_eq!(f.weights(WWW), "blue=0 green=0 maintenance=100");
    let lines = json_lines_of(&o, "dns-shift", "shift");
    assert!(
        lines.iter().all(|l| l["event"] != "revert"),
        "no revert was sent"
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["result"], "stopped-conflict");
    assert_eq!(summary["calls"]["route53:ChangeResourceRecordSets"], 1);
}

#[test]
fn gate_failing_at_the_second_step_leaves_the_weights_exactly_as_at_the_start() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("n");
    // Passes the first time, fails from the second on.
    let gate = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo gate run $n; [ $n -lt 2 ]",
        c = counter.display()
    );
    for (record, mode) in [(WWW, "immediate"), (API, "gradual")] {
        std::fs::remove_file(&counter).ok();
        let o = shift_to_green(
            &emu,
            &f,
            record,
            &[
                "--gate-cmd",
                &gate,
                "--revert",
                mode,
                "--steps",
                "10,25,50,100",
            ],
        );
        assert_eq!(code(&o), 6, "{}", stderr(&o));
        // The gate's output went to stderr, not into the JSON stream.
        assert!(stderr(&o).contains("gate run 2"), "{}", stderr(&o));
        let lines = json_lines_of(&o, "dns-shift", "shift");
        assert_eq!(lines.iter().filter(|l| l["event"] == "step").count(), 1);
        let failed = lines
            .iter()
            .find(|l| l["event"] == "gate" && l["passed"] == false)
            .unwrap();
        assert_eq!(failed["step"], 2);
        assert!(
            lines
                .iter()
                .any(|l| l["event"] == "revert" && l["ok"] == true)
        );
        let summary = lines.last().unwrap();
        assert_eq!(summary["result"], "reverted");
        assert_eq!(summary["steps_applied"], 1);
    }
    // Independent read: every record set of the zone exactly as before.
    assert_eq!(f.all(), before);
    let journal = std::fs::read_to_string(emu.journal_path()).unwrap();
    assert!(journal.contains("\"outcome\":\"reverted\""));
}

#[test]
fn gate_failing_before_the_first_step_exits_4_with_nothing_changed() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    let o = shift_to_green(&emu, &f, WWW, &["--gate-cmd", "exit 1"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert_eq!(
        json_lines_of(&o, "dns-shift", "shift").last().unwrap()["result"],
        "stopped"
    );
    // An alarm that does not exist fails the gate too (fail closed).
    let o = shift_to_green(&emu, &f, API, &["--alarm", "no-such-alarm"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    assert!(stderr(&o).contains("no such alarm"), "{}", stderr(&o));
    assert_eq!(f.all(), before);
}

/// Creates metric alarms and sets the states given (moto starts alarms as OK,
/// CloudWatch as INSUFFICIENT_DATA: tests set what they rely on).
fn make_alarms(
    emu: &EmulatorGuard,
    rt: &tokio::runtime::Runtime,
    names: &[&str],
    states: &[(&str, StateValue)],
) {
    let config = testkit::sdk_config(emu);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    rt.block_on(async {
        for name in names {
            testkit::sdk::put_metric_alarm(&config, name).await;
        }
        for (name, state) in states {
            cw.set_alarm_state()
                .alarm_name(*name)
                .state_value(state.clone())
                .state_reason("test")
                .send()
                .await
                .unwrap();
        }
    });
}

#[test]
fn alarms_reports_states_and_fails_on_alarm_or_no_match() {
    let emu = Emulator::shared();
    let rt = testkit::runtime();
    make_alarms(
        &emu,
        &rt,
        &["ltc-api-5xx", "ltc-api-latency", "ltc-web-5xx"],
        &[
            ("ltc-api-5xx", StateValue::Alarm),
            ("ltc-web-5xx", StateValue::InsufficientData),
        ],
    );
    let states = |o: &Output| -> Vec<String> {
        json_stdout(o)["checks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["matched"].as_array().unwrap().clone())
            .map(|m| {
                format!(
                    "{}={}",
                    m["name"].as_str().unwrap(),
                    m["state"].as_str().unwrap()
                )
            })
            .collect()
    };

    // A prefix with one alarm firing: exit 4, every match listed with its state.
    let o = run(&emu, &words("alarms --alarm ltc-api-*"));
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let j = json_stdout(&o);
    assert_eq!(j["passed"], false);
    assert_eq!(j["checks"][0]["alarm"], "ltc-api-*");
    assert_eq!(states(&o), ["ltc-api-5xx=ALARM", "ltc-api-latency=OK"]);
    assert!(
        stderr(&o).contains("in ALARM: ltc-api-5xx"),
        "{}",
        stderr(&o)
    );

    // Names that are not firing pass.
    let o = run(
        &emu,
        &words("alarms --alarm ltc-api-latency --alarm ltc-web-*"),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["passed"], true);
    assert_eq!(
        states(&o),
        ["ltc-api-latency=OK", "ltc-web-5xx=INSUFFICIENT_DATA"]
    );

    // A name that matches nothing fails closed, next to one that passes.
    let o = run(&emu, &words("alarms --alarm ltc-web-5xx --alarm ltc-typo"));
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let j = json_stdout(&o);
    assert_eq!(j["checks"][0]["passed"], true);
    assert_eq!(j["checks"][1]["passed"], false);
    assert_eq!(j["checks"][1]["detail"], "no such alarm");

    // Bad specs are refused before any call, with one line.
    for bad in ["a*b", "*", ""] {
        let o = run(&emu, &["alarms", "--alarm", bad]);
        assert_eq!(code(&o), 2, "{bad:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
        assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
    }
}

#[test]
fn alarm_in_alarm_state_stops_the_shift_and_ok_alarms_let_it_pass() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    make_alarms(
        &emu,
        &f.rt,
        &["ltc-api-5xx", "ltc-api-latency"],
        &[("ltc-api-5xx", StateValue::Alarm)],
    );
    let o = shift_to_green(&emu, &f, API, &["--alarm", "ltc-api-*"]);
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let gate = json_lines_of(&o, "dns-shift", "shift")
        .into_iter()
        .find(|l| l["event"] == "gate")
        .unwrap();
    assert_eq!(gate["passed"], false);
    assert!(gate["detail"].as_str().unwrap().contains("ltc-api-5xx"));
    assert_eq!(f.all(), before);

    let o = shift_to_green(
        &emu,
        &f,
        API,
        &["--steps", "50,100", "--alarm", "ltc-api-latency"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(API), "blue=0 green=200 maintenance=0");
    let summary = json_lines_of(&o, "dns-shift", "shift").pop().unwrap();
    assert_eq!(summary["cloudwatch_calls"], 3);
}

#[test]
fn fast_track_skips_gates_and_is_recorded() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = on_record(
        &emu,
        &f,
        WWW,
        &[
            "shift",
            "",
            "--to",
            "green",
            "--bake",
            "1h",
            "--gate-cmd",
            "exit 1",
            "--fast-track",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("FAST TRACK"));
    let lines = json_lines_of(&o, "dns-shift", "shift");
    assert!(lines.iter().all(|l| l["event"] != "gate"));
    assert_eq!(lines.last().unwrap()["fast_track"], true);
    // The first read, then a fresh one before each later step; none before step 1,
    // since no gate ran in between.
    assert_eq!(
        lines.last().unwrap()["calls"]["route53:ListResourceRecordSets"],
        4
    );
    assert_eq!(f.weights(WWW), "blue=0 green=100 maintenance=0");
    let shift = testkit::journal_entries(&emu)
        .into_iter()
        .find(|e| e["action"] == "dns.shift")
        .unwrap();
    assert_eq!(shift["before"]["shift"]["fast_track"], true);
}

#[test]
fn sigterm_during_bake_reverts_and_exits_6() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let before = f.all();
    let mut child = on_emulator(
        &emu,
        &args(
            &rec(&f, WWW),
            &["shift", "", "--to", "green", "--bake", "5m"],
        ),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "stream ended early: {seen}"
        );
        seen.push_str(&line);
        if line.contains("\"event\":\"step\"") {
            break;
        }
    }
    assert_eq!(f.weights(WWW), "blue=90 green=10 maintenance=0");
    testkit::signal(&child, "-TERM");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(6), "{seen}{rest}");
    assert!(rest.contains("\"result\":\"reverted\""), "{rest}");
    assert!(rest.contains("SIGTERM received"), "{rest}");
    assert_eq!(f.all(), before);
}

// ------------------------------------------------------- maintenance, undo

#[test]
fn maintenance_on_then_off_restores_the_previous_weights() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    // The starting weights are UPSERTed by the fixture, not by `dns-shift set`:
    // moto refuses a CREATE identical to an earlier CREATE in the zone, and
    // `maintenance off` CREATEs exactly what a `set` would have CREATEd (AWS has
    // no such rule).
    let hc = f.green_hc.clone();
    f.upsert(vec![
        cname(WWW, "blue", 70, "blue.example.net", None),
        cname(WWW, "green", 30, "green.example.net", Some(&hc)),
    ]);
    let before = f.all();

    let o = on_record(&emu, &f, WWW, &["maintenance", "on", ""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=0 green=0 maintenance=100");
    assert_eq!(json_stdout(&o)["shares"]["maintenance"], 100.0);
    // A second `on` changes nothing and keeps the remembered weights.
    let o = on_record(&emu, &f, WWW, &["maintenance", "on", ""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["changed"], false);

    let o = on_record(&emu, &f, WWW, &["maintenance", "off", ""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=70 green=30 maintenance=0");
    assert_eq!(f.all(), before);

    // Alias records, with a maintenance set of another name.
    let o = on_record(&emu, &f, API, &["maintenance", "on", "", "--set", "green"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(API), "blue=0 green=200 maintenance=0");
    let o = on_record(&emu, &f, API, &["maintenance", "off", "", "--set", "green"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(API), "blue=200 green=0 maintenance=0");
}

#[test]
fn maintenance_off_without_a_recorded_on_exits_2() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = on_record(&emu, &f, WWW, &["maintenance", "off", ""]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no `maintenance on`"), "{}", stderr(&o));
}

#[test]
fn undo_restores_the_weights_before_the_last_change() {
    let emu = Emulator::shared();
    let f = Fixture::new(&emu);
    let o = on_record(&emu, &f, WWW, &["undo", ""]);
    assert_eq!(code(&o), 2, "nothing recorded yet: {}", stderr(&o));
    let start = f.all();
    // green=50 is UPSERTed by the fixture, not by `dns-shift set`: moto refuses a
    // CREATE identical to an earlier CREATE in the zone, and the undo below
    // CREATEs exactly what such a `set` would have (AWS has no such rule).
    let hc = f.green_hc.clone();
    f.upsert(vec![cname(
        WWW,
        "green",
        50,
        "green.example.net",
        Some(&hc),
    )]);
    let after_set = f.all();
    let o = shift_to_green(&emu, &f, WWW, &["--steps", "75,100"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=0 green=150 maintenance=0");

    // The whole shift is undone at once, not only its last step.
    let o = on_record(&emu, &f, WWW, &["undo", ""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["after"]["green"], 50);
    assert_eq!(f.all(), after_set);
    // Undoing the undo goes forward again; undoing that goes back again.
    // moto refuses a CREATE identical to an earlier CREATE in the zone (AWS has
    // no such rule), and this one would equal the shift's last step: a TTL set
    // by hand in between makes it differ. Undo still writes the weights only.
    let mut sets = f.sets(WWW);
    for r in &mut sets {
        r.ttl = Some(61);
    }
    f.upsert(sets);
    let o = on_record(&emu, &f, WWW, &["undo", ""]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(f.weights(WWW), "blue=0 green=150 maintenance=0");
    let o = on_record(&emu, &f, WWW, &["undo", "", "--dry-run"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json_stdout(&o)["after"]["green"], 50);
    assert_eq!(f.weights(WWW), "blue=0 green=150 maintenance=0");
    let _ = start;
}
