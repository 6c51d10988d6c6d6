//! Built-in tools and the outbound network guard that every outbound request goes through.

pub mod guard;

pub use guard::{GuardError, NetworkPolicy};
