//! stdout is data, stderr is for people.
//!
//! A command's result goes to stdout once, as one JSON document (or as JSON lines
//! for streams), or as text for `--output text`. Progress, warnings and tables
//! for people go to stderr through [`Output::info`] and friends.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::error::{Error, Result};

/// `--output`: auto is text on a terminal and JSON otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Auto,
    Json,
    Text,
}

/// A result that can also be shown to a person.
pub trait Render: Serialize {
    /// The text form for `--output text`; defaults to pretty JSON.
    fn render_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        let s = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        writeln!(w, "{s}")
    }
}

impl Render for serde_json::Value {}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where results and messages go. Writers are passed in so tests can capture them.
#[derive(Clone)]
pub struct Output {
    json: bool,
    quiet: bool,
    stdout: Sink,
    stderr: Sink,
    stderr_is_terminal: bool,
    /// Whether stderr may carry ANSI colour (`--color`, `NO_COLOR`).
    color: bool,
    /// This process's run (installed by `cli::main`): results wait for the
    /// exit code to get their envelope, and every line also goes to `--events`.
    run: Option<Arc<crate::envelope::Run>>,
}

/// `--color`: auto is colour when stderr is a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream: `always` wins over `NO_COLOR` (an explicit
    /// flag beats the environment), `auto` needs a terminal and no `NO_COLOR`
    /// (any non-empty value, as no-color.org says).
    pub fn enabled(self, is_terminal: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(str::is_empty),
        }
    }
}

/// The `--color` choice `cli::main` made for this process.
static PROCESS_COLOR: std::sync::OnceLock<ColorChoice> = std::sync::OnceLock::new();

/// Records the process's `--color` (`cli::main`).
pub fn set_color(choice: ColorChoice) {
    let _ = PROCESS_COLOR.set(choice);
}

/// Whether the process's stderr gets colour.
pub fn stderr_color() -> bool {
    PROCESS_COLOR.get().copied().unwrap_or_default().enabled(
        std::io::stderr().is_terminal(),
        std::env::var("NO_COLOR").ok().as_deref(),
    )
}

/// `label` in bold `sgr` colour when `on` (`31` red, `33` yellow).
pub fn paint(label: &str, sgr: &str, on: bool) -> String {
    if on {
        format!("\x1b[1;{sgr}m{label}\x1b[0m")
    } else {
        label.to_owned()
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("json", &self.json)
            .field("quiet", &self.quiet)
            .finish()
    }
}

impl Output {
    /// The process's own stdout and stderr.
    pub fn stdio(format: OutputFormat, quiet: bool) -> Self {
        let json = match format {
            OutputFormat::Json => true,
            OutputFormat::Text => false,
            OutputFormat::Auto => !std::io::stdout().is_terminal(),
        };
        Output {
            json,
            quiet,
            stdout: Arc::new(Mutex::new(Box::new(std::io::stdout()))),
            stderr: Arc::new(Mutex::new(Box::new(std::io::stderr()))),
            stderr_is_terminal: std::io::stderr().is_terminal(),
            color: stderr_color(),
            run: crate::envelope::Run::current(),
        }
    }

    /// Attaches a run (tests of the envelope and the events file; `main`
    /// installs the process's run for [`Output::stdio`]).
    pub fn with_run(mut self, run: Arc<crate::envelope::Run>) -> Self {
        self.run = Some(run);
        self
    }

