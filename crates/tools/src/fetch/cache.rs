//! A run's fetch cache: each normalised URL (fragment dropped) is fetched at most once per run;
//! concurrent fetches of one URL share one request, and failures are kept too, so a run does
//! not hammer a failing page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

use super::{FetchError, FetchedPage, WebFetcher};

type Slot = Arc<OnceCell<Result<Arc<FetchedPage>, FetchError>>>;

/// Per-run cache of fetched pages keyed by normalised URL.
#[derive(Default)]
pub struct FetchCache {
    slots: Mutex<HashMap<String, Slot>>,
}

/// The cache key: the parsed URL without its fragment (host lower-cased, default port
/// dropped by the parser); text that does not parse is its own key.
fn key(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            parsed.set_fragment(None);
            parsed.into()
        }
        Err(_) => url.trim().to_owned(),
    }
}

impl FetchCache {
    /// The page at `url`, fetched with `fetcher` the first time it is asked for in this cache.
    pub async fn fetch(
        &self,
        fetcher: &WebFetcher,
        url: &str,
    ) -> Result<Arc<FetchedPage>, FetchError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(key(url)).or_default().clone()
        };
        // If the first caller is cancelled mid-fetch, the next waiter fetches instead.
        slot.get_or_init(|| async { fetcher.fetch(url).await.map(Arc::new) })
            .await
            .clone()
    }

    /// How many URLs the cache holds (fetched, failed or in flight).
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
