//! Talking to Route 53: finding the zone and the weighted sets of one record,
//! writing a weight change as one conditional ChangeBatch (DELETE of every set
//! exactly as read + CREATE with the new weight, so Route 53 rejects the whole
//! batch when anyone changed the record since the read), waiting until it is
//! INSYNC, and health-check status. Every HTTP attempt is counted so a shift can
//! report how many calls it made.

use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, RrType,
};
use common::{AwsResultExt, Error, Output, Poll, Result, WaitOptions, poll_until};
use serde::Serialize;
use serde_json::{Value, json};

use crate::weights::{self, Weights};

// Calls per `service:Operation` (`by_service_operation`), counted at every
// HTTP attempt (retries too).
pub use common::calls::CallCounter;

/// The Route 53 client of one command, with its call counter.
#[derive(Debug, Clone)]
pub struct Route53 {
    pub client: aws_sdk_route53::Client,
    pub calls: CallCounter,
}

/// How a conditional weight change ended when it was not refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Accepted: wait for this change id to be INSYNC.
    Sent(String),
    /// Rejected, but the record already carries exactly these weights: an
    /// earlier attempt of this very call went through and its answer was lost
    /// (the SDK's retry then found its own DELETE precondition gone).
    AlreadyLive,
}

/// Why a conditional weight change was not made.
#[derive(Debug)]
pub enum WriteError {
    /// Someone changed the record since it was read; Route 53 rejected the whole
    /// batch, so nothing of it was applied. The record as it is now.
    Conflict(Box<RecordGroup>),
    /// The write failed and the record read back is exactly as it was: nothing
    /// of it was applied (a refusal such as AccessDenied).
    Unchanged(Error),
    /// Any other failure (the outcome of a 5xx or timeout is for the caller's
    /// read-back to decide).
    Failed(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Failed(e)
    }
}

impl WriteError {
    /// As a plain error: a conflict is a failed check (exit 4).
    pub fn into_error(self) -> Error {
        match self {
            WriteError::Conflict(live) => Error::CheckFailed(format!(
                "{} was changed by someone else since it was read (now {}); Route 53 rejected this change, nothing of it was applied",
                live.name,
                weights::describe(&live.weights())
            )),
            WriteError::Failed(e) | WriteError::Unchanged(e) => e,
        }
    }
}

/// How many failed reads in a row (each after the SDK's own attempts) a wait
/// looks past before giving up: the one budget of `common::wait`.
pub use common::wait::READ_RETRIES;

/// A failure that says nothing about the world: throttling, a 5xx, or no
/// answer at all (reset, timeout, lost response). A read that failed this way
/// may simply be tried again.
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Aws(a) => a.is_throttling() || a.status.is_none_or(|s| s >= 500),
        _ => false,
    }
}

/// The weighted sets of one record name and type.
#[derive(Debug, Clone)]
pub struct RecordGroup {
    pub zone_id: String,
    pub name: String,
    pub rtype: RrType,
    /// Exactly as listed by Route 53, in listing order.
    pub sets: Vec<ResourceRecordSet>,
}

impl Route53 {
    pub fn new(config: &aws_config::SdkConfig, calls: CallCounter) -> Self {
        let conf = aws_sdk_route53::config::Builder::from(config)
            .interceptor(calls.clone())
            .build();
        Route53 {
            client: aws_sdk_route53::Client::from_conf(conf),
            calls,
        }
    }

    /// A client built elsewhere (tests); its calls are counted only if it
    /// carries a clone of `calls` as an interceptor.
    pub fn from_client(client: aws_sdk_route53::Client, calls: CallCounter) -> Self {
        Route53 { client, calls }
    }

