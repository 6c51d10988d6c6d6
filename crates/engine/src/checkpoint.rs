//! Saves a run's state (or its batch of tool calls) with the events that announce it, in
//! versions that only grow, so that concurrent tool calls finishing in any order never put an
//! older batch over a newer one.

use std::sync::Mutex;

use forage_api::RunEvent;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::events::{EventSink, SavedPart};
use crate::run_state::RunState;

/// Numbers and saves the checkpoints of one run.
pub struct Checkpointer<'a> {
    sink: &'a dyn EventSink,
    /// The last version handed out; taken under this lock together with the state's snapshot.
    version: Mutex<u64>,
}

impl<'a> Checkpointer<'a> {
    /// Starts after `version` (the version the run resumed from, or 0).
    pub fn new(sink: &'a dyn EventSink, version: u64) -> Self {
        Checkpointer {
            sink,
            version: Mutex::new(version),
        }
    }

    /// Saves `state` and appends `events` in one step.
    pub async fn save(&self, state: &RunState, events: Vec<RunEvent>) {
        let (version, snapshot) = self.snapshot(|| encode(state));
        self.sink
            .checkpoint(version, SavedPart::State(snapshot), events)
            .await;
    }

    /// Takes the next version and the part it belongs to together (`encode` runs under the
    /// lock, so versions follow the order in which parts were taken).
    pub fn snapshot<T>(&self, encode: impl FnOnce() -> T) -> (u64, T) {
        let mut version = self.version.lock().unwrap_or_else(|p| p.into_inner());
        *version += 1;
        (*version, encode())
    }

    pub fn sink(&self) -> &dyn EventSink {
        self.sink
    }
}

/// The state as JSON text, encoded straight from the state (no JSON tree in between). It is
/// plain data with text keys, so this cannot fail in practice; if it did, the checkpoint reads
/// back as unusable and a resumed run starts over.
pub fn encode(state: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(state).unwrap_or_else(|err| {
        tracing::error!(error = %err, "could not encode a run's checkpoint");
        RawValue::NULL.to_owned()
    })
}
