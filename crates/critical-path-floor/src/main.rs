//! The bench's yardstick for issue 22: the fastest deploy of an assembly that
//! any client could make through the same endpoint. It makes only the calls the
//! critical-path bound counts (each file asset's PutObject up front and in
//! parallel; per stack one CreateStack with the template inline, then
//! DescribeStacks until it completes), schedules by the dependency graph as
//! stack-deploy does, and knows the account and region instead of asking. No
//! role, no bootstrap check, no listing, no journal, no events: none of the
//! guarantees, so its wall time is a floor, not a tool.
//!
//! Usage (emulator environment exported; `scripts/bench.d/stack-deploy` runs it):
//!   critical-path-floor ASSEMBLY_DIR [ACCOUNT]
//! Prints one JSON line: wall time in ms and the calls made.
//!   critical-path-floor spread ASSEMBLY_DIR LOW_MS HIGH_MS [RUNS]
//! Prints the same calls' expected wall time under a latency spread (spread.rs).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use aws_sdk_cloudformation::types::{Capability, StackStatus};
use futures::FutureExt;
use stack_deploy::graph::Graph;
use stack_deploy::manifest::Assembly;

mod spread;

/// Templates go inline; every other file asset is uploaded.
fn uploaded(a: &stack_deploy::manifest::FileAsset) -> bool {
    !a.source.to_string_lossy().ends_with(".template.json")
}

#[tokio::main]
async fn main() -> Result<()> {
    let started = Instant::now();
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "spread") {
        return spread::run(args.skip(1));
    }
    let app = PathBuf::from(
        args.next()
            .context("usage: critical-path-floor ASSEMBLY_DIR [ACCOUNT]")?,
    );
    let account = args.next().unwrap_or_else(|| "123456789012".into());

    let aws = common::AwsArgs::default().load().await?;
    let region = aws.region();
    let cfn = aws_sdk_cloudformation::Client::new(&aws.config);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws.config)
            .force_path_style(aws.endpoint_overridden)
            .build(),
    );
    let assembly = Assembly::load(&app)?;
    let ids: Vec<String> = assembly.stacks.iter().map(|s| s.id.clone()).collect();
    let graph = Graph::build(&assembly, &ids)?;
    let calls = AtomicU32::new(0);
    let place = |s: &str| {
        s.replace("${AWS::AccountId}", &account)
            .replace("${AWS::Region}", &region)
    };

    // Every file asset (not the templates, which go inline) at once, shared by
    // the stacks that need them.
    let uploads = futures::future::try_join_all(
        assembly
            .stacks
            .iter()
            .flat_map(|s| &s.file_assets)
            .filter(|a| uploaded(a))
            .map(|a| {
                let (s3, calls) = (&s3, &calls);
                let (bucket, key) = (place(&a.bucket), place(&a.key));
                async move {
                    if a.zip {
                        bail!(
                            "zip assets are not part of this yardstick ({})",
                            a.display_name
                        );
                    }
                    let body = aws_sdk_s3::primitives::ByteStream::from_path(&a.source).await?;
                    calls.fetch_add(1, Ordering::Relaxed);
                    s3.put_object()
                        .bucket(bucket)
                        .key(key)
                        .body(body)
                        .send()
                        .await?;
                    Ok(())
                }
            }),
    )
    .map(|r| r.map(|_| ()).map_err(|e| e.to_string()))
    .shared();

    let by_id: HashMap<&str, _> = assembly.stacks.iter().map(|s| (s.id.as_str(), s)).collect();
    let outcomes = stack_deploy::scheduler::run(&graph, 64, |id| {
        let (cfn, calls, uploads, art) = (&cfn, &calls, uploads.clone(), by_id[id.as_str()]);
        async move {
            let done = async {
                if art.file_assets.iter().any(uploaded) {
                    uploads.await.map_err(anyhow::Error::msg)?;
                }
                calls.fetch_add(1, Ordering::Relaxed);
                cfn.create_stack()
                    .stack_name(&art.stack_name)
                    .template_body(&art.template)
                    .capabilities(Capability::CapabilityIam)
                    .capabilities(Capability::CapabilityNamedIam)
                    .capabilities(Capability::CapabilityAutoExpand)
                    .send()
                    .await?;
                loop {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let d = cfn
                        .describe_stacks()
                        .stack_name(&art.stack_name)
                        .send()
                        .await?;
                    let status = d
                        .stacks()
                        .first()
                        .and_then(|s| s.stack_status())
                        .cloned()
                        .context("no stack in the answer")?;
                    match status {
                        StackStatus::CreateComplete => return Ok(()),
                        s if s.as_str().ends_with("_IN_PROGRESS") => {
                            tokio::time::sleep(Duration::from_millis(20)).await
                        }
                        s => bail!("{} ended {}", art.stack_name, s.as_str()),
                    }
                }
            };
            let r: Result<()> = done.await;
            let ok = r.is_ok();
            (r, ok)
        }
    })
    .await;
    for (id, r) in &outcomes {
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => bail!("{id}: {e:#}"),
            None => bail!("{id}: not started"),
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "wall_ms": started.elapsed().as_millis() as u64,
            "calls": calls.load(Ordering::Relaxed),
            "stacks": outcomes.len(),
        })
    );
    Ok(())
}
