//! Secrets in gate commands never reach the journal, the state folder, stdout
//! or stderr (common::redact): a shift whose gate commands carry an
//! Authorization header, an API key and URL user info, with a reason quoting
//! an environment secret (API_TOKEN), fails its gate after step 1, reverts,
//! and every byte it wrote is searched for each secret in raw, URL-encoded,
//! JSON-escaped and base64 forms. (What a gate command prints itself is passed
//! through to stderr by common::gate unfiltered; not covered here.)
#![allow(clippy::unwrap_used)] // test helpers: a failed fixture call should panic

use std::path::Path;
use std::process::{Command, Output, Stdio};

use testkit::{Emulator, EmulatorGuard};

const BEARER: &str = "XYZbearer7Tq2";
const API_KEY: &str = "k3y-Api/9+x";
const URL_PASS: &str = "pw4Url-secret";
/// From the environment (API_TOKEN): a quote, a slash, a plus and a space, so
/// each encoded form differs from the raw one.
const ENV_SECRET: &str = "Zq9\"sec/ret+val 1";

fn aws(emu: &EmulatorGuard, args: &[&str]) -> serde_json::Value {
    testkit::aws_cli(emu, args)
}

fn seed(emu: &EmulatorGuard) {
    let z = aws(
        emu,
        &[
            "route53",
            "create-hosted-zone",
            "--name",
            "example.com",
            "--caller-reference",
            "redaction",
        ],
    );
    let zone = z["HostedZone"]["Id"].as_str().unwrap().to_owned();
    let set = |id: &str, w: i64, v: &str| {
        serde_json::json!({"Action": "CREATE", "ResourceRecordSet": {
            "Name": "www.example.com.", "Type": "CNAME", "SetIdentifier": id, "Weight": w,
            "TTL": 60, "ResourceRecords": [{"Value": v}]}})
    };
    let batch = serde_json::json!({"Changes": [set("blue", 100, "blue.example.net"), set("green", 0, "green.example.net")]});
    aws(
        emu,
        &[
            "route53",
            "change-resource-record-sets",
            "--hosted-zone-id",
            &zone,
            "--change-batch",
            &batch.to_string(),
        ],
    );
}

/// Every form a secret may be written in.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].to_owned();
    let url: String = secret
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let b64 = {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut s = String::new();
        for c in secret.as_bytes().chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                s.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        s
    };
    vec![secret.to_owned(), url, json, b64]
}

fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

fn hits(written: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in [BEARER, API_KEY, URL_PASS, ENV_SECRET] {
        for form in forms(secret) {
            for (name, bytes) in written {
                if String::from_utf8_lossy(bytes).contains(&form) {
                    found.push(format!("{form:?} (of {secret:?}) in {name}"));
                }
            }
        }
    }
    found
}

fn shift(emu: &EmulatorGuard, mark: &Path, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dns-shift"));
    emu.configure(&mut cmd);
    // Passes before step 1 (the pre-check), fails after it: the shift moves
    // traffic, reverts and journals the gate results (exit 6).
    let gate_bearer = format!(
        r#"curl -H "Authorization: Bearer {BEARER}" 2>/dev/null; if [ -e "$MARK" ]; then exit 1; fi; touch "$MARK""#
    );
    let gate_key = format!("true 'X-Api-Key: {API_KEY}' https://ops:{URL_PASS}@gate.invalid/ok");
    let reason = format!("rotating {ENV_SECRET}");
    cmd.env("API_TOKEN", ENV_SECRET)
        .env("MARK", mark)
        .args([
            "shift",
            "--zone",
            "example.com",
            "--record",
            "www.example.com",
            "--to",
            "green",
            "--steps",
            "50,100",
            "--bake",
            "0s",
            "--gate-cmd",
            &gate_bearer,
            "--gate-cmd",
            &gate_key,
            "--reason",
            &reason,
            "--yes",
        ])
        .args(extra)
        .stdin(Stdio::null());
    cmd.output().unwrap()
}

#[test]
fn gate_command_secrets_are_in_no_byte_written() {
    for (extra, output) in [
        (&[][..], "json"),
        (&["-vv"][..], "json"),
        (&["-v"][..], "text"),
    ] {
        let emu = Emulator::shared();
        seed(&emu);
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--output", output]);
        let marks = tempfile::tempdir().unwrap();
        let out = shift(&emu, &marks.path().join("gate-ran"), &args);
        // The gate fails after step 1, so the shift reverts: exit 6.
        assert_eq!(
            out.status.code(),
            Some(6),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = emu.journal_path().parent().unwrap().to_path_buf();
        let mut written = vec![
            ("stdout".to_owned(), out.stdout.clone()),
            ("stderr".to_owned(), out.stderr.clone()),
        ];
        all_files(&dir, &mut written);
        let journal = std::fs::read_to_string(emu.journal_path()).unwrap();
        // The gate commands are journaled, masked.
        assert!(journal.contains("Bearer ***"), "{journal}");
        let found = hits(&written);
        assert!(
            found.is_empty(),
            "{extra:?} {output}: secrets written:\n{}",
            found.join("\n")
        );
    }
}
