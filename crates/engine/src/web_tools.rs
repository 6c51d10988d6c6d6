//! The built-in web tools offered beside a run's MCP tools: `web_search` (when a search provider
//! is configured) and `web_fetch`, both held to the run's source policy and page budget. What they
//! read becomes a source that citations are checked against.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use forage_api::SourcePolicy;
use forage_llm::{ChatMessage, ToolCall, ToolSpec};
use forage_tools::fetch::{FetchCache, FetchError, FetchedPage, WebFetcher, shown_url};
use forage_tools::search::{SearchHit, SearchProvider, SearchRequest};
use forage_tools::source_policy::SourceFilter;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::run_state::CallOutcome;
use crate::sources::Source;
use crate::text::first_chars;
use crate::tool_calls::truncate_for_model;

pub const WEB_SEARCH: &str = "web_search";
pub const WEB_FETCH: &str = "web_fetch";
/// Results one search returns unless the model asks for fewer (it may ask for at most this).
pub const MAX_SEARCH_RESULTS: u32 = 10;
const DEFAULT_SEARCH_RESULTS: u32 = 8;

/// The server's web research tools; `None` where not configured.
#[derive(Clone, Default)]
pub struct WebEnv {
    pub search: Option<Arc<dyn SearchProvider>>,
    pub fetcher: Option<WebFetcher>,
}

impl WebEnv {
    pub fn is_empty(&self) -> bool {
        self.search.is_none() && self.fetcher.is_none()
    }
}

/// The web tools of one run: the server's tools, the run's source policy, its page cache and
/// the pages it has fetched so far.
pub struct RunWeb {
    env: WebEnv,
    filter: SourceFilter,
    after_date: Option<chrono::NaiveDate>,
    cache: FetchCache,
    /// URLs fetched (or being fetched) in this run: the page budget counts them.
    fetched: Mutex<HashSet<String>>,
    max_pages: u32,
}

impl RunWeb {
    pub fn new(env: &WebEnv, policy: Option<&SourcePolicy>, max_pages: u32) -> RunWeb {
        RunWeb {
            env: env.clone(),
            filter: SourceFilter::new(policy),
            after_date: policy
                .and_then(|p| p.after_date.as_deref())
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            cache: FetchCache::default(),
            fetched: Mutex::new(HashSet::new()),
            max_pages,
        }
    }

    /// A run with no web tools.
    pub fn none() -> RunWeb {
        RunWeb::new(&WebEnv::default(), None, 0)
    }