    /// The hosted zone id for `--zone`: an id is used as given (its existence is
    /// proven by the listing that follows); a domain name is looked up and must
    /// name exactly one zone.
    pub async fn resolve_zone(&self, zone: &str) -> Result<String> {
        match parse_zone_arg(zone)? {
            ZoneArg::Id(id) => Ok(id),
            ZoneArg::Name(name) => {
                let out = self
                    .client
                    .list_hosted_zones_by_name()
                    .dns_name(&name)
                    .max_items(100)
                    .send()
                    .await
                    .aws("ListHostedZonesByName")?;
                // AWS lists zones from this name on, in order; keep exact matches.
                let ids: Vec<String> = out
                    .hosted_zones
                    .iter()
                    .filter(|z| normalize_name(&z.name) == name)
                    .map(|z| strip_zone_prefix(&z.id))
                    .collect();
                match ids.as_slice() {
                    [] => Err(Error::usage(format!("no hosted zone named {name}"))),
                    [id] => Ok(id.clone()),
                    many => Err(Error::usage(format!(
                        "{} hosted zones are named {name} ({}): pass --zone with the id",
                        many.len(),
                        many.join(", ")
                    ))),
                }
            }
        }
    }

    /// Reads the weighted sets of `name` (normalised) in `zone_id`. With no type
    /// given, the record must have weighted sets of exactly one type.
    pub async fn read_group(
        &self,
        zone_id: &str,
        name: &str,
        rtype: Option<&RrType>,
    ) -> Result<RecordGroup> {
        let mut found: Vec<ResourceRecordSet> = Vec::new();
        let mut next: Option<(String, Option<RrType>, Option<String>)> =
            Some((name.to_owned(), rtype.cloned(), None));
        while let Some((start_name, start_type, start_id)) = next.take() {
            let out = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .start_record_name(start_name)
                .set_start_record_type(start_type)
                .set_start_record_identifier(start_id)
                .send()
                .await
                .aws("ListResourceRecordSets")
                .map_err(|e| {
                    if e.has_code("NoSuchHostedZone") {
                        Error::usage(format!("no hosted zone with id {zone_id}"))
                    } else {
                        e.into()
                    }
                })?;
            let mut past_name = false;
            for r in out.resource_record_sets {
                if normalize_name(&r.name) != name {
                    past_name = true;
                    break;
                }
                if rtype.is_none_or(|t| &r.r#type == t) {
                    found.push(r);
                }
            }
            if out.is_truncated
                && !past_name
                && let Some(n) = out.next_record_name
            {
                next = Some((n, out.next_record_type, out.next_record_identifier));
            }
        }

        if found.is_empty() {
            let what = rtype.map(|t| format!(" of type {t}")).unwrap_or_default();
            return Err(Error::usage(format!(
                "no record named {name}{what} in zone {zone_id}"
            )));
        }
        let weighted: Vec<ResourceRecordSet> = found
            .iter()
            .filter(|r| r.weight.is_some() && r.set_identifier.is_some())
            .cloned()
            .collect();
        if weighted.is_empty() {
            let types: Vec<String> = found.iter().map(|r| r.r#type.to_string()).collect();
            return Err(Error::usage(format!(
                "{name} has no weighted record sets (found {})",
                types.join(", ")
            )));
        }
        let mut types: Vec<RrType> = Vec::new();
        for r in &weighted {
            if !types.contains(&r.r#type) {
                types.push(r.r#type.clone());
            }
        }
        if types.len() > 1 {
            let names: Vec<String> = types.iter().map(ToString::to_string).collect();
            return Err(Error::usage(format!(
                "{name} has weighted sets of several types ({}): pass --type",
                names.join(", ")
            )));
        }
        Ok(RecordGroup {
            zone_id: zone_id.to_owned(),
            name: name.to_owned(),
            rtype: types.remove(0),
            sets: weighted,
        })
    }

    /// Sends one ChangeBatch and returns the change id. Retries are the SDK's
    /// alone (standard mode, attempts from `--max-attempts`/`AWS_MAX_ATTEMPTS`):
    /// it classifies PriorRequestNotComplete (another change still in flight in
    /// the zone) and Throttling as throttling errors and backs off on them
    /// (aws-runtime `retries::classifiers::THROTTLING_ERRORS`).
    pub async fn send_batch(&self, zone_id: &str, batch: ChangeBatch) -> Result<String> {
        let o = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch)
            .send()
            .await
            .aws("ChangeResourceRecordSets")?;
        let info = o.change_info.ok_or_else(|| {
            Error::Internal("ChangeResourceRecordSets returned no ChangeInfo".into())
        })?;
        Ok(info.id)
    }

    /// Writes `target` weights over `basis` (the record exactly as last read)
    /// with Route 53's optimistic concurrency: `batch` (from
    /// [`RecordGroup::change_batch`] or [`RecordGroup::full_batch`]) DELETEs every
    /// set as read and CREATEs it again, so AWS rejects it with InvalidChangeBatch
    /// ("Tried to delete resource record set ... but it was not found" / "values
    /// do not match") when anyone changed the record since. Any failure is read
    /// back: the record showing `target` is our own earlier attempt (answer lost),
    /// the record unchanged means the batch failed (invalid for another reason,
    /// or never arrived), and anything else is someone else's change.
    pub async fn write(
        &self,
        basis: &RecordGroup,
        batch: ChangeBatch,
        target: &Weights,
    ) -> std::result::Result<Written, WriteError> {
        let res = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&basis.zone_id)
            .change_batch(batch)
            .send()
            .await
            .aws("ChangeResourceRecordSets");
        let err = match res {
            Ok(o) => {
                let info = o.change_info.ok_or_else(|| {
                    Error::Internal("ChangeResourceRecordSets returned no ChangeInfo".into())
                })?;
                return Ok(Written::Sent(info.id));
            }
            // Route 53 answers a DELETE that does not match with InvalidChangeBatch
            // in a standard ErrorResponse; every other failure (5xx or a timeout
            // after the SDK's retries: did it go through?) is read back the same way.
            Err(e) => e,
        };
        let live = match self
            .read_group(&basis.zone_id, &basis.name, Some(&basis.rtype))
            .await
        {
            Ok(live) => live,
            Err(read_err) => {
                return Err(WriteError::Failed(Error::Aws(common::AwsError {
                    message: format!(
                        "{} (and the record could not be read back: {read_err})",
                        err.message
                    ),
                    ..err
                })));
            }
        };
        if &live.weights() == target {
            return Ok(Written::AlreadyLive);
        }
        if live.same_sets(basis) {
            return Err(WriteError::Unchanged(err.into()));
        }
        Err(WriteError::Conflict(Box::new(live)))
    }

