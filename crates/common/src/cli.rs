//! The flags every binary shares, the per-invocation [`Context`], and the
//! `main` wrapper that turns errors into documented exit codes.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use tokio::sync::OnceCell;

use crate::aws::{AwsArgs, AwsContext};
use crate::cancel::Cancel;
use crate::error::{Error, Result, exit_code_of};
use crate::guard::Safety;
use crate::journal::{Journal, JournalContext, local_user, redact_args};
use crate::output::{ColorChoice, Output, OutputFormat};

/// Flags accepted by every binary and subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Output format: auto is text on a terminal, JSON when piped.
    #[arg(long, global = true, value_enum, default_value_t, env = "LTC_OUTPUT")]
    pub output: OutputFormat,

    /// Print only the result and errors, no progress.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More detail on stderr (-v, -vv); RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Colour on stderr: auto (only on a terminal, and not when NO_COLOR is
    /// set), always or never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "LTC_COLOR",
        value_name = "WHEN"
    )]
    pub color: ColorChoice,

    /// Also append every progress line, warning, event and the final error as
    /// a JSON line {ts, level, message} to FILE (created 0600), e.g. for CI logs.
    #[arg(long, global = true, env = "LTC_EVENTS", value_name = "FILE")]
    pub events: Option<PathBuf>,

    /// Environment name; `prod` makes every change ask for confirmation.
    #[arg(long = "env", global = true, env = "LTC_ENV", value_name = "NAME")]
    pub env_name: Option<String>,

    /// Do not ask for confirmation, even in production.
    #[arg(long, global = true)]
    pub yes: bool,

    /// Show exactly what would change, change nothing (reads still happen).
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Change journal (JSON lines) [default: ~/.local/state/ltc/journal.jsonl].
    #[arg(long, global = true, env = "LTC_JOURNAL", value_name = "FILE")]
    pub journal: Option<PathBuf>,

    /// Shared state (run lock, journal, run records): s3://BUCKET/PREFIX for a
    /// team, or a folder [default: a `state` folder beside the journal].
    #[arg(long, global = true, env = "LTC_STATE", value_name = "S3URL|DIR")]
    pub state: Option<String>,

    /// Why this is being done; recorded in the journal and in tags.
    #[arg(long, global = true, env = "LTC_REASON", value_name = "TEXT")]
    pub reason: Option<String>,

    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What a command is about to do, for the lock and the freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Any change, rollbacks included: needs the lock.
    Change,
    /// New code going out: needs the lock and an unfrozen environment.
    Deploy,
}

/// Implemented by each binary's top-level clap struct.
pub trait HasGlobals {
    fn globals(&self) -> &GlobalArgs;
}

/// Everything a command needs besides its own arguments.
#[derive(Debug)]
pub struct Context {
    pub out: Output,
    pub safety: Safety,
    pub globals: GlobalArgs,
    binary: String,
    cancel: Cancel,
    aws: OnceCell<AwsContext>,
    journal: OnceCell<Journal>,
    /// Whether this context uses the state tree (lock, shared journal). The
    /// binaries' contexts do; contexts built for in-process tests do not
    /// unless they ask with [`Context::with_state_root`].
    state_root: Option<crate::state::Root>,
    use_state: bool,
    store: OnceCell<Option<crate::state::Store>>,
    lock: std::sync::Mutex<Option<crate::state::LockGuard>>,
}

/// The token `main` installed for this process's signals (a fresh, untriggered
/// one for library callers and tests that did not go through `main`).
static PROCESS_CANCEL: std::sync::OnceLock<Cancel> = std::sync::OnceLock::new();

impl Context {
    pub fn new(binary: &str, globals: &GlobalArgs) -> Self {
        let mut ctx = Self::with_output(
            binary,
            globals,
            Output::stdio(globals.output, globals.quiet),
        );
        ctx.use_state = true;
        ctx
    }

    /// Uses the state tree at `root` (tests of the lock and shared journal).
    pub fn with_state_root(mut self, root: crate::state::Root) -> Self {
        self.state_root = Some(root);
        self.use_state = true;
        self
    }

