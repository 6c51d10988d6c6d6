//! Measures the embedded local model on this machine: prompt tokens/s, generation tokens/s,
//! time to first token, generation with vs without the grammar (what constrained decoding
//! costs), and a run's second agent turn with vs without the prompt cache. Prints a markdown
//! table.
//!
//!   cargo run --release -p forage-bench --bin bench-local-llm [-- MODEL.gguf]
//!
//! The model defaults to `FORAGE_LLM_MODEL_PATH`, else `models/` of the repository;
//! `BENCH_THREADS=N` overrides the thread count (default: one per core).

use forage_bench::report::{Figure, record};
use std::time::Duration;

use anyhow::{Context, bail};
use forage_bench::repo_model_path;
use forage_llm::local::{
    DEFAULT_MODEL_FILE, Decoding, GenerationStats, LocalConfig, LocalProvider,
};
use forage_llm::{ChatMessage, ChatRequest, ResponseFormat, ToolSpec};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Generation runs per decoding mode (alternated, so drift affects both alike).
const RUNS: usize = 6;
/// Output tokens per generation run.
const GEN_TOKENS: u32 = 160;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FORAGE_LLM_MODEL_PATH").ok())
        .map(Into::into)
        .unwrap_or_else(|| repo_model_path(DEFAULT_MODEL_FILE));
    if !path.is_file() {
        bail!(
            "model not found at {} (run scripts/fetch-model.sh)",
            path.display()
        );
    }
    let mut config = LocalConfig::new(&path);
    if let Ok(n) = std::env::var("BENCH_THREADS") {
        config.threads = Some(n.parse().context("BENCH_THREADS must be a number")?);
    }
    // Every figure but the last is measured without the prompt cache (each request evaluates
    // its whole prompt); the last compares a second agent turn with and without it.
    let provider = load(LocalConfig {
        prompt_cache: false,
        ..config.clone()
    })
    .await?;
    let cached_provider = load(LocalConfig {
        prompt_cache: true,
        ..config
    })
    .await?;
    let cancel = CancellationToken::new();
    eprintln!("{}", forage_llm::LlmProvider::describe(&provider));

    // Warm-up (page in the weights, first-use allocations).
    run(
        &provider,
        &story_request(16),
        Decoding::Constrained,
        &cancel,
    )
    .await?;

    // Prompt processing: a long prompt, one output token.
    let mut prompt = Vec::new();
    for _ in 0..3 {
        prompt.push(
            run(
                &provider,
                &long_prompt_request(),
                Decoding::Unconstrained,
                &cancel,
            )
            .await?,
        );
    }

    // Generation, constrained and not, alternated.
    let mut constrained = Vec::new();
    let mut unconstrained = Vec::new();
    for _ in 0..RUNS {
        constrained.push(
            run(
                &provider,
                &story_request(GEN_TOKENS),
                Decoding::Constrained,
                &cancel,
            )
            .await?,
        );
        unconstrained.push(
            run(
                &provider,
                &story_request(GEN_TOKENS),
                Decoding::Unconstrained,
                &cancel,
            )
            .await?,
        );
    }

    // An agent turn as the engine sends it: one tool, the answer envelope, constrained.
    let mut agent = Vec::new();
    for _ in 0..3 {
        agent.push(run(&provider, &agent_request(), Decoding::Constrained, &cancel).await?);
    }

    // A run's second turn (the first turn's messages, its reply and a tool result): with the
    // prompt cache only what is new is evaluated. Alternated, cached first.
    let mut turn2_cached = Vec::new();
    let mut turn2_uncached = Vec::new();
    for _ in 0..3 {
        turn2_cached.push(second_agent_turn(&cached_provider, &cancel).await?);
        turn2_uncached.push(second_agent_turn(&provider, &cancel).await?);
    }

    let prompt_tps = rate(&prompt, |s| s.evaluated_prompt_tokens(), |s| s.prompt_time);
    let gen_c = gen_rate(&constrained);
    let gen_u = gen_rate(&unconstrained);
    let ratio = gen_c / gen_u;
    let grammar_ms_per_token = constrained
        .iter()
        .map(|s| s.grammar_time.as_secs_f64() * 1000.0)
        .sum::<f64>()
        / constrained
            .iter()
            .map(|s| s.output_tokens.max(1))
            .sum::<usize>() as f64;

    println!("## forage local LLM benchmark\n");
    println!(
        "model: `{}`, {} threads\n",
        path.display(),
        constrained[0].threads
    );
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| prompt processing | {:.0} tok/s ({} tokens) |",
        prompt_tps, prompt[0].prompt_tokens
    );
    println!(
        "| time to first token, {}-token prompt | {:.0} ms |",
        prompt[0].prompt_tokens,
        median_ms(&prompt, |s| s.time_to_first_token)
    );
    println!(
        "| time to first token, agent turn ({} tokens, tool + envelope grammar) | {:.0} ms |",
        agent[0].prompt_tokens,
        median_ms(&agent, |s| s.time_to_first_token)
    );
    println!(
        "| generation, unconstrained | {:.1} tok/s ({} tokens) |",
        gen_u,
        unconstrained.iter().map(|s| s.output_tokens).sum::<usize>()
    );
    println!(
        "| generation, constrained (JSON-schema grammar) | {:.1} tok/s ({} tokens) |",
        gen_c,
        constrained.iter().map(|s| s.output_tokens).sum::<usize>()
    );
    println!(
        "| constrained / unconstrained | {:.3} ({:+.1}%) |",
        ratio,
        (ratio - 1.0) * 100.0
    );
    println!("| grammar time per constrained token | {grammar_ms_per_token:.3} ms |");
    println!(
        "| agent turn, total (prompt + {} output tokens) | {:.0} ms |",
        agent[0].output_tokens,
        median_ms(&agent, |s| s.time_to_first_token + s.generation_time)
    );
    let ttft_cached = median_ms(&turn2_cached, |s| s.time_to_first_token);
    let ttft_uncached = median_ms(&turn2_uncached, |s| s.time_to_first_token);
    println!(
        "| time to first token, second agent turn ({} tokens, {} cached) | {:.0} ms with the prompt cache, {:.0} ms without ({:.1}x faster) |",
        turn2_cached[0].prompt_tokens,
        turn2_cached[0].cached_prompt_tokens,
        ttft_cached,
        ttft_uncached,
        ttft_uncached / ttft_cached.max(1e-9)
    );
    let bench = "bench-local-llm";
    record(&[
        Figure::new(
            bench,
            "embedded model generation, constrained",
            gen_c,
            "tok/s",
        )
        .against(format!("unconstrained {gen_u:.1} tok/s"))
        .target("≥ 100 tok/s", gen_c >= 100.0),
        Figure::new(
            bench,
            "constrained / unconstrained generation speed",
            ratio,
            "x",
        )
        .target("≥ 0.85x (grammar ≤ 15%)", ratio >= 0.85),
        Figure::new(
            bench,
            "second agent turn, time to first token with the prompt cache",
            ttft_cached,
            "ms",
        )
        .against(format!("without the cache {ttft_uncached:.0} ms")),
    ]);
    println!();
    println!(
        "targets: generation >= 100 tok/s: {}; constrained at most 15% slower: {}",
        if gen_c >= 100.0 && gen_u >= 100.0 {
            "met"
        } else {
            "NOT met"
        },
        if ratio >= 0.85 { "met" } else { "NOT met" }
    );
    Ok(())
}

