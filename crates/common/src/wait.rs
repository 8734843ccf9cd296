//! One poll loop for every wait that has no SDK waiter: adaptive intervals (a
//! fast first look, then backing off to a cap), a deadline that also honours
//! `LTC_DEADLINE`, a status line on stderr, and throttling treated as "slow down"
//! rather than failure.

use std::future::Future;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::time::Instant;

use crate::duration::format_duration;
use crate::error::{Error, Result};
use crate::output::Output;

/// What one look at the world found.
#[derive(Debug)]
pub enum Poll<T> {
    /// Finished (successfully or not: the caller decides what the value means).
    Done(T),
    /// Still going; the text is shown as the status line.
    Pending(String),
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// What is being waited for, e.g. "stack LightningTalk-Api-prod".
    pub what: String,
    /// Upper bound; `LTC_DEADLINE` may shorten it.
    pub timeout: Duration,
    /// Delay before the second look (the first is immediate).
    pub first_interval: Duration,
    /// Longest delay between looks.
    pub max_interval: Duration,
    /// The command that picks the wait up again after a timeout.
    pub reattach: Option<String>,
    /// Print an unchanged status line again after this long (non-terminal stderr).
    pub heartbeat: Duration,
}

impl WaitOptions {
    pub fn new(what: impl Into<String>, timeout: Duration) -> Self {
        WaitOptions {
            what: what.into(),
            timeout,
            first_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(10),
            reattach: None,
            heartbeat: Duration::from_secs(30),
        }
    }

    pub fn reattach(mut self, cmd: impl Into<String>) -> Self {
        self.reattach = Some(cmd.into());
        self
    }

    pub fn max_interval(mut self, d: Duration) -> Self {
        self.max_interval = d;
        self
    }
}

/// The interval after `prev`: grows by half each time up to `max`.
pub fn next_interval(prev: Duration, max: Duration) -> Duration {
    (prev + prev / 2).min(max)
}

/// Failed looks in a row (each after the SDK's own attempts) a wait looks past.
pub const READ_RETRIES: u32 = 5;

/// A failure that says nothing about the world: a 5xx or no answer at all
/// (reset, timeout, lost response). Throttling is handled on its own.
pub fn is_transient(e: &Error) -> bool {
    match e {
        Error::Aws(a) if a.is_throttling() => false,
        Error::Aws(a) => match a.status {
            Some(s) => s >= 500,
            None => a.code.is_none(),
        },
        _ => false,
    }
}

