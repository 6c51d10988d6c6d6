//! One generation on a blocking thread: tokenize the prompt, evaluate it, then pick tokens
//! one at a time (under the step's grammar when there is one) until the grammar is complete,
//! the model stops, the token budget is spent or the request is cancelled.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
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
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    /// Evaluating the prompt (after tokenizing it and building the grammar).
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
    pub fn prompt_tokens_per_second(&self) -> f64 {
        per_second(self.prompt_tokens, self.prompt_time)
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
    pub prompt: String,
    pub matcher: Option<Matcher>,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    pub threads: usize,
    pub context_tokens: u32,
}

/// Tokens evaluated per `decode` call while reading the prompt.
const PROMPT_BATCH: usize = 512;

/// Runs `job` to the end on the current (blocking) thread.
pub(crate) fn run(
    model: &LlamaModel,
    context_lock: &Mutex<()>,
    mut job: Job,
    cancel: &CancellationToken,
    started: Instant,
) -> Result<Generation, LocalError> {
    let vocab = model.vocab();
    let bos_text = vocab.token_to_piece(vocab.bos(), true, None);
    let add_bos = bos_text.is_empty() || !job.prompt.as_bytes().starts_with(&bos_text);
    let prompt = vocab.tokenize(job.prompt.as_bytes(), add_bos, true);
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
    let n_ctx = (n_prompt + max_out)
        .next_multiple_of(256)
        .min(job.context_tokens as usize);
    let threads = i32::try_from(job.threads.max(1)).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx as u32))
        .with_n_batch(PROMPT_BATCH.min(n_ctx) as u32)
        .with_n_ubatch(PROMPT_BATCH.min(n_ctx) as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = {
        // llama.cpp may touch the model while creating a context: one at a time.
        let _guard = context_lock.lock().unwrap_or_else(|e| e.into_inner());
        model
            .new_context(backend()?, params)
            .map_err(|e| LocalError::Generation(format!("could not create a context: {e}")))?
    };

    // The prompt, in batches; logits only for its last token.
    let prompt_start = Instant::now();
    let mut batch = LlamaBatch::new(PROMPT_BATCH.max(1), 1);
    for (c, chunk) in prompt.chunks(PROMPT_BATCH).enumerate() {
        if cancel.is_cancelled() {
            return Err(LocalError::Cancelled);
        }
        batch.clear();
        for (i, &token) in chunk.iter().enumerate() {
            let pos = c * PROMPT_BATCH + i;
            add(&mut batch, token, pos, pos + 1 == n_prompt)?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| LocalError::Generation(format!("evaluating the prompt: {e}")))?;
    }
    let prompt_time = prompt_start.elapsed();

    let mut sampler = Sampler::new(job.temperature);
    let mut bytes: Vec<u8> = Vec::new();
    let mut logits_index = batch.n_tokens() - 1;
    let mut pos = n_prompt;
    let mut output_tokens = 0usize;
    let mut grammar_time = Duration::ZERO;
    let mut first_token_at: Option<Instant> = None;
    let mut last_token_at = Instant::now();
    let finish = loop {
        if cancel.is_cancelled() {
            return Err(LocalError::Cancelled);
        }
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
        if output_tokens >= max_out || pos + 1 >= n_ctx {
            break Finish::Length;
        }
        batch.clear();
        add(&mut batch, token, pos, true)?;
        ctx.decode(&mut batch)
            .map_err(|e| LocalError::Generation(format!("decoding: {e}")))?;
        logits_index = 0;
        pos += 1;
    };
    let first = first_token_at.unwrap_or(last_token_at);
    Ok(Generation {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        finish,
        stats: GenerationStats {
            prompt_tokens: n_prompt,
            output_tokens,
            prompt_time,
            time_to_first_token: first.duration_since(started),
            generation_time: last_token_at.duration_since(first),
            grammar_time,
            constrained: job.matcher.is_some(),
            threads: threads as usize,
        },
    })
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