    pub fn with_output(binary: &str, globals: &GlobalArgs, out: Output) -> Self {
        Context {
            out,
            safety: Safety {
                env: globals.env_name.clone(),
                yes: globals.yes,
                dry_run: globals.dry_run,
            },
            globals: globals.clone(),
            binary: binary.to_owned(),
            cancel: PROCESS_CANCEL.get().cloned().unwrap_or_default(),
            aws: OnceCell::new(),
            journal: OnceCell::new(),
            state_root: None,
            use_state: false,
            store: OnceCell::new(),
            lock: std::sync::Mutex::new(None),
        }
    }

    fn journal_path(&self) -> PathBuf {
        self.globals
            .journal
            .clone()
            .unwrap_or_else(Journal::default_path)
    }

    fn root(&self) -> Result<crate::state::Root> {
        match (&self.state_root, &self.globals.state) {
            (Some(root), _) => Ok(root.clone()),
            (None, Some(raw)) => crate::state::Root::parse(raw),
            (None, None) => Ok(crate::state::Root::default_beside(&self.journal_path())),
        }
    }

    async fn open_store(&self, env: Option<&str>) -> Result<crate::state::Store> {
        let root = self.root()?;
        let aws = match root {
            crate::state::Root::S3 { .. } => Some(self.aws().await?),
            crate::state::Root::Local(_) => None,
        };
        crate::state::Store::open(root, &crate::state::env_key(env)?, aws)
    }

    /// The state tree of `--env` (or `default`); `None` for contexts without one.
    pub async fn state(&self) -> Result<Option<&crate::state::Store>> {
        self.store
            .get_or_try_init(|| async {
                if self.use_state {
                    self.open_store(self.globals.env_name.as_deref())
                        .await
                        .map(Some)
                } else {
                    Ok(None)
                }
            })
            .await
            .map(Option::as_ref)
    }

    pub fn dry_run(&self) -> bool {
        self.safety.dry_run
    }

    /// Call once before a command's first change: the production confirmation,
    /// then (not in a dry run) the environment's run lock, so a second operator
    /// is refused (exit 8) before anything is changed.
    pub async fn begin_change(&self, action: &str) -> Result<()> {
        self.begin(&self.safety, action, ChangeKind::Change).await
    }

    /// [`Context::begin_change`] in the environment `safety` names, which may
    /// be another than `--env` (stack-deploy derives it from the stack names).
    pub async fn begin_change_in(&self, safety: &Safety, action: &str) -> Result<()> {
        self.begin(safety, action, ChangeKind::Change).await
    }

    /// Like [`Context::begin_change`] for a deploy of new code: also refused
    /// while the environment is frozen. `safety` may name another environment
    /// than `--env` (stack-deploy derives it from the stack names).
    pub async fn begin_deploy(&self, safety: &Safety, action: &str) -> Result<()> {
        self.begin(safety, action, ChangeKind::Deploy).await
    }

    async fn begin(&self, safety: &Safety, action: &str, kind: ChangeKind) -> Result<()> {
        safety.confirm(action)?;
        if safety.dry_run || !self.use_state {
            return Ok(());
        }
        if self.lock.lock().map(|l| l.is_some()).unwrap_or(false) {
            return Ok(()); // this command already holds it
        }
        let own;
        let store = if safety.env == self.globals.env_name {
            match self.state().await? {
                Some(s) => s,
                None => return Ok(()),
            }
        } else {
            own = self.open_store(safety.env.as_deref()).await?;
            &own
        };
        if kind == ChangeKind::Deploy {
            crate::state::refuse_if_frozen(store)?;
        }
        let journal = self.journal().await?;
        let jctx = journal.context();
        let req = crate::state::LockRequest {
            holder: jctx.actor.clone().unwrap_or_else(local_user),
            command: format!("{} {}", self.binary, jctx.args.join(" ")),
            run_id: jctx.run_id.clone(),
            lease: crate::state::lease_from_env()?,
        };
        match crate::state::acquire(store, &req)? {
            crate::state::Acquired::Held(guard) => {
                tracing::info!("holding the run lock of {}", store.env());
                if let Ok(mut l) = self.lock.lock() {
                    *l = Some(guard);
                }
            }
            crate::state::Acquired::WithinRun(info) => {
                tracing::info!("inside run {:?}, which holds the lock", info.run_id);
            }
        }
        Ok(())
    }

