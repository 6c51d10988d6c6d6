//! Built-in tools and the outbound network guard that every outbound request goes through:
//! web search behind pluggable providers, web fetch (HTML/PDF to text) and source policies.

pub mod fetch;
pub mod guard;
pub mod search;
pub mod source_policy;

pub use fetch::{FetchCache, FetchConfig, FetchError, FetchedPage, WebFetcher};
pub use guard::{GuardError, NetworkPolicy};
pub use search::{SearchConfig, SearchHit, SearchProvider, SearchProviderKind, SearchRequest};
pub use source_policy::SourceFilter;
