//! SearXNG (self-hosted metasearch): `GET {base}/search?q=…&format=json`.

use url::Url;

use super::hits::{Hits, RawHit, array_field, text_field};
use super::http::{KeyHeader, ProviderHttp, endpoint};
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
        let builder = self.http.get(url, KeyHeader::BEARER);
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
        let mut hits = Hits::new(request.result_limit());
        for result in self.http.results(&json)? {
            let snippet = text_field(result, "content");
            hits.push(RawHit::from_fields(result, snippet, "publishedDate"));
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
