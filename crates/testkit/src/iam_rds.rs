//! The RDS world of the IAM matrices (db-snapshot): postgres instances and
//! their manual snapshots. Seeded with the AWS CLI while the enforcing
//! emulator is open.

use crate::iam::EnforcingGuard;

impl EnforcingGuard {
    /// A postgres instance `id` (db.t3.micro, 20 GiB).
    pub fn rds_instance(&self, id: &str) {
        self.aws(&[
            "rds",
            "create-db-instance",
            "--db-instance-identifier",
            id,
            "--engine",
            "postgres",
            "--db-instance-class",
            "db.t3.micro",
            "--master-username",
            "admin",
            "--master-user-password",
            "not-a-secret-1",
            "--allocated-storage",
            "20",
        ]);
    }

    /// A manual snapshot `id` of `instance`.
    pub fn rds_snapshot(&self, instance: &str, id: &str) {
        self.aws(&[
            "rds",
            "create-db-snapshot",
            "--db-instance-identifier",
            instance,
            "--db-snapshot-identifier",
            id,
        ]);
    }

    /// The manual snapshots' identifiers, sorted.
    pub fn manual_snapshots(&self) -> Vec<String> {
        let v = self.aws(&["rds", "describe-db-snapshots", "--snapshot-type", "manual"]);
        sorted_ids(&v["DBSnapshots"], "DBSnapshotIdentifier")
    }

    /// The instances' identifiers, sorted.
    pub fn db_instances(&self) -> Vec<String> {
        let v = self.aws(&["rds", "describe-db-instances"]);
        sorted_ids(&v["DBInstances"], "DBInstanceIdentifier")
    }
}

fn sorted_ids(list: &serde_json::Value, field: &str) -> Vec<String> {
    let mut out: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
