//! Exa: `POST {base}/search` with `x-api-key` and a JSON body asking for a highlight and the
//! first 500 characters of text per result (the snippet); domain hints are passed as
//! `includeDomains` / `excludeDomains`.

use reqwest::header::ACCEPT;
use serde_json::{Value, json};
use url::Url;

use super::hits::{Hits, MAX_SNIPPET_CHARS, RawHit, array_field, text_field};
use super::http::{ProviderHttp, endpoint};
use super::{SearchError, SearchHit, SearchProvider, SearchRequest, domain_hints, prepared_query};

pub struct Exa {
    http: ProviderHttp,
    endpoint: Url,
}

impl Exa {
    pub fn new(http: ProviderHttp, base: &Url) -> Result<Exa, SearchError> {
        Ok(Exa {
            http,
            endpoint: endpoint(base, "/search")?,
        })
    }
}

/// The request body. When both domain lists are given only `includeDomains` is sent (Exa may
/// refuse both together; the caller filters exclusions itself).
fn body(query: &str, limit: u32, request: &SearchRequest) -> Value {
    let mut body = json!({
        "query": query,
        "numResults": limit,
        "type": "auto",
        "contents": {
            "text": { "maxCharacters": MAX_SNIPPET_CHARS },
            "highlights": { "numSentences": 3, "highlightsPerUrl": 1 },
        },
    });
    let include = domain_hints(&request.include_domains);
    let exclude = domain_hints(&request.exclude_domains);
    if !include.is_empty() {
        body["includeDomains"] = json!(include);
    } else if !exclude.is_empty() {
        body["excludeDomains"] = json!(exclude);
    }
    body
}

/// The best snippet of a result: its first highlight, else its summary, else its text.
fn snippet(result: &Value) -> Option<String> {
    let highlight = array_field(result, "highlights")
        .iter()
        .filter_map(Value::as_str)
        .find(|h| !h.trim().is_empty())
        .map(str::to_owned);
    highlight
        .into_iter()
        .chain(text_field(result, "summary"))
        .chain(text_field(result, "text"))
        .find(|s| !s.trim().is_empty())
}

#[async_trait::async_trait]
impl SearchProvider for Exa {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let query = prepared_query(request)?;
        let limit = request.result_limit();
        let mut builder = self
            .http
            .client()
            .post(self.endpoint.clone())
            .header(ACCEPT, "application/json")
            .json(&body(&query, limit, request));
        if let Some(key) = self.http.key_header("") {
            builder = builder.header("x-api-key", key);
        }
        let json = self.http.json(self.http.fetch(builder).await?)?;
        if !json.get("results").is_some_and(Value::is_array) {
            return Err(self.http.bad_response("it has no `results` list"));
        }
        let mut hits = Hits::new(limit);
        for result in array_field(&json, "results") {
            hits.push(RawHit {
                url: text_field(result, "url"),
                title: text_field(result, "title"),
                snippet: snippet(result),
                dates: text_field(result, "publishedDate").into_iter().collect(),
            });
        }
        Ok(hits.into_vec())
    }

    fn name(&self) -> &'static str {
        "exa"
    }
}
