//! `dns-shift policy <subcommand> [flags]`: the IAM policy that exact command
//! line needs (route53.rs reads, UPSERTs and INSYNC waits, gates.rs health
//! checks and alarms, the journal reads of undo and maintenance off).

use common::policy::{Policy, PolicyArgs, Scope, StateUse, Target};
use common::{Context, GlobalArgs, Result};

use crate::maintenance::Mode;
use crate::{Cli, Command, RecordArgs};

/// Prints the policy for the command line after `policy`.
pub fn run(ctx: &Context, outer: &GlobalArgs, args: &PolicyArgs) -> Result<()> {
    let t: Target<Cli> = common::policy::parse_target("dns-shift", outer, args)?;
    common::policy::print(ctx, &statements(&t)?)
}

/// The zone's ARN; a zone given by name is found with ListHostedZonesByName
/// (which takes no resource) and may be any zone.
fn zone(p: &mut Policy, scope: &Scope, r: &RecordArgs) -> Result<String> {
    let spec = r.validate()?;
    let id = spec.zone.trim_start_matches("/hostedzone/");
    let is_id = id.len() > 1
        && id.starts_with('Z')
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    Ok(if is_id {
        scope.bare_arn("route53", &format!("hostedzone/{id}"))
    } else {
        p.allow(["route53:ListHostedZonesByName"], ["*"]);
        scope.bare_arn("route53", "hostedzone/*")
    })
}

fn read(p: &mut Policy, zone: &str) {
    p.allow(["route53:ListResourceRecordSets"], [zone.to_owned()]);
}

fn health(p: &mut Policy, scope: &Scope) {
    p.allow(
        ["route53:GetHealthCheckStatus"],
        [scope.bare_arn("route53", "healthcheck/*")],
    );
}

/// UPSERT (or conditional DELETE+CREATE) and the INSYNC wait.
fn write(p: &mut Policy, scope: &Scope, zone: &str) {
    p.allow(["route53:ChangeResourceRecordSets"], [zone.to_owned()]);
    p.allow(
        ["route53:GetChange"],
        [scope.bare_arn("route53", "change/*")],
    );
}

/// The grants of a parsed command line.
pub fn statements(t: &Target<Cli>) -> Result<Policy> {
    let dry = t.globals.dry_run;
    let scope = &t.scope;
    let mut p = Policy::new();
    let mut state = StateUse::none();
    match &t.cli.command {
        Command::Show(a) => {
            let z = zone(&mut p, scope, &a.record)?;
            read(&mut p, &z);
            health(&mut p, scope);
        }
        Command::Set(a) => {
            let z = zone(&mut p, scope, &a.record)?;
            read(&mut p, &z);
            if !dry {
                write(&mut p, scope, &z);
                state.change = true;
            }
        }
        Command::Shift(a) => {
            let z = zone(&mut p, scope, &a.record)?;
            read(&mut p, &z);
            if a.health_check {
                health(&mut p, scope);
            }
            if !a.alarms.is_empty() {
                p.allow(["cloudwatch:DescribeAlarms"], ["*"]);
            }
            if !dry {
                // Steps, and the revert to the weights before on a failed gate.
                write(&mut p, scope, &z);
                state.change = true;
            }
        }
        Command::Maintenance(a) => {
            let z = zone(&mut p, scope, &a.record)?;
            read(&mut p, &z);
            if matches!(a.mode, Mode::Off) {
                // The weights from before `on` come from the journal.
                state.read_journal = true;
            }
            if !dry {
                write(&mut p, scope, &z);
                state.change = true;
            }
        }
        Command::Undo(a) => {
            let z = zone(&mut p, scope, &a.record)?;
            read(&mut p, &z);
            state.read_journal = true;
            if !dry {
                write(&mut p, scope, &z);
                state.change = true;
            }
        }
        Command::Alarms(_) => {
            p.allow(["cloudwatch:DescribeAlarms"], ["*"]);
        }
        Command::Policy(_) => {}
    }
    p.merge(&common::policy::state(&t.globals, None, state));
    Ok(p)
}
