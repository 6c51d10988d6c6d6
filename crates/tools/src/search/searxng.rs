//! SearXNG (self-hosted metasearch): `GET {base}/search?q=…&format=json`.

use reqwest::header::{ACCEPT, AUTHORIZATION};
use url::Url;

use super::hits::{Hits, RawHit, array_field, text_field};
use super::http::{ProviderHttp, endpoint};
use super::{SearchError, SearchHit, SearchProvider, SearchRequest, prepared_query};

pub struct Searxng {
    http: ProviderHttp,
    endpoint: Url,
}

impl Searxng {
    pub fn new(http: ProviderHttp, base: &Url) -> Result<Searxng, SearchError> {
        Ok(Searxng {
            http,
            endpoint: endpoint(base, "/search")?,
        })
    }
}

#[async_trait::async_trait]
impl SearchProvider for Searxng {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let query = prepared_query(request)?;
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("q", &query)
            .append_pair("format", "json");
        let mut builder = self
            .http
            .client()
            .get(url)
            .header(ACCEPT, "application/json");
        if let Some(key) = self.http.key_header("Bearer ") {
            builder = builder.header(AUTHORIZATION, key);
        }
        let answer = self.http.fetch(builder).await?;
        if answer.status.as_u16() == 403 {
            // SearXNG's own answer when the JSON format is not enabled.
            return Err(SearchError::Status {
                provider: self.name(),
                status: 403,
                message: "SearXNG answers JSON only when `json` is listed under `search.formats` in its settings.yml; add it and restart SearXNG (if a proxy guards the instance, check FORAGE_SEARCH_API_KEY)".into(),
            });
        }
        let json = self.http.json(answer)?;
        if !json.get("results").is_some_and(|r| r.is_array()) {
            return Err(self.http.bad_response("it has no `results` list"));
        }
        let mut hits = Hits::new(request.result_limit());
        for result in array_field(&json, "results") {
            hits.push(RawHit {
                url: text_field(result, "url"),
                title: text_field(result, "title"),
                snippet: text_field(result, "content"),
                dates: text_field(result, "publishedDate").into_iter().collect(),
            });
        }
        let hits = hits.into_vec();
        let unresponsive = array_field(&json, "unresponsive_engines");
        if hits.is_empty() && !unresponsive.is_empty() {
            tracing::warn!(
                engines = %serde_json::Value::from(unresponsive.to_vec()),
                "SearXNG found nothing and some of its engines did not answer"
            );
        }
        Ok(hits)
    }

    fn name(&self) -> &'static str {
        "searxng"
    }
}