async fn load(config: LocalConfig) -> anyhow::Result<LocalProvider> {
    tokio::task::spawn_blocking(move || LocalProvider::load(config))
        .await?
        .context("loading the model")
}

/// Both turns of a run's start on `provider`; the second turn's measurements.
async fn second_agent_turn(
    provider: &LocalProvider,
    cancel: &CancellationToken,
) -> anyhow::Result<GenerationStats> {
    let first = agent_request();
    let (reply, _) = provider
        .chat_with_stats(&first, cancel, Decoding::Constrained)
        .await?;
    let mut messages = first.messages.clone();
    messages.push(ChatMessage::Assistant {
        content: reply.content.clone(),
        tool_calls: reply.tool_calls.clone(),
    });
    let results = "1. ACME Corporation - Wikipedia: ACME Corporation is an American manufacturer of \
        consumer goods founded in 1947 in Fairfield, New Jersey, by the brothers Walter and Ruth \
        Acme. 2. About us - ACME: Since 1947 we have built tools for homes and workshops; our \
        first product was a spring-loaded mousetrap. 3. ACME history timeline: 1947 founded, 1962 \
        listed on the stock exchange, 1988 moved its headquarters to Chicago, 2004 acquired \
        Roadrunner Logistics.";
    if reply.tool_calls.is_empty() {
        messages.push(ChatMessage::user(format!("Search results:\n{results}")));
    }
    for call in &reply.tool_calls {
        messages.push(ChatMessage::tool(call.id.clone(), results));
    }
    let second = ChatRequest { messages, ..first };
    run(provider, &second, Decoding::Constrained, cancel).await
}

