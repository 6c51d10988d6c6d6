//! Test doubles and fixtures for forage's tests: a scripted OpenAI-compatible LLM server,
//! MCP fixture servers, and helpers to locate the Python/Node peers installed by
//! `scripts/install-test-deps.sh`. Never used outside tests and benchmarks.

pub mod dns;
pub mod llm;
pub mod mcp_fixture;
pub mod peers;
pub mod postgres;
pub mod search;
pub mod tls;
pub mod web;
