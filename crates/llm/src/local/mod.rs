//! The embedded local model: a GGUF instruct model run on the CPU through llama.cpp, with
//! grammar-constrained decoding (llguidance) so that every reply is a well-formed tool call or
//! a schema-valid final answer, even from a very small model. No API key, no network.
//!
//! One step of generation decodes under one JSON-schema grammar built from the request
//! ([`schema`]): either `{"tool": NAME, "arguments": {...}}` for one of the offered tools, or
//! `{"final": ANSWER}` with the answer in the requested response format ([`reply`]).

mod backend;
mod config;
mod error;
mod generate;
mod grammar;
mod prompt;
mod provider;
mod reply;
mod sampler;
mod schema;
mod slot;
mod special_tokens;

pub use config::LocalConfig;
pub use generate::{Decoding, GenerationStats};
pub use provider::LocalProvider;

/// File name of the default model, SmolLM2-135M-Instruct quantised to Q4_1, as
/// `scripts/fetch-model.sh` saves it.
pub const DEFAULT_MODEL_FILE: &str = "smollm2-135m-instruct-q4_1.gguf";
