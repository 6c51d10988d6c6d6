//! Tavily: `POST {base}/search` with `Authorization: Bearer` and a JSON body; domain hints are
//! passed as `include_domains` / `exclude_domains`.

use serde_json::{Value, json};
use url::Url;

use super::hits::{Hits, RawHit, text_field};
use super::http::{KeyHeader, ProviderHttp, endpoint};
use super::{
    SearchError, SearchHit, SearchProvider, SearchRequest, domain_hint_fields, prepared_query,
};

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
    for (key, domains) in domain_hint_fields(request, "include_domains", "exclude_domains") {
        body[key] = json!(domains);
    }
    body
}

#[async_trait::async_trait]
impl SearchProvider for Tavily {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let query = prepared_query(request)?;
        let limit = request.result_limit();
        let body = body(&query, limit, request);
        let builder = self
            .http
            .post_json(self.endpoint.clone(), &body, KeyHeader::BEARER);
        let json = self.http.json(self.http.fetch(builder).await?)?;
        let mut hits = Hits::new(limit);
        for result in self.http.results(&json)? {
            let snippet = text_field(result, "content");
            hits.push(RawHit::from_fields(result, snippet, "published_date"));
        }
        Ok(hits.into_vec())
    }

    fn name(&self) -> &'static str {
        "tavily"
    }
}
