//! Exa: `POST {base}/search` with `x-api-key` and a JSON body asking for a highlight and the
//! first 500 characters of text per result (the snippet); domain hints are passed as
//! `includeDomains` / `excludeDomains`.

use serde_json::{Value, json};
use url::Url;

use super::hits::{Hits, MAX_SNIPPET_CHARS, RawHit, array_field, text_field};
use super::http::{KeyHeader, ProviderHttp, endpoint};
use super::{
    SearchError, SearchHit, SearchProvider, SearchRequest, domain_hint_fields, prepared_query,
};

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
    let hints = domain_hint_fields(request, "includeDomains", "excludeDomains");
    if let Some((key, domains)) = hints.into_iter().next() {
        body[key] = json!(domains);
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
        let body = body(&query, limit, request);
        let key = KeyHeader::named("x-api-key");
        let builder = self.http.post_json(self.endpoint.clone(), &body, key);
        let json = self.http.json(self.http.fetch(builder).await?)?;
        let mut hits = Hits::new(limit);
        for result in self.http.results(&json)? {
            let snippet = snippet(result);
            hits.push(RawHit::from_fields(result, snippet, "publishedDate"));
        }
        Ok(hits.into_vec())
    }

    fn name(&self) -> &'static str {
        "exa"
    }
}