    /// Colours warnings (tests).
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// Custom writers (tests).
    pub fn with_writers(
        json: bool,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
    ) -> Self {
        Output {
            json,
            quiet: false,
            stdout: Arc::new(Mutex::new(stdout)),
            stderr: Arc::new(Mutex::new(stderr)),
            stderr_is_terminal: false,
            color: false,
            run: None,
        }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether bars and spinners may be drawn.
    pub fn fancy_progress(&self) -> bool {
        self.stderr_is_terminal && !self.quiet
    }

    /// Prints the command's result: one JSON document, or its text form.
    ///
    /// With a run attached (every binary's `main` attaches one), a JSON result
    /// is held and printed when the command returns, inside the envelope
    /// (`crate::envelope`), so that its `ok` is the exit code's.
    pub fn result<T: Render>(&self, value: &T) -> Result<()> {
        if self.json
            && let Some(run) = &self.run
        {
            let doc = serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))?;
            return run.hold(doc, self.stdout.clone());
        }
        self.document(value)
    }

    /// Prints a document that is itself the product, exactly as it is: no
    /// envelope (an IAM policy printed by `policy` must stay a valid policy
    /// document that `aws iam put-role-policy` accepts).
    pub fn document<T: Render>(&self, value: &T) -> Result<()> {
        // Serialize (or render) first so a write error keeps its kind (broken
        // pipe), and so the whole text goes through common::redact.
        let mut buf = Vec::new();
        if self.json {
            buf = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
            buf.push(b'\n');
        } else {
            value
                .render_text(&mut buf)
                .map_err(|e| Error::Internal(e.to_string()))?;
        }
        let buf = crate::redact::text(&String::from_utf8_lossy(&buf));
        let mut w = lock(&self.stdout);
        finish_write(w.write_all(buf.as_bytes()).and_then(|()| w.flush()))
    }

    /// One event of a stream: a JSON line, or a text line.
    /// A JSON object gets `ts` (now, RFC 3339 UTC with milliseconds) as its
    /// first field unless it has one; with `--events` the line is also
    /// appended there (level `event`, the text form as `message`).
    pub fn event<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        let doc = serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))?;
        let doc = crate::envelope::stamp_event(doc);
        let logged = self.run.as_ref().filter(|r| r.has_events_file());
        let text = if !self.json || logged.is_some() {
            Some(text())
        } else {
            None
        };
        if let Some(run) = logged {
            run.log("event", text.as_deref().unwrap_or_default(), Some(&doc));
        }
        let line = match (self.json, text) {
            (false, Some(t)) => t,
            _ => serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?,
        };
        let line = crate::redact::text(&line);
        let mut w = lock(&self.stdout);
        finish_write(writeln!(w, "{line}").and_then(|()| w.flush()))
    }

    /// A progress or status message for people (stderr); hidden by `--quiet`.
    /// With `--events` it is also appended there (level `info`), quiet or not.
    pub fn info(&self, msg: impl AsRef<str>) {
        if let Some(run) = &self.run {
            run.log("info", msg.as_ref(), None);
        }
        if !self.quiet {
            self.stderr_line(msg.as_ref());
        }
    }

    /// A warning (stderr); shown even with `--quiet`. With `--events` it is
    /// also appended there (level `warn`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        if let Some(run) = &self.run {
            run.log("warn", msg.as_ref(), None);
        }
        let label = paint("warning:", "33", self.color);
        self.stderr_line(&format!("{label} {}", msg.as_ref()));
    }

    /// Raw text for people, e.g. a table (stderr); hidden by `--quiet`.
    pub fn human(&self, text: impl AsRef<str>) {
        if !self.quiet {
            let text = crate::redact::text(text.as_ref());
            let mut w = lock(&self.stderr);
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        }
    }

    fn stderr_line(&self, msg: &str) {
        let msg = crate::redact::text(msg);
        let mut w = lock(&self.stderr);
        let _ = writeln!(w, "{msg}");
        let _ = w.flush();
    }
}

fn lock(sink: &Sink) -> std::sync::MutexGuard<'_, Box<dyn Write + Send>> {
    // A panic while holding the lock cannot corrupt a writer; keep going.
    sink.lock().unwrap_or_else(|p| p.into_inner())
}

/// A closed pipe (`| head`) is not a failure: the reader has what it wanted.
fn finish_write(res: std::io::Result<()>) -> Result<()> {
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("failed to write output", e)),
    }
}

/// A plain left-aligned table for text output.
///
/// Hand-written on purpose (issue 17 asked about comfy-table/tabled): the
/// format is columns padded to their widest cell, two spaces between them, no
/// borders and no trailing blanks, pinned by `table_aligns_columns`. Either
/// crate would give the same text only with a borderless preset, zero padding,
/// a custom gutter and trailing trimming on top, plus a dependency tree
/// (terminal-width detection) in `common`, which every binary links; 25 lines
/// are cheaper to read.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let fmt_row = |cells: Vec<&str>, out: &mut String| {
        let line: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{:width$}", c, width = widths.get(i).copied().unwrap_or(0)))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    fmt_row(headers.to_vec(), &mut out);
    for row in rows {
        fmt_row(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// A writer whose contents a test can read back; clones share the buffer.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Captured").field(&self.text()).finish()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Everything written so far, as text.
    ///
    /// # Panics
    /// If what was written is not UTF-8 (an [`Output`] only writes UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("captured output is not UTF-8")
    }
}