    /// The tools offered to the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        let mut specs = Vec::new();
        let policy = if self.filter.is_open() {
            String::new()
        } else {
            format!(" {}", self.filter.describe())
        };
        if self.env.search.is_some() {
            specs.push(ToolSpec {
                name: WEB_SEARCH.into(),
                description: format!(
                    "Search the web. Returns up to {MAX_SEARCH_RESULTS} results, each with title, URL, date and a snippet. \
                     Use short, specific queries; run several searches at once when they are independent.{policy}"
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "What to search for."},
                        "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS}
                    },
                    "required": ["query"],
                    "additionalProperties": false
                })
                .into(),
            });
        }
        if self.env.fetcher.is_some() {
            specs.push(ToolSpec {
                name: WEB_FETCH.into(),
                description: format!(
                    "Read a web page or PDF: returns its title, date and main text. Quote excerpts from it exactly when you cite it.{policy}"
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "description": "The http(s) URL to read."}
                    },
                    "required": ["url"],
                    "additionalProperties": false
                })
                .into(),
            });
        }
        specs
    }

    /// Whether `name` is one of this run's web tools.
    pub fn offers(&self, name: &str) -> bool {
        (name == WEB_SEARCH && self.env.search.is_some())
            || (name == WEB_FETCH && self.env.fetcher.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
    }

    /// What watchers are told when the model calls a web tool.
    pub fn started_note(&self, call: &ToolCall) -> Option<String> {
        let args = call.parsed_arguments().ok()?;
        match call.name.as_str() {
            WEB_SEARCH => Some(format!(
                "Searching the web for \"{}\"",
                first_chars(args.get("query")?.as_str()?, 120)
            )),
            WEB_FETCH => Some(format!("Reading {}", shown_url(args.get("url")?.as_str()?))),
            _ => None,
        }
    }

    /// Makes one web tool call (cut short by `cancel`).
    pub async fn call(
        &self,
        call: &ToolCall,
        max_output_chars: usize,
        cancel: &CancellationToken,
    ) -> CallOutcome {
        let work = async {
            match call.name.as_str() {
                WEB_SEARCH => self.search(call).await,
                _ => self.fetch(call).await,
            }
        };
        let result = tokio::select! {
            result = work => result,
            () = cancel.cancelled() => Err(Refusal::new("the run was cancelled")),
        };
        match result {
            Ok(Reading { text, read, note }) => {
                let (shown, _) = truncate_for_model(&text, text.len(), max_output_chars);
                CallOutcome {
                    call_id: call.id.clone(),
                    trace: None,
                    message: ChatMessage::tool(call.id.clone(), shown),
                    read,
                    note: Some(note),
                }
            }
            Err(refusal) => CallOutcome {
                call_id: call.id.clone(),
                trace: None,
                message: ChatMessage::tool(call.id.clone(), format!("Error: {}", refusal.model)),
                read: Vec::new(),
                note: Some(refusal.note),
            },
        }
    }

    async fn search(&self, call: &ToolCall) -> Result<Reading, Refusal> {
        let Some(provider) = &self.env.search else {
            return Err(Refusal::new("web search is not configured on this server"));
        };
        let args = object_arguments(call)?;
        let query = args
            .get("query")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| Refusal::new("`query` must be a non-empty string"))?;
        let max_results = args
            .get("max_results")
            .and_then(Value::as_u64)
            .map_or(DEFAULT_SEARCH_RESULTS, |n| {
                n.clamp(1, MAX_SEARCH_RESULTS as u64) as u32
            });
        // Include wins: with an include list, the exclude list is not applied.
        let include_domains = self.filter.include_domains().to_vec();
        let exclude_domains = if include_domains.is_empty() {
            self.filter.exclude_domains().to_vec()
        } else {
            Vec::new()
        };
        let request = SearchRequest {
            query: query.to_owned(),
            max_results,
            include_domains,
            exclude_domains,
        };
        let hits = provider.search(&request).await.map_err(|e| {
            let message = format!("the web search failed: {e}");
            Refusal {
                note: format!("Web search for \"{}\" failed: {e}", first_chars(query, 120)),
                model: message,
            }
        })?;
        let found = hits.len();
        let hits: Vec<SearchHit> = hits
            .into_iter()
            .filter(|hit| self.filter.allows_str(&hit.url))
            .filter(|hit| self.fresh_enough(hit))
            .collect();
        let left_out = found - hits.len();
        let mut text = if hits.is_empty() {
            format!("No results for \"{query}\".")
        } else {
            format!("Results for \"{query}\":\n")
        };
        for (i, hit) in hits.iter().enumerate() {
            text.push_str(&format!(
                "\n{}. {}\n   URL: {}\n",
                i + 1,
                hit.title,
                hit.url
            ));
            if let Some(date) = &hit.published_date {
                text.push_str(&format!("   Date: {date}\n"));
            }
            if !hit.snippet.is_empty() {
                text.push_str(&format!("   {}\n", hit.snippet));
            }
        }
        if left_out > 0 {
            text.push_str(&format!(
                "\n({left_out} result(s) left out by the task's source policy.)\n"
            ));
        }
        let read = hits
            .iter()
            .map(|hit| Source {
                url: Some(hit.url.clone()),
                title: Some(hit.title.clone()),
                text: format!("{}\n{}", hit.title, hit.snippet),
            })
            .collect();
        Ok(Reading {
            note: format!(
                "Web search for \"{}\": {} result(s)",
                first_chars(query, 120),
                hits.len()
            ),
            text,
            read,
        })
    }

    /// Whether a result is recent enough for the source policy's `after_date` (undated results pass).
    fn fresh_enough(&self, hit: &SearchHit) -> bool {
        let (Some(after), Some(date)) = (self.after_date, hit.published_date.as_deref()) else {
            return true;
        };
        date.get(..10)
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .is_none_or(|d| d >= after)
    }

    async fn fetch(&self, call: &ToolCall) -> Result<Reading, Refusal> {
        let Some(fetcher) = &self.env.fetcher else {
            return Err(Refusal::new("web fetch is not configured on this server"));
        };
        let args = object_arguments(call)?;
        let raw = args
            .get("url")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| Refusal::new("`url` must be a non-empty string"))?;
        let url = url::Url::parse(raw)
            .map_err(|e| Refusal::new(format!("'{}' is not a URL: {e}", shown_url(raw))))?;
        if !self.filter.allows(&url) {
            return Err(Refusal {
                model: format!(
                    "the task's source policy does not allow reading {}. {}",
                    shown_url(raw),
                    self.filter.describe()
                ),
                note: format!("Not reading {}: outside the source policy", shown_url(raw)),
            });
        }
        self.take_page(url.as_str())?;
        let page = self
            .cache
            .fetch(fetcher, url.as_str())
            .await
            .map_err(|e| fetch_refusal(&e))?;
        if page.url != url.as_str() && !self.filter.allows_str(&page.url) {
            return Err(Refusal {
                model: format!(
                    "{} redirected to {}, which the task's source policy does not allow. {}",
                    shown_url(raw),
                    shown_url(&page.url),
                    self.filter.describe()
                ),
                note: format!(
                    "Not reading {}: it redirects outside the source policy",
                    shown_url(raw)
                ),
            });
        }
        Ok(reading_of(&page))
    }

    /// Counts a new URL against the page budget (a URL already fetched in this run is free).
    fn take_page(&self, url: &str) -> Result<(), Refusal> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        if fetched.contains(url) {
            return Ok(());
        }
        if fetched.len() >= self.max_pages as usize {
            return Err(Refusal {
                model: format!(
                    "this task's budget of {} fetched page(s) is used up; answer from what you have read",
                    self.max_pages
                ),
                note: format!(
                    "Page budget of {} used up: {} not read",
                    self.max_pages,
                    shown_url(url)
                ),
            });
        }
        fetched.insert(url.to_owned());
        Ok(())
    }

    /// Counts pages an earlier attempt of the run fetched against its page budget.
    pub fn remember_fetched(&self, urls: &[String]) {
        let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        fetched.extend(urls.iter().cloned());
    }

    /// The URLs fetched so far in this run, sorted (to be checkpointed).
    pub fn fetched_urls(&self) -> Vec<String> {
        let fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        let mut urls: Vec<String> = fetched.iter().cloned().collect();
        urls.sort();
        urls
    }
}

