//! `LocalProvider`: the embedded model behind the [`LlmProvider`] trait. The model and its
//! grammar tokenizer are loaded once and shared; each request renders and tokenizes its prompt,
//! waits for one of `max_concurrent` slots, then generates on that slot's own thread (never on
//! the async runtime), reusing what the slot evaluated for an earlier turn of the same run.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::sampling::LlamaSampler;
use tokio_util::sync::CancellationToken;

use super::backend::backend;
use super::config::LocalConfig;
use super::error::LocalError;
use super::generate::{self, Decoding, Generation, GenerationStats, Job};
use super::grammar::Grammars;
use super::prompt;
use super::reply;
use super::schema::StepShape;
use super::slot::Slots;
use super::special_tokens::SpecialTokens;
use crate::{ChatRequest, ChatResponse, LlmError, LlmProvider, Usage};

/// The embedded GGUF model. Cheap to clone; clones share the model and its slots.
#[derive(Clone)]
pub struct LocalProvider {
    inner: Arc<Inner>,
}

struct Inner {
    model: Arc<LlamaModel>,
    grammars: Grammars,
    config: LocalConfig,
    /// The model's name: its file name without `.gguf`.
    name: String,
    slots: Slots,
    /// Broken wherever message text spells them.
    specials: SpecialTokens,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("model", &self.inner.name)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl LocalProvider {
    /// Loads the model and prepares constrained decoding for it. Blocks for as long as that
    /// takes (about a second for a small model): call it at startup, or in `spawn_blocking`.
    pub fn load(config: LocalConfig) -> Result<LocalProvider, LlmError> {
        Self::load_inner(config).map_err(LlmError::from)
    }

    fn load_inner(mut config: LocalConfig) -> Result<LocalProvider, LocalError> {
        let path = config.model_path.clone();
        let load_error = |reason: String| LocalError::Load {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let started = Instant::now();
        let model = LlamaModel::load_from_file(backend()?, &path, &LlamaModelParams::default())
            .map_err(|e| load_error(e.to_string()))?;
        let tok_env = LlamaSampler::llguidance_tok_env(&model);
        let grammars = Grammars::new(&tok_env)?;
        let trained = model.n_ctx_train();
        if trained > 0 {
            config.context_tokens = config.context_tokens.min(trained);
        }
        config.context_tokens = config.context_tokens.max(64);
        config.max_concurrent = config.max_concurrent.max(1);
        config.max_output_tokens_cap = config.max_output_tokens_cap.max(1);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string())
            .unwrap_or_else(|| "local".into());
        tracing::info!(
            model = %name,
            params = model.n_params(),
            context_tokens = config.context_tokens,
            threads = config.resolved_threads(),
            max_concurrent = config.max_concurrent,
            prompt_cache = config.prompt_cache,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "local model loaded"
        );
        let specials = SpecialTokens::of(&model);
        let model = Arc::new(model);
        let slots = Slots::for_model(
            model.clone(),
            config.max_concurrent,
            config.resolved_threads(),
        );
        Ok(LocalProvider {
            inner: Arc::new(Inner {
                model,
                grammars,
                config,
                name,
                slots,
                specials,
            }),
        })
    }

    /// The settings in force (context capped at the model's, defaults resolved).
    pub fn config(&self) -> &LocalConfig {
        &self.inner.config
    }

    /// Like [`LlmProvider::chat`], with measurements, and optionally without the grammar
    /// (to measure what constrained decoding costs).
    pub async fn chat_with_stats(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
        decoding: Decoding,
    ) -> Result<(ChatResponse, GenerationStats), LlmError> {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return Err(LlmError::Cancelled),
            permit = self.inner.slots.acquire() => permit
                .ok_or_else(|| LlmError::Config("the local model was shut down".into()))?,
        };
        let started = Instant::now();
        // Dropping this future (caller gave up) stops the generation too.
        let stop = cancel.child_token();
        let _stop_on_drop = stop.clone().drop_guard();
        let inner = self.inner.clone();
        let owned = request.clone();
        let (job, shape) = tokio::task::spawn_blocking(move || inner.prepare(&owned, decoding))
            .await
            .map_err(|e| {
                LlmError::InvalidResponse(format!("preparing the local generation failed: {e}"))
            })?;
        if stop.is_cancelled() {
            return Err(LlmError::Cancelled);
        }
        let generation = self
            .inner
            .slots
            .run(permit, job, stop.clone(), started)
            .await?;
        Ok(self.inner.finish(generation, &shape))
    }
}

impl Inner {
    /// The generation's inputs: the prompt rendered and tokenized, the step's grammar.
    fn prepare(&self, request: &ChatRequest, decoding: Decoding) -> (Job, StepShape) {
        let shape = StepShape::from_request(&request.tools, request.response_format.as_ref());
        let turns = self
            .specials
            .neutralise_turns(prompt::turns(request, &shape));
        let prompt = prompt::render(&self.model, &turns);
        let matcher = match decoding {
            Decoding::Constrained => self.grammars.matcher(&shape),
            Decoding::Unconstrained => None,
        };
        let cap = self.config.max_output_tokens_cap;
        let job = Job {
            prompt: generate::tokenize(&self.model, &prompt),
            matcher,
            max_output_tokens: request.max_output_tokens.unwrap_or(cap).min(cap),
            temperature: request.temperature,
            threads: self.config.resolved_threads(),
            context_tokens: self.config.context_tokens,
            prompt_cache: self.config.prompt_cache,
        };
        (job, shape)
    }

    /// The reply from what the model generated.
    fn finish(&self, generation: Generation, shape: &StepShape) -> (ChatResponse, GenerationStats) {
        if let generate::Finish::GrammarError(e) = &generation.finish {
            tracing::warn!(error = %e, "constrained decoding stopped on a grammar error");
        }
        let stats = generation.stats;
        tracing::trace!(text = %generation.text.chars().take(2000).collect::<String>(), "local generation text");
        tracing::debug!(
            prompt_tokens = stats.prompt_tokens,
            cached_prompt_tokens = stats.cached_prompt_tokens,
            output_tokens = stats.output_tokens,
            ttft_ms = stats.time_to_first_token.as_millis() as u64,
            tokens_per_second = stats.generation_tokens_per_second(),
            "local generation finished"
        );
        let usage = Usage {
            input_tokens: stats.prompt_tokens as u64,
            output_tokens: stats.output_tokens as u64,
        };
        let response = reply::response(
            &generation.text,
            &generation.finish,
            shape,
            usage,
            &self.name,
        );
        (response, stats)
    }
}

#[async_trait]
impl LlmProvider for LocalProvider {
    async fn chat(
        &self,
        request: &ChatRequest,
        cancel: &CancellationToken,
    ) -> Result<ChatResponse, LlmError> {
        self.chat_with_stats(request, cancel, Decoding::Constrained)
            .await
            .map(|(response, _)| response)
    }

    fn describe(&self) -> String {
        let c = &self.inner.config;
        format!(
            "local llama.cpp model {} ({} M parameters, {}-token context, {} threads, {} at once)",
            self.inner.name,
            self.inner.model.n_params() / 1_000_000,
            c.context_tokens,
            c.resolved_threads(),
            c.max_concurrent
        )
    }
}
