//! Brave Search API: `GET {base}/res/v1/web/search?q=…&count=N` with `X-Subscription-Token`.

use url::Url;

use super::hits::{Hits, RawHit, array_field, text_field};
use super::http::{KeyHeader, ProviderHttp, endpoint};
use super::text::strip_markup;
use super::{SearchError, SearchHit, SearchProvider, SearchRequest, prepared_query};

pub struct Brave {
    http: ProviderHttp,
    endpoint: Url,
}

impl Brave {
    pub fn new(http: ProviderHttp, base: &Url) -> Result<Brave, SearchError> {
        Ok(Brave {
            http,
            endpoint: endpoint(base, "/res/v1/web/search")?,
        })
    }
}

#[async_trait::async_trait]
impl SearchProvider for Brave {
    async fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, SearchError> {
        let query = prepared_query(request)?;
        let limit = request.result_limit();
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("q", &query)
            .append_pair("count", &limit.to_string())
            .append_pair("result_filter", "web");
        let builder = self.http.get(url, KeyHeader::named("X-Subscription-Token"));
        let answer = self.http.fetch(builder).await?;
        // Brave answers an unknown token with 422 and this code rather than 401.
        if answer.status.as_u16() == 422
            && String::from_utf8_lossy(&answer.body).contains("SUBSCRIPTION_TOKEN_INVALID")
        {
            return Err(SearchError::Unauthorized {
                provider: self.name(),
            });
        }
        let json = self.http.json(answer)?;
        if !json.is_object() {
            return Err(self.http.bad_response("it is not a JSON object"));
        }
        // Brave leaves `web` out when nothing was found.
        let results = json
            .get("web")
            .map_or(&[][..], |web| array_field(web, "results"));
        let mut hits = Hits::new(limit);
        for result in results {
            hits.push(RawHit {
                url: text_field(result, "url"),
                title: text_field(result, "title").map(|t| strip_markup(&t)),
                snippet: text_field(result, "description").map(|d| strip_markup(&d)),
                dates: ["page_age", "age"]
                    .iter()
                    .filter_map(|key| text_field(result, key))
                    .collect(),
            });
        }
        Ok(hits.into_vec())
    }

    fn name(&self) -> &'static str {
        "brave"
    }
}
