//! The agent loop: turns a run's request into an answer by calling the LLM and the run's tools,
//! validating the answer against the output schema, and recording every step as an event.

pub mod budget;
pub mod checkpoint;
pub mod envelope;
pub mod events;
pub mod executor;
pub mod infer_schema;
pub mod prompt;
pub mod run_state;
pub mod saved_texts;
pub mod sources;
pub mod text;
pub mod tool_calls;
pub mod toolbox;
pub mod web_tools;

pub use budget::{Budget, ProcessorProfile, ProcessorTable};
pub use events::{EventSink, NullSink, SavedPart};
pub use executor::{Engine, EngineOutcome, Resume, RunJob, ToolEnv};
pub use run_state::RunState;
