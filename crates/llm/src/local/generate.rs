//! One generation on a slot's long-lived llama.cpp context. The context keeps the KV entries of
//! what it evaluated before (prompt and output tokens); a prompt that begins with the same tokens
//! drops only the entries past the common prefix and evaluates the rest. Then tokens are picked
//! one at a time (under the step's grammar when there is one) until the grammar is complete, the
//! model stops, the token budget is spent or the request is cancelled.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::session::LlamaStateSeqFlags;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llguidance::Matcher;
use tokio_util::sync::CancellationToken;

use super::backend::backend;
use super::error::LocalError;
use super::sampler::Sampler;

/// Whether decoding follows the step's grammar. `Unconstrained` exists to measure what the
/// grammar costs; forage always decodes constrained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Decoding {
    #[default]
    Constrained,
    Unconstrained,
}

/// Measurements of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GenerationStats {
    /// Tokens of the whole prompt, whether taken from the cache or evaluated.
    pub prompt_tokens: usize,
    /// Prompt tokens whose KV entries were reused from the slot's cache (not evaluated again).
    pub cached_prompt_tokens: usize,
    pub output_tokens: usize,
    /// Evaluating the prompt tokens that were not cached (after tokenizing the prompt, building
    /// the grammar and preparing the context).
    pub prompt_time: Duration,
    /// From the start of the generation (after waiting for a slot) to the first output token.
    pub time_to_first_token: Duration,
    /// From the first output token to the last.
    pub generation_time: Duration,
    /// Time spent computing grammar masks and advancing the grammar.
    pub grammar_time: Duration,
    pub constrained: bool,
    pub threads: usize,
}

impl GenerationStats {
    /// Prompt tokens that were evaluated (not reused from the cache).
    pub fn evaluated_prompt_tokens(&self) -> usize {
        self.prompt_tokens.saturating_sub(self.cached_prompt_tokens)
    }

    /// Evaluated prompt tokens per second of prompt evaluation.
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.evaluated_prompt_tokens(), self.prompt_time)
    }

    /// Output tokens after the first, per second of generation.
    pub fn generation_tokens_per_second(&self) -> f64 {
        per_second(self.output_tokens.saturating_sub(1), self.generation_time)
    }
}

fn per_second(n: usize, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Finish {
    /// The model or the grammar finished the reply.
    Stop,
    /// The token budget or the context ran out.
    Length,
    /// The grammar failed mid-way; the text so far is returned as it is.
    GrammarError(String),
}

/// What one generation produced.
#[derive(Debug)]
pub(crate) struct Generation {
    pub text: String,
    pub finish: Finish,
    pub stats: GenerationStats,
}

/// The inputs of one generation.
pub(crate) struct Job {
    /// The prompt, tokenized ([`tokenize`]).
    pub prompt: Vec<LlamaToken>,
    pub matcher: Option<Matcher>,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    /// CPU threads for this generation (set when it is handed to a slot).
    pub threads: usize,
    pub context_tokens: u32,
    /// Whether the slot's cached KV entries may be reused.
    pub prompt_cache: bool,
}

/// Tokens evaluated per `decode` call while reading the prompt.
const PROMPT_BATCH: usize = 512;

/// Contexts are sized in steps of this many tokens, so that a conversation growing by a turn
/// rarely needs a bigger one.
const CONTEXT_STEP: usize = 1024;

/// The prompt's tokens, with the model's BOS token unless the text already starts with it.
pub(crate) fn tokenize(model: &LlamaModel, prompt: &str) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let bos_text = vocab.token_to_piece(vocab.bos(), true, None);
    let add_bos = bos_text.is_empty() || !prompt.as_bytes().starts_with(&bos_text);
    vocab.tokenize(prompt.as_bytes(), add_bos, true)
}

/// How many leading tokens `a` and `b` share.
pub(crate) fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A slot's llama.cpp context and the tokens its KV cache holds. Lives on the slot's thread,
/// borrowing the model that thread keeps alive.
pub(crate) struct SlotContext<'m> {
    id: usize,
    model: &'m LlamaModel,
    /// Held while creating a context (llama.cpp may touch the model then): one at a time.
    context_lock: &'m Mutex<()>,
    ctx: Option<LlamaContext<'m>>,
    /// The threads `ctx` was created with.
    threads: usize,
    /// The tokens whose KV entries `ctx` holds, at positions `0..cached.len()`, in sequence 0.
    cached: Vec<LlamaToken>,
}

impl<'m> SlotContext<'m> {
    pub(crate) fn new(id: usize, model: &'m LlamaModel, context_lock: &'m Mutex<()>) -> Self {
        SlotContext {
            id,
            model,
            context_lock,
            ctx: None,
            threads: 0,
            cached: Vec::new(),
        }
    }

    /// The tokens whose KV entries the context holds.
    pub(crate) fn cached(&self) -> &[LlamaToken] {
        &self.cached
    }