    /// The process's one cancellation token (SIGINT, SIGTERM, SIGHUP).
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Replaces the cancellation token (tests trigger it by hand).
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// The AWS configuration, loaded (and credentials resolved) on first use.
    pub async fn aws(&self) -> Result<&AwsContext> {
        self.aws.get_or_try_init(|| self.globals.aws.load()).await
    }

    /// The journal for reading only: the shared state's entries (everyone's)
    /// when there is a state tree, else the local file; no STS call.
    pub async fn journal_reader(&self) -> Result<Journal> {
        let journal = Journal::new(
            self.journal_path(),
            JournalContext {
                binary: self.binary.clone(),
                env: self.globals.env_name.clone(),
                ..Default::default()
            },
        );
        Ok(match self.state().await? {
            Some(store) => journal.with_store(store.clone()),
            None => journal,
        })
    }

    /// The journal, with the caller named from STS when AWS is configured.
    pub async fn journal(&self) -> Result<&Journal> {
        self.journal
            .get_or_try_init(|| async {
                let actor = match self.aws.get() {
                    Some(aws) => aws.caller_arn().await,
                    None => None,
                }
                .unwrap_or_else(local_user);
                let args: Vec<String> = std::env::args().skip(1).collect();
                let store = self.state().await?.cloned();
                let journal = Journal::new(
                    self.journal_path(),
                    JournalContext {
                        actor: Some(actor),
                        env: self.globals.env_name.clone(),
                        reason: self.globals.reason.clone(),
                        run_id: std::env::var("LTC_RUN_ID").ok().filter(|s| !s.is_empty()),
                        binary: self.binary.clone(),
                        args: redact_args(&args),
                    },
                );
                Ok::<_, Error>(match store {
                    Some(s) => journal.with_store(s),
                    None => journal,
                })
            })
            .await
    }
}

/// Sets up logging on stderr: warnings by default, more with `-v`; `RUST_LOG` wins.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,aws_config=warn,aws_smithy_runtime=warn",
        2 => "debug,hyper=info,h2=info,rustls=info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::LogWriter)
        .with_target(false)
        .try_init();
}

/// The whole of a binary's `main`: parse, set up, run, map the error to its
/// exit code and print it with its causes on one line.
pub fn main<C, F, Fut, E>(run: F) -> ExitCode
where
    C: clap::Parser + HasGlobals + Examples,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: Into<anyhow::Error>,
{
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "exit-codes") {
        return print_exit_codes(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == "completions") {
        return print_completions(command::<C>(), &args[2..]);
    }
    if args.get(1).is_some_and(|a| a == "man") {
        return print_man(command::<C>(), &args[2..]);
    }
    let (cli, subcommand) = match parse_args::<C>(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_tracing(cli.globals().verbose);
    crate::output::set_color(cli.globals().color);
    let error_label = crate::output::paint("error:", "31", crate::output::stderr_color());
    let binary = command::<C>().get_name().to_owned();
    let this_run =
        match crate::envelope::Run::new(&binary, &subcommand, cli.globals().events.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{error_label} {e}");
                return ExitCode::from(e.exit_code());
            }
        };
    crate::envelope::Run::install(this_run.clone());
    if let Err(e) = check_before_any_call(cli.globals()) {
        this_run.log("error", &e.to_string(), None);
        eprintln!("{error_label} {e}");
        return ExitCode::from(e.exit_code());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(crate::exit::INTERNAL);
        }
    };
    let result = runtime.block_on(async {
        match Cancel::install() {
            Ok(c) => {
                let _ = PROCESS_CANCEL.set(c);
            }
            Err(e) => {
                eprintln!("warning: signal handlers not installed ({e}); Ctrl-C stops at once")
            }
        }
        run(cli).await
    });
    // Do not wait for lingering background tasks (e.g. a spinner or a pending
    // connection): the result is already decided.
    runtime.shutdown_background();
    let (code, error) = match result {
        Ok(()) => (crate::exit::SUCCESS, None),
        Err(e) => {
            let e: anyhow::Error = e.into();
            (exit_code_of_anyhow(&e), Some(format!("{e:#}")))
        }
    };
    // The result the command printed, now that `ok` is known (crate::envelope).
    let code = match this_run.finish(code) {
        Err(e) if code == crate::exit::SUCCESS => {
            eprintln!("{error_label} {e}");
            e.exit_code()
        }
        _ => code,
    };
    if let Some(msg) = error {
        this_run.log("error", &msg, None);
        eprintln!("{error_label} {}", crate::redact::text(&msg));
    }
    ExitCode::from(code)
}

