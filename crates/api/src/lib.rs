//! Wire types of forage's Task API (Parallel-compatible), the error shape, and request validation. No I/O.

pub mod create;
pub mod error;
pub mod events;
pub mod group;
pub mod ids;
pub mod output;
pub mod processor;
pub mod run;
pub mod secret;
pub mod spec;
pub mod validate;

pub use create::{Input, McpServer, Metadata, MetadataValue, SourcePolicy, TaskRunCreate, Webhook};
pub use error::{ApiError, ErrorResponse};
pub use events::{ProgressKind, RunEvent};
pub use group::{
    TaskGroup, TaskGroupCreate, TaskGroupRunCreate, TaskGroupRunResponse, TaskGroupStatus,
};
pub use ids::{InteractionId, RunId};
pub use output::{
    Citation, Confidence, FieldBasis, McpToolCall, TaskOutput, TaskRunResult, TokenUsage,
};
pub use processor::{Processor, Tier};
pub use run::{ErrorObject, RunStatus, TaskRun, Warning, WarningKind};
pub use secret::Secret;
pub use spec::{InputSchema, OutputSchema, TaskSpec};
pub use validate::{RequestLimits, Unsupported, ValidatedCreate};