    /// Polls GetChange (adaptive intervals from `common::poll_until`) until INSYNC.
    /// Throttling slows the polls down; other transient failures (5xx, reset,
    /// lost answer) are looked at again by `poll_until`, a few times in a row.
    pub async fn wait_insync(
        &self,
        out: &Output,
        change_id: &str,
        timeout: Duration,
        reattach: &str,
    ) -> Result<()> {
        let opts = WaitOptions::new(format!("change {change_id} to be INSYNC"), timeout)
            .reattach(reattach.to_owned());
        // A GetChange that failed after the SDK's own attempts is looked past by
        // poll_until (common::wait::READ_RETRIES in a row): the change was accepted.
        poll_until(out, &opts, || async {
            let o = self
                .client
                .get_change()
                .id(change_id)
                .send()
                .await
                .aws("GetChange")?;
            let info = o
                .change_info
                .ok_or_else(|| Error::Internal("GetChange returned no ChangeInfo".into()))?;
            Ok(match info.status {
                ChangeStatus::Insync => Poll::Done(()),
                other => Poll::Pending(other.to_string()),
            })
        })
        .await
    }

    /// A health check's status as Route 53's checkers see it.
    pub async fn health(&self, health_check_id: &str) -> Result<Health> {
        let o = self
            .client
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send()
            .await
            .aws("GetHealthCheckStatus")?;
        let statuses: Vec<String> = o
            .health_check_observations
            .iter()
            .map(|obs| {
                obs.status_report
                    .as_ref()
                    .and_then(|r| r.status.clone())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Health::from_statuses(&statuses))
    }
}

/// A health check summarised: Route 53 considers an endpoint healthy when more
/// than 18 % of its checkers report success.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub healthy: bool,
    pub checkers_reporting_success: usize,
    pub checkers: usize,
}