/// [`main`] for a binary whose `run` takes the [`Context`] ready made (built
/// from the global flags and the binary's name, as every binary did by hand):
/// `common::cli::start(my_binary::run)` with `async fn run(ctx: Context, cli: Cli)`.
pub fn start<C, F, Fut, E>(run: F) -> ExitCode
where
    C: clap::Parser + HasGlobals + Examples,
    F: FnOnce(Context, C) -> Fut,
    Fut: Future<Output = std::result::Result<(), E>>,
    E: Into<anyhow::Error>,
{
    main(|cli: C| {
        let ctx = Context::new(command::<C>().get_name(), cli.globals());
        run(ctx, cli)
    })
}

/// Declares a binary's top-level clap struct `Cli`: the shared [`GlobalArgs`]
/// flattened, the binary's own subcommand enum, and [`HasGlobals`]. The
/// attributes given (doc comment, `#[command(name, version, about,
/// after_help)]`) go on the struct unchanged, so `--help` reads as before.
///
/// ```ignore
/// common::declare_cli! {
///     #[command(name = "dns-shift", version, after_help = common::cli::after_help(EXAMPLES))]
///     Command
/// }
/// ```
#[macro_export]
macro_rules! declare_cli {
    ($(#[$meta:meta])* $command:ty) => {
        #[derive(Debug, clap::Parser)]
        $(#[$meta])*
        pub struct Cli {
            #[command(flatten)]
            pub globals: $crate::GlobalArgs,

            #[command(subcommand)]
            pub command: $command,
        }

        impl $crate::HasGlobals for Cli {
            fn globals(&self) -> &$crate::GlobalArgs {
                &self.globals
            }
        }
    };
}

/// Parses the command line. Numbers may be negative (`--desired -1` reaches the
/// command's own range check and its plain message instead of being taken for
/// a flag); a usage error is one line (clap's first, cut to about 200
/// characters) and exit 2; `--help` and `--version` print as usual.
fn parse_args<C: clap::Parser + Examples>(
    args: Vec<std::ffi::OsString>,
) -> std::result::Result<(C, String), ExitCode> {
    use clap::error::ErrorKind;
    fn negative_numbers(cmd: clap::Command) -> clap::Command {
        let cmd = cmd.allow_negative_numbers(true);
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        names
            .into_iter()
            .fold(cmd, |cmd, n| cmd.mut_subcommand(n, negative_numbers))
    }
    let cmd = negative_numbers(command::<C>());
    let parsed = cmd.try_get_matches_from(args).and_then(|m| {
        // The subcommand path (`lock status`) for the result envelope.
        let mut path = Vec::new();
        let mut cur = &m;
        while let Some((name, sub)) = cur.subcommand() {
            path.push(name.to_owned());
            cur = sub;
        }
        C::from_arg_matches(&m).map(|c| (c, path.join(" ")))
    });
    match parsed {
        Ok(c) => Ok(c),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            let _ = e.print();
            Err(ExitCode::from(
                if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    crate::exit::USAGE
                } else {
                    crate::exit::SUCCESS
                },
            ))
        }
        Err(e) => {
            eprintln!("error: {}", one_line_usage_error(&e.to_string()));
            Err(ExitCode::from(crate::exit::USAGE))
        }
    }
}

/// clap's message without its "error: " prefix, usage block and tips, on one
/// line, cut to about 200 characters.
pub fn one_line_usage_error(rendered: &str) -> String {
    // The first paragraph: clap puts the missing arguments on the lines below
    // "the following required arguments were not provided:".
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let joined = if paragraph.is_empty() {
        "bad command line".to_owned()
    } else {
        paragraph.join(" ")
    };
    let first = joined.strip_prefix("error: ").unwrap_or(&joined);
    let mut line: String = first.chars().take(200).collect();
    if first.chars().count() > 200 {
        line.push_str("...");
    }
    format!("{line} (see --help)")
}

