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
    /// Distinct web pages `web_fetch` may read in one run.
    pub max_fetched_pages: u32,
    /// Input plus output tokens across the run; past it the model must answer (0: no limit).
    pub max_total_tokens: u64,
    /// Tool calls of one turn that run at the same time (the others wait their turn).
    pub max_parallel_calls: u32,
    /// Ask the model for a research plan before the first tool call.
    pub plan_first: bool,
    /// Ask the model to check its answer against what it read before finishing.
    pub self_check: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::for_tier(Tier::Core, false)
    }
}

impl Budget {
    /// The documented defaults (README, "Processors"). `-fast` variants get half the deadline.
    pub fn for_tier(tier: Tier, fast: bool) -> Budget {
        // turns, tool calls, pages, total tokens, parallel calls, deadline (s), plan, self-check
        let (turns, calls, pages, tokens, parallel, deadline_secs, plan, check) = match tier {
            Tier::Lite => (3, 2, 2, 30_000, 2, 60, false, false),
            Tier::Base => (4, 4, 4, 60_000, 4, 100, false, false),
            Tier::Core => (6, 8, 6, 120_000, 4, 300, false, false),
            Tier::Core2x => (8, 12, 10, 250_000, 6, 600, false, true),
            Tier::Pro => (12, 25, 20, 500_000, 8, 600, true, true),
            Tier::Ultra => (16, 50, 40, 1_000_000, 8, 1_500, true, true),
            Tier::Ultra2x => (20, 80, 60, 2_000_000, 10, 3_000, true, true),
            Tier::Ultra4x => (24, 120, 100, 4_000_000, 10, 5_400, true, true),
            Tier::Ultra8x => (32, 200, 160, 8_000_000, 12, 7_200, true, true),
        };
        let max_output_tokens = match tier {
            Tier::Lite => 2_048,
            Tier::Base | Tier::Core => 4_096,
            _ => 8_192,
        };
        Budget {
            max_turns: turns,
            max_tool_calls: calls,
            max_output_tokens,
            deadline_secs: if fast {
                deadline_secs / 2
            } else {
                deadline_secs
            },
            max_repairs: 2,
            max_tool_output_chars: 20_000,
            model: None,
            max_fetched_pages: pages,
            max_total_tokens: tokens,
            max_parallel_calls: parallel,
            plan_first: plan,
            self_check: check,
        }
    }

    /// Whether the run has spent its token budget.
    pub fn tokens_spent(&self, used: u64) -> bool {
        self.max_total_tokens > 0 && used >= self.max_total_tokens
    }

    /// How long before the deadline the run stops calling tools and answers: a fifth of the
    /// deadline, at least 5 s (so the last answer has time to arrive).
    pub fn answer_reserve(&self) -> Duration {
        (self.deadline() / 5)
            .max(Duration::from_secs(5))
            .min(self.deadline() / 2)
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
