//! Identifiers on the wire: run ids (`trun_…`) and interaction ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A task run id: `trun_` followed by 32 lowercase hex digits, as Parallel issues them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub const PREFIX: &'static str = "trun_";

    pub fn generate() -> Self {
        Self(format!("{}{}", Self::PREFIX, uuid::Uuid::new_v4().simple()))
    }

    /// Accepts only well-formed ids; anything else cannot name a run.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(Self::PREFIX)?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the conversation a run belongs to. A fresh run starts its own interaction
/// (its id equals the run id); `previous_interaction_id` continues an earlier one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InteractionId(String);

impl InteractionId {
    pub fn for_run(run: &RunId) -> Self {
        Self(run.as_str().to_owned())
    }

    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = RunId::generate();
        assert_eq!(RunId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.as_str().len(), 37);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "trun_",
            "trun_xyz",
            "run_9907962f83aa4d9d98fd7f4bf745d654",
            "trun_9907962f83aa4d9d98fd7f4bf745d65",
        ] {
            assert!(RunId::parse(bad).is_none(), "{bad}");
        }
    }
}