/// Polls `look` until it returns [`Poll::Done`], an error, or time runs out
/// (exit 5 with the re-attach command). `LTC_DEADLINE` is applied here, so every
/// caller respects it.
/// A look that fails transiently is looked past [`READ_RETRIES`] times in a row.
pub async fn poll_until<T, F, Fut>(out: &Output, opts: &WaitOptions, mut look: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let timeout = crate::duration::effective_timeout(opts.timeout)?;
    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = opts.first_interval;
    let mut status = StatusLine::new(out, &opts.what, opts.heartbeat);
    let mut polls: u64 = 0;
    let mut failed_reads: u32 = 0;
    loop {
        polls += 1;
        let looked = look().await;
        if looked.is_ok() {
            failed_reads = 0;
        }
        match looked {
            Ok(Poll::Done(v)) => {
                status.finish();
                tracing::debug!(what = %opts.what, polls, elapsed = ?started.elapsed(), "wait finished");
                return Ok(v);
            }
            Ok(Poll::Pending(s)) => status.update(&s, started.elapsed()),
            Err(Error::Aws(e)) if e.is_throttling() => {
                // Already retried inside the SDK; back off harder and keep waiting.
                interval = (interval * 2).min(opts.max_interval);
                status.update(&format!("throttled ({e}); backing off"), started.elapsed());
            }
            // A look that failed after the SDK's own attempts (5xx, reset, lost
            // answer) says nothing about what is waited for, which was already
            // asked for: look again, a few times in a row, before giving up.
            Err(e) if is_transient(&e) && failed_reads < READ_RETRIES => {
                failed_reads += 1;
                status.update(&format!("{e}; looking again"), started.elapsed());
            }
            Err(e) => {
                status.finish();
                return Err(e);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            status.finish();
            return Err(Error::Timeout {
                what: opts.what.clone(),
                waited: format_duration(started.elapsed()),
                reattach: opts.reattach.clone(),
            });
        }
        tokio::time::sleep(interval.min(deadline - now)).await;
        interval = next_interval(interval, opts.max_interval);
    }
}

/// A spinner on a terminal; otherwise a line whenever the status changes, and
/// again every `heartbeat` so a log shows the wait is alive.
struct StatusLine {
    bar: Option<ProgressBar>,
    out: Output,
    what: String,
    last: Option<String>,
    last_printed: Instant,
    heartbeat: Duration,
}

impl StatusLine {
    fn new(out: &Output, what: &str, heartbeat: Duration) -> Self {
        let bar = out.fancy_progress().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        StatusLine {
            bar,
            out: out.clone(),
            what: what.to_owned(),
            last: None,
            last_printed: Instant::now(),
            heartbeat,
        }
    }

    fn update(&mut self, status: &str, elapsed: Duration) {
        let line = format!("waiting for {}: {status}", self.what);
        if let Some(bar) = &self.bar {
            bar.set_message(line);
            return;
        }
        let changed = self.last.as_deref() != Some(status);
        if changed || self.last_printed.elapsed() >= self.heartbeat {
            self.out
                .info(format!("{line} ({})", format_duration(elapsed)));
            self.last = Some(status.to_owned());
            self.last_printed = Instant::now();
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::output::Captured;

    fn quiet_output() -> (Output, Captured) {
        let (out, _stdout, err) = Output::captured(true);
        (out, err)
    }

    #[tokio::test(start_paused = true)]
    async fn returns_when_done_and_backs_off_between_looks() {
        let (out, err) = quiet_output();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let started = Instant::now();
        let v = poll_until(
            &out,
            &WaitOptions::new("thing", Duration::from_secs(600)),
            move || {
                let c = c.clone();
                async move {
                    let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok(if n == 4 {
                        Poll::Done(n)
                    } else {
                        Poll::Pending(format!("step {n}"))
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 4);
        // 250 + 375 + 562.5 ms between the four looks.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1180) && waited < Duration::from_millis(1200),
            "{waited:?}"
        );
        assert!(err.text().contains("waiting for thing: step 1"));
    }

    fn reset() -> Error {
        Error::Aws(crate::error::AwsError {
            operation: "DescribeServices".into(),
            code: None,
            message: "connection reset".into(),
            status: None,
        })
    }

    /// A wait looks past up to READ_RETRIES failed reads in a row (each already
    /// retried by the SDK): the thing waited for was asked for; a failed look
    /// says nothing about it. One more in a row ends the wait with the error.
    #[tokio::test(start_paused = true)]
    async fn transient_read_failures_are_looked_past_up_to_the_budget() {
        for (failures, want_ok) in [(READ_RETRIES, true), (READ_RETRIES + 1, false)] {
            let (out, err) = quiet_output();
            let calls = Arc::new(AtomicU32::new(0));
            let c = calls.clone();
            let got = poll_until(
                &out,
                &WaitOptions::new("service api", Duration::from_secs(600)),
                move || {
                    let c = c.clone();
                    async move {
                        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                        if n <= failures {
                            Err(reset())
                        } else {
                            Ok(Poll::Done(n))
                        }
                    }
                },
            )
            .await;
            assert_eq!(got.is_ok(), want_ok, "{failures} failures: {got:?}");
            if want_ok {
                assert!(err.text().contains("looking again"), "{}", err.text());
            } else {
                assert_eq!(got.unwrap_err().exit_code(), 3);
                assert_eq!(calls.load(Ordering::SeqCst), READ_RETRIES + 1);
            }
        }
    }

    /// A definite answer (a 4xx that is not throttling) ends the wait at once.
    #[tokio::test(start_paused = true)]
    async fn a_definite_error_is_not_looked_past() {
        let (out, _) = quiet_output();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let got = poll_until(
            &out,
            &WaitOptions::new("service api", Duration::from_secs(600)),
            move || {
                let c = c.clone();
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    Err::<Poll<()>, _>(Error::Aws(crate::error::AwsError {
                        operation: "DescribeServices".into(),
                        code: Some("ClusterNotFoundException".into()),
                        message: "no such cluster".into(),
                        status: Some(400),
                    }))
                }
            },
        )
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_reattach_command() {
        let (out, _) = quiet_output();
        let opts =
            WaitOptions::new("stack X", Duration::from_secs(60)).reattach("stack-deploy watch X");
        let err = poll_until(&out, &opts, || async {
            Ok(Poll::<()>::Pending("UPDATE_IN_PROGRESS".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(err.to_string().contains("stack-deploy watch X"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn polling_cadence_settles_at_the_cap() {
        let (out, _) = quiet_output();
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let opts = WaitOptions::new("slow", Duration::from_secs(600));
        let _ = poll_until(&out, &opts, move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(Poll::<()>::Pending("creating".into()))
            }
        })
        .await;
        // Ten minutes at a 10 s cap is about 60 looks plus the quick early ones.
        let n = calls.load(Ordering::SeqCst);
        assert!((60..=75).contains(&n), "{n} looks in 10 minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_stop_the_wait() {
        let (out, _) = quiet_output();
        let err = poll_until(
            &out,
            &WaitOptions::new("x", Duration::from_secs(60)),
            || async { Err::<Poll<()>, _>(Error::NotFound("gone".into())) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn interval_grows_to_cap() {
        let cap = Duration::from_secs(10);
        let mut d = Duration::from_millis(250);
        for _ in 0..20 {
            d = next_interval(d, cap);
        }
        assert_eq!(d, cap);
    }
}
