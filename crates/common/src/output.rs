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
        }
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
    pub fn result<T: Render>(&self, value: &T) -> Result<()> {
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
    pub fn event<T: Serialize>(&self, value: &T, text: impl FnOnce() -> String) -> Result<()> {
        let line = if self.json {
            serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))?
        } else {
            text()
        };
        let line = crate::redact::text(&line);
        let mut w = lock(&self.stdout);
        finish_write(writeln!(w, "{line}").and_then(|()| w.flush()))
    }

    /// A progress or status message for people (stderr); hidden by `--quiet`.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            self.stderr_line(msg.as_ref());
        }
    }

    /// A warning (stderr); shown even with `--quiet`.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.stderr_line(&format!("warning: {}", msg.as_ref()));
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
        let lines: Vec<_> = out.text().lines().map(str::to_owned).collect();
        assert_eq!(lines, vec![r#"{"n":1}"#, r#"{"n":2}"#]);
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
