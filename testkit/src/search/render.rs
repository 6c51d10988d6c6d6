//! The fake search service's answers, in each provider's real response shape (the same shape
//! as the recorded responses in `crates/tools/tests/fixtures/search/`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::RecordedSearch;
use super::rank::{Ranked, word_spans};

/// The answer to a search that found `ranked`.
pub fn answer(provider: &str, request: &RecordedSearch, ranked: &[Ranked<'_>]) -> Response {
    let body = match provider {
        "searxng" => searxng(request, ranked),
        "brave" => brave(request, ranked),
        "tavily" => tavily(request, ranked),
        _ => exa(ranked),
    };
    Json(body).into_response()
}

/// The answer of a provider failing with `status`, in its usual error shape.
pub fn failure(provider: &str, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = match status {
        401 | 403 => "invalid or missing API key",
        429 => "rate limit exceeded",
        _ => "internal error",
    };
    let body = match provider {
        "searxng" => {
            let mut response = (code, format!("{status} {text}")).into_response();
            add_retry_after(&mut response, status);
            return response;
        }
        "brave" => json!({
            "type": "ErrorResponse",
            "error": {
                "id": "1e1b3bd6-8f07-4f4c-9d4e-3a9b6f0c2d11",
                "status": status,
                "code": if status == 429 { "RATE_LIMITED" } else if status == 401 { "SUBSCRIPTION_TOKEN_INVALID" } else { "INTERNAL_ERROR" },
                "detail": text,
                "meta": { "component": "api" },
            },
            "time": 1_718_000_000,
        }),
        "tavily" => json!({ "detail": { "error": text } }),
        _ => json!({ "requestId": "b5f2c3a8d9e04f1a", "error": text }),
    };
    let mut response = (code, Json(body)).into_response();
    add_retry_after(&mut response, status);
    response
}

fn add_retry_after(response: &mut Response, status: u16) {
    if status == 429 {
        response
            .headers_mut()
            .insert("retry-after", axum::http::HeaderValue::from_static("2"));
    }
}

fn searxng(request: &RecordedSearch, ranked: &[Ranked<'_>]) -> Value {
    let results: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let url = reqwest::Url::parse(&r.page.url).ok();
            let part = |f: fn(&reqwest::Url) -> String| url.as_ref().map(f).unwrap_or_default();
            json!({
                "url": r.page.url,
                "title": r.page.title,
                "content": r.snippet,
                "publishedDate": r.page.published_date.as_ref().map(|d| format!("{d}T00:00:00")),
                "thumbnail": "",
                "engine": "duckduckgo",
                "template": "default.html",
                "parsed_url": [
                    part(|u| u.scheme().to_owned()),
                    part(|u| u.host_str().unwrap_or_default().to_owned()),
                    part(|u| u.path().to_owned()),
                    "",
                    part(|u| u.query().unwrap_or_default().to_owned()),
                    "",
                ],
                "img_src": "",
                "priority": "",
                "engines": ["duckduckgo", "brave"],
                "positions": [i + 1, i + 1],
                "score": 4.0 / (i as f64 + 1.0),
                "category": "general",
            })
        })
        .collect();
    json!({
        "query": request.query,
        "number_of_results": 0,
        "results": results,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    })
}

