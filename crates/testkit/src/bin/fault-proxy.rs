//! fault-proxy: the test-only fault-injecting proxy in front of the emulator,
//! for scripts (`scripts/chaos`). Prints its address on stdout's first line,
//! serves until SIGTERM/SIGINT, then writes its counts to `--stats`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use testkit::fault_proxy::{self, Config, Fault, FaultProxy};

#[derive(Debug, Parser)]
#[command(
    name = "fault-proxy",
    about = "Fault-injecting HTTP proxy in front of the local emulator (127.0.0.1 only; test use only)"
)]
struct Cli {
    /// The emulator, http://127.0.0.1:PORT (or http://localhost:PORT).
    #[arg(long, value_parser = fault_proxy::parse_upstream)]
    upstream: SocketAddr,
    /// Where to listen; must be 127.0.0.1 (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seed of the fault choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probability (0-1) that an eligible request gets a fault.
    #[arg(long, default_value_t = 0.3)]
    fault_rate: f64,
    /// Fault kinds to draw from (comma-separated): throttle, unavailable, reset, lost_response.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "throttle,unavailable,reset,lost_response"
    )]
    faults: Vec<Fault>,
    /// Delay every request by a duration drawn from LOW-HIGH, e.g. 20ms-200ms.
    #[arg(long, value_parser = fault_proxy::parse_latency)]
    latency: Option<(std::time::Duration, std::time::Duration)>,
    /// Only mutating calls (not GET/HEAD, not Describe*/List*/Get*) get faults.
    #[arg(long)]
    only_mutating: bool,
    /// Inject at most this many faults, then forward everything.
    #[arg(long)]
    max_faults: Option<u64>,
    /// Write the counts (JSON) here on exit.
    #[arg(long)]
    stats: Option<PathBuf>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !(0.0..=1.0).contains(&cli.fault_rate) {
        eprintln!(
            "fault-proxy: --fault-rate must be 0-1, got {}",
            cli.fault_rate
        );
        return ExitCode::from(2);
    }
    let config = Config {
        seed: cli.seed,
        fault_rate: cli.fault_rate,
        faults: cli.faults.clone(),
        latency: cli.latency,
        only_mutating: cli.only_mutating,
        max_faults: cli.max_faults,
    };
    let proxy = match FaultProxy::start(cli.upstream, cli.listen, config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fault-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", proxy.url());
        let _ = out.flush();
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fault-proxy: cannot watch SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let mut stats = proxy.stats().to_json();
    stats["seed"] = cli.seed.into();
    stats["fault_rate"] = cli.fault_rate.into();
    proxy.shutdown().await;
    if let Some(path) = cli.stats
        && let Err(e) = std::fs::write(&path, format!("{stats:#}\n"))
    {
        eprintln!("fault-proxy: cannot write {}: {e}", path.display());
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