/// A successful web call: what the model reads, what counts as read for citations, and the
/// line for watchers.
struct Reading {
    text: String,
    read: Vec<Source>,
    note: String,
}

/// A web call that did not happen or failed: what the model is told and what watchers see.
struct Refusal {
    model: String,
    note: String,
}

impl Refusal {
    fn new(why: impl Into<String>) -> Refusal {
        let why = why.into();
        Refusal {
            note: format!("Web tool call refused: {why}"),
            model: why,
        }
    }
}

fn reading_of(page: &FetchedPage) -> Reading {
    let mut text = String::new();
    if let Some(title) = &page.title {
        text.push_str(&format!("Title: {title}\n"));
    }
    text.push_str(&format!("URL: {}\n", page.url));
    if let Some(date) = &page.published_date {
        text.push_str(&format!("Published: {date}\n"));
    }
    if page.truncated {
        text.push_str("(The page is long; only its beginning was read.)\n");
    }
    text.push('\n');
    text.push_str(&page.text);
    let mut read = vec![Source {
        url: Some(page.url.clone()),
        title: page.title.clone(),
        text: page.text.clone(),
    }];
    if page.requested_url != page.url {
        read.push(Source {
            url: Some(page.requested_url.clone()),
            title: page.title.clone(),
            text: page.text.clone(),
        });
    }
    Reading {
        note: format!(
            "Read {} ({} characters)",
            shown_url(&page.url),
            page.text.chars().count()
        ),
        text,
        read,
    }
}

/// A failed fetch (the error names the page itself).
fn fetch_refusal(error: &FetchError) -> Refusal {
    Refusal {
        model: error.to_string(),
        note: format!("Could not read a page: {error}"),
    }
}

fn object_arguments(call: &ToolCall) -> Result<serde_json::Map<String, Value>, Refusal> {
    match call.parsed_arguments() {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::new("the arguments must be a JSON object")),
        Err(e) => Err(Refusal::new(format!(
            "the arguments are not valid JSON: {e}"
        ))),
    }
}