impl Output {
    /// An output whose stdout and stderr a test can read back:
    /// `(output, stdout, stderr)`.
    pub fn captured(json: bool) -> (Output, Captured, Captured) {
        let (out, err) = (Captured::default(), Captured::default());
        (
            Output::with_writers(json, Box::new(out.clone()), Box::new(err.clone())),
            out,
            err,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_result_goes_to_stdout_and_messages_to_stderr() {
        let (out, err) = (Captured::default(), Captured::default());
        let o = Output::with_writers(true, Box::new(out.clone()), Box::new(err.clone()));
        o.info("working");
        o.result(&serde_json::json!({"ok": true})).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(err.text(), "working\n");
    }

    #[test]
    fn events_are_json_lines() {
        let out = Captured::default();
        let o = Output::with_writers(true, Box::new(out.clone()), Box::new(Captured::default()));
        o.event(&serde_json::json!({"n": 1}), || "one".into())
            .unwrap();
        o.event(&serde_json::json!({"n": 2}), || "two".into())
            .unwrap();
        let lines: Vec<serde_json::Value> = out
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        for (i, line) in lines.iter().enumerate() {
            let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["ts", "n"]);
            assert_eq!(line["n"], i + 1);
            assert!(line["ts"].as_str().unwrap().ends_with('Z'));
        }
    }

    #[test]
    fn a_held_result_gets_the_envelope_with_ok_from_the_exit_code() {
        for (code, ok) in [(0u8, true), (4, false)] {
            let (o, out, _) = Output::captured(true);
            let run = crate::envelope::Run::new("health-gate", "check", None).unwrap();
            let o = o.with_run(run.clone());
            o.result(&serde_json::json!({"passed": ok})).unwrap();
            assert_eq!(out.text(), "", "held until the exit code is known");
            run.finish(code).unwrap();
            let v: serde_json::Value = serde_json::from_str(&out.text()).unwrap();
            assert_eq!(v["ok"], ok);
            assert_eq!(v["passed"], ok);
            assert_eq!(v["binary"], "health-gate");
            assert_eq!(v["command"], "check");
            assert_eq!(v["schema_version"], 1);
        }
    }

    #[test]
    fn text_results_are_printed_at_once_without_envelope() {
        let (o, out, _) = Output::captured(false);
        let run = crate::envelope::Run::new("dns-shift", "show", None).unwrap();
        let o = o.with_run(run.clone());
        o.result(&serde_json::json!({"a": 1})).unwrap();
        assert!(out.text().contains("\"a\": 1"), "{}", out.text());
        run.finish(0).unwrap();
        assert!(!out.text().contains("schema_version"), "{}", out.text());
    }

    #[test]
    fn every_line_goes_to_the_events_file_even_when_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let run = crate::envelope::Run::new("dns-shift", "shift", Some(&path)).unwrap();
        let (o, _, err) = Output::captured(true);
        let mut o = o.with_run(run);
        o.quiet = true;
        o.info("step 1 of 3: 25 %");
        o.warn("alarm ltc-5xx is in INSUFFICIENT_DATA");
        o.event(&serde_json::json!({"step": 1}), || "step 1 done".into())
            .unwrap();
        assert_eq!(
            err.text(),
            "warning: alarm ltc-5xx is in INSUFFICIENT_DATA\n"
        );
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let levels: Vec<&str> = lines.iter().map(|l| l["level"].as_str().unwrap()).collect();
        assert_eq!(levels, ["info", "warn", "event"]);
        assert_eq!(lines[0]["message"], "step 1 of 3: 25 %");
        assert_eq!(lines[2]["message"], "step 1 done");
        assert_eq!(lines[2]["event"]["step"], 1);
        assert!(
            lines
                .iter()
                .all(|l| l["ts"].as_str().unwrap().ends_with('Z'))
        );
    }

    #[test]
    fn color_choice_honours_no_color_unless_always() {
        assert!(ColorChoice::Auto.enabled(true, None));
        assert!(ColorChoice::Auto.enabled(true, Some("")));
        assert!(!ColorChoice::Auto.enabled(true, Some("1")));
        assert!(!ColorChoice::Auto.enabled(false, None));
        assert!(ColorChoice::Always.enabled(false, Some("1")));
        assert!(!ColorChoice::Never.enabled(true, None));
        let (o, _, err) = Output::captured(true);
        o.with_color(true).warn("x");
        assert_eq!(err.text(), "\u{1b}[1;33mwarning:\u{1b}[0m x\n");
    }

    #[test]
    fn captured_output_reads_back_both_streams() {
        let (o, out, err) = Output::captured(false);
        assert!(!o.is_json());
        o.event(&serde_json::json!({"n": 1}), || "one".into())
            .unwrap();
        o.warn("careful");
        assert_eq!(out.text(), "one\n");
        assert_eq!(err.text(), "warning: careful\n");
        assert_eq!(err.clone().bytes(), b"warning: careful\n");
    }

    #[test]
    fn broken_pipe_is_not_an_error() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let o = Output::with_writers(true, Box::new(Closed), Box::new(Captured::default()));
        assert!(o.result(&serde_json::json!({})).is_ok());
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["ID", "WEIGHT"],
            &[
                vec!["blue".into(), "200".into()],
                vec!["green-long".into(), "0".into()],
            ],
        );
        assert_eq!(t, "ID          WEIGHT\nblue        200\ngreen-long  0\n");
    }
}