/// `<binary> exit-codes [--output json|text]`: the documented table, so runbooks
/// read it from the binaries instead of keeping a copy.
fn print_exit_codes(rest: &[std::ffi::OsString]) -> ExitCode {
    use std::io::IsTerminal;
    let rest: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = match rest
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => !std::io::stdout().is_terminal(),
        ["--output", "json"] | ["--output=json"] => true,
        ["--output", "text"] | ["--output=text"] => false,
        _ => {
            eprintln!("error: usage: exit-codes [--output json|text]");
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    println!("{}", crate::exit::listing(json));
    ExitCode::SUCCESS
}

/// What can be found wrong without the network, checked before any AWS call:
/// a malformed `LTC_DEADLINE` and a journal that cannot be written.
pub fn check_before_any_call(globals: &GlobalArgs) -> Result<()> {
    crate::duration::check_deadline_not_passed(chrono::Utc::now())?;
    let path = globals
        .journal
        .clone()
        .unwrap_or_else(Journal::default_path);
    crate::journal::check_writable(&path)?;
    if let Some(raw) = &globals.state {
        crate::state::Root::parse(raw)?;
    }
    crate::state::env_key(globals.env_name.as_deref())?;
    crate::state::lease_from_env()?;
    Ok(())
}

/// The exit code for an error from a binary's `run`: the first toolkit
/// [`Error`] in the chain decides (anyhow's context layers are looked through);
/// anything else is an internal error.
pub fn exit_code_of_anyhow(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .map(Error::exit_code)
        .or_else(|| e.chain().next().map(exit_code_of))
        .unwrap_or(crate::exit::INTERNAL)
}

/// Turns a `KEY=VALUE` argument into its parts (for clap `value_parser`).
pub fn parse_key_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Shared `--help` footer.
pub fn after_help(examples: &str) -> String {
    format!("Examples:\n{examples}\n\n{}", crate::exit::HELP_TABLE)
}

/// The examples of each subcommand of a binary, kept in its `src/examples.rs`
/// (`impl common::cli::Examples for crate::Cli`): the subcommand's path
/// (`"show"`, `"lock status"`) and two or three whole command lines. `main`
/// puts them, and the exit codes, under every subcommand's `--help` and man page.
pub trait Examples {
    const EXAMPLES: &'static [(&'static str, &'static [&'static str])];
}

/// The commit the binaries were built from: `scripts/install` and
/// `scripts/package` pass it in `LTC_BUILD_COMMIT`. Read at compile time, not by
/// a build script running git, so that ordinary builds are not redone per commit.
pub const BUILD_COMMIT: Option<&str> = option_env!("LTC_BUILD_COMMIT");

/// `--version`: the package version and the commit (or that it is unknown).
pub fn version_line(version: &str) -> String {
    match BUILD_COMMIT.map(str::trim).filter(|c| !c.is_empty()) {
        Some(commit) => format!("{version} (commit {commit})"),
        None => {
            format!("{version} (commit unknown: not built by scripts/install or scripts/package)")
        }
    }
}

/// The binary's whole clap command as `main` parses it: the version with its
/// commit, and under every subcommand's help its examples and the exit codes.
/// Completions and man pages are generated from this same command.
pub fn command<C: clap::CommandFactory + Examples>() -> clap::Command {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cmd = C::command();
    let version = VERSION
        .get_or_init(|| version_line(cmd.get_version().unwrap_or(env!("CARGO_PKG_VERSION"))));
    with_help_footers(cmd.version(version.as_str()), C::EXAMPLES)
}