impl Health {
    pub fn from_statuses(statuses: &[String]) -> Health {
        let checkers = statuses.len();
        let ok = statuses
            .iter()
            .filter(|s| s.trim_start().starts_with("Success"))
            .count();
        let healthy = checkers > 0 && ok * 100 > 18 * checkers;
        Health {
            status: if checkers == 0 {
                "unknown"
            } else if healthy {
                "healthy"
            } else {
                "unhealthy"
            },
            healthy,
            checkers_reporting_success: ok,
            checkers,
        }
    }
}

impl RecordGroup {
    pub fn weights(&self) -> Weights {
        self.sets
            .iter()
            .filter_map(|r| {
                Some((
                    r.set_identifier.clone()?,
                    u32::try_from(r.weight?).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    pub fn set(&self, id: &str) -> Option<&ResourceRecordSet> {
        self.sets
            .iter()
            .find(|r| r.set_identifier.as_deref() == Some(id))
    }

    /// The journal target: `route53:ZONE/NAME/TYPE`.
    pub fn target(&self) -> String {
        journal_target(&self.zone_id, &self.name, &self.rtype)
    }

    /// The same group with new weights (records otherwise exactly as listed).
    pub fn with_weights(&self, weights: &Weights) -> RecordGroup {
        let mut g = self.clone();
        for r in &mut g.sets {
            if let Some(w) = r.set_identifier.as_ref().and_then(|id| weights.get(id)) {
                r.weight = Some(i64::from(*w));
            }
        }
        g
    }

    /// The conditional change to `weights`, or `None` when no weight differs:
    /// for every set whose weight changes, a DELETE of the set exactly as listed
    /// (name, type, SetIdentifier, weight, TTL, values or AliasTarget,
    /// HealthCheckId), then a CREATE of the same set with its new weight. Route
    /// 53 applies a batch all or nothing, so when any of those sets changed since
    /// the read, nothing is written. (Sets whose weight stays are left out: moto
    /// refuses a CREATE identical to an earlier one in the zone, which a
    /// precondition on an unchanged set would send at every step.)
    pub fn change_batch(&self, weights: &Weights, comment: &str) -> Option<ChangeBatch> {
        let changed = weights::changed_sets(&self.weights(), weights);
        self.batch_for(&changed, weights, comment)
    }

    /// Like [`RecordGroup::change_batch`] for every set, also when no weight
    /// differs (a revert writes the whole group back to the start).
    pub fn full_batch(&self, weights: &Weights, comment: &str) -> Option<ChangeBatch> {
        let all: Vec<String> = self.weights().keys().cloned().collect();
        self.batch_for(&all, weights, comment)
    }

    fn batch_for(&self, ids: &[String], weights: &Weights, comment: &str) -> Option<ChangeBatch> {
        let target = self.with_weights(weights);
        let change = |action: ChangeAction, r: &ResourceRecordSet| {
            Change::builder()
                .action(action)
                .resource_record_set(r.clone())
                .build()
                .expect("action and record set are set")
        };
        let changes: Vec<Change> = self
            .sets
            .iter()
            .zip(&target.sets)
            .filter(|(old, _)| {
                old.set_identifier
                    .as_ref()
                    .is_some_and(|id| ids.contains(id))
            })
            .flat_map(|(old, new)| {
                [
                    change(ChangeAction::Delete, old),
                    change(ChangeAction::Create, new),
                ]
            })
            .collect();
        if changes.is_empty() {
            return None;
        }
        Some(
            ChangeBatch::builder()
                .comment(comment)
                .set_changes(Some(changes))
                .build()
                .expect("changes are set"),
        )
    }

    /// True when both hold the same record sets, field for field (in any order).
    pub fn same_sets(&self, other: &RecordGroup) -> bool {
        let sorted = |g: &RecordGroup| {
            let mut v = g.sets.clone();
            v.sort_by(|a, b| a.set_identifier.cmp(&b.set_identifier));
            v
        };
        sorted(self) == sorted(other)
    }

    /// What the journal records: the record and its full record sets.
    pub fn state_json(&self) -> Value {
        json!({
            "zone_id": self.zone_id,
            "record": self.name,
            "type": self.rtype.as_str(),
            "weights": self.weights(),
            "record_sets": self.sets.iter().map(rrset_json).collect::<Vec<_>>(),
        })
    }
}

pub fn journal_target(zone_id: &str, name: &str, rtype: &RrType) -> String {
    format!("route53:{zone_id}/{name}/{}", rtype.as_str())
}

/// A ChangeBatch in the API's own shape, for `--dry-run` and the journal.
pub fn batch_json(zone_id: &str, batch: &ChangeBatch) -> Value {
    json!({
        "HostedZoneId": zone_id,
        "ChangeBatch": {
            "Comment": batch.comment,
            "Changes": batch.changes.iter().map(|c| json!({
                "Action": c.action.as_str(),
                "ResourceRecordSet": c.resource_record_set.as_ref().map(rrset_json),
            })).collect::<Vec<_>>(),
        }
    })
}

/// A record set in the API's own field names.
pub fn rrset_json(r: &ResourceRecordSet) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("Name".into(), json!(r.name));
    m.insert("Type".into(), json!(r.r#type.as_str()));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("SetIdentifier", r.set_identifier.as_ref().map(|v| json!(v)));
    put("Weight", r.weight.map(|v| json!(v)));
    put("Region", r.region.as_ref().map(|v| json!(v.as_str())));
    put("Failover", r.failover.as_ref().map(|v| json!(v.as_str())));
    put("MultiValueAnswer", r.multi_value_answer.map(|v| json!(v)));
    put("TTL", r.ttl.map(|v| json!(v)));
    put(
        "ResourceRecords",
        r.resource_records.as_ref().map(|rs| {
            json!(
                rs.iter()
                    .map(|x| json!({"Value": x.value}))
                    .collect::<Vec<_>>()
            )
        }),
    );
    put(
        "AliasTarget",
        r.alias_target.as_ref().map(|a| {
            json!({
                "HostedZoneId": a.hosted_zone_id,
                "DNSName": a.dns_name,
                "EvaluateTargetHealth": a.evaluate_target_health,
            })
        }),
    );
    put(
        "HealthCheckId",
        r.health_check_id.as_ref().map(|v| json!(v)),
    );
    put(
        "TrafficPolicyInstanceId",
        r.traffic_policy_instance_id.as_ref().map(|v| json!(v)),
    );
    Value::Object(m)
}

/// What a record set points at, for people: its values or its alias target.
pub fn describe_target(r: &ResourceRecordSet) -> String {
    if let Some(a) = &r.alias_target {
        return format!("alias {}", a.dns_name);
    }
    r.resource_records
        .as_ref()
        .map(|rs| {
            rs.iter()
                .map(|x| x.value.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

enum ZoneArg {
    Id(String),
    Name(String),
}

/// A zone argument with a dot is a domain name; otherwise a zone id (with or
/// without the `/hostedzone/` prefix).
fn parse_zone_arg(zone: &str) -> Result<ZoneArg> {
    let z = zone.trim();
    if z.is_empty() {
        return Err(Error::usage("--zone is empty"));
    }
    if z.contains('.') {
        return validate_dns_name("--zone", z).map(ZoneArg::Name);
    }
    let id = strip_zone_prefix(z);
    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::usage(format!(
            "--zone {} is neither a hosted zone id (Z0123ABC) nor a domain name (example.com)",
            crate::quoted(zone)
        )));
    }
    Ok(ZoneArg::Id(id))
}

/// Validates the zone argument without calling AWS.
pub fn validate_zone_arg(zone: &str) -> Result<()> {
    parse_zone_arg(zone).map(|_| ())
}

fn strip_zone_prefix(id: &str) -> String {
    id.trim()
        .trim_start_matches("/hostedzone/")
        .trim_start_matches("hostedzone/")
        .to_owned()
}

/// A DNS name as compared here: lower case, octal escapes (`\052` for `*`)
/// decoded, with the trailing dot.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let chars: Vec<char> = name.trim().chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\'
            && i + 3 < chars.len()
            && chars[i + 1..=i + 3].iter().all(|d| ('0'..='7').contains(d))
        {
            let code = chars[i + 1..=i + 3]
                .iter()
                .fold(0u32, |acc, d| acc * 8 + (*d as u32 - '0' as u32));
            if let Some(decoded) = char::from_u32(code) {
                out.push(decoded);
                i += 4;
                continue;
            }
        }
        out.push(c.to_ascii_lowercase());
        i += 1;
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Checks a `--record` name before any call and returns it normalised.
pub fn validate_record_name(name: &str) -> Result<String> {
    validate_dns_name("--record", name)
}

/// The longest DNS name (with its final dot) and label Route 53 accepts.
pub const MAX_NAME: usize = 255;
pub const MAX_LABEL: usize = 63;

/// Checks a DNS name given to `flag` before any call (no empty label as in
/// `example..test`, labels of at most 63 characters, at most 255 in all,
/// printable ASCII only: Route 53 takes other names in punycode) and returns
/// it normalised (see [`normalize_name`]).
pub fn validate_dns_name(flag: &str, raw: &str) -> Result<String> {
    let t = raw.trim();
    if t.is_empty() || t == "." {
        return Err(Error::usage(format!("{flag} is empty")));
    }
    let bad = |why: String| {
        Err(Error::usage(format!(
            "{flag} {}: {why}",
            crate::quoted(raw)
        )))
    };
    if let Some(c) = t.chars().find(|c| c.is_control() || c.is_whitespace()) {
        return bad(format!(
            "a DNS name cannot contain {}",
            if c.is_control() {
                format!("the control character {:?}", c)
            } else {
                "spaces".to_owned()
            }
        ));
    }
    if !t.is_ascii() {
        return bad("not ASCII; give an internationalised name in punycode (xn--...)".into());
    }
    if t.len() > 4 * MAX_NAME {
        return bad(format!("longer than {MAX_NAME} characters"));
    }
    let name = normalize_name(t);
    if name.len() > MAX_NAME {
        return bad(format!(
            "{} characters, at most {MAX_NAME} (with the final dot) are allowed",
            name.len()
        ));
    }
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() {
            return bad("has an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.len() > MAX_LABEL {
            return bad(format!(
                "label {} has {} characters, at most {MAX_LABEL} are allowed",
                crate::quoted(label),
                label.len()
            ));
        }
        // An escape such as \052 may decode to a control character.
        if let Some(c) = label.chars().find(|c| !c.is_ascii_graphic()) {
            return bad(format!("a DNS name cannot contain {c:?}"));
        }
    }
    Ok(name)
}

/// Parses `--type` (A, AAAA, CNAME ...).
pub fn parse_type(raw: &str) -> Result<RrType> {
    let up = raw.trim().to_ascii_uppercase();
    if !RrType::values().contains(&up.as_str()) {
        return Err(Error::usage(format!(
            "--type {} is not a Route 53 record type (A, AAAA, CNAME, MX, TXT ...)",
            crate::quoted(raw)
        )));
    }
    Ok(RrType::from(up.as_str()))
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::types::{AliasTarget, ResourceRecord};

    use super::*;

    #[test]
    fn names_are_normalised() {
        assert_eq!(normalize_name("WWW.Example.com"), "www.example.com.");
        assert_eq!(normalize_name("www.example.com."), "www.example.com.");
        assert_eq!(normalize_name("\\052.example.com."), "*.example.com.");
        assert_eq!(
            validate_record_name("www.example.com").unwrap(),
            "www.example.com."
        );
        assert!(validate_record_name("").is_err());
        assert!(validate_record_name("a..b").is_err());
        assert!(validate_record_name("a b.com").is_err());
    }

    #[test]
    fn dns_names_are_checked_before_any_call() {
        let l63 = "a".repeat(63);
        let ok = format!("{l63}.example.com");
        assert_eq!(validate_record_name(&ok).unwrap(), format!("{ok}."));
        let long_label = format!("{}.example.com", "a".repeat(64));
        let e = validate_record_name(&long_label).unwrap_err().to_string();
        assert!(e.contains("at most 63"), "{e}");
        // 4 x 63 + 4 dots = 256 with the final dot: one too many.
        let long_name = format!("{l63}.{l63}.{l63}.{l63}");
        let e = validate_record_name(&long_name).unwrap_err().to_string();
        assert!(e.contains("at most 255"), "{e}");
        let e = validate_record_name("example..test")
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty label"), "{e}");
        let e = validate_record_name("www.exa\u{7}mple.com")
            .unwrap_err()
            .to_string();
        assert!(e.contains("control character"), "{e}");
        let e = validate_record_name("\\007.example.com")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot contain"), "{e}");
        assert!(validate_record_name("www.bücher.example").is_err());
        assert!(validate_record_name("*.example.com").is_ok());
        assert!(validate_record_name("_dmarc.example.com").is_ok());
        // A 100 kB argument is quoted short.
        let huge = "a".repeat(100_000);
        let e = parse_zone_arg(&format!("{huge}.com"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.len() < 300, "{} characters", e.len());
        assert!(e.contains("100004 characters"), "{e}");
        let e = parse_zone_arg(&huge).err().unwrap().to_string();
        assert!(e.len() < 300, "{} characters", e.len());
    }

    #[test]
    fn zone_argument_is_an_id_or_a_name() {
        assert!(matches!(parse_zone_arg("Z123ABC").unwrap(), ZoneArg::Id(id) if id == "Z123ABC"));
        assert!(
            matches!(parse_zone_arg("/hostedzone/Z123ABC").unwrap(), ZoneArg::Id(id) if id == "Z123ABC")
        );
        assert!(
            matches!(parse_zone_arg("Example.com").unwrap(), ZoneArg::Name(n) if n == "example.com.")
        );
        assert!(parse_zone_arg("not a zone").is_err());
        assert!(parse_zone_arg("").is_err());
    }

    #[test]
    fn types_parse() {
        assert_eq!(parse_type("cname").unwrap(), RrType::Cname);
        assert!(parse_type("BOGUS").is_err());
    }

    #[test]
    fn health_needs_more_than_18_percent_success() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(Health::from_statuses(&s(&["Success: HTTP 200"])).healthy);
        assert!(!Health::from_statuses(&s(&["Failure: timeout"])).healthy);
        let five = s(&["Success", "Failure", "Failure", "Failure", "Failure"]);
        assert!(Health::from_statuses(&five).healthy); // 20 % > 18 %
        let six = s(&[
            "Success", "Failure", "Failure", "Failure", "Failure", "Failure",
        ]);
        assert!(!Health::from_statuses(&six).healthy); // 16.7 %
        let none = Health::from_statuses(&[]);
        assert!(!none.healthy);
        assert_eq!(none.status, "unknown");
    }

    fn group() -> RecordGroup {
        let cname = |id: &str, w: i64, v: &str| {
            ResourceRecordSet::builder()
                .name("www.example.com.")
                .r#type(RrType::Cname)
                .set_identifier(id)
                .weight(w)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(v).build().unwrap())
                .health_check_id(format!("hc-{id}"))
                .build()
                .unwrap()
        };
        RecordGroup {
            zone_id: "Z1".into(),
            name: "www.example.com.".into(),
            rtype: RrType::Cname,
            sets: vec![
                cname("blue", 100, "blue.example.net"),
                cname("green", 0, "green.example.net"),
                ResourceRecordSet::builder()
                    .name("www.example.com.")
                    .r#type(RrType::Cname)
                    .set_identifier("maintenance")
                    .weight(0)
                    .alias_target(
                        AliasTarget::builder()
                            .hosted_zone_id("Z2FDTNDATAQYW2")
                            .dns_name("d111.cloudfront.net.")
                            .evaluate_target_health(false)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            ],
        }
    }

    #[test]
    fn change_batch_deletes_every_set_as_read_and_creates_it_with_its_weight() {
        let g = group();
        let mut w = g.weights();
        w.insert("blue".into(), 90);
        w.insert("green".into(), 10);
        let batch = g.change_batch(&w, "shift").unwrap();
        // The two sets whose weight changes (maintenance stays 0).
        assert_eq!(batch.changes.len(), 4);
        for pair in batch.changes.chunks(2) {
            assert_eq!(pair[0].action, ChangeAction::Delete);
            assert_eq!(pair[1].action, ChangeAction::Create);
            let old = pair[0].resource_record_set.as_ref().unwrap();
            let new = pair[1].resource_record_set.as_ref().unwrap();
            let id = old.set_identifier.as_deref().unwrap();
            // The DELETE is the listed record exactly (all fields).
            assert_eq!(old, g.set(id).unwrap());
            // The CREATE differs from it in the weight only.
            let mut expected = old.clone();
            expected.weight = Some(i64::from(w[id]));
            assert_eq!(new, &expected);
        }
        let j = batch_json("Z1", &batch);
        assert_eq!(j["ChangeBatch"]["Changes"][0]["Action"], "DELETE");
        assert_eq!(
            j["ChangeBatch"]["Changes"][0]["ResourceRecordSet"]["Weight"],
            100
        );
        assert_eq!(j["ChangeBatch"]["Changes"][1]["Action"], "CREATE");
        assert_eq!(
            j["ChangeBatch"]["Changes"][1]["ResourceRecordSet"]["Weight"],
            90
        );
        assert_eq!(
            j["ChangeBatch"]["Changes"][1]["ResourceRecordSet"]["TTL"],
            60
        );
        assert_eq!(
            j["ChangeBatch"]["Changes"][1]["ResourceRecordSet"]["HealthCheckId"],
            "hc-blue"
        );
        assert!(g.change_batch(&g.weights(), "none").is_none());
        assert_eq!(
            g.full_batch(&g.weights(), "revert").unwrap().changes.len(),
            6
        );
        assert!(g.same_sets(&g.with_weights(&g.weights())));
        assert!(!g.same_sets(&g.with_weights(&w)));
    }

    #[test]
    fn alias_records_keep_their_target() {
        let g = group();
        let j = rrset_json(g.set("maintenance").unwrap());
        assert_eq!(j["AliasTarget"]["DNSName"], "d111.cloudfront.net.");
        assert!(j.get("TTL").is_none());
        assert_eq!(
            describe_target(g.set("maintenance").unwrap()),
            "alias d111.cloudfront.net."
        );
        assert_eq!(g.target(), "route53:Z1/www.example.com./CNAME");
    }
}