fn brave(request: &RecordedSearch, ranked: &[Ranked<'_>]) -> Value {
    let results: Vec<Value> = ranked
        .iter()
        .map(|r| {
            let url = reqwest::Url::parse(&r.page.url).ok();
            let host = url
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let mut result = json!({
                "title": escape(&r.page.title),
                "url": r.page.url,
                "is_source_local": false,
                "is_source_both": false,
                "description": highlight(&r.snippet, &r.query_words),
                "profile": {
                    "name": host,
                    "url": r.page.url,
                    "long_name": host,
                    "img": "https://imgs.search.brave.com/fake-favicon",
                },
                "language": "en",
                "family_friendly": true,
                "type": "search_result",
                "subtype": "generic",
                "is_live": false,
                "meta_url": {
                    "scheme": url.as_ref().map(|u| u.scheme().to_owned()).unwrap_or_default(),
                    "netloc": host,
                    "hostname": host,
                    "favicon": "https://imgs.search.brave.com/fake-favicon",
                    "path": url.as_ref().map(|u| format!("› {}", u.path().trim_matches('/'))).unwrap_or_default(),
                },
            });
            if let Some(date) = &r.page.published_date {
                result["page_age"] = json!(format!("{date}T00:00:00"));
                result["age"] = json!(long_date(date).unwrap_or_else(|| date.clone()));
            }
            result
        })
        .collect();
    let mut body = json!({
        "query": {
            "original": request.query,
            "show_strict_warning": false,
            "is_navigational": false,
            "is_news_breaking": false,
            "spellcheck_off": true,
            "country": "us",
            "bad_results": false,
            "should_fallback": false,
            "postal_code": "",
            "city": "",
            "header_country": "",
            "more_results_available": false,
            "state": "",
        },
        "mixed": {
            "type": "mixed",
            "main": (0..results.len()).map(|i| json!({ "type": "web", "index": i, "all": false })).collect::<Vec<_>>(),
            "top": [],
            "side": [],
        },
        "type": "search",
    });
    // Brave leaves `web` out when nothing was found.
    if !results.is_empty() {
        body["web"] = json!({ "type": "search", "results": results, "family_friendly": true });
    }
    body
}

fn tavily(request: &RecordedSearch, ranked: &[Ranked<'_>]) -> Value {
    let results: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut result = json!({
                "url": r.page.url,
                "title": r.page.title,
                "content": r.snippet,
                "score": 0.9 / (i as f64 + 1.0),
                "raw_content": null,
            });
            if let Some(date) = &r.page.published_date {
                result["published_date"] =
                    json!(rfc2822_date(date).unwrap_or_else(|| date.clone()));
            }
            result
        })
        .collect();
    json!({
        "query": request.query,
        "follow_up_questions": null,
        "answer": null,
        "images": [],
        "results": results,
        "response_time": 0.42,
        "request_id": "3f8e2b1c-5d4a-4e6f-9a7b-8c0d1e2f3a4b",
    })
}

fn exa(ranked: &[Ranked<'_>]) -> Value {
    let n = ranked.len() as f64;
    let results: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "id": r.page.url,
                "title": r.page.title,
                "url": r.page.url,
                "publishedDate": r.page.published_date.as_ref().map(|d| format!("{d}T00:00:00.000Z")),
                "author": null,
                "text": r.page.text.chars().take(500).collect::<String>(),
                "highlights": [r.snippet],
                "highlightScores": [0.6 / (i as f64 + 1.0)],
            })
        })
        .collect();
    json!({
        "requestId": "c0ffee5e7a1b2c3d4e5f60718293a4b5",
        "resolvedSearchType": "neural",
        "results": results,
        "searchType": "auto",
        "costDollars": {
            "total": 0.005 + 0.002 * n,
            "search": { "neural": 0.005 },
            "contents": { "text": 0.001 * n, "highlights": 0.001 * n },
        },
    })
}

/// `text` HTML-escaped as Brave escapes it, with the query's words in `<strong>`.
fn highlight(text: &str, query_words: &[String]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (start, end) in word_spans(text) {
        if query_words.contains(&text[start..end].to_lowercase()) {
            out.push_str(&escape(&text[at..start]));
            out.push_str("<strong>");
            out.push_str(&escape(&text[start..end]));
            out.push_str("</strong>");
            at = end;
        }
    }
    out.push_str(&escape(&text[at..]));
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn split_date(date: &str) -> Option<(i32, usize, u32)> {
    let mut parts = date.splitn(3, '-');
    let year = parts.next()?.parse().ok()?;
    let month: usize = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    (1..=12).contains(&month).then_some((year, month, day))
}

/// `2024-03-14` as Brave's `age`: `March 14, 2024`.
fn long_date(date: &str) -> Option<String> {
    let (year, month, day) = split_date(date)?;
    Some(format!("{} {day}, {year}", MONTHS[month - 1]))
}

/// `2024-03-14` as Tavily's news dates: `Thu, 14 Mar 2024 00:00:00 GMT`.
fn rfc2822_date(date: &str) -> Option<String> {
    let (year, month, day) = split_date(date)?;
    // Sakamoto's day of the week (0 = Sunday).
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if month < 3 { year - 1 } else { year };
    let weekday = (y + y / 4 - y / 100 + y / 400 + T[month - 1] + day as i32).rem_euclid(7);
    let name = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][weekday as usize];
    Some(format!(
        "{name}, {day:02} {} {year} 00:00:00 GMT",
        &MONTHS[month - 1][..3]
    ))
}
