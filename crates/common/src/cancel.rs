//! The one shutdown path: SIGINT, SIGTERM and SIGHUP become one cancellation
//! token that every long-running command observes. The first signal asks the
//! command to finish or revert the step in flight, journal the outcome as
//! `interrupted` and exit 130; a second signal asks it to stop at once (it still
//! writes its outcome line). Nothing below `main` calls `process::exit`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_util::sync::CancellationToken;

/// Which signal arrived first, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Interrupt,
    Terminate,
    Hangup,
}

impl SignalKind {
    pub fn name(self) -> &'static str {
        match self {
            SignalKind::Interrupt => "SIGINT",
            SignalKind::Terminate => "SIGTERM",
            SignalKind::Hangup => "SIGHUP",
        }
    }
}

/// A cheap, clonable handle on the process's cancellation state.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    soft: CancellationToken,
    hard: CancellationToken,
    // 0 = none, 1.. = how many signals arrived; the first one's kind in `first`.
    count: Arc<AtomicU8>,
    first: Arc<AtomicU8>,
}

impl Cancel {
    /// A token no signal reaches (tests, library callers); `trigger` still works.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP on the current tokio
    /// runtime and returns the token they trigger. Call once, from `main`.
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind as K, signal};
        let cancel = Cancel::new();
        let mut int = signal(K::interrupt())?;
        let mut term = signal(K::terminate())?;
        let mut hup = signal(K::hangup())?;
        let c = cancel.clone();
        tokio::spawn(async move {
            loop {
                let kind = tokio::select! {
                    Some(()) = int.recv() => SignalKind::Interrupt,
                    Some(()) = term.recv() => SignalKind::Terminate,
                    Some(()) = hup.recv() => SignalKind::Hangup,
                    else => break,
                };
                c.trigger(kind);
            }
        });
        Ok(cancel)
    }

    /// What a signal does: the first cancels softly, the second hard.
    pub fn trigger(&self, kind: SignalKind) {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            self.first.store(kind as u8 + 1, Ordering::SeqCst);
            eprintln!(
                "{}: finishing the step in flight and recording the outcome; send it again to stop at once",
                kind.name()
            );
            self.soft.cancel();
        } else {
            eprintln!("{}: stopping now", kind.name());
            self.soft.cancel();
            self.hard.cancel();
        }
    }

    /// True once any signal arrived.
    pub fn is_cancelled(&self) -> bool {
        self.soft.is_cancelled()
    }

    /// True once a second signal arrived: skip waiting, record and leave.
    pub fn is_hard(&self) -> bool {
        self.hard.is_cancelled()
    }

    /// The first signal's kind, if any arrived.
    pub fn signal(&self) -> Option<SignalKind> {
        match self.first.load(Ordering::SeqCst) {
            1 => Some(SignalKind::Interrupt),
            2 => Some(SignalKind::Terminate),
            3 => Some(SignalKind::Hangup),
            _ => None,
        }
    }

    /// Resolves when the first signal arrives.
    pub async fn cancelled(&self) {
        self.soft.cancelled().await
    }

    /// Resolves when the second signal arrives.
    pub async fn hard_cancelled(&self) {
        self.hard.cancelled().await
    }

    /// Runs `fut` unless a signal arrives first; then [`crate::Error::Interrupted`].
    /// For reads and waits only: a mutating call in flight must be let finish
    /// (or read back) so its outcome can be recorded.
    pub async fn run<T>(
        &self,
        fut: impl std::future::Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        tokio::select! {
            biased;
            () = self.cancelled() => Err(crate::Error::Interrupted),
            r = fut => r,
        }
    }

    /// Err(Interrupted) when a signal arrived: call between steps.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_signal_is_soft_second_is_hard() {
        let c = Cancel::new();
        assert!(!c.is_cancelled());
        assert!(c.check().is_ok());
        c.trigger(SignalKind::Terminate);
        assert!(c.is_cancelled());
        assert!(!c.is_hard());
        assert_eq!(c.signal(), Some(SignalKind::Terminate));
        assert!(matches!(c.check(), Err(crate::Error::Interrupted)));
        c.trigger(SignalKind::Interrupt);
        assert!(c.is_hard());
        // The first kind is kept.
        assert_eq!(c.signal(), Some(SignalKind::Terminate));
    }

    #[tokio::test]
    async fn run_stops_a_pending_future_on_signal() {
        let c = Cancel::new();
        let c2 = c.clone();
        let pending = async {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok::<_, crate::Error>(1)
        };
        tokio::spawn(async move { c2.trigger(SignalKind::Interrupt) });
        let r = c.run(pending).await;
        assert!(matches!(r, Err(crate::Error::Interrupted)));
        // Not cancelled: the future's own result.
        let c = Cancel::new();
        assert_eq!(c.run(async { Ok(7) }).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn installed_handler_turns_sighup_into_cancellation() {
        let c = Cancel::install().unwrap();
        // Raise SIGHUP at ourselves through the kill command (no unsafe code).
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(std::time::Duration::from_secs(5), c.cancelled())
            .await
            .expect("SIGHUP cancels");
        assert_eq!(c.signal(), Some(SignalKind::Hangup));
    }
}
