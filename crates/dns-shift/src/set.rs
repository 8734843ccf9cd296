//! `dns-shift set`: change the weights of named sets in one ChangeBatch.

use std::collections::BTreeSet;

use common::{Context, Error, Result};

use crate::RecordArgs;
use crate::apply::{change_and_report, check_known_sets, open};
use crate::args::InsyncTimeout;
use crate::weights::{self, parse_weight_arg};

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub record: RecordArgs,

    /// New weight of a set, SET_ID=WEIGHT (0-255); repeat for several sets.
    #[arg(
        long = "weight",
        value_name = "ID=W",
        required = true,
        allow_hyphen_values = true
    )]
    pub weights: Vec<String>,

    /// Allow every weight to be 0 (Route 53 then answers with all sets equally).
    #[arg(long)]
    pub allow_zero_total: bool,

    #[command(flatten)]
    pub insync: InsyncTimeout,
}

pub async fn run(ctx: &Context, args: &SetArgs) -> Result<()> {
    let spec = args.record.validate()?;
    let mut pairs = Vec::new();
    let mut seen = BTreeSet::new();
    for raw in &args.weights {
        let (id, w) = parse_weight_arg(raw).map_err(Error::usage)?;
        if !seen.insert(id.clone()) {
            return Err(Error::usage(format!(
                "--weight {} is given twice",
                crate::quoted(&id)
            )));
        }
        pairs.push((id, w));
    }
    let timeout = args.insync.parse()?;

    let (r53, group) = open(ctx, &spec).await?;
    check_known_sets(&group, pairs.iter().map(|(id, _)| id))?;
    let mut new = group.weights();
    for (id, w) in pairs {
        new.insert(id, w);
    }
    if weights::total(&new) == 0 && !args.allow_zero_total {
        return Err(Error::usage(
            "every weight would be 0 (Route 53 would then answer with all sets equally); pass --allow-zero-total if that is meant",
        ));
    }
    change_and_report(
        ctx,
        &r53,
        &group,
        &new,
        "set-weights",
        &format!(
            "set weights on {} to {}",
            group.name,
            weights::describe(&new)
        ),
        timeout,
        None,
    )
    .await
}