/// Adds to every subcommand (at any depth) its examples from `examples` and the
/// exit-code table, after whatever help text it already has.
pub fn with_help_footers(
    cmd: clap::Command,
    examples: &'static [(&'static str, &'static [&'static str])],
) -> clap::Command {
    fn walk(
        cmd: clap::Command,
        path: &str,
        parent: &[&'static str],
        examples: &'static [(&'static str, &'static [&'static str])],
    ) -> clap::Command {
        cmd.mut_subcommands(|sub| {
            let path = format!("{path} {}", sub.get_name()).trim().to_owned();
            let own = examples
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, e)| e.to_vec());
            // A nested subcommand without its own entry shows its parent's
            // examples that call it.
            let lines: Vec<&'static str> = own.unwrap_or_else(|| {
                parent
                    .iter()
                    .copied()
                    .filter(|e| {
                        e.split_whitespace()
                            .skip(1)
                            .collect::<Vec<_>>()
                            .join(" ")
                            .starts_with(&path)
                    })
                    .collect()
            });
            let mut footer = String::new();
            if let Some(existing) = sub.get_after_help() {
                footer.push_str(existing.to_string().trim_end());
                footer.push_str("\n\n");
            }
            if !lines.is_empty() {
                footer.push_str("Examples:\n");
                for line in &lines {
                    footer.push_str("  ");
                    footer.push_str(line);
                    footer.push('\n');
                }
                footer.push('\n');
            }
            footer.push_str(crate::exit::HELP_TABLE);
            let sub = walk(sub, &path, &lines, examples);
            sub.after_help(footer)
        })
    }
    walk(cmd, "", &[], examples)
}

/// The paths of every visible subcommand (`"show"`, `"lock status"`), parents first.
pub fn subcommand_paths(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            let path = format!("{prefix} {}", sub.get_name()).trim().to_owned();
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, "", &mut out);
    out
}

