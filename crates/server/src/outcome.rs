//! The engine's outcome as the store records it.

use forage_api::ErrorObject;
use forage_engine::EngineOutcome;
use forage_store::RunOutcome;

pub fn to_run_outcome(outcome: EngineOutcome) -> RunOutcome {
    match outcome {
        EngineOutcome::Completed {
            output,
            warnings,
            usage,
            transcript,
            events,
        } => RunOutcome::Completed {
            output,
            warnings,
            usage,
            transcript,
            events,
        },
        EngineOutcome::Failed {
            message,
            warnings,
            usage,
        } => RunOutcome::Failed {
            error: ErrorObject::new(message),
            warnings,
            usage,
        },
        EngineOutcome::Cancelled { warnings, usage } => RunOutcome::Cancelled { warnings, usage },
    }
}

/// A run whose worker panicked.
pub fn panicked(what: &str) -> RunOutcome {
    RunOutcome::Failed {
        error: ErrorObject::new(format!(
            "Internal error: the run stopped unexpectedly ({what}); it was not completed"
        )),
        warnings: Vec::new(),
        usage: Default::default(),
    }
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panic".to_owned())
}
