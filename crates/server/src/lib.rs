//! forage's HTTP server: Parallel-compatible task-run routes, auth, the worker pool that runs
//! tasks with the engine, result long-poll, SSE run events, and graceful shutdown.

pub mod admission;
pub mod auth;
mod cancel;
pub mod config;
mod create;
pub mod error;
pub mod event_frames;
pub mod event_stream;
pub mod extract;
pub mod groups;
pub mod handoff;
pub mod hub;
pub mod llm_setup;
mod lookup;
pub mod outcome;
pub mod routes;
pub mod secret_key;
pub mod server;
pub mod signals;
pub mod sink;
pub mod state;
pub mod ui;
pub mod wait;
pub mod web_setup;
pub mod webhooks;
pub mod worker;

pub use config::Config;
pub use routes::router;
pub use server::{Server, ServerError, shutdown_signal};
pub use state::AppState;
