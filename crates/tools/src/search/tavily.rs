//! Tavily: `POST {base}/search` with `Authorization: Bearer` and a JSON body; domain hints are
//! passed as `include_domains` / `exclude_domains`.

use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::{Value, json};
use url::Url;

use super::hits::{Hits, RawHit, array_field, text_field};
use super::http::{ProviderHttp, endpoint};
use super::{SearchError, SearchHit, SearchProvider, SearchRequest, domain_hints, prepared_query};

pub struct Tavily {
    http: ProviderHttp,
    endpoint: Url,
}

impl Tavily {
    pub fn new(http: ProviderHttp, base: &Url) -> Result<Tavily, SearchError> {
        Ok(Tavily {
            http,
            endpoint: endpoint(base, "/search")?,
        })
    }
}

/// The request body: basic depth, no generated answer, raw content or images.
fn body(query: &str, limit: u32, request: &SearchRequest) -> Value {
    let mut body = json!({
        "query": query,
        "max_results": limit,
        "search_depth": "basic",
        "include_answer": false,
        "include_raw_content": false,
        "include_images": false,
    });
    for (key, domains) in [
        ("include_domains", domain_hints(&request.include_domains)),
        ("exclude_domains", domain_hints(&request.exclude_domains)),
    ] {
        if !domains.is_empty() {
            body[key] = json!(domains);
        }
    }
    body
}

#[async_trait::async_trait]
impl SearchProvider for Tavily {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let query = prepared_query(request)?;
        let limit = request.result_limit();
        let mut builder = self
            .http
            .client()
            .post(self.endpoint.clone())
            .header(ACCEPT, "application/json")
            .json(&body(&query, limit, request));
        if let Some(key) = self.http.key_header("Bearer ") {
            builder = builder.header(AUTHORIZATION, key);
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
                snippet: text_field(result, "content"),
                dates: text_field(result, "published_date").into_iter().collect(),
            });
        }
        Ok(hits.into_vec())
    }

    fn name(&self) -> &'static str {
        "tavily"
    }
}
