//! `LocalConfig`: where the model file is, how much of the machine generation may use, and
//! whether the prompt cache is kept between requests.

use std::path::PathBuf;

/// Settings of the embedded model. [`LocalConfig::new`] fills the defaults from the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// The GGUF model file.
    pub model_path: PathBuf,
    /// CPU threads one generation uses; `None` means one per core. While several generations
    /// run at once they share these threads (each gets `threads / running`, at least one).
    pub threads: Option<usize>,
    /// Generations that may run at once; further requests wait their turn. Each runs in one
    /// of as many slots, which keep their context (and its memory, sized for the longest
    /// request served so far) between requests.
    pub max_concurrent: usize,
    /// Context window (prompt plus output) in tokens; capped at the model's training context.
    pub context_tokens: u32,
    /// Upper bound on the output tokens of any request (requests may ask for fewer).
    pub max_output_tokens_cap: u32,
    /// Keep what each generation slot has evaluated (its KV cache) between requests, so that
    /// a request whose prompt begins like an earlier one (the next turn of the same run)
    /// evaluates only the part that is new. Off, every request evaluates its whole prompt;
    /// greedy output is the same either way.
    pub prompt_cache: bool,
}

/// Default context window, unless the model's own is smaller.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 8192;
/// Default ceiling on output tokens per request.
pub const DEFAULT_MAX_OUTPUT_TOKENS_CAP: u32 = 2048;

impl LocalConfig {
    /// Defaults for `model_path`: one thread per core, `max(1, cores / 2)` concurrent
    /// generations, an 8192-token context, at most 2048 output tokens per request and the
    /// prompt cache on.
    pub fn new(model_path: impl Into<PathBuf>) -> LocalConfig {
        LocalConfig {
            model_path: model_path.into(),
            threads: None,
            max_concurrent: (cores() / 2).max(1),
            context_tokens: DEFAULT_CONTEXT_TOKENS,
            max_output_tokens_cap: DEFAULT_MAX_OUTPUT_TOKENS_CAP,
            prompt_cache: true,
        }
    }

    /// The threads setting resolved: the configured number, else one per core.
    pub fn resolved_threads(&self) -> usize {
        self.threads.unwrap_or_else(cores).max(1)
    }
}

/// Cores available to this process (1 when unknown).
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_machine() {
        let c = LocalConfig::new("m.gguf");
        assert_eq!(c.max_concurrent, (cores() / 2).max(1));
        assert_eq!(c.resolved_threads(), cores());
        assert_eq!(c.context_tokens, 8192);
        assert!(c.prompt_cache);
        let c = LocalConfig {
            threads: Some(0),
            ..c
        };
        assert_eq!(c.resolved_threads(), 1);
    }
}
