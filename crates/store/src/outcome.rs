//! A run's outcome encoded for storage: the columns both stores write when a run ends.

use forage_api::{RunEvent, RunStatus, TokenUsage, Warning};

use crate::sqlite::codec::to_json;
use crate::{RunOutcome, StoreError};

/// What `finish` writes: status, error and output as JSON, and the events that go before the
/// final status.
pub(crate) struct PreparedOutcome {
    pub status: RunStatus,
    pub error: Option<String>,
    pub warnings: Vec<Warning>,
    pub usage: TokenUsage,
    /// Output and transcript JSON of a completed run.
    pub output: Option<(String, String)>,
    /// Appended before the final status event.
    pub events: Vec<RunEvent>,
}

impl PreparedOutcome {
    pub(crate) fn new(outcome: RunOutcome) -> Result<PreparedOutcome, StoreError> {
        let status = outcome.status();
        Ok(match outcome {
            RunOutcome::Completed {
                output,
                warnings,
                usage,
                transcript,
                events,
            } => PreparedOutcome {
                status,
                error: None,
                warnings,
                usage,
                output: Some((
                    to_json("output", &output)?,
                    to_json("transcript", &transcript)?,
                )),
                events,
            },
            RunOutcome::Failed {
                error,
                warnings,
                usage,
            } => PreparedOutcome {
                status,
                error: Some(to_json("error", &error)?),
                warnings,
                usage,
                output: None,
                events: Vec::new(),
            },
            RunOutcome::Cancelled { warnings, usage } => PreparedOutcome {
                status,
                error: None,
                warnings,
                usage,
                output: None,
                events: Vec::new(),
            },
        })
    }

    /// The events to append: those of the outcome, then the final status.
    pub(crate) fn closing_events(&self) -> Vec<RunEvent> {
        let mut events = self.events.clone();
        events.push(RunEvent::Status {
            status: self.status,
        });
        events
    }
}
