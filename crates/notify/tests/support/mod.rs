//! What notify's test files (cli.rs, iam_notify.rs) share. Each uses only
//! part of it.
#![allow(dead_code)]

pub mod hook;