    /// Drops the context and everything it held.
    pub(crate) fn reset(&mut self) {
        self.ctx = None;
        self.cached.clear();
    }

    /// Empties the KV cache, keeping the context.
    fn forget(&mut self) {
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.clear_kv_cache();
        }
        self.cached.clear();
    }

    /// Keeps the KV entries of the first `keep` cached tokens and drops the rest (everything,
    /// should llama.cpp refuse to cut the sequence). Returns how many are kept.
    fn truncate(&mut self, keep: usize) -> usize {
        if keep >= self.cached.len() {
            return self.cached.len();
        }
        let cut = match (self.ctx.as_mut(), u32::try_from(keep)) {
            (Some(ctx), Ok(p0)) => {
                matches!(ctx.clear_kv_cache_seq(Some(0), Some(p0), None), Ok(true))
            }
            _ => false,
        };
        if cut {
            self.cached.truncate(keep);
            keep
        } else {
            self.forget();
            0
        }
    }

    /// Makes sure the context holds `needed` tokens and runs on `threads` threads; otherwise
    /// replaces it with one that does (sized in [`CONTEXT_STEP`]s, at most `context_tokens`),
    /// carrying the cached entries over when llama.cpp can copy them.
    fn ensure_context(
        &mut self,
        needed: usize,
        context_tokens: u32,
        threads: usize,
    ) -> Result<(), LocalError> {
        let current = self.ctx.as_ref().map_or(0, |ctx| ctx.n_ctx() as usize);
        if current >= needed && self.threads == threads {
            return Ok(());
        }
        // Never smaller than the context it replaces (which may go only for its threads).
        let n_ctx = needed
            .next_multiple_of(CONTEXT_STEP)
            .max(current)
            .min(context_tokens as usize)
            .max(needed);
        let carried = match &self.ctx {
            Some(ctx) if !self.cached.is_empty() => {
                match ctx.state_seq_get(0, LlamaStateSeqFlags::empty()) {
                    Ok(state) => Some(state),
                    Err(e) => {
                        tracing::debug!(slot = self.id, error = %e, "could not copy the prompt cache");
                        None
                    }
                }
            }
            _ => None,
        };
        let tokens = std::mem::take(&mut self.cached);
        // The old context's memory is freed before the new one's is taken.
        self.ctx = None;
        let n_threads = i32::try_from(threads.max(1)).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx as u32))
            .with_n_batch(PROMPT_BATCH.min(n_ctx) as u32)
            .with_n_ubatch(PROMPT_BATCH.min(n_ctx) as u32)
            .with_n_threads(n_threads)
            .with_n_threads_batch(n_threads);
        let mut ctx = {
            let _guard = self.context_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.model
                .new_context(backend()?, params)
                .map_err(|e| LocalError::Generation(format!("could not create a context: {e}")))?
        };
        if let Some(state) = carried {
            match ctx.state_seq_set(&state, 0) {
                Ok(()) => self.cached = tokens,
                Err(e) => {
                    tracing::debug!(slot = self.id, error = %e, "could not restore the prompt cache");
                    ctx.clear_kv_cache();
                }
            }
        }
        tracing::debug!(
            slot = self.id,
            n_ctx = ctx.n_ctx(),
            threads,
            carried_tokens = self.cached.len(),
            "new local model context"
        );
        self.ctx = Some(ctx);
        self.threads = threads;
        Ok(())
    }

    /// Evaluates `batch`, which holds `tokens` at the positions right after the cached ones.
    /// On failure the cache is forgotten: what llama.cpp kept of the batch is unknown.
    fn decode(
        &mut self,
        batch: &mut LlamaBatch,
        tokens: &[LlamaToken],
        what: &str,
    ) -> Result<(), LocalError> {
        let result = match self.ctx.as_mut() {
            Some(ctx) => ctx.decode(batch).map_err(|e| e.to_string()),
            None => Err("no context".to_string()),
        };
        match result {
            Ok(()) => {
                self.cached.extend_from_slice(tokens);
                Ok(())
            }
            Err(e) => {
                self.forget();
                Err(LocalError::Generation(format!("{what}: {e}")))
            }
        }
    }

    /// Runs `job` to the end on the current (slot) thread. Whatever happens, `cached` lists
    /// exactly the tokens whose KV entries the context holds afterwards.
    pub(crate) fn run(
        &mut self,
        mut job: Job,
        cancel: &CancellationToken,
        started: Instant,
    ) -> Result<Generation, LocalError> {
        let model = self.model;
        let vocab = model.vocab();
        let prompt = std::mem::take(&mut job.prompt);
        let n_prompt = prompt.len();
        if n_prompt == 0 {
            return Err(LocalError::Generation("the prompt is empty".into()));
        }
        let room = (job.context_tokens as usize).saturating_sub(n_prompt);
        if room == 0 {
            return Err(LocalError::PromptTooLong {
                prompt: n_prompt,
                context: job.context_tokens,
            });
        }
        let max_out = (job.max_output_tokens as usize).clamp(1, room);

        // Reuse the cached prefix, but evaluate at least the prompt's last token: its logits
        // choose the first output token.
        let held = self.cached.len();
        let shared = if job.prompt_cache {
            common_prefix(&self.cached, &prompt).min(n_prompt - 1)
        } else {
            0
        };
        self.truncate(shared);
        self.ensure_context(n_prompt + max_out, job.context_tokens, job.threads)?;
        let reused = self.cached.len();
        tracing::debug!(
            slot = self.id,
            held_tokens = held,
            reused_tokens = reused,
            evaluated_tokens = n_prompt - reused,
            "local prompt cache"
        );
        let n_ctx = self.ctx.as_ref().map_or(0, |ctx| ctx.n_ctx() as usize);

        // The rest of the prompt, in batches; logits only for its last token.
        let prompt_start = Instant::now();
        let mut batch = LlamaBatch::new(PROMPT_BATCH, 1);
        for chunk in prompt[reused..].chunks(PROMPT_BATCH) {
            if cancel.is_cancelled() {
                return Err(LocalError::Cancelled);
            }
            batch.clear();
            let start = self.cached.len();
            for (i, &token) in chunk.iter().enumerate() {
                let pos = start + i;
                add(&mut batch, token, pos, pos + 1 == n_prompt)?;
            }
            self.decode(&mut batch, chunk, "evaluating the prompt")?;
        }
        let prompt_time = prompt_start.elapsed();

        let mut sampler = Sampler::new(job.temperature);
        let mut bytes: Vec<u8> = Vec::new();
        let mut logits_index = batch.n_tokens() - 1;
        let mut output_tokens = 0usize;
        let mut grammar_time = Duration::ZERO;
        let mut first_token_at: Option<Instant> = None;
        let mut last_token_at = Instant::now();
        let finish = loop {
            if cancel.is_cancelled() {
                return Err(LocalError::Cancelled);
            }
            let ctx = self
                .ctx
                .as_ref()
                .ok_or_else(|| LocalError::Generation("no context".into()))?;
            let logits = ctx.get_logits_ith(logits_index);
            let grammar_start = Instant::now();
            let mask = match job.matcher.as_mut().map(|m| m.compute_mask_or_eos()) {
                Some(Err(e)) => break Finish::GrammarError(e.to_string()),
                Some(Ok(mask)) => Some(mask),
                None => None,
            };
            grammar_time += grammar_start.elapsed();
            let Some(token) = sampler.pick(logits, mask.as_ref()) else {
                break Finish::GrammarError("the grammar allows no token".into());
            };
            let now = Instant::now();
            first_token_at.get_or_insert(now);
            let token = LlamaToken(token as i32);
            if vocab.is_eog(token) {
                break Finish::Stop;
            }
            last_token_at = now;
            if let Some(matcher) = job.matcher.as_mut() {
                let grammar_start = Instant::now();
                let consumed = matcher.consume_token(token.0 as u32);
                grammar_time += grammar_start.elapsed();
                if let Err(e) = consumed {
                    break Finish::GrammarError(e.to_string());
                }
            }
            output_tokens += 1;
            vocab.token_to_piece_into(token, &mut bytes, false, None);
            if job.matcher.as_ref().is_some_and(|m| m.is_stopped()) {
                break Finish::Stop;
            }
            if output_tokens >= max_out || self.cached.len() + 1 >= n_ctx {
                break Finish::Length;
            }
            batch.clear();
            add(&mut batch, token, self.cached.len(), true)?;
            self.decode(&mut batch, &[token], "decoding")?;
            logits_index = 0;
        };
        let first = first_token_at.unwrap_or(last_token_at);
        Ok(Generation {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            finish,
            stats: GenerationStats {
                prompt_tokens: n_prompt,
                cached_prompt_tokens: reused,
                output_tokens,
                prompt_time,
                time_to_first_token: first.duration_since(started),
                generation_time: last_token_at.duration_since(first),
                grammar_time,
                constrained: job.matcher.is_some(),
                threads: self.threads,
            },
        })
    }
}

fn add(
    batch: &mut LlamaBatch,
    token: LlamaToken,
    pos: usize,
    logits: bool,
) -> Result<(), LocalError> {
    let pos = i32::try_from(pos).map_err(|_| LocalError::Generation("position overflow".into()))?;
    batch
        .add(token, pos, &[0], logits)
        .map_err(|e| LocalError::Generation(format!("batch: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_the_shared_leading_tokens() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
        assert_eq!(common_prefix(&t(&[5]), &t(&[1])), 0);
    }

    #[test]
    fn prompt_rate_counts_only_evaluated_tokens() {
        let stats = GenerationStats {
            prompt_tokens: 300,
            cached_prompt_tokens: 200,
            prompt_time: Duration::from_millis(500),
            ..GenerationStats::default()
        };
        assert_eq!(stats.evaluated_prompt_tokens(), 100);
        assert!((stats.prompt_tokens_per_second() - 200.0).abs() < 1e-9);
    }
}