async fn run(
    provider: &LocalProvider,
    request: &ChatRequest,
    decoding: Decoding,
    cancel: &CancellationToken,
) -> anyhow::Result<GenerationStats> {
    let (_, stats) = provider.chat_with_stats(request, cancel, decoding).await?;
    Ok(stats)
}

/// Tokens after the first per second of generation, over all runs.
fn gen_rate(runs: &[GenerationStats]) -> f64 {
    rate(
        runs,
        |s| s.output_tokens.saturating_sub(1),
        |s| s.generation_time,
    )
}

fn rate(
    runs: &[GenerationStats],
    tokens: impl Fn(&GenerationStats) -> usize,
    time: impl Fn(&GenerationStats) -> Duration,
) -> f64 {
    let n: usize = runs.iter().map(&tokens).sum();
    let t: f64 = runs.iter().map(|s| time(s).as_secs_f64()).sum();
    if t > 0.0 { n as f64 / t } else { 0.0 }
}

fn median_ms(runs: &[GenerationStats], f: impl Fn(&GenerationStats) -> Duration) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(|s| f(s).as_secs_f64() * 1000.0).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A request whose answer is long free prose, as a JSON string under the grammar.
fn story_request(max_tokens: u32) -> ChatRequest {
    ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user(
            "Write a long, detailed story about a dragon who learns to bake bread.",
        )]
        .into(),
        response_format: Some(ResponseFormat {
            name: "story".into(),
            schema: json!({
                "type": "object",
                "properties": {"story": {"type": "string"}},
                "required": ["story"],
            })
            .into(),
        }),
        max_output_tokens: Some(max_tokens),
        ..ChatRequest::default()
    }
}

fn long_prompt_request() -> ChatRequest {
    let paragraph = "The harbour town kept its records in a stone house by the quay, where clerks \
        wrote down every ship, its cargo, its crew and the weather on the day it arrived. ";
    ChatRequest {
        model: "local".into(),
        messages: vec![ChatMessage::user(format!(
            "{}\nSummarise the text above in one sentence.",
            paragraph.repeat(28)
        ))]
        .into(),
        max_output_tokens: Some(1),
        ..ChatRequest::default()
    }
}

fn agent_request() -> ChatRequest {
    ChatRequest {
        model: "local".into(),
        messages: vec![
            ChatMessage::system("You are a research agent. Use the tools, then answer."),
            ChatMessage::user("Find the founding year of ACME Corporation."),
        ].into(),
        tools: vec![ToolSpec {
            name: "web_search".into(),
            description: "Searches the web and returns result snippets.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            }).into(),
        }].into(),
        response_format: Some(ResponseFormat {
            name: "envelope".into(),
            schema: json!({
                "type": "object",
                "properties": {
                    "output": {"type": "object", "properties": {"year": {"type": "integer"}}, "required": ["year"]},
                    "basis": {"type": "array", "items": {"type": "object", "properties": {
                        "field": {"type": "string"},
                        "reasoning": {"type": "string"},
                        "confidence": {"type": "string", "enum": ["low", "medium", "high"]}
                    }}}
                },
                "required": ["output", "basis"],
            }).into(),
        }),
        max_output_tokens: Some(96),
        ..ChatRequest::default()
    }
}
