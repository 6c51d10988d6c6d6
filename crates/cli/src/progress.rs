//! Live progress of a run on stderr: a redrawn status line on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Shared by the event follower and the ticker.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Mutex<State>>,
}

struct State {
    terminal: bool,
    started: Instant,
    status: String,
    run_id: String,
    done: bool,
}

impl Progress {
    pub fn new(run_id: &str) -> Progress {
        Progress {
            inner: Arc::new(Mutex::new(State {
                terminal: std::io::stderr().is_terminal(),
                started: Instant::now(),
                status: "queued".to_owned(),
                run_id: run_id.to_owned(),
                done: false,
            })),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.lock().terminal
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The run's status changed.
    pub fn status(&self, status: &str) {
        let mut s = self.lock();
        if s.done || s.status == status {
            return;
        }
        s.status = status.to_owned();
        if s.terminal {
            s.redraw();
        } else {
            let line = format!("{} status: {status}", s.stamp());
            s.line(&line);
        }
    }

    /// A progress message (tool call, LLM turn, warning).
    pub fn message(&self, message: &str) {
        let s = self.lock();
        if s.done {
            return;
        }
        let line = format!("{} {message}", s.stamp());
        s.line(&line);
    }

    /// On a terminal, redraws the status line twice a second until aborted.
    pub fn start_ticker(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.is_terminal().then(|| {
            let p = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    p.tick();
                }
            })
        })
    }

    /// Seconds since the timeline started.
    pub fn elapsed_secs(&self) -> f64 {
        self.lock().started.elapsed().as_secs_f64()
    }

    /// Redraws the elapsed time (terminal only).
    pub fn tick(&self) {
        let s = self.lock();
        if s.terminal && !s.done {
            s.redraw();
        }
    }

    /// Clears the status line; nothing more is drawn.
    pub fn finish(&self) {
        let mut s = self.lock();
        if s.terminal && !s.done {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
        s.done = true;
    }
}

impl State {
    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.started.elapsed().as_secs_f64())
    }

    fn redraw(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} {} · {:.0}s",
            self.run_id,
            self.status,
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }

    fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{text}\n");
            drop(err);
            self.redraw();
        } else {
            let _ = writeln!(err, "{text}");
        }
    }
}
