//! What ecs-revert's emulator tests (cli.rs, scaling.rs) share: the emulator
//! with its ECS settings, the services fixture, running the binary and reading
//! what it journaled. Each test file uses only part of it.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

use aws_sdk_ecs::types::ContainerDefinition;
use serde_json::Value;
use testkit::{Emulator, EmulatorGuard, runtime as rt};

pub const CLUSTER: &str = "ltc";

pub fn emulator() -> EmulatorGuard {
    // The first call in a test binary decides the server's environment.
    Emulator::shared_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "2")])
}

/// The cluster and, per family, revisions 1..=4 and a service of that name on
/// revision 4 with 2 tasks desired.
pub fn services(client: &aws_sdk_ecs::Client, families: &[&str]) {
    rt().block_on(async {
        client
            .create_cluster()
            .cluster_name(CLUSTER)
            .send()
            .await
            .expect("create cluster");
        for fam in families {
            for i in 1..=4 {
                client
                    .register_task_definition()
                    .family(*fam)
                    .container_definitions(
                        ContainerDefinition::builder()
                            .name("app")
                            .image(format!("ltc/{fam}:{i}"))
                            .memory(128)
                            .build(),
                    )
                    .send()
                    .await
                    .expect("register task definition");
            }
            client
                .create_service()
                .cluster(CLUSTER)
                .service_name(*fam)
                .task_definition(format!("{fam}:4"))
                .desired_count(2)
                .send()
                .await
                .expect("create service");
        }
    });
}

/// The service's task definition as `family:revision`, read with the SDK.
pub fn service_td(client: &aws_sdk_ecs::Client, service: &str) -> String {
    let out = rt()
        .block_on(
            client
                .describe_services()
                .cluster(CLUSTER)
                .services(service)
                .send(),
        )
        .expect("describe");
    let td = out.services()[0].task_definition().unwrap_or_default();
    td.rsplit('/').next().unwrap_or(td).to_owned()
}

pub fn bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("ecs-revert"));
    c.stdin(Stdio::null());
    c
}

/// ecs-revert on the emulator, with `--output json`.
pub fn cmd(emu: &EmulatorGuard) -> Command {
    let mut c = bin();
    emu.configure(&mut c);
    c.arg("--output").arg("json");
    c
}

pub fn run(emu: &EmulatorGuard, args: &[&str]) -> Output {
    cmd(emu).args(args).output().expect("run ecs-revert")
}

/// `SUB... --cluster ltc --service SERVICE MORE...` (`sub` split at spaces).
pub fn argv<'a>(sub: &'a str, service: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&str> = sub.split_whitespace().collect();
    v.extend(["--cluster", CLUSTER, "--service", service]);
    v.extend_from_slice(more);
    v
}

/// [`run`] with [`argv`].
pub fn on(emu: &EmulatorGuard, sub: &str, service: &str, more: &[&str]) -> Output {
    run(emu, &argv(sub, service, more))
}

/// Every entry of the journal at `path`, in order.
pub fn journal_at(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("journal line"))
        .collect()
}