/// Splits an example command line into words the way a shell would for the
/// simple quoting the examples use ('single', "double", backslash).
fn shell_words(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed ' in {line:?}")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => w.extend(chars.next()),
                        Some(c) => w.push(c),
                        None => return Err(format!("unclosed \" in {line:?}")),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).extend(chars.next()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// Checks a binary's examples table (each crate's `examples.rs` test calls it):
/// every entry names a real subcommand and has one to three examples, every
/// top-level subcommand has two or three, and every example parses with the
/// binary's own clap definitions and calls the subcommand it is listed under.
pub fn check_examples<C: clap::CommandFactory + Examples>() -> std::result::Result<(), Vec<String>>
{
    let cmd = C::command();
    let bin = cmd.get_name().to_owned();
    let paths = subcommand_paths(&cmd);
    let mut problems = Vec::new();
    for (path, lines) in C::EXAMPLES {
        if !paths.iter().any(|p| p == path) {
            problems.push(format!("{path:?}: no such subcommand of {bin}"));
        }
        if lines.is_empty() || lines.len() > 3 {
            problems.push(format!("{path:?}: {} examples, want 1 to 3", lines.len()));
        }
        for line in lines.iter() {
            // The command ends where a shell operator starts (`> file`, `| jq`).
            let words = match shell_words(line) {
                Ok(w) => w
                    .into_iter()
                    .take_while(|w| {
                        !matches!(w.as_str(), "|" | ">" | ">>" | "<" | "&&" | ";" | "#")
                    })
                    .collect::<Vec<_>>(),
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            if words.first() != Some(&bin) {
                problems.push(format!("{line:?} does not start with {bin}"));
                continue;
            }
            match cmd.clone().try_get_matches_from(&words) {
                Ok(m) => {
                    let mut called = Vec::new();
                    let mut m = &m;
                    while let Some((name, sub)) = m.subcommand() {
                        called.push(name.to_owned());
                        m = sub;
                    }
                    let called = called.join(" ");
                    if !(called == *path || called.starts_with(&format!("{path} "))) {
                        problems.push(format!("{line:?} calls {called:?}, listed under {path:?}"));
                    }
                }
                Err(e) => problems.push(format!(
                    "{line:?} does not parse: {}",
                    one_line_usage_error(&e.to_string())
                )),
            }
        }
    }
    for path in paths.iter().filter(|p| !p.contains(' ')) {
        let n = C::EXAMPLES
            .iter()
            .find(|(p, _)| p == path)
            .map_or(0, |(_, e)| e.len());
        if !(2..=3).contains(&n) {
            problems.push(format!("{path:?}: {n} examples, want 2 or 3"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `<binary> completions bash|zsh|fish`: the completion script on stdout.
fn print_completions(mut cmd: clap::Command, rest: &[std::ffi::OsString]) -> ExitCode {
    use clap_complete::Shell;
    let shell = match rest {
        [s] => match s.to_str() {
            Some("bash") => Shell::Bash,
            Some("zsh") => Shell::Zsh,
            Some("fish") => Shell::Fish,
            _ => return completions_usage(),
        },
        _ => return completions_usage(),
    };
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}

fn completions_usage() -> ExitCode {
    eprintln!("error: usage: completions bash|zsh|fish (writes the completion script to stdout)");
    ExitCode::from(crate::exit::USAGE)
}

/// `<binary> man`: the man page on stdout; `<binary> man --dir DIR`: that page
/// and one per subcommand (`dns-shift-show.1` ...) written into DIR.
fn print_man(cmd: clap::Command, rest: &[std::ffi::OsString]) -> ExitCode {
    let rest: Vec<&str> = rest.iter().filter_map(|a| a.to_str()).collect();
    let result = match rest.as_slice() {
        [] => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
        ["--dir", dir] => {
            std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir))
        }
        _ => {
            eprintln!("error: usage: man [--dir DIR] (the page on stdout, or every page into DIR)");
            return ExitCode::from(crate::exit::USAGE);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: failed to write the man pages: {e}");
            ExitCode::from(crate::exit::INTERNAL)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: errors returned through anyhow exited 1 whatever they were.
    #[test]
    fn exit_code_survives_anyhow_and_its_context() {
        use anyhow::Context as _;
        let e: anyhow::Error = Error::CheckFailed("gate failed".into()).into();
        assert_eq!(exit_code_of_anyhow(&e), 4);
        let r: std::result::Result<(), Error> = Err(Error::Reverted("reverted".into()));
        let e = r.context("shift www").unwrap_err();
        assert_eq!(exit_code_of_anyhow(&e), 6);
        assert_eq!(exit_code_of_anyhow(&anyhow::anyhow!("plain")), 1);
    }

    #[test]
    fn usage_errors_are_one_short_line() {
        let long = "x".repeat(100_000);
        let rendered = format!(
            "error: invalid value '{long}' for '--zone <ZONE>'\n\nUsage: dns-shift show --zone <ZONE>\n\nFor more information, try '--help'.\n"
        );
        let line = one_line_usage_error(&rendered);
        assert!(!line.contains('\n'));
        assert!(line.len() < 260, "{}", line.len());
        assert!(line.starts_with("invalid value 'xxx"));
        assert!(line.ends_with("(see --help)"));
        let missing = "error: the following required arguments were not provided:\n  --duration <DURATION>\n\nUsage: smoke-test load --duration <DURATION> <URL>\n";
        assert_eq!(
            one_line_usage_error(missing),
            "the following required arguments were not provided: --duration <DURATION> (see --help)"
        );
    }

    #[derive(Debug, clap::Parser)]
    #[command(name = "demo", version)]
    struct Demo {
        #[command(subcommand)]
        command: DemoCommand,
    }

    #[derive(Debug, clap::Subcommand)]
    enum DemoCommand {
        /// Show a zone.
        #[command(after_help = "Already here.")]
        Show {
            #[arg(long)]
            zone: String,
        },
        /// The lock.
        #[command(subcommand)]
        Lock(DemoLock),
    }

    #[derive(Debug, clap::Subcommand)]
    enum DemoLock {
        Status,
        Break,
    }

    impl Examples for Demo {
        const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
            (
                "show",
                &["demo show --zone a", "demo show --zone=\"b 'c'\" > out.txt"],
            ),
            ("lock", &["demo lock status", "demo lock break"]),
        ];
    }

    /// Like `Demo`, with a table that is wrong in every way the check knows.
    #[derive(Debug, clap::Parser)]
    #[command(name = "demo")]
    struct BadDemo {
        #[command(subcommand)]
        command: DemoCommand,
    }

    impl Examples for BadDemo {
        const EXAMPLES: &'static [(&'static str, &'static [&'static str])] = &[
            ("show", &["demo show --zone a", "demo show --nope"]),
            ("lock", &["demo lock status", "other lock break"]),
            ("lock status", &["demo lock break"]),
            ("gone", &["demo gone"]),
        ];
    }

    fn help_of(path: &[&str]) -> String {
        let mut cmd = command::<Demo>();
        cmd.build();
        let mut sub = &mut cmd;
        for name in path {
            sub = sub.find_subcommand_mut(name).expect("subcommand exists");
        }
        sub.render_long_help().to_string()
    }

    #[test]
    fn every_subcommand_help_ends_with_its_examples_and_the_exit_codes() {
        let show = help_of(&["show"]);
        assert!(
            show.contains("Already here.\n\nExamples:\n  demo show --zone a\n"),
            "{show}"
        );
        // clap wraps long lines; compare the words.
        let words = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words(&show).ends_with(&words(crate::exit::HELP_TABLE)),
            "{show}"
        );
        let status = help_of(&["lock", "status"]);
        assert!(status.contains("  demo lock status\n"), "{status}");
        assert!(!status.contains("demo lock break"), "{status}");
        assert!(status.contains("Exit codes: 0 success"), "{status}");
        let version = command::<Demo>().render_version();
        assert!(version.contains("(commit "), "{version}");
    }

    #[test]
    fn examples_check_accepts_a_good_table_and_names_each_fault() {
        assert_eq!(check_examples::<Demo>(), Ok(()));
        let problems = check_examples::<BadDemo>().unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("\"demo show --nope\" does not parse"), "{all}");
        assert!(all.contains("does not start with demo"), "{all}");
        assert!(
            all.contains("calls \"lock break\", listed under \"lock status\""),
            "{all}"
        );
        assert!(all.contains("\"gone\": no such subcommand"), "{all}");
        assert_eq!(problems.len(), 5, "{all}");
    }

    #[test]
    fn shell_words_follow_the_quoting_examples_use() {
        assert_eq!(
            shell_words(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert!(shell_words("a 'b").is_err());
    }

    #[test]
    fn completions_and_man_pages_come_from_the_same_command() {
        let mut cmd = command::<Demo>();
        let mut bash = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "demo", &mut bash);
        let bash = String::from_utf8(bash).unwrap();
        assert!(bash.contains("complete -F _demo"), "{bash}");
        assert!(bash.contains("show"), "{bash}");
        let dir = tempfile::tempdir().unwrap();
        clap_mangen::generate_to(command::<Demo>(), dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("demo-show.1")).unwrap();
        assert!(page.contains("demo show \\-\\-zone a"), "{page}");
        assert!(dir.path().join("demo-lock-status.1").exists());
    }

    /// The struct every binary wrote by hand before `declare_cli!`.
    #[derive(Debug, clap::Parser)]
    #[command(name = "demo", version, about = "Demo.", after_help = after_help("  demo show"))]
    struct HandCli {
        #[command(flatten)]
        globals: GlobalArgs,
        #[command(subcommand)]
        command: DemoCommand,
    }

    mod declared {
        use super::{DemoCommand, after_help};
        crate::declare_cli! {
            #[command(name = "demo", version, about = "Demo.", after_help = after_help("  demo show"))]
            DemoCommand
        }
    }

    // The declared struct parses and helps exactly as the hand-written one.
    #[test]
    fn declared_cli_is_the_hand_written_struct() {
        use clap::{CommandFactory, Parser};
        let mut hand = HandCli::command();
        let mut declared = declared::Cli::command();
        assert_eq!(
            hand.render_long_help().to_string(),
            declared.render_long_help().to_string()
        );
        for sub in ["show", "lock"] {
            let h = hand.find_subcommand_mut(sub).unwrap().render_long_help();
            let d = declared
                .find_subcommand_mut(sub)
                .unwrap()
                .render_long_help();
            assert_eq!(h.to_string(), d.to_string());
        }
        let cli = declared::Cli::parse_from(["demo", "--env", "prod", "show", "--zone", "z"]);
        assert_eq!(cli.globals().env_name.as_deref(), Some("prod"));
        assert!(matches!(cli.command, DemoCommand::Show { ref zone } if zone == "z"));
    }

    #[test]
    fn key_value_parses_and_rejects() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }
}
