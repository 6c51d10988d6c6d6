//! Processors mapped to budgets: turns, tool calls, tokens, deadline, and which model answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use forage_api::{Processor, Tier};
use forage_llm::LlmProvider;
use serde::{Deserialize, Serialize};

/// What one run of a processor may spend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Budget {
    /// LLM turns (each a chat completion) before the run must answer.
    pub max_turns: u32,
    /// Tool calls across the whole run.
    pub max_tool_calls: u32,
    /// Output tokens per LLM turn.
    pub max_output_tokens: u32,
    /// Wall-clock limit for the whole run, in seconds.
    pub deadline_secs: u64,
    /// Attempts to repair an answer that does not match the output schema.
    pub max_repairs: u32,
    /// Characters of one tool output shown to the model; the rest is cut with a notice.
    pub max_tool_output_chars: usize,
    /// Model name override for this processor (else the provider's configured model).
    pub model: Option<String>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::for_tier(Tier::Core, false)
    }
}

impl Budget {
    /// The documented defaults (README, "Processors"). `-fast` variants get a shorter deadline.
    pub fn for_tier(tier: Tier, fast: bool) -> Budget {
        let (max_turns, max_tool_calls, max_output_tokens, deadline_secs) = match tier {
            Tier::Lite => (3, 1, 2_048, 60),
            Tier::Base => (4, 3, 4_096, 100),
            Tier::Core => (6, 1, 4_096, 300),
            Tier::Core2x => (8, 10, 8_192, 600),
            Tier::Pro => (12, 25, 8_192, 600),
            Tier::Ultra => (16, 50, 8_192, 1_500),
            Tier::Ultra2x => (20, 80, 8_192, 3_000),
            Tier::Ultra4x => (24, 120, 8_192, 5_400),
            Tier::Ultra8x => (32, 200, 8_192, 7_200),
        };
        Budget {
            max_turns,
            max_tool_calls,
            max_output_tokens,
            deadline_secs: if fast {
                deadline_secs / 2
            } else {
                deadline_secs
            },
            max_repairs: 2,
            max_tool_output_chars: 20_000,
            model: None,
        }
    }

    pub fn deadline(&self) -> Duration {
        Duration::from_secs(self.deadline_secs.max(1))
    }
}

/// How a processor runs: its budget and the LLM that serves it.
#[derive(Clone)]
pub struct ProcessorProfile {
    pub budget: Budget,
    pub llm: Arc<dyn LlmProvider>,
    /// The model named in requests to `llm`.
    pub model: String,
}

/// Every processor's profile.
#[derive(Clone)]
pub struct ProcessorTable {
    profiles: HashMap<Processor, ProcessorProfile>,
}

impl ProcessorTable {
    /// All processors served by one LLM and model, with default budgets except `overrides`.
    pub fn uniform(
        llm: Arc<dyn LlmProvider>,
        model: &str,
        overrides: &HashMap<String, Budget>,
    ) -> ProcessorTable {
        let profiles = Processor::all()
            .map(|p| {
                let budget = overrides
                    .get(&p.to_string())
                    .cloned()
                    .unwrap_or_else(|| Budget::for_tier(p.tier, p.fast));
                let model = budget.model.clone().unwrap_or_else(|| model.to_owned());
                (
                    p,
                    ProcessorProfile {
                        budget,
                        llm: llm.clone(),
                        model,
                    },
                )
            })
            .collect();
        ProcessorTable { profiles }
    }

    /// Replaces one processor's profile (a processor mapped to its own provider in config).
    pub fn set(&mut self, processor: Processor, profile: ProcessorProfile) {
        self.profiles.insert(processor, profile);
    }

    pub fn get(&self, processor: Processor) -> &ProcessorProfile {
        self.profiles
            .get(&processor)
            .expect("every processor has a profile")
    }
}
